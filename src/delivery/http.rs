//! The HTTP destination: one POST per batch over one reused client, the credential header,
//! and the classification of answers (408, 429 and 5xx retry; other 4xx do not).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use url::Url;

use super::destination::{Destination, Rejected, SendError};
use super::framing::Body;
use super::platform::{self, Answer};
use crate::config::{DestinationConfig, Platform};
use crate::secret::{CachedSecret, Secret, SecretSource};
use crate::telemetry::{redact, ErrorClass};

/// Classifies a response status (OKTA.md: 408, 429 and 5xx retry; other 4xx do not).
pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    detail: &str,
) -> Result<(), SendError> {
    if status.is_success() {
        return Ok(());
    }
    let class = match status.as_u16() {
        429 => ErrorClass::Http429,
        500..=599 => ErrorClass::Http5xx,
        _ => ErrorClass::Http4xx,
    };
    let reason = if detail.is_empty() {
        format!("destination answered HTTP {}", status.as_u16())
    } else {
        format!("destination answered HTTP {}: {detail}", status.as_u16())
    };
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Err(SendError::Retryable {
            reason,
            retry_after,
            class,
        })
    } else {
        Err(SendError::Permanent { reason, class })
    }
}

/// Reads `Retry-After`: delay-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Most bytes of an error answer read (enough for its reason); the rest is discarded.
const ERROR_ANSWER_CAP: usize = 16 * 1024;
/// Most bytes of a success answer read: `_bulk` answers list every item.
const SUCCESS_ANSWER_CAP: usize = 8 * 1024 * 1024;
/// Most bytes of a success answer read when the platform has no per-item results.
const IGNORED_ANSWER_CAP: usize = 64 * 1024;

/// The production destination: POSTs over one reused HTTPS client that follows no redirect
/// and sends no `Referer`, so neither the body's delivery nor the credential can move to
/// another URL.
pub struct HttpDestination {
    client: reqwest::Client,
    url: Url,
    /// Parts of `url` that may be a credential, scrubbed from every answer text.
    url_secrets: Vec<String>,
    platform: Platform,
    auth_header: reqwest::header::HeaderName,
    auth_scheme: String,
    credential: Option<CachedSecret>,
}

impl HttpDestination {
    /// A destination for `config`, with the credential from `secret` when there is one.
    pub fn new(
        config: &DestinationConfig,
        secret: Option<Arc<dyn SecretSource>>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("okta-ingest/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            // A 3xx is never a delivery: a POST followed as GET loses the body, and a 307/308
            // to another origin would carry the credential there.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()?;
        Ok(HttpDestination {
            client,
            url: config.url.clone(),
            url_secrets: redact::url_secrets(&config.url),
            platform: config.platform.clone(),
            auth_header: config.auth_header.clone(),
            auth_scheme: config.auth_scheme.clone(),
            credential: secret.map(CachedSecret::new),
        })
    }

    /// A destination for `config` whose credential, if `DESTINATION_SECRET_ARN` is set, is
    /// read from Secrets Manager through `secrets`.
    pub fn with_secrets_manager(
        config: &DestinationConfig,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> Result<Self, String> {
        let secret = config.secret_arn.as_ref().map(|arn| {
            Arc::new(crate::secret::SecretsManagerSource::new(
                secrets.clone(),
                arn.clone(),
            )) as Arc<dyn SecretSource>
        });
        Self::new(config, secret).map_err(|e| e.without_url().to_string())
    }

    fn auth_value(&self, secret: &Secret) -> Result<HeaderValue, SendError> {
        let text = if self.auth_scheme.is_empty() {
            secret.expose().to_owned()
        } else {
            format!("{} {}", self.auth_scheme, secret.expose())
        };
        let mut value = HeaderValue::try_from(text).map_err(|_| SendError::Permanent {
            reason: "the destination credential contains characters not allowed in an HTTP header"
                .into(),
            class: ErrorClass::Credential,
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    async fn attempt(
        &self,
        body: &Body,
        timeout: Duration,
        credential: Option<&Secret>,
    ) -> Result<reqwest::Response, SendError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .timeout(timeout)
            .header(CONTENT_TYPE, body.content_type)
            .body(body.bytes.clone());
        if body.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        for (name, value) in platform::extra_headers(&self.platform, body.org.as_deref()) {
            request = request.header(name, value);
        }
        if let Some(secret) = credential {
            request = request.header(self.auth_header.clone(), self.auth_value(secret)?);
        }
        request.send().await.map_err(|e| {
            // `without_url`: the URL may hold a token.
            let e = e.without_url();
            if e.is_builder() {
                // A request that cannot be built (a header value it refuses) never will be:
                // sending it again until the deadline would only delay the dead letter.
                return SendError::Permanent {
                    reason: format!("request could not be built: {}", error_chain(&e)),
                    class: ErrorClass::Connection,
                };
            }
            let (kind, class) = if e.is_timeout() {
                ("timed out", ErrorClass::Timeout)
            } else if e.is_connect() {
                ("connection failed", ErrorClass::Connection)
            } else {
                ("request failed", ErrorClass::Connection)
            };
            SendError::Retryable {
                reason: format!("{kind}: {}", error_chain(&e)),
                retry_after: None,
                class,
            }
        })
    }
}

impl Destination for HttpDestination {
    fn send<'a>(
        &'a self,
        body: &'a Body,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Rejected, SendError>> {
        Box::pin(async move {
            let credential = match &self.credential {
                None => None,
                Some(c) => Some(c.get().await.map_err(|e| SendError::Retryable {
                    reason: format!("destination credential: {e}"),
                    retry_after: None,
                    class: ErrorClass::Credential,
                })?),
            };
            let mut used: Option<Secret> = credential.as_ref().map(|c| c.1.clone());
            let mut response = self.attempt(body, timeout, used.as_ref()).await?;
            let rejected = matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            );
            if let (true, Some(cache), Some((generation, _))) =
                (rejected, &self.credential, &credential)
            {
                // The secret may have been rotated since this container read it: re-read once.
                tracing::warn!(
                    status = response.status().as_u16(),
                    "destination rejected the credential; re-reading the secret once"
                );
                let fresh = cache
                    .refresh(*generation)
                    .await
                    .map_err(|e| SendError::Permanent {
                        reason: format!("destination credential: {e}"),
                        class: ErrorClass::Credential,
                    })?;
                response = self.attempt(body, timeout, Some(&fresh.1)).await?;
                used = Some(fresh.1);
            }
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            let mut secrets: Vec<&str> = self.url_secrets.iter().map(String::as_str).collect();
            if let Some(secret) = &used {
                secrets.push(secret.expose());
            }
            if status.is_redirection() {
                return Err(self.redirected(&response, &secrets));
            }
            let cap = match (status.is_success(), &self.platform) {
                (false, _) => ERROR_ANSWER_CAP,
                (true, Platform::ElasticBulk { .. }) => SUCCESS_ANSWER_CAP,
                (true, _) => IGNORED_ANSWER_CAP,
            };
            // The first bytes are enough here, so a cut answer is no error: an error answer
            // needs only its reason, other platforms' success answers are not read, and a
            // cut `_bulk` answer does not parse and is retried like any unreadable one.
            let (answer, _) = crate::http_body::read_prefix(response, cap).await;
            if !status.is_success() {
                classify(status, retry_after, &redact::answer(&answer, &secrets))?;
            }
            match platform::check_answer(&self.platform, &answer) {
                Answer::AllAccepted => Ok(Vec::new()),
                Answer::Rejected(items) => Ok(items
                    .into_iter()
                    .map(|(i, reason)| (i, redact::scrub(&reason, &secrets)))
                    .collect()),
                Answer::Retry(reason) => Err(SendError::Retryable {
                    reason: redact::scrub(&reason, &secrets),
                    retry_after,
                    class: ErrorClass::Http5xx,
                }),
            }
        })
    }

    fn describe(&self) -> String {
        redact::origin(&self.url)
    }
}

impl HttpDestination {
    /// A 3xx answer: a permanent failure that says where the destination points, so the
    /// operator can put that URL in `DESTINATION_URL`.
    fn redirected(&self, response: &reqwest::Response, secrets: &[&str]) -> SendError {
        // Shown absolute (a relative Location is resolved against DESTINATION_URL), scrubbed.
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|v| redact::snippet(v.as_bytes()))
            .map(|l| self.url.join(&l).map_or(l, |u| u.to_string()))
            .map(|l| redact::scrub(&l, secrets));
        let status = response.status().as_u16();
        let reason = match location {
            Some(l) => format!("destination answered HTTP {status} redirecting to {l}: okta-ingest follows no redirect; if that is the endpoint, set DESTINATION_URL to it"),
            None => format!("destination answered HTTP {status} (a redirect without Location): okta-ingest follows no redirect; check DESTINATION_URL"),
        };
        SendError::Permanent {
            reason,
            class: ErrorClass::Http4xx,
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_408_429_and_5xx_and_nothing_else() {
        for code in [408, 429, 500, 502, 503, 504] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify(s, None, ""), Err(SendError::Retryable { .. })),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 413, 422] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify(s, None, ""), Err(SendError::Permanent { .. })),
                "{code}"
            );
        }
        assert_eq!(classify(StatusCode::ACCEPTED, None, ""), Ok(()));
    }

    #[test]
    fn reads_retry_after_in_both_forms() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&earlier, now),
            Some(Duration::ZERO),
            "never negative"
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
