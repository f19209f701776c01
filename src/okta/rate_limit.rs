//! Okta's rate-limit headers, read against Okta's own clock.

use std::time::Duration;

use reqwest::header::HeaderMap;
use time::OffsetDateTime;
use tokio::time::Instant;

/// The rate-limit state Okta reported on a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-Rate-Limit-Limit`: requests per window.
    pub limit: u32,
    /// `X-Rate-Limit-Remaining`: requests left in this window.
    pub remaining: u32,
    /// Time from the response until the window resets, by Okta's own clock
    /// (`X-Rate-Limit-Reset` minus `Date`), never negative.
    pub until_reset: Duration,
    /// When the response arrived, locally.
    pub received_at: Instant,
}

impl RateLimit {
    /// Reads the headers; `None` when they are missing or unreadable.
    pub fn from_headers(headers: &HeaderMap, received_at: Instant) -> Option<Self> {
        let number =
            |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let limit = u32::try_from(number("x-rate-limit-limit")?).ok()?;
        let remaining = u32::try_from(number("x-rate-limit-remaining")?.max(0)).ok()?;
        let reset = number("x-rate-limit-reset")?;
        // Okta's clock, not ours: a skewed Lambda clock must not shorten or stretch waits.
        let server_now = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
        // Header numbers may be anything: a reset before Okta's now is no wait, one absurdly
        // far ahead is a wait that no deadline allows.
        let until_reset = Duration::from_secs(
            reset
                .checked_sub(server_now)
                .and_then(|d| u64::try_from(d).ok())
                .unwrap_or(0),
        );
        Some(RateLimit {
            limit,
            remaining,
            until_reset,
            received_at,
        })
    }

    /// When the window resets, locally; `None` when that is too far ahead to represent.
    pub fn reset_at(&self) -> Option<Instant> {
        self.received_at.checked_add(self.until_reset)
    }

    /// Requests always left to other clients: `headroom` of the window's budget, at least one
    /// when headroom is above zero.
    pub fn reserved(&self, headroom: f64) -> u32 {
        (f64::from(self.limit) * headroom).ceil() as u32
    }

    /// Whether another request now would eat into the reserved share.
    pub fn must_wait(&self, headroom: f64) -> bool {
        self.remaining <= self.reserved(headroom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::test_headers as headers;

    #[test]
    fn rate_limit_waits_are_measured_on_oktas_clock() {
        // Okta's clock is an hour ahead of ours; the reset is 20 s after its Date.
        let okta_now = std::time::SystemTime::now() + Duration::from_secs(3600);
        let reset = okta_now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 20;
        let h = headers(&[
            ("x-rate-limit-limit", "20"),
            ("x-rate-limit-remaining", "4"),
            ("x-rate-limit-reset", &reset.to_string()),
            ("date", &httpdate::fmt_http_date(okta_now)),
        ]);
        let rl = RateLimit::from_headers(&h, Instant::now()).unwrap();
        assert_eq!((rl.limit, rl.remaining), (20, 4));
        assert!(
            rl.until_reset >= Duration::from_secs(20) && rl.until_reset <= Duration::from_secs(21),
            "{rl:?}"
        );
        assert_eq!(rl.reserved(0.25), 5);
        assert!(rl.must_wait(0.25), "4 left is inside the 5 kept for others");
        assert!(!rl.must_wait(0.1));
    }

    #[test]
    fn a_reset_in_the_past_never_gives_a_negative_wait() {
        let now = std::time::SystemTime::now();
        let past = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 30;
        let h = headers(&[
            ("x-rate-limit-limit", "20"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", &past.to_string()),
            ("date", &httpdate::fmt_http_date(now)),
        ]);
        assert_eq!(
            RateLimit::from_headers(&h, Instant::now())
                .unwrap()
                .until_reset,
            Duration::ZERO
        );
    }
}
