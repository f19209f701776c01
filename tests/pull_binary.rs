//! The real okta-pull binary against a fake Okta System Log API, moto server (S3, Secrets
//! Manager) and a recording destination, all on 127.0.0.1, through a local Runtime API:
//! paging and the checkpoint (first runs, late events, deadlines, destination failures,
//! overlapping runs). Okta's own behaviour is in `pull_binary_okta.rs`, backfills and the
//! connection check in `pull_binary_operator.rs`.

use std::time::Duration;

use okta_ingest_testkit::destination::Behaviour;
use okta_ingest_testkit::okta_events::gunzip_ndjson;
use serde_json::Value;

mod support;

use support::pull::*;
use support::BUCKET;

#[tokio::test]
async fn first_run_reads_every_page_and_the_next_run_only_what_is_new() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(2500, minutes_ago(120), time::Duration::seconds(2));
    let c = org.container().await;
    let summary = c.scheduled(T).await;
    assert_eq!(summary["forwarded"], 2500, "{summary}");
    assert_eq!(summary["pages"], 3);
    assert_eq!(summary["stopped"], "caught up");
    org.assert_exactly_once();
    // Paging used the next links: the first request carries since, the others Okta's cursor.
    let requests = org.okta.requests();
    assert!(requests[0]
        .query
        .iter()
        .any(|(k, v)| k == "since" && !v.is_empty()));
    assert!(requests[0]
        .query
        .iter()
        .any(|(k, v)| k == "limit" && v == "1000"));
    assert!(requests[1..]
        .iter()
        .all(|r| r.query.iter().any(|(k, _)| k == "after")));
    assert_eq!(
        org.checkpoint().await.unwrap()["lease"],
        Value::Null,
        "the claim is released"
    );

    org.okta
        .add_events(3, minutes_ago(1), time::Duration::seconds(1));
    let summary = c.scheduled(T).await;
    assert_eq!(
        (summary["forwarded"].as_u64(), summary["pages"].as_u64()),
        (Some(3), Some(1)),
        "{summary}"
    );
    org.assert_exactly_once();
    org.assert_no_token_anywhere(&[&c]).await;
}

#[tokio::test]
async fn the_first_run_starts_initial_lookback_back_and_skips_stale_events() {
    let org = Org::start(&[
        ("INITIAL_LOOKBACK_SECONDS", "7200"),
        ("MAX_EVENT_AGE_SECONDS", "3600"),
    ])
    .await;
    org.okta
        .add_events(5, minutes_ago(300), time::Duration::seconds(1)); // before the lookback
    let stale = org
        .okta
        .add_events(4, minutes_ago(100), time::Duration::seconds(1)); // within lookback, too old
    let fresh = org
        .okta
        .add_events(6, minutes_ago(30), time::Duration::seconds(1));
    let c = org.container().await;
    let summary = c.scheduled(T).await;
    assert_eq!(
        (
            summary["forwarded"].as_u64(),
            summary["dropped_stale"].as_u64()
        ),
        (Some(6), Some(4)),
        "{summary}"
    );
    let delivered = org.delivered();
    assert!(fresh.iter().all(|u| delivered.get(u) == Some(&1)));
    assert!(stale.iter().all(|u| !delivered.contains_key(u)));
}

#[tokio::test]
async fn a_late_event_is_delivered_by_the_next_run() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(20, minutes_ago(10), time::Duration::seconds(1));
    let c = org.container().await;
    c.scheduled(T).await;
    // Persisted now, stamped three hours ago: behind everything already read, by published.
    org.okta.add_event("late-event-0001", minutes_ago(180));
    let summary = c.scheduled(T).await;
    assert_eq!(summary["forwarded"], 1, "{summary}");
    assert_eq!(
        summary["lag_seconds"], 0,
        "caught up again after the late event"
    );
    assert_eq!(org.delivered().get("late-event-0001"), Some(&1));
    org.assert_exactly_once();
}

#[tokio::test]
async fn a_next_link_equal_to_the_request_does_not_repeat_events() {
    let org = Org::start(&[]).await;
    org.okta.set_next_self_when_short(true);
    org.okta
        .add_events(10, minutes_ago(10), time::Duration::seconds(1));
    let c = org.container().await;
    c.scheduled(T).await;
    let checkpoint = org.checkpoint().await.unwrap();
    assert_eq!(
        checkpoint["handled_at_next"].as_array().unwrap().len(),
        10,
        "{checkpoint}"
    );
    org.okta
        .add_events(2, minutes_ago(1), time::Duration::seconds(1));
    let summary = c.scheduled(T).await;
    assert_eq!(
        (
            summary["forwarded"].as_u64(),
            summary["duplicates"].as_u64()
        ),
        (Some(2), Some(10)),
        "{summary}"
    );
    org.assert_exactly_once();
}

#[tokio::test]
async fn a_run_cut_short_by_the_deadline_resumes_with_nothing_lost_or_repeated() {
    let org = Org::start(&[("DESTINATION_TIMEOUT_SECONDS", "10")]).await;
    org.okta
        .add_events(3500, minutes_ago(100), time::Duration::seconds(1));
    org.destination
        .set_default(Behaviour::Hang(Duration::from_millis(1500)));
    let c = org.container().await;
    let first = c.scheduled(Duration::from_secs(6)).await;
    let after_first = org.delivered().values().sum::<usize>();
    assert!(
        after_first < 3500,
        "the deadline interrupted the run: {first}"
    );
    org.destination.set_default(Behaviour::Ok);
    for _ in 0..3 {
        let s = c.scheduled(T).await;
        if s["stopped"] == "caught up" {
            break;
        }
    }
    org.assert_exactly_once();
}

#[tokio::test]
async fn a_destination_outage_leaves_the_checkpoint_and_the_next_run_delivers() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(30, minutes_ago(10), time::Duration::seconds(1));
    org.destination.set_default(Behaviour::Status(503));
    let c = org.container().await;
    let summary = c.scheduled(Duration::from_secs(6)).await;
    assert_eq!(summary["forwarded"], 0);
    assert!(
        summary["stopped"]
            .as_str()
            .unwrap()
            .starts_with("destination:"),
        "{summary}"
    );
    assert!(
        org.moto.list_keys(BUCKET, "dead-letter/").await.is_empty(),
        "an outage is not a reason to dead-letter"
    );
    org.destination.set_default(Behaviour::Ok);
    let summary = c.scheduled(T).await;
    assert_eq!(summary["forwarded"], 30, "{summary}");
    org.assert_exactly_once();
}

#[tokio::test]
async fn a_permanent_rejection_is_dead_lettered_and_the_run_moves_on() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(5, minutes_ago(10), time::Duration::seconds(1));
    org.destination.push_behaviour(Behaviour::Status(400));
    let c = org.container().await;
    let summary = c.scheduled(T).await;
    assert_eq!(
        (
            summary["forwarded"].as_u64(),
            summary["dead_lettered"].as_u64()
        ),
        (Some(0), Some(5)),
        "{summary}"
    );
    let keys = org.moto.list_keys(BUCKET, "dead-letter/pull/").await;
    let kept = gunzip_ndjson(&org.moto.get_object(BUCKET, &keys[0]).await);
    let okta_json: Vec<String> = org.okta.events().into_iter().map(|(_, j)| j).collect();
    let kept_json: Vec<String> = kept.iter().map(|l| l["event"].to_string()).collect();
    let expected: Vec<String> = okta_json
        .iter()
        .map(|j| serde_json::from_str::<Value>(j).unwrap().to_string())
        .collect();
    assert_eq!(kept_json, expected);
    org.okta
        .add_events(1, minutes_ago(1), time::Duration::seconds(1));
    assert_eq!(
        c.scheduled(T).await["forwarded"],
        1,
        "moved on past the rejected page"
    );
}

#[tokio::test]
async fn two_overlapping_runs_never_both_forward() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(1500, minutes_ago(30), time::Duration::seconds(1));
    org.destination
        .set_default(Behaviour::Hang(Duration::from_millis(500)));
    let (a, b) = (org.container().await, org.container().await);
    let (ra, rb) = tokio::join!(a.scheduled(T), b.scheduled(T));
    let stopped: Vec<&str> = [&ra, &rb]
        .iter()
        .map(|r| r["stopped"].as_str().unwrap())
        .collect();
    assert!(stopped.contains(&"caught up"), "{stopped:?}");
    assert!(
        stopped.iter().any(|s| s.contains("another run")),
        "{stopped:?}"
    );
    org.assert_exactly_once();
}
