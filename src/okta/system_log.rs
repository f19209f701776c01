//! Reading System Log pages over HTTPS: pacing by Okta's rate-limit headers, retries, token
//! refresh, and the port the pull path reads through.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;
use serde_json::value::RawValue;
use tokio::time::Instant;
use url::Url;

use super::auth::{OktaAuth, Tries};
use super::oauth::Presented;
use super::pacing::Pacer;
use super::{next_link, FetchError, FetchStats, OktaErrorBody, OktaOrg};
use crate::backoff::backoff;
use crate::http_body::{read_prefix, read_whole, BodyError};
use crate::secret::SecretSource;
use crate::telemetry::redact;

/// Attempts at one page through 5xx answers, broken bodies and connection errors.
pub const MAX_ATTEMPTS: u32 = 5;
/// Most bytes of a page read: 1000 events of up to 32 KiB each.
const PAGE_BYTE_CAP: usize = 32 * 1024 * 1024;
/// Most bytes of an error answer read.
const ERROR_BODY_CAP: usize = 16 * 1024;

/// The answer's `Date` header as a time, if it reads.
fn okta_time(headers: &HeaderMap) -> Option<time::OffsetDateTime> {
    let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    let t = httpdate::parse_http_date(date).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()
}

/// One page of the System Log.
#[derive(Debug)]
pub struct Page {
    /// The URL that was requested.
    pub url: Url,
    /// The events, each exactly as Okta sent it.
    pub events: Vec<Box<RawValue>>,
    /// Where the next page is (always on the org).
    pub next: Option<Url>,
    /// A body that stayed unreadable after retries, kept whole for the dead letters.
    pub unreadable: Option<String>,
    /// Okta's clock when it answered (the `Date` header), if it sent one that reads.
    pub okta_time: Option<time::OffsetDateTime>,
}

/// The System Log of one org, as the pull path reads it.
pub trait SystemLog: Send + Sync {
    /// The org being read.
    fn org(&self) -> &OktaOrg;

    /// Checks that `link` (a stored or issued `next` link) stays on the org.
    fn check_link(&self, link: &str) -> Result<Url, FetchError>;

    /// Reads the page at `url`, giving up rather than waiting past `deadline`.
    fn fetch<'a>(
        &'a self,
        url: &'a Url,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Page, FetchError>>;

    /// Counters since the last call, which resets them.
    fn take_stats(&self) -> FetchStats;
}

/// An answer: its status, headers and (capped) body.
type Answer = (StatusCode, HeaderMap, bytes::Bytes);

/// What one answer means for the page being read.
enum Step {
    /// The page.
    Done(Box<Page>),
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

/// The System Log read over HTTPS with one credential (an API token or a service app).
pub struct HttpSystemLog {
    http: reqwest::Client,
    org: OktaOrg,
    auth: OktaAuth,
    timeout: Duration,
    pacer: Pacer,
}

impl HttpSystemLog {
    /// A reader for `org` with the credential in `secret` (named `secret_name` in messages;
    /// its shape decides API token or service app), leaving `headroom` of each rate-limit
    /// window to other clients.
    pub fn new(
        org: OktaOrg,
        secret: Arc<dyn SecretSource>,
        secret_name: impl Into<String>,
        headroom: f64,
        timeout: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("okta-ingest/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // The token must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.without_url().to_string())?;
        let auth = OktaAuth::new(secret, secret_name.into(), http.clone(), org.token_url());
        Ok(HttpSystemLog {
            http,
            org,
            auth,
            timeout,
            pacer: Pacer::new(headroom),
        })
    }

    /// A `next` reference from an answer to `request`, resolved against it (it may be
    /// relative) and checked to stay on the org.
    fn resolve_link(&self, request: &Url, link: &str) -> Result<Url, FetchError> {
        self.on_org(request.join(link), link)
    }

    /// `parsed` (from `link`) if it is a URL on the org; otherwise a refusal naming where.
    fn on_org(&self, parsed: Result<Url, url::ParseError>, link: &str) -> Result<Url, FetchError> {
        let url = parsed.map_err(|_| FetchError::ForeignLink {
            host: redact::snippet(link.as_bytes()),
            org: self.org.authority(),
        })?;
        if !self.org.owns(&url) {
            return Err(self.foreign(&url));
        }
        Ok(url)
    }

    fn foreign(&self, url: &Url) -> FetchError {
        FetchError::ForeignLink {
            host: url.origin().ascii_serialization(),
            org: self.org.authority(),
        }
    }

    /// Reads the page at `url`, pacing, retrying and re-reading the token as needed.
    async fn read_page(&self, url: &Url, deadline: Instant) -> Result<Page, FetchError> {
        if !self.org.owns(url) {
            return Err(self.foreign(url));
        }
        let mut attempts = 0;
        let mut rate_limited = 0;
        let mut tries = Tries::default();
        loop {
            self.pacer.pace(deadline).await?;
            attempts += 1;
            let presented = match self.auth.present(url, deadline).await {
                Ok(presented) => Ok(presented),
                // The token endpoint answering 5xx or not at all is retried like the page.
                Err(FetchError::Unavailable { reason, .. }) => Err(reason),
                Err(e) => return Err(e),
            };
            let failure = match presented {
                Err(reason) => reason,
                Ok(presented) => match self.get(url, &presented, deadline).await? {
                    Err(reason) => reason,
                    Ok(answer) => match self.step(url, answer, attempts, &presented)? {
                        Step::Done(page) => return Ok(*page),
                        Step::Unauthorized(headers, detail) => {
                            attempts -= 1;
                            self.auth
                                .unauthorized(&presented, &headers, &mut tries, detail)
                                .await?;
                            continue;
                        }
                        Step::Forbidden(detail) => return Err(self.auth.forbidden(detail).await),
                        Step::RateLimited(detail) => {
                            rate_limited += 1;
                            attempts -= 1;
                            tries.interrupted();
                            self.pacer
                                .wait_for_reset(&detail, rate_limited, deadline)
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
    fn step(
        &self,
        url: &Url,
        (status, headers, body): Answer,
        attempts: u32,
        presented: &Presented,
    ) -> Result<Step, FetchError> {
        // Okta's error text, bounded and scrubbed of the credential in case it was echoed.
        let detail = || {
            let text = OktaErrorBody::parse(&body).describe();
            let scrub: Vec<&str> = presented.scrub.iter().map(String::as_str).collect();
            redact::snippet(redact::scrub(&text, &scrub).as_bytes())
        };
        match status {
            StatusCode::OK => self.page(url, &headers, &body, attempts),
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

    /// A 200 answer as a page. A body that is not a JSON array is retried (truncated or
    /// corrupted in transit is the likely cause), and after the last attempt kept whole.
    fn page(
        &self,
        url: &Url,
        headers: &HeaderMap,
        body: &[u8],
        attempts: u32,
    ) -> Result<Step, FetchError> {
        let okta_time = okta_time(headers);
        let next = || match next_link(headers) {
            Some(link) => self.resolve_link(url, &link).map(Some),
            None => Ok(None),
        };
        match serde_json::from_slice::<Vec<Box<RawValue>>>(body) {
            Ok(events) => Ok(Step::Done(Box::new(Page {
                url: url.clone(),
                events,
                next: next()?,
                unreadable: None,
                okta_time,
            }))),
            Err(e) if attempts >= MAX_ATTEMPTS => {
                tracing::error!(attempts, error = %e, "page body is not a JSON array after every attempt: keeping it whole in the dead letters");
                Ok(Step::Done(Box::new(Page {
                    url: url.clone(),
                    events: Vec::new(),
                    next: next()?,
                    unreadable: Some(String::from_utf8_lossy(body).into_owned()),
                    okta_time,
                })))
            }
            Err(e) => Ok(Step::Retry(format!(
                "page body is not a JSON array of events ({e})"
            ))),
        }
    }

    /// One GET. Transport failures, worth another attempt, come back as `Ok(Err(reason))`; a
    /// page over [`PAGE_BYTE_CAP`] as `Err`.
    async fn get(
        &self,
        url: &Url,
        presented: &Presented,
        deadline: Instant,
    ) -> Result<Result<Answer, String>, FetchError> {
        let timeout = self
            .timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        self.pacer.count(|s| s.requests += 1);
        let mut request = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, presented.authorization.clone())
            .header(ACCEPT, "application/json");
        if let Some(proof) = &presented.dpop {
            request = request.header("DPoP", proof.clone());
        }
        let response = match request.timeout(timeout).send().await {
            Ok(response) => response,
            Err(e) => return Ok(Err(format!("request failed: {}", e.without_url()))),
        };
        let received_at = Instant::now();
        let status = response.status();
        let headers = response.headers().clone();
        self.pacer.observe(&headers, received_at);
        self.auth.observe(&headers).await;
        let failed = |e: reqwest::Error| format!("reading the body failed: {}", e.without_url());
        if !status.is_success() {
            // An error answer needs only its first bytes, for its reason.
            return Ok(match read_prefix(response, ERROR_BODY_CAP).await {
                (body, None) => Ok((status, headers, body.into())),
                (_, Some(e)) => Err(failed(e)),
            });
        }
        // A page must be read whole: a cut page is not JSON, and kept as one unreadable
        // record it would lose every event past the cut while the checkpoint moved on.
        match read_whole(response, PAGE_BYTE_CAP).await {
            Ok(body) => Ok(Ok((status, headers, body.into()))),
            Err(BodyError::Transport(e)) => Ok(Err(failed(e))),
            Err(BodyError::OverCap { cap }) => {
                let mut shown = url.clone();
                shown.set_query(None);
                tracing::error!(cap, url = %shown, "System Log page over the cap: stopping");
                Err(FetchError::PageTooLarge {
                    cap,
                    url: shown.to_string(),
                })
            }
        }
    }
}

impl SystemLog for HttpSystemLog {
    fn org(&self) -> &OktaOrg {
        &self.org
    }

    fn check_link(&self, link: &str) -> Result<Url, FetchError> {
        self.on_org(Url::parse(link), link)
    }

    fn fetch<'a>(
        &'a self,
        url: &'a Url,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(self.read_page(url, deadline))
    }

    fn take_stats(&self) -> FetchStats {
        let mut stats = self.pacer.take_stats();
        stats.auth = self.auth.mode();
        stats.token_requests = self.auth.take_token_requests();
        stats
    }
}
