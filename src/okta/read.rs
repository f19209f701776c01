//! One read from Okta, whatever the body is: pacing by the request's rate-limit bucket,
//! auth, 401/403/429/5xx, retries with backoff, and a byte cap on what is read.

use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use tokio::time::Instant;
use url::Url;

use super::auth::Tries;
use super::oauth::Presented;
use super::{Bucket, FetchError, HttpSystemLog, OktaErrorBody};
use crate::backoff::backoff;
use crate::http_body::{read_prefix, read_whole, BodyError};
use crate::telemetry::redact;

/// Attempts at one page through 5xx answers, broken bodies and connection errors.
pub const MAX_ATTEMPTS: u32 = 5;
/// Most bytes of a page read: 1000 events of up to 32 KiB each.
pub(super) const PAGE_BYTE_CAP: usize = 32 * 1024 * 1024;
/// Most bytes of an error answer read.
const ERROR_BODY_CAP: usize = 16 * 1024;

/// The answer's `Date` header as a time, if it reads.
pub(super) fn okta_time(headers: &HeaderMap) -> Option<time::OffsetDateTime> {
    let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    let t = httpdate::parse_http_date(date).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()
}

/// An answer: its status, headers and (capped) body.
type Answer = (StatusCode, HeaderMap, bytes::Bytes);

/// What one answer means for the page being read.
pub(super) enum Step<P> {
    /// The page.
    Done(P),
    /// 401: the credential decides whether to ask again (a nonce, a new token, the secret
    /// read again) and how.
    Unauthorized(HeaderMap, String),
    /// 403, with Okta's error.
    Forbidden(String),
    /// 429: wait for the window to reset and ask again.
    RateLimited(String),
    /// Worth another attempt after a backoff.
    Retry(String),
}

/// Why a GET gave no answer to step through.
enum Failed {
    /// A transport failure, worth another attempt.
    Transport(String),
    /// The request or its body timed out: another attempt, asking for less if the page can.
    TimedOut(String),
    /// The body went on past [`PAGE_BYTE_CAP`].
    OverCap,
}

/// What a 200 body is read as (a System Log page, a Management API list) and what differs
/// between them; everything else is the one read loop.
pub(super) trait Shape: Sync {
    /// What a read gives.
    type Page: Send;
    /// The `Content-Type` asked with, if any.
    const CONTENT_TYPE: Option<&'static str>;
    /// What a page over the cap was, for [`FetchError::PageTooLarge`].
    const WHAT: &'static str;

    /// A 200 answer to `url` on attempt `attempts`: the page, or why to ask again.
    fn page(
        &self,
        log: &HttpSystemLog,
        url: &Url,
        headers: &HeaderMap,
        body: &[u8],
        attempts: u32,
    ) -> Result<Step<Self::Page>, FetchError>;

    /// A 403 in this shape's words; `None` leaves it to the credential (the System Log's).
    fn forbidden(&self, url: &Url, detail: &str) -> Option<FetchError>;

    /// The same request asking for fewer items, when a page was too large or too slow;
    /// `None` when it cannot ask for less.
    fn smaller(&self, url: &Url) -> Option<Url>;
}

/// `url` without its query, for messages.
pub(super) fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

impl HttpSystemLog {
    /// Reads `url` as `shape`, pacing, retrying and re-reading the token as needed.
    pub(super) async fn read<S: Shape>(
        &self,
        shape: &S,
        url: &Url,
        deadline: Instant,
    ) -> Result<S::Page, FetchError> {
        if !self.org.owns(url) {
            return Err(self.foreign(url));
        }
        let mut url = url.clone();
        let bucket = Bucket::of(url.path());
        let mut attempts = 0;
        let mut rate_limited = 0;
        let mut tries = Tries::default();
        loop {
            self.pacer.pace(bucket, deadline).await?;
            attempts += 1;
            let presented = match self.auth.present(&url, deadline).await {
                Ok(presented) => Ok(presented),
                // The token endpoint answering 5xx or not at all is retried like the page.
                Err(FetchError::Unavailable { reason, .. }) => Err(reason),
                Err(e) => return Err(e),
            };
            let failure = match presented {
                Err(reason) => reason,
                Ok(presented) => match self.get::<S>(&url, bucket, &presented, deadline).await {
                    Err(Failed::Transport(reason)) => reason,
                    Err(Failed::TimedOut(reason)) => match shape.smaller(&url) {
                        Some(smaller) => {
                            tracing::warn!(url = %shown(&url), "Okta request timed out: asking again for fewer items");
                            url = smaller;
                            format!("{reason}; asking for fewer items")
                        }
                        None => reason,
                    },
                    Err(Failed::OverCap) => match shape.smaller(&url) {
                        // Not a failure of Okta's: ask again at once, for less.
                        Some(smaller) => {
                            tracing::warn!(cap = PAGE_BYTE_CAP, url = %shown(&url), "Okta page over the cap: asking again for fewer items");
                            url = smaller;
                            attempts -= 1;
                            continue;
                        }
                        None => {
                            tracing::error!(cap = PAGE_BYTE_CAP, url = %shown(&url), "Okta page over the cap: stopping");
                            return Err(FetchError::PageTooLarge {
                                cap: PAGE_BYTE_CAP,
                                url: shown(&url),
                                what: S::WHAT,
                            });
                        }
                    },
                    Ok(answer) => match self.step(shape, &url, answer, attempts, &presented)? {
                        Step::Done(page) => return Ok(page),
                        Step::Unauthorized(headers, detail) => {
                            attempts -= 1;
                            self.auth
                                .unauthorized(&presented, &headers, &mut tries, detail)
                                .await?;
                            continue;
                        }
                        Step::Forbidden(detail) => {
                            return Err(match shape.forbidden(&url, &detail) {
                                Some(e) => e,
                                None => self.auth.forbidden(detail).await,
                            })
                        }
                        Step::RateLimited(detail) => {
                            rate_limited += 1;
                            attempts -= 1;
                            tries.interrupted();
                            self.pacer
                                .wait_for_reset(bucket, &detail, rate_limited, deadline)
                                .await?;
                            continue;
                        }
                        Step::Retry(reason) => reason,
                    },
                },
            };
            tries.interrupted();
            if attempts >= MAX_ATTEMPTS {
                return Err(FetchError::Unavailable {
                    attempts,
                    reason: failure,
                });
            }
            let wait = backoff(attempts);
            if Instant::now()
                .checked_add(wait)
                .is_none_or(|t| t >= deadline)
            {
                return Err(FetchError::OutOfTime {
                    reason: format!("retrying after {failure}"),
                });
            }
            tracing::warn!(attempts, reason = %failure, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying Okta request");
            tokio::time::sleep(wait).await;
        }
    }

    /// What the answer to attempt `attempts` means.
    fn step<S: Shape>(
        &self,
        shape: &S,
        url: &Url,
        (status, headers, body): Answer,
        attempts: u32,
        presented: &Presented,
    ) -> Result<Step<S::Page>, FetchError> {
        // Okta's error text, bounded and scrubbed of the credential in case it was echoed.
        let detail = || {
            let text = OktaErrorBody::parse(&body).describe();
            let scrub: Vec<&str> = presented.scrub.iter().map(String::as_str).collect();
            redact::snippet(redact::scrub(&text, &scrub).as_bytes())
        };
        match status {
            StatusCode::OK => shape.page(self, url, &headers, &body, attempts),
            StatusCode::UNAUTHORIZED => Ok(Step::Unauthorized(headers.clone(), detail())),
            StatusCode::FORBIDDEN => Ok(Step::Forbidden(detail())),
            StatusCode::TOO_MANY_REQUESTS => {
                self.pacer.count(|s| s.http_429 += 1);
                Ok(Step::RateLimited(detail()))
            }
            s if s.is_server_error() => {
                Ok(Step::Retry(format!("HTTP {} ({})", s.as_u16(), detail())))
            }
            s => Err(FetchError::Rejected {
                status: s.as_u16(),
                detail: detail(),
            }),
        }
    }

    /// One GET of `url`, which spends `bucket`.
    async fn get<S: Shape>(
        &self,
        url: &Url,
        bucket: Bucket,
        presented: &Presented,
        deadline: Instant,
    ) -> Result<Answer, Failed> {
        let timeout: Duration = self
            .timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        self.pacer.count(|s| s.requests += 1);
        let mut request = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, presented.authorization.clone())
            .header(ACCEPT, "application/json");
        if let Some(content_type) = S::CONTENT_TYPE {
            request = request.header(CONTENT_TYPE, content_type);
        }
        if let Some(proof) = &presented.dpop {
            request = request.header("DPoP", proof.clone());
        }
        let failed = |what: &str, e: reqwest::Error| {
            let timed_out = e.is_timeout();
            let reason = format!("{what}: {}", e.without_url());
            if timed_out {
                Failed::TimedOut(reason)
            } else {
                Failed::Transport(reason)
            }
        };
        let response = match request.timeout(timeout).send().await {
            Ok(response) => response,
            Err(e) => return Err(failed("request failed", e)),
        };
        let received_at = Instant::now();
        let status = response.status();
        let headers = response.headers().clone();
        self.pacer.observe(bucket, &headers, received_at);
        self.auth.observe(&headers).await;
        if !status.is_success() {
            // An error answer needs only its first bytes, for its reason.
            return match read_prefix(response, ERROR_BODY_CAP).await {
                (body, None) => Ok((status, headers, body.into())),
                (_, Some(e)) => Err(failed("reading the body failed", e)),
            };
        }
        // A page must be read whole: a cut page is not JSON, and kept as one unreadable
        // record it would lose every item past the cut while the checkpoint moved on.
        match read_whole(response, PAGE_BYTE_CAP).await {
            Ok(body) => Ok((status, headers, body.into())),
            Err(BodyError::Transport(e)) => Err(failed("reading the body failed", e)),
            Err(BodyError::OverCap { .. }) => Err(Failed::OverCap),
        }
    }
}
