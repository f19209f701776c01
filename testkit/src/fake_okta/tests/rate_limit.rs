//! Tests of the rate-limit window, budget used by others and clock skew in `Date` and reset.

use super::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn rate_limit_counts_down_then_429_until_the_window_passes() {
    let okta = FakeOkta::start().await;
    okta.set_rate_limit(3, Duration::from_secs(2));
    let started = Instant::now();
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = get(&okta, "/api/v1/logs").await;
        assert_eq!(r.status, 200);
        assert_eq!(num(&r, "x-rate-limit-limit"), 3);
        remaining.push(num(&r, "x-rate-limit-remaining"));
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    let r = get(&okta, "/api/v1/logs").await;
    assert_eq!(r.status, 429);
    assert_eq!(error_code(&r), "E0000047");
    assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
    let reset = num(&r, "x-rate-limit-reset");
    let date = date(&r).unix_timestamp();
    assert!(
        reset > date && reset <= date + 3,
        "reset {reset}, date {date}"
    );
    // Rate limiting comes before auth, and a 429 still uses budget.
    let r = get_with(&okta, "/api/v1/logs", None).await;
    assert_eq!(r.status, 429);

    tokio::time::sleep_until((started + Duration::from_millis(2300)).into()).await;
    let r = get(&okta, "/api/v1/logs").await;
    assert_eq!(r.status, 200);
    assert_eq!(num(&r, "x-rate-limit-remaining"), 2);
    assert_eq!(okta.count_status(429), 2);
}

#[tokio::test]
async fn budget_used_by_others_and_401_count() {
    let okta = FakeOkta::start().await;
    okta.set_rate_limit(5, Duration::from_secs(60));
    okta.consume_budget(2);
    let r = get_with(&okta, "/api/v1/logs", Some("SSWS wrong")).await;
    assert_eq!(r.status, 401);
    assert_eq!(num(&r, "x-rate-limit-remaining"), 2);
    let r = get(&okta, "/api/v1/logs").await;
    assert_eq!(num(&r, "x-rate-limit-remaining"), 1);
    okta.consume_budget(1);
    let r = get(&okta, "/api/v1/logs").await;
    assert_eq!(r.status, 429);
    assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
}

#[tokio::test]
async fn clock_skew_shows_in_date_and_reset() {
    let okta = FakeOkta::start().await;
    okta.set_clock_skew(time::Duration::hours(1));
    let expected = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let r = get(&okta, "/api/v1/logs").await;
    let off = (date(&r) - expected).whole_seconds();
    assert!((-2..=2).contains(&off), "Date is {off} s off");
    let reset = num(&r, "x-rate-limit-reset") - expected.unix_timestamp();
    assert!((58..=62).contains(&reset), "reset is {reset} s ahead");
}
