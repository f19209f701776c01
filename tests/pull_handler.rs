//! The pull handler in process: the real HTTP reader against the fake Okta API, with the
//! in-memory checkpoint, dead-letter and destination adapters (which can be told to fail).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::config::PullConfig;
use okta_ingest::{
    CheckpointStore, ErrorClass, FetchError, HttpSystemLog, Lease, Ledger, MemoryDestination,
    MemoryObjectStore, PullError, PullHandler, Secret, SendError, StaticSecret,
};
use okta_ingest_testkit::fake_okta::Failure;
use okta_ingest_testkit::FakeOkta;
use serde_json::Value;
use tokio::time::Instant;

struct Rig {
    okta: FakeOkta,
    handler: PullHandler,
    destination: Arc<MemoryDestination>,
    dead_letters: Arc<MemoryObjectStore>,
    checkpoints: CheckpointStore,
}

async fn rig(extra: &[(&str, &str)]) -> Rig {
    let okta = FakeOkta::start().await;
    okta.set_tokens(&["t0ken"]);
    let mut env: Vec<(String, String)> = vec![
        ("OKTA_DOMAIN".into(), okta.base_url()),
        ("ALLOW_INSECURE_HTTP".into(), "true".into()),
        (
            "OKTA_TOKEN_SECRET_ARN".into(),
            "arn:aws:secretsmanager:us-east-1:1:secret:t".into(),
        ),
        ("STATE_BUCKET".into(), "state".into()),
        (
            "DESTINATION_URL".into(),
            "https://logs.example.com/in".into(),
        ),
        ("SETTLE_DELAY_SECONDS".into(), "0".into()),
    ];
    env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = PullConfig::from_env(&env).unwrap();
    let log = HttpSystemLog::new(
        config.org.clone(),
        Arc::new(StaticSecret(Secret::new("t0ken"))),
        "test secret",
        config.rate_limit_headroom,
        config.okta_timeout,
    )
    .unwrap();
    let destination = Arc::new(MemoryDestination::default());
    let dead_letters = Arc::new(MemoryObjectStore::default());
    let checkpoints = CheckpointStore::new(
        Arc::new(MemoryObjectStore::default()),
        "checkpoint/pull/test.json",
    );
    let handler = PullHandler::new(
        config,
        Arc::new(log),
        destination.clone(),
        checkpoints.clone(),
        dead_letters.clone(),
        Arc::new(Ledger::new(Arc::new(MemoryObjectStore::default()))),
    );
    Rig {
        okta,
        handler,
        destination,
        dead_letters,
        checkpoints,
    }
}

fn delivered(destination: &MemoryDestination) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for body in destination.accepted() {
        let bytes = if body.gzip {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&body.bytes[..]),
                &mut out,
            )
            .unwrap();
            out
        } else {
            body.bytes.to_vec()
        };
        let items: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        for item in items {
            *counts
                .entry(item["uuid"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn delivered_events_stay_recorded_when_the_dead_letters_fail_and_are_not_sent_again() {
    let rig = rig(&[
        ("BATCH_MAX_EVENTS", "1"),
        ("DESTINATION_CONCURRENCY", "1"),
        ("DESTINATION_GZIP", "false"),
    ])
    .await;
    let uuids = rig.okta.add_events(
        3,
        time::OffsetDateTime::now_utc() - time::Duration::minutes(5),
        time::Duration::seconds(1),
    );
    // The first event is refused for good, and S3 is down, so it can be neither sent nor kept.
    rig.destination.fail_next(SendError::Permanent {
        reason: "HTTP 400".into(),
        class: ErrorClass::Http4xx,
    });
    rig.dead_letters.fail.store(true, Ordering::SeqCst);
    let err = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::DeadLetters(_)), "{err}");
    let first = delivered(&rig.destination);
    assert_eq!(first.len(), 2, "the two others went through: {first:?}");
    let checkpoint = rig.checkpoints.load().await.unwrap().unwrap().checkpoint;
    assert_eq!(checkpoint.handled_at_next.len(), 2, "and are remembered");
    assert_eq!(
        checkpoint.lease, None,
        "the claim is released even on error"
    );

    rig.dead_letters.fail.store(false, Ordering::SeqCst);
    let summary = rig
        .handler
        .handle_payload("{}", "run-2", deadline())
        .await
        .unwrap();
    assert_eq!(
        (summary.counts.forwarded, summary.counts.duplicates),
        (1, 2),
        "{summary:?}"
    );
    let all = delivered(&rig.destination);
    assert!(uuids.iter().all(|u| all.get(u) == Some(&1)), "{all:?}");
}

#[tokio::test]
async fn a_live_claim_by_another_run_stops_this_one_before_it_reads() {
    let rig = rig(&[]).await;
    rig.okta.add_events(
        3,
        time::OffsetDateTime::now_utc() - time::Duration::minutes(5),
        time::Duration::seconds(1),
    );
    rig.handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();
    // Another run claims the checkpoint (as the first thing it does) and is still going.
    let stored = rig.checkpoints.load().await.unwrap().unwrap();
    let mut claimed = stored.checkpoint.clone();
    claimed.lease = Some(Lease {
        owner: "other-run".into(),
        until_unix: time::OffsetDateTime::now_utc().unix_timestamp() + 120,
    });
    rig.checkpoints
        .save(&claimed, Some(&stored.etag))
        .await
        .unwrap();
    let requests_before = rig.okta.requests().len();
    let summary = rig
        .handler
        .handle_payload("{}", "run-2", deadline())
        .await
        .unwrap();
    assert!(
        summary.pull.as_ref().unwrap().stopped.contains("other-run"),
        "{summary:?}"
    );
    assert_eq!(
        rig.okta.requests().len(),
        requests_before,
        "no Okta request"
    );
    // Once the claim has lapsed, runs carry on.
    claimed.lease.as_mut().unwrap().until_unix -= 600;
    let etag = rig.checkpoints.load().await.unwrap().unwrap().etag;
    rig.checkpoints.save(&claimed, Some(&etag)).await.unwrap();
    assert_eq!(
        rig.handler
            .handle_payload("{}", "run-3", deadline())
            .await
            .unwrap()
            .pull
            .unwrap()
            .stopped,
        "caught up"
    );
}

fn minutes_ago(n: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() - time::Duration::minutes(n)
}

fn summary_of(s: &okta_ingest::Summary) -> &okta_ingest::telemetry::PullRun {
    s.pull.as_ref().expect("a pull run summary")
}

#[tokio::test]
async fn an_event_stamped_in_the_future_never_stops_pull() {
    // GIVEN Log Streaming in use (settle delay 10 min) and, among settled events, one
    // stamped in the year 9999 (a skewed clock, a bogus date)
    let rig = rig(&[
        ("SETTLE_DELAY_SECONDS", "600"),
        ("MAX_EVENT_AGE_SECONDS", "0"),
    ])
    .await;
    let before = rig
        .okta
        .add_events(3, minutes_ago(40), time::Duration::seconds(1));
    let future = "future-stamped".to_owned();
    rig.okta
        .add_event(&future, time::macros::datetime!(9999-01-01 00:00 UTC));
    let after = rig
        .okta
        .add_events(3, minutes_ago(30), time::Duration::seconds(1));
    // WHEN pull runs
    let summary = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();
    // THEN every event is delivered, the future one counted, and the run is caught up
    let got = delivered(&rig.destination);
    for uuid in before.iter().chain([&future]).chain(&after) {
        assert_eq!(got.get(uuid), Some(&1), "{uuid}: {got:?}");
    }
    let run = summary_of(&summary);
    assert_eq!((run.future_stamped, run.stopped.as_str()), (1, "caught up"));
}

#[tokio::test]
async fn relative_links_with_quoted_commas_and_unquoted_rel_are_followed() {
    let rig = rig(&[]).await;
    rig.okta.set_relative_links(true);
    let uuids = rig
        .okta
        .add_events(2500, minutes_ago(60), time::Duration::milliseconds(100));
    let summary = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();
    assert_eq!(summary.counts.forwarded, uuids.len(), "{summary:?}");
    assert_eq!(summary_of(&summary).pages, 3);
}

#[tokio::test]
async fn a_429_without_rate_limit_headers_backs_off_instead_of_spinning() {
    let rig = rig(&[]).await;
    let uuids = rig
        .okta
        .add_events(1500, minutes_ago(60), time::Duration::milliseconds(100));
    // The first page comes with rate-limit headers, the next two answers are bare 429s.
    rig.okta.push_failure(Failure::Hang(Duration::ZERO));
    rig.okta.push_failure(Failure::TooManyRequestsBare);
    rig.okta.push_failure(Failure::TooManyRequestsBare);
    let summary = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();
    assert_eq!(summary.counts.forwarded, uuids.len());
    let requests = rig.okta.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 429, 429, 200], "{statuses:?}");
    for pair in requests.windows(2).skip(1).take(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(500), "retried after {gap:?}");
    }
}

#[tokio::test]
async fn absurd_rate_limit_headers_neither_crash_nor_stall_the_run() {
    let rig = rig(&[]).await;
    let uuids = rig
        .okta
        .add_events(1500, minutes_ago(60), time::Duration::milliseconds(100));
    rig.okta.push_failure(Failure::AbsurdRateLimit);
    let summary = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();
    assert_eq!(summary.counts.forwarded, uuids.len(), "{summary:?}");
}

#[tokio::test]
async fn a_malformed_event_on_a_page_read_again_is_kept_once() {
    // GIVEN a malformed event followed by one still settling
    let rig = rig(&[("SETTLE_DELAY_SECONDS", "600")]).await;
    let published = minutes_ago(30);
    rig.okta.add_raw_event(
        "broken",
        published,
        format!(
            r#"{{"uuid":7,"published":"{}"}}"#,
            okta_ingest_testkit::okta_events::rfc3339_millis(published)
        ),
    );
    rig.okta.add_event("fresh", minutes_ago(1));
    // WHEN two runs read the same page (the first stops at the settling event)
    for run in ["run-1", "run-2"] {
        let summary = rig
            .handler
            .handle_payload("{}", run, deadline())
            .await
            .unwrap();
        assert!(
            summary_of(&summary).stopped.starts_with("settling"),
            "{summary:?}"
        );
    }
    // THEN the malformed event is in the dead letters once
    let kept: usize = rig
        .dead_letters
        .objects_under("dead-letter/pull/")
        .iter()
        .map(|(_, gz)| okta_ingest_testkit::okta_events::gunzip_ndjson(gz).len())
        .sum();
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn a_mistyped_request_is_refused_and_never_runs() {
    let rig = rig(&[]).await;
    rig.okta
        .add_events(3, minutes_ago(60), time::Duration::seconds(1));
    for payload in [
        r#"{"since":1700000000,"until":"2026-11-21T06:00:00Z"}"#,
        r#"{"until":"2026-11-21T06:00:00Z"}"#,
        r#"{"since":"2026-11-21T06:00:00Z","until":"2026-11-21T00:00:00Z"}"#,
        r#"{"since":"1969-12-31T00:00:00Z","until":"2026-11-21T00:00:00Z"}"#,
        r#"{"max_event_age_seconds":"0","since":"2026-11-21T00:00:00Z","until":"2026-11-21T06:00:00Z"}"#,
        r#"{"max_event_age_seconds":-1}"#,
        r#"{"check":"true"}"#,
        r#"{"Since":"2026-11-21T00:00:00Z"}"#,
    ] {
        let err = rig
            .handler
            .handle_payload(payload, "r", deadline())
            .await
            .unwrap_err();
        assert!(matches!(err, PullError::BadRequest(_)), "{payload}: {err}");
    }
    assert!(rig.okta.requests().is_empty(), "nothing was read");
    assert!(rig.checkpoints.load().await.unwrap().is_none(), "nor saved");
}

/// More than the reader's 32 MiB page cap.
const OVER_THE_PAGE_CAP: usize = 33 * 1024 * 1024;

#[tokio::test]
async fn a_page_over_the_byte_cap_fails_the_run_and_leaves_the_checkpoint_where_it_was() {
    // GIVEN a run that caught up, then new events whose page goes on past the cap
    let rig = rig(&[]).await;
    rig.okta
        .add_events(2, minutes_ago(30), time::Duration::seconds(1));
    rig.handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();
    let before = rig.checkpoints.load().await.unwrap().unwrap().checkpoint;
    let late = rig
        .okta
        .add_events(2, minutes_ago(20), time::Duration::seconds(1));
    rig.okta
        .push_failure(Failure::OversizedPage(OVER_THE_PAGE_CAP));
    let sent_before = delivered(&rig.destination).len();

    // WHEN the next run reads that page
    let err = rig
        .handler
        .handle_payload("{}", "run-2", deadline())
        .await
        .unwrap_err();

    // THEN the run fails naming the cap and the page (without its query), handles nothing of
    // it, and the checkpoint still points at it
    assert!(
        matches!(err, PullError::Okta(FetchError::PageTooLarge { .. })),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("more than 32 MiB"), "{message}");
    assert!(message.contains("/api/v1/logs"), "{message}");
    assert!(!message.contains("after="), "no query: {message}");
    let after = rig.checkpoints.load().await.unwrap().unwrap().checkpoint;
    assert_eq!(
        (&after.next, &after.handled_at_next),
        (&before.next, &before.handled_at_next)
    );
    assert_eq!(delivered(&rig.destination).len(), sent_before);
    assert!(rig.dead_letters.objects_under("dead-letter/").is_empty());
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "OktaIngest.OktaPageTooLarge");

    // AND the next run reads the same page again, whole this time
    let summary = rig
        .handler
        .handle_payload("{}", "run-3", deadline())
        .await
        .unwrap();
    assert_eq!(summary.counts.forwarded, late.len(), "{summary:?}");
}

#[tokio::test]
async fn a_backfill_answers_an_error_for_a_page_over_the_byte_cap() {
    // GIVEN a window whose first page goes on past the cap
    let rig = rig(&[]).await;
    rig.okta
        .add_events(2, minutes_ago(30), time::Duration::seconds(1));
    rig.okta
        .push_failure(Failure::OversizedPage(OVER_THE_PAGE_CAP));
    let rfc3339 = okta_ingest_testkit::okta_events::rfc3339_millis;
    let payload = format!(
        r#"{{"since":"{}","until":"{}"}}"#,
        rfc3339(minutes_ago(60)),
        rfc3339(minutes_ago(10))
    );

    // WHEN a backfill reads it
    let err = rig
        .handler
        .handle_payload(&payload, "backfill-1", deadline())
        .await
        .unwrap_err();

    // THEN it answers the error, and nothing of the page was sent
    assert!(
        matches!(err, PullError::Okta(FetchError::PageTooLarge { .. })),
        "{err}"
    );
    assert!(delivered(&rig.destination).is_empty());
}
