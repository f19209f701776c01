//! The real okta-pull binary against what Okta does: rate limits and pacing, 5xx and broken
//! pages, `Link` headers, foreign `next` links, rotated and revoked tokens.

use std::time::Duration;

use okta_ingest_testkit::fake_okta::Failure;
use okta_ingest_testkit::runtime_api::Invocation;

mod support;

use support::pull::*;
use support::BUCKET;

#[tokio::test]
async fn pacing_keeps_the_headroom_and_causes_no_429() {
    let org = Org::start(&[("RATE_LIMIT_HEADROOM", "0.25")]).await;
    org.okta.set_rate_limit(4, Duration::from_secs(2));
    org.okta
        .add_events(5500, minutes_ago(200), time::Duration::seconds(1));
    let c = org.container().await;
    let summary = c.scheduled(T).await;
    assert_eq!(summary["stopped"], "caught up", "{summary}");
    assert_eq!(org.okta.count_status(429), 0);
    assert!(
        summary["rate_limit_waits"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    org.assert_exactly_once();
    // Never more than 3 of each window's 4 requests: one is left to other clients.
    let requests = org.okta.requests();
    for (i, r) in requests.iter().enumerate() {
        let in_window = requests[i..]
            .iter()
            .take_while(|s| s.at.duration_since(r.at) < Duration::from_millis(1900))
            .count();
        assert!(
            in_window <= 3,
            "{in_window} requests within one window starting at request {i}"
        );
    }
}

#[tokio::test]
async fn a_429_waits_for_the_reset_by_oktas_clock() {
    let org = Org::start(&[]).await;
    org.okta.set_rate_limit(100, Duration::from_secs(2));
    // Okta's clock is an hour ahead: waits must come from Date and Reset, not the local clock.
    org.okta.set_clock_skew(time::Duration::hours(1));
    org.okta
        .add_events(10, minutes_ago(10), time::Duration::seconds(1));
    org.okta.push_failure(Failure::TooManyRequests);
    let c = org.container().await;
    let started = std::time::Instant::now();
    let summary = c.scheduled(T).await;
    assert_eq!(
        (summary["forwarded"].as_u64(), summary["okta_429"].as_u64()),
        (Some(10), Some(1)),
        "{summary}"
    );
    let requests = org.okta.requests();
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(
        gap >= Duration::from_millis(1900),
        "retried after {gap:?}, before the window reset"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait an hour or more"
    );
}

#[tokio::test]
async fn okta_500_query_timeouts_and_broken_pages_are_retried() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(10, minutes_ago(10), time::Duration::seconds(1));
    org.okta.push_failure(Failure::QueryTimeout);
    org.okta.push_failure(Failure::BrokenJson);
    let c = org.container().await;
    let summary = c.scheduled(T).await;
    assert_eq!(
        (
            summary["forwarded"].as_u64(),
            summary["okta_requests"].as_u64()
        ),
        (Some(10), Some(3)),
        "{summary}"
    );
    assert!(org.moto.list_keys(BUCKET, "dead-letter/").await.is_empty());
    org.assert_exactly_once();
}

#[tokio::test]
async fn several_and_combined_link_headers_both_page() {
    let org = Org::start(&[]).await;
    org.okta.set_combined_link_header(true);
    org.okta
        .add_events(1200, minutes_ago(60), time::Duration::seconds(1));
    let c = org.container().await;
    assert_eq!(c.scheduled(T).await["forwarded"], 1200);
    org.assert_exactly_once();
}

#[tokio::test]
async fn a_next_link_to_a_foreign_host_is_refused() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(1000, minutes_ago(60), time::Duration::seconds(1));
    org.okta.push_failure(Failure::ForeignNext);
    let c = org.container().await;
    match c.run(include_str!("../events/schedule.json"), T).await {
        Invocation::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "OktaIngest.ForeignLink");
            assert!(
                error_message.contains("evil.example.com")
                    && error_message.contains("only ever sent to"),
                "{error_message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        org.delivered().is_empty(),
        "nothing from a page with a foreign next link is used"
    );
    assert_eq!(org.okta.requests().len(), 1);
    // The checkpoint still points at the org, so the next run carries on normally.
    assert_eq!(c.scheduled(T).await["forwarded"], 1000);
}

#[tokio::test]
async fn a_rotated_token_is_picked_up_after_a_401() {
    let org = Org::start(&[("RUST_LOG", "debug")]).await;
    org.okta
        .add_events(3, minutes_ago(10), time::Duration::seconds(1));
    let c = org.container().await;
    c.scheduled(T).await;
    org.okta.set_tokens(&[ROTATED]);
    org.moto
        .put_secret_value(&org.secret_arn, &format!(r#"{{"token":"{ROTATED}"}}"#))
        .await;
    org.okta
        .add_events(2, minutes_ago(1), time::Duration::seconds(1));
    let summary = c.scheduled(T).await;
    assert_eq!(summary["forwarded"], 2, "{summary}");
    let auth: Vec<String> = org
        .okta
        .requests()
        .iter()
        .filter_map(|r| r.authorization.clone())
        .collect();
    assert_eq!(
        auth,
        [
            format!("SSWS {TOKEN}"),
            format!("SSWS {TOKEN}"),
            format!("SSWS {ROTATED}")
        ]
    );
    org.assert_exactly_once();
    org.assert_no_token_anywhere(&[&c]).await;
}

#[tokio::test]
async fn a_revoked_token_or_missing_permission_ends_the_run_with_what_to_do() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(3, minutes_ago(10), time::Duration::seconds(1));
    org.okta.set_tokens(&["someone-elses-token"]);
    let c = org.container().await;
    let Invocation::Error {
        error_type,
        error_message,
    } = c.run("{}", T).await
    else {
        panic!("expected a 401 error")
    };
    assert_eq!(error_type, "OktaIngest.Unauthorized");
    assert!(
        error_message.contains("expired") && error_message.contains(&org.secret_arn),
        "{error_message}"
    );
    org.okta.set_tokens(&[TOKEN]);
    org.okta.set_forbidden(true);
    let Invocation::Error {
        error_type,
        error_message,
    } = c.run("{}", T).await
    else {
        panic!("expected a 403 error")
    };
    assert_eq!(error_type, "OktaIngest.Forbidden");
    assert!(
        error_message.contains("Read-Only Administrator"),
        "{error_message}"
    );
    assert!(org.delivered().is_empty());
    org.assert_no_token_anywhere(&[&c]).await;
}
