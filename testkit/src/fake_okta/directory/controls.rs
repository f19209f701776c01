//! `FakeOkta`'s methods that script how the directory answers: its budgets, failures, refusals and cursors, and the count of requests per endpoint.

use super::{Bucket, DirectoryEndpoint, DirectoryFailure, DirectoryRateLimits};
use crate::fake_okta::FakeOkta;

impl FakeOkta {
    /// Replaces the directory's budgets (initially [`DirectoryRateLimits::default`]);
    /// each bucket opens a fresh window at its next request.
    pub fn set_directory_rate_limits(&self, limits: DirectoryRateLimits) {
        self.shared.lock().directory.set_limits(limits);
    }

    /// Other clients of the org used `n` requests of `bucket`'s current window.
    pub fn consume_directory_budget(&self, bucket: Bucket, n: u32) {
        self.shared
            .lock()
            .directory
            .bucket(bucket)
            .consume(std::time::Instant::now(), n);
    }

    /// Queues `f` as the answer to the next request to `endpoint` (FIFO per endpoint);
    /// directory requests never take [`FakeOkta::push_failure`]'s.
    pub fn push_directory_failure(&self, endpoint: DirectoryEndpoint, f: DirectoryFailure) {
        self.shared
            .lock()
            .directory
            .failures
            .push_back((endpoint, f));
    }

    /// When on, `endpoint` answers 403 `E0000006` naming the missing permission, as for an
    /// admin without it (a Read-only Administrator at the role assignments).
    pub fn set_directory_forbidden(&self, endpoint: DirectoryEndpoint, on: bool) {
        let mut inner = self.shared.lock();
        inner.directory.forbidden.retain(|e| *e != endpoint);
        if on {
            inner.directory.forbidden.push(endpoint);
        }
    }

    /// Every directory cursor issued so far becomes unknown: 400 `E0000031` when used.
    pub fn expire_directory_cursors(&self) {
        let mut inner = self.shared.lock();
        inner.directory.cursor_generation = inner.directory.cursor_generation.wrapping_add(1);
    }

    /// How many requests reached `endpoint`, whatever their answer.
    pub fn count_directory_requests(&self, endpoint: DirectoryEndpoint) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| {
                let path = r.path_and_query.split('?').next().unwrap_or_default();
                DirectoryEndpoint::of_path(path).is_some_and(|(e, _)| e == endpoint)
            })
            .count()
    }
}
