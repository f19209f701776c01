//! The real okta-pull binary against a fake Okta System Log API, moto server (S3, Secrets
//! Manager) and a recording destination, all on 127.0.0.1, through a local Runtime API.

use std::time::Duration;

use okta_ingest_testkit::binary_path;
use okta_ingest_testkit::destination::Behaviour;
use okta_ingest_testkit::fake_okta::Failure;
use okta_ingest_testkit::okta_events::gunzip_ndjson;
use okta_ingest_testkit::runtime_api::Invocation;
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

#[tokio::test]
async fn a_manual_backfill_sends_its_window_once_and_leaves_the_checkpoint_alone() {
    let org = Org::start(&[("MAX_EVENT_AGE_SECONDS", "0")]).await;
    let start = minutes_ago(24 * 60);
    let uuids = org.okta.add_events(30, start, time::Duration::minutes(1));
    let c = org.container().await;
    let since =
        okta_ingest_testkit::okta_events::rfc3339_millis(start + time::Duration::minutes(10));
    let until =
        okta_ingest_testkit::okta_events::rfc3339_millis(start + time::Duration::minutes(20));
    let payload = format!(r#"{{"since":"{since}","until":"{until}"}}"#);
    let summary = c.run(&payload, T).await.response();
    assert_eq!(
        (summary["mode"].as_str(), summary["forwarded"].as_u64()),
        (Some("backfill"), Some(10)),
        "{summary}"
    );
    let delivered = org.delivered();
    assert!(uuids[10..20].iter().all(|u| delivered.get(u) == Some(&1)));
    assert!(
        org.checkpoint().await.is_none(),
        "a backfill never touches the checkpoint"
    );
    let bad = c
        .run(r#"{"since":"yesterday","until":"2026-11-22T00:00:00Z"}"#, T)
        .await;
    assert!(
        matches!(bad, Invocation::Error { ref error_message, .. } if error_message.contains("RFC 3339")),
        "{bad:?}"
    );
}

#[tokio::test]
async fn the_connection_check_says_what_works_and_what_to_fix() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(2, minutes_ago(1), time::Duration::seconds(1));
    let c = org.container().await;
    let report = c.run(r#"{"check":true}"#, T).await.response();
    assert_eq!(report["ok"], true, "{report}");
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(
        checks
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["okta", "destination", "state bucket"]
    );
    assert!(
        checks[0]["detail"]
            .as_str()
            .unwrap()
            .contains("reads the System Log"),
        "{report}"
    );
    let test_event: Value =
        serde_json::from_str(&org.destination.accepted()[0].json_array_items()[0]).unwrap();
    assert_eq!(test_event["eventType"], "okta-ingest.connection_check");
    assert!(org.checkpoint().await.is_none(), "a check is not a run");

    // A revoked token and a destination refusing the credential, in words an operator can act on.
    org.okta.set_tokens(&["another-token"]);
    org.destination.set_default(Behaviour::Status(401));
    let report = c.run(r#"{"check":true}"#, T).await.response();
    assert_eq!(report["ok"], false);
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks[0]["detail"].as_str().unwrap().contains("expired"),
        "{report}"
    );
    assert!(
        checks[1]["detail"]
            .as_str()
            .unwrap()
            .contains("credential was refused"),
        "{report}"
    );
    assert_eq!(checks[2]["ok"], true);
    org.assert_no_token_anywhere(&[&c]).await;
}

#[tokio::test]
async fn the_connection_check_runs_locally_as_okta_pull_check() {
    let org = Org::start(&[]).await;
    org.okta.set_forbidden(true);
    let mut env = org.moto.function_env();
    env.extend(
        [
            ("OKTA_DOMAIN", org.okta.base_url()),
            ("ALLOW_INSECURE_HTTP", "true".into()),
            ("OKTA_TOKEN_SECRET_ARN", org.secret_arn.clone()),
            ("STATE_BUCKET", BUCKET.into()),
            ("DESTINATION_URL", org.destination.url()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let output = tokio::process::Command::new(binary_path("okta-pull"))
        .arg("check")
        .env_clear()
        .envs(env)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed check exits 1:\n{stdout}"
    );
    assert!(
        stdout.contains("FAIL okta:") && stdout.contains("Read-Only Administrator"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK   destination:") && stdout.contains("OK   state bucket:"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN) && !String::from_utf8_lossy(&output.stderr).contains(TOKEN));
}
