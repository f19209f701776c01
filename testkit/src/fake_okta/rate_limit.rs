//! The fake's rate limit: a fixed window of requests and the `X-Rate-Limit-*` headers it reports.

use std::time::{Duration, Instant};

use axum::http::HeaderName;
use time::OffsetDateTime;

/// The default budget is far above anything a test sends, so only tests that
/// call [`FakeOkta::set_rate_limit`](super::FakeOkta::set_rate_limit) ever see a 429 from it.
const DEFAULT_RATE_LIMIT: u32 = 1000;
const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(60);

/// A fixed window that opens at the first request after the previous one closed.
pub(crate) struct RateLimit {
    limit: u32,
    window: Duration,
    start: Option<Instant>,
    used: u32,
}

impl Default for RateLimit {
    /// 1000 requests per 60 s, no window running yet.
    fn default() -> RateLimit {
        RateLimit::new(DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW)
    }
}

impl RateLimit {
    /// `limit` requests per `window`; the next request opens the first window.
    pub(crate) fn new(limit: u32, window: Duration) -> RateLimit {
        RateLimit {
            limit,
            window,
            start: None,
            used: 0,
        }
    }

    /// Opens a new window if none is running at `now`.
    fn roll(&mut self, now: Instant) {
        let running = self
            .start
            .is_some_and(|s| now.saturating_duration_since(s) < self.window);
        if !running {
            self.start = Some(now);
            self.used = 0;
        }
    }

    /// Counts one request; true when the window was already used up.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.roll(now);
        let over = self.used >= self.limit;
        self.used = self.used.saturating_add(1);
        over
    }

    /// Counts `n` requests from other clients (opening a window if none is running).
    pub(crate) fn consume(&mut self, now: Instant, n: u32) {
        self.roll(now);
        self.used = self.used.saturating_add(n);
    }

    fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }

    /// The window's end on the fake clock, in epoch seconds rounded up.
    fn reset(&self, now: Instant, fake_now: OffsetDateTime) -> i64 {
        let left = self
            .start
            .map(|s| (s + self.window).saturating_duration_since(now))
            .unwrap_or(self.window);
        let end = fake_now + left;
        end.unix_timestamp() + i64::from(end.nanosecond() > 0)
    }

    /// `X-Rate-Limit-Limit`, `-Remaining` (0 when `exhausted`, whatever the
    /// budget says) and `-Reset` as of `now`.
    pub(crate) fn headers(
        &self,
        now: Instant,
        fake_now: OffsetDateTime,
        exhausted: bool,
    ) -> [(HeaderName, String); 3] {
        let remaining = if exhausted { 0 } else { self.remaining() };
        [
            (
                HeaderName::from_static("x-rate-limit-limit"),
                self.limit.to_string(),
            ),
            (
                HeaderName::from_static("x-rate-limit-remaining"),
                remaining.to_string(),
            ),
            (
                HeaderName::from_static("x-rate-limit-reset"),
                self.reset(now, fake_now).to_string(),
            ),
        ]
    }
}
