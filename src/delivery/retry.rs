//! Delivering one batch: attempts with exponential backoff and full jitter, within a deadline.

use std::time::Duration;

use tokio::time::Instant;

use super::destination::{Destination, Rejected, SendError};
use super::framing::Body;
use crate::backoff::backoff;
use crate::telemetry::ErrorCounts;

/// An attempt with less time than this left is not started.
pub(crate) const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// What happened to one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Requests made.
    pub attempts: u32,
    /// `Ok` once the destination took the batch (with the items it refused for good, if
    /// any); otherwise why it gave up.
    pub result: Result<Rejected, Failure>,
    /// Failed attempts by kind.
    pub errors: ErrorCounts,
}

/// Why a batch was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened, for logs and dead letters.
    pub reason: String,
    /// The destination refused it for good (4xx); otherwise time ran out while it was
    /// unavailable, and a later attempt may succeed.
    pub permanent: bool,
}

impl Failure {
    pub(crate) fn permanent(reason: String) -> Self {
        Failure {
            reason,
            permanent: true,
        }
    }

    fn out_of_time(reason: String) -> Self {
        Failure {
            reason,
            permanent: false,
        }
    }
}

/// Sends `body` until it is accepted, a permanent error occurs, or `deadline` would be passed.
pub async fn deliver(
    destination: &dyn Destination,
    body: &Body,
    timeout: Duration,
    deadline: Instant,
) -> Delivery {
    let mut attempts = 0;
    let mut errors = ErrorCounts::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < MIN_ATTEMPT {
            return Delivery {
                attempts,
                result: Err(Failure::out_of_time(format!(
                    "no time left before the Lambda deadline after {attempts} attempts"
                ))),
                errors,
            };
        }
        attempts += 1;
        // The whole attempt is bounded, the credential read (Secrets Manager) included.
        let limit = timeout.min(left);
        let sent = tokio::time::timeout(limit, destination.send(body, limit))
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Retryable {
                    reason: format!("timed out: no answer within {} ms", limit.as_millis()),
                    retry_after: None,
                    class: crate::telemetry::ErrorClass::Timeout,
                })
            });
        let error = match sent {
            Ok(rejected) => {
                return Delivery {
                    attempts,
                    result: Ok(rejected),
                    errors,
                }
            }
            Err(e) => e,
        };
        errors.add(error.class());
        let (reason, retry_after) = match error {
            SendError::Permanent { reason, .. } => {
                tracing::warn!(attempts, %reason, "destination refused the batch permanently");
                return Delivery {
                    attempts,
                    result: Err(Failure::permanent(reason)),
                    errors,
                };
            }
            SendError::Retryable {
                reason,
                retry_after,
                ..
            } => (reason, retry_after),
        };
        // Honour Retry-After as a floor; jitter still spreads concurrent senders.
        let wait = backoff(attempts - 1).max(retry_after.unwrap_or_default());
        // A wait from a header may be absurd (Retry-After: 2^64-1): past the deadline is past.
        let next_attempt = Instant::now()
            .checked_add(wait)
            .and_then(|t| t.checked_add(MIN_ATTEMPT));
        if next_attempt.is_none_or(|t| t > deadline) {
            tracing::warn!(attempts, %reason, "giving up on the batch: no time for another attempt");
            return Delivery {
                attempts,
                result: Err(Failure::out_of_time(format!(
                    "{reason} (gave up after {attempts} attempts: Lambda deadline)"
                ))),
                errors,
            };
        }
        tracing::info!(attempts, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), %reason, "retrying batch");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::ErrorClass;
    use futures::future::BoxFuture;
    use std::sync::Mutex;

    /// A destination that answers from a script, then succeeds.
    struct Scripted(Mutex<Vec<SendError>>);

    impl Destination for Scripted {
        fn send<'a>(
            &'a self,
            _: &'a Body,
            _: Duration,
        ) -> BoxFuture<'a, Result<Rejected, SendError>> {
            let next = self.0.lock().unwrap().pop();
            Box::pin(async move { next.map_or(Ok(Vec::new()), Err) })
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn body() -> Body {
        crate::delivery::framing::encode(
            crate::delivery::framing::Framing::JsonArray,
            "application/json",
            false,
            [&b"{}"[..]].into_iter(),
        )
    }

    fn retryable(after: Option<u64>) -> SendError {
        SendError::Retryable {
            reason: "HTTP 503".into(),
            retry_after: after.map(Duration::from_secs),
            class: ErrorClass::Http5xx,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_on_503_then_succeeds() {
        let dest = Scripted(Mutex::new(vec![retryable(None), retryable(None)]));
        let d = deliver(
            &dest,
            &body(),
            Duration::from_secs(5),
            Instant::now() + Duration::from_secs(60),
        )
        .await;
        assert_eq!(
            d,
            Delivery {
                attempts: 3,
                result: Ok(Vec::new()),
                errors: ErrorCounts {
                    http_5xx: 2,
                    ..ErrorCounts::default()
                },
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waits_at_least_retry_after() {
        let dest = Scripted(Mutex::new(vec![retryable(Some(7))]));
        let start = Instant::now();
        let d = deliver(
            &dest,
            &body(),
            Duration::from_secs(5),
            start + Duration::from_secs(60),
        )
        .await;
        assert_eq!(d.result, Ok(Vec::new()));
        assert!(start.elapsed() >= Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_is_not_retried() {
        let dest = Scripted(Mutex::new(vec![SendError::Permanent {
            reason: "HTTP 400".into(),
            class: ErrorClass::Http4xx,
        }]));
        let d = deliver(
            &dest,
            &body(),
            Duration::from_secs(5),
            Instant::now() + Duration::from_secs(60),
        )
        .await;
        assert_eq!(d.attempts, 1);
        assert_eq!(d.result, Err(Failure::permanent("HTTP 400".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_before_the_deadline_rather_than_past_it() {
        let dest = Scripted(Mutex::new(vec![retryable(Some(3600)); 3]));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        let d = deliver(&dest, &body(), Duration::from_secs(5), deadline).await;
        assert_eq!(d.attempts, 1);
        let failure = d.result.unwrap_err();
        assert!(failure.reason.contains("Lambda deadline"));
        assert!(!failure.permanent);
        assert!(Instant::now() <= deadline);
    }
}
