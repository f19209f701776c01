//! A destination in memory, for local runs and tests: keeps every accepted body and answers
//! from a script of failures first.

use std::time::Duration;

use futures::future::BoxFuture;

use super::destination::{Destination, Rejected, SendError};
use super::framing::Body;

/// A destination in memory, for local runs and tests: keeps every accepted body and answers
/// from a script of failures first.
#[derive(Default)]
pub struct MemoryDestination {
    accepted: std::sync::Mutex<Vec<Body>>,
    script: std::sync::Mutex<std::collections::VecDeque<SendError>>,
    attempts: std::sync::atomic::AtomicUsize,
}

impl MemoryDestination {
    /// Queues `error` as the answer to the next attempt.
    pub fn fail_next(&self, error: SendError) {
        if let Ok(mut s) = self.script.lock() {
            s.push_back(error);
        }
    }

    /// Drops the failures still scripted: the next attempts succeed.
    pub fn recover(&self) {
        if let Ok(mut s) = self.script.lock() {
            s.clear();
        }
    }

    /// Bodies accepted so far.
    pub fn accepted(&self) -> Vec<Body> {
        self.accepted.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Attempts made so far, failed ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Destination for MemoryDestination {
    fn send<'a>(
        &'a self,
        body: &'a Body,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Rejected, SendError>> {
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let scripted = self.script.lock().ok().and_then(|mut s| s.pop_front());
        let result = match scripted {
            Some(e) => Err(e),
            None => {
                if let Ok(mut a) = self.accepted.lock() {
                    a.push(body.clone());
                }
                Ok(Vec::new())
            }
        };
        Box::pin(async move { result })
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
