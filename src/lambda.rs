//! What both functions share with the Lambda runtime: the deadline and the margin kept
//! before it, the start-up error, and the request errors that name what was wrong.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::ConfigError;

/// Time kept back from the Lambda deadline for writing dead letters and answering.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// The budget used when the runtime's deadline cannot be trusted (missing, already past on
/// arrival, or beyond Lambda's 15-minute limit, as local emulators send).
pub const UNTRUSTED_DEADLINE_BUDGET: Duration = Duration::from_secs(60);
/// Lambda runs an invocation for 15 minutes at most.
const LONGEST_INVOCATION: Duration = Duration::from_secs(15 * 60);

/// The Lambda deadline (epoch milliseconds) as a monotonic instant. A deadline that cannot
/// be real is not "no time left": one WARN says so and [`UNTRUSTED_DEADLINE_BUDGET`] applies.
pub fn lambda_deadline(deadline_epoch_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let left = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms));
    if left.is_zero() || left > LONGEST_INVOCATION + Duration::from_secs(60) {
        tracing::warn!(
            deadline_epoch_ms,
            budget_seconds = UNTRUSTED_DEADLINE_BUDGET.as_secs(),
            "the runtime's deadline is missing, already past or beyond Lambda's 15 minutes (a local emulator?): using a fixed budget instead"
        );
        return Instant::now() + UNTRUSTED_DEADLINE_BUDGET;
    }
    Instant::now() + left
}

/// When delivery must stop so dead letters can still be written: [`DEADLINE_MARGIN`]
/// before the deadline, or a third of the time left if that is shorter.
pub fn deadline_with_margin(deadline: Instant) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    deadline - DEADLINE_MARGIN.min(left / 3)
}

/// Hands a function the bytes of each invocation's payload exactly as the Runtime API sent
/// them, so that it reads them itself in one pass: `lambda_runtime` would otherwise read
/// them into the handler's type first, and okta-push's 6 MB SQS batches, JSON inside JSON
/// strings, cost a full extra scan. Add a clone of it as the runtime's outermost layer and
/// take the payload in the handler with [`RawPayloads::take`]; the handler's own event type
/// is then `()` (the runtime is given `null` in its place). The runtime calls
/// the handler for one invocation at a time (`Runtime::run`), so one slot is enough.
#[derive(Clone, Default)]
pub struct RawPayloads(std::sync::Arc<std::sync::Mutex<Option<bytes::Bytes>>>);

impl RawPayloads {
    /// The payload of the invocation being handled (empty if there is none).
    pub fn take(&self) -> bytes::Bytes {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_default()
    }
}

impl<S> lambda_runtime::tower::Layer<S> for RawPayloads {
    type Service = TakePayload<S>;

    fn layer(&self, inner: S) -> TakePayload<S> {
        TakePayload {
            slot: self.clone(),
            inner,
        }
    }
}

/// The service [`RawPayloads`] wraps the runtime's in.
pub struct TakePayload<S> {
    slot: RawPayloads,
    inner: S,
}

impl<S> lambda_runtime::tower::Service<lambda_runtime::LambdaInvocation> for TakePayload<S>
where
    S: lambda_runtime::tower::Service<lambda_runtime::LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: lambda_runtime::LambdaInvocation) -> S::Future {
        let payload = std::mem::replace(&mut invocation.body, bytes::Bytes::from_static(b"null"));
        *self
            .slot
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(payload);
        self.inner.call(invocation)
    }
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A configuration variable is wrong.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// An HTTP client could not be built (TLS roots).
    #[error("HTTP client: {0}")]
    Http(String),
}

/// A manual invocation that cannot run as sent: names the field and the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

impl BadRequest {
    /// A request whose `field` is wrong: `expected` says what it should be.
    pub(crate) fn field(field: &str, expected: impl std::fmt::Display) -> Self {
        BadRequest(format!("{field}: {expected}"))
    }

    /// A payload serde could not read as `what`: its message names the field and position.
    pub(crate) fn from_json(what: &str, e: &serde_json::Error) -> Self {
        BadRequest(format!("{what}: {e}"))
    }
}

/// `error_type` of a function error: `OktaIngest.<Kind>`.
pub(crate) fn error_type(kind: &str) -> String {
    format!("OktaIngest.{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_margin_is_at_most_a_third_of_what_is_left() {
        let now = Instant::now();
        assert_eq!(
            deadline_with_margin(now + Duration::from_secs(60)),
            now + Duration::from_secs(57)
        );
        assert_eq!(
            deadline_with_margin(now + Duration::from_secs(3)),
            now + Duration::from_secs(2)
        );
        assert_eq!(deadline_with_margin(now), now);
    }

    #[test]
    fn a_deadline_that_cannot_be_real_gets_the_fixed_budget() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        // Missing (0), 600000 (what cargo-lambda sends: a duration, not an epoch time),
        // already past, and a year ahead.
        for deadline in [0, 600_000, now_ms - 1_000, now_ms + 365 * 86_400_000] {
            let left = lambda_deadline(deadline).saturating_duration_since(Instant::now());
            assert!(
                left > UNTRUSTED_DEADLINE_BUDGET - Duration::from_secs(1)
                    && left <= UNTRUSTED_DEADLINE_BUDGET,
                "{deadline}: {left:?}"
            );
        }
        let real = lambda_deadline(now_ms + 30_000).saturating_duration_since(Instant::now());
        assert!(
            real > Duration::from_secs(29) && real <= Duration::from_secs(30),
            "{real:?}"
        );
    }

    #[test]
    fn one_version_for_the_crates_and_the_published_template() {
        let template = include_str!("../template.yaml");
        let published = template
            .lines()
            .find_map(|l| l.trim().strip_prefix("SemanticVersion:"))
            .map(str::trim);
        assert_eq!(published, Some(env!("CARGO_PKG_VERSION")));
    }
}
