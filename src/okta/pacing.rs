//! Keeping to Okta's rate limits, bucket by bucket: the reserved share of each window is left
//! to other clients, a 429 waits for its bucket's announced reset (or backs off), and the
//! counters of a run.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::{Bucket, FetchError, RateLimit};

/// Waits for a rate-limit reset on 429 before giving up on a page within a run.
const MAX_RATE_LIMITED: u32 = 5;

/// Counters for one run, shared by the reader and the run's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FetchStats {
    /// Requests sent to Okta.
    pub requests: u32,
    /// Pauses to keep the reserved share of the rate-limit budget.
    pub rate_limit_waits: u32,
    /// Time spent in those pauses and in 429 waits.
    pub waited_ms: u64,
    /// 429 answers received.
    pub http_429: u32,
    /// How the run authenticated: `api-token` or `oauth` (once the secret was read).
    pub auth: Option<&'static str>,
    /// OAuth token requests made.
    pub token_requests: u32,
}

/// Wait before retrying after the `n`-th 429 that announced no reset still ahead: half of an
/// exponential ceiling (1 s, 2 s, 4 s … up to 30 s) plus a random share of the other half.
fn rate_limited_backoff(n: u32) -> Duration {
    let ceiling = Duration::from_secs(1)
        .saturating_mul(1u32.checked_shl(n.min(8)).unwrap_or(u32::MAX))
        .min(Duration::from_secs(30));
    ceiling / 2 + (ceiling / 2).mul_f64(fastrand::f64())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The rate-limit state of one reader, from the last answer in each bucket, and the run's
/// counters.
pub(super) struct Pacer {
    headroom: f64,
    /// Indexed by [`Bucket::index`]: a request waits only on its own bucket's window.
    rates: Mutex<[Option<RateLimit>; Bucket::ALL.len()]>,
    stats: Mutex<FetchStats>,
}

impl Pacer {
    /// Leaves `headroom` of each window to other clients.
    pub(super) fn new(headroom: f64) -> Self {
        Pacer {
            headroom,
            rates: Mutex::new([None; Bucket::ALL.len()]),
            stats: Mutex::new(FetchStats::default()),
        }
    }

    /// Takes the rate-limit headers of an answer from `bucket`. Only this answer's count: a
    /// 429 without them must not reuse an old reset.
    pub(super) fn observe(&self, bucket: Bucket, headers: &HeaderMap, received_at: Instant) {
        if let Ok(mut r) = self.rates.lock() {
            r[bucket.index()] = RateLimit::from_headers(headers, received_at);
        }
    }

    /// The last rate-limit state `bucket` reported.
    fn rate(&self, bucket: Bucket) -> Option<RateLimit> {
        self.rates.lock().ok().and_then(|r| r[bucket.index()])
    }

    /// Counts something in this run's counters.
    pub(super) fn count(&self, f: impl FnOnce(&mut FetchStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    /// Counters since the last call, which resets them.
    pub(super) fn take_stats(&self) -> FetchStats {
        self.stats
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    /// After a 429 from `bucket`: waits until its window resets, or gives up if that is past
    /// `deadline`.
    pub(super) async fn wait_for_reset(
        &self,
        bucket: Bucket,
        detail: &str,
        rate_limited: u32,
        deadline: Instant,
    ) -> Result<(), FetchError> {
        let now = Instant::now();
        // The reset Okta announced, if this 429 came with one still ahead; otherwise (no
        // headers, or a reset already past) exponential backoff, never a tight loop.
        let announced = self
            .rate(bucket)
            .and_then(|r| r.reset_at())
            .filter(|at| *at > now);
        let wait_until = announced.or_else(|| now.checked_add(rate_limited_backoff(rate_limited)));
        let Some(wait_until) =
            wait_until.filter(|at| rate_limited <= MAX_RATE_LIMITED && *at <= deadline)
        else {
            return Err(FetchError::OutOfTime {
                reason: format!("Okta rate limit (HTTP 429, {detail}) resets after the deadline"),
            });
        };
        tracing::warn!(bucket = ?bucket, detail = %detail, wait_ms = millis(wait_until.saturating_duration_since(Instant::now())), "Okta answered 429: waiting for the rate-limit window to reset");
        self.sleep_until(wait_until).await;
        Ok(())
    }

    /// Keeps the reserved share of `bucket`'s window: when its last response left no more
    /// than that, waits for that window to reset.
    pub(super) async fn pace(&self, bucket: Bucket, deadline: Instant) -> Result<(), FetchError> {
        let Some(rate) = self.rate(bucket) else {
            return Ok(());
        };
        if !rate.must_wait(self.headroom) {
            return Ok(());
        }
        let reset_at = match rate.reset_at() {
            Some(at) if at <= Instant::now() => return Ok(()),
            Some(at) if at <= deadline => at,
            _ => {
                return Err(FetchError::OutOfTime {
                    reason: format!(
                        "the rate-limit budget left to this reader ({} of {} per window, RATE_LIMIT_HEADROOM {}) is used until the window resets",
                        rate.limit - rate.reserved(self.headroom).min(rate.limit),
                        rate.limit,
                        self.headroom
                    ),
                })
            }
        };
        self.count(|s| s.rate_limit_waits += 1);
        tracing::info!(
            bucket = ?bucket,
            remaining = rate.remaining,
            limit = rate.limit,
            wait_ms = millis(reset_at.saturating_duration_since(Instant::now())),
            "pacing: waiting for the Okta rate-limit window to reset"
        );
        self.sleep_until(reset_at).await;
        Ok(())
    }

    async fn sleep_until(&self, at: Instant) {
        let started = Instant::now();
        tokio::time::sleep_until(at).await;
        let waited = millis(started.elapsed());
        self.count(|s| s.waited_ms = s.waited_ms.saturating_add(waited));
    }
}
