//! Exponential backoff with full jitter: the one wait between attempts that delivery (a
//! destination), okta (a System Log page, a token) and the delivery ledger share, so none
//! imports another.

use std::time::Duration;

/// First backoff ceiling; doubles per attempt.
pub const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// Largest backoff ceiling.
pub const BACKOFF_CAP: Duration = Duration::from_secs(20);

/// Full-jitter backoff before attempt `attempt + 1` (AWS Architecture Blog, "Exponential
/// Backoff And Jitter"): uniform in `[0, min(cap, base * 2^attempt)]`.
pub fn backoff(attempt: u32) -> Duration {
    backoff_within(attempt, BACKOFF_BASE, BACKOFF_CAP)
}

/// [`backoff`] with another first ceiling and cap (the delivery ledger's retries are
/// shorter: it has only part of an invocation's time).
pub fn backoff_within(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(cap);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_the_growing_ceiling() {
        for attempt in 0..40 {
            let ceiling = BACKOFF_BASE
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_CAP);
            for _ in 0..50 {
                assert!(backoff(attempt) <= ceiling);
            }
        }
    }
}
