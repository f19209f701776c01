//! The destination port: somewhere a request body can be sent, and how one attempt fails.

use std::time::Duration;

use futures::future::BoxFuture;

use super::framing::Body;
use crate::telemetry::ErrorClass;

/// Why one request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again: 408, 429, 5xx, connection errors, timeouts.
    #[error("{reason}")]
    Retryable {
        /// What happened, for the log and the dead letter.
        reason: String,
        /// How long the destination asked us to wait, if it did.
        retry_after: Option<Duration>,
        /// The kind of failure.
        class: ErrorClass,
    },
    /// Trying again will not help: other 4xx, or no usable credential.
    #[error("{reason}")]
    Permanent {
        /// What happened, for the log and the dead letter.
        reason: String,
        /// The kind of failure.
        class: ErrorClass,
    },
}

impl SendError {
    /// The kind of failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            SendError::Retryable { class, .. } | SendError::Permanent { class, .. } => *class,
        }
    }
}

/// Items of a request the destination refused for good while taking the others: their
/// positions in the request, with why.
pub type Rejected = Vec<(usize, String)>;

/// Somewhere batches can be sent.
pub trait Destination: Send + Sync {
    /// One attempt at delivering `body`, giving up after `timeout`. `Ok` lists the items
    /// refused for good (usually none).
    fn send<'a>(
        &'a self,
        body: &'a Body,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Rejected, SendError>>;

    /// Where this destination is, safe to log.
    fn describe(&self) -> String;
}
