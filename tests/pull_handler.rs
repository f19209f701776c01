//! The pull handler in process: the real HTTP reader against the fake Okta API, with the
//! in-memory checkpoint, dead-letter and destination adapters (which can be told to fail).

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use okta_ingest::{ErrorClass, Lease, PullError, SendError};
use okta_ingest_testkit::fake_okta::Failure;
use support::handler::{deadline, delivered, minutes_ago, rig, summary_of};

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
