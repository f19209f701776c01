//! The push handler in process over its delivery ledger and dead letters: an event is not
//! sent twice, and replay sends kept events again once, refusing malformed requests.

mod support;

use std::sync::atomic::Ordering;

use okta_ingest::{ErrorClass, SendError};
use okta_ingest_testkit::okta_events::detail_text;
use serde_json::Value;
use support::push_handler::{
    dead_letter_lines, deadline, direct, json_items, replay_summary, rig, sample_bodies, DIRECT,
    SQS_BATCH,
};

#[tokio::test]
async fn an_event_already_in_the_delivery_ledger_is_not_sent_again() {
    let rig = rig(&[]);
    // Okta repeats an event in a later invocation (or SQS redelivers a message).
    rig.handler
        .handle_payload(DIRECT, "first", deadline())
        .await
        .unwrap();
    let summary = direct(&rig, "second").await;
    assert_eq!(
        (summary.counts.forwarded, summary.counts.already_delivered),
        (0, 1),
        "{summary:?}"
    );
    assert_eq!(rig.destination.accepted().len(), 1);
    assert_eq!(
        rig.ledger_store.keys("ledger/").len(),
        1,
        "one ledger object for the one delivered batch"
    );
}

#[tokio::test]
async fn an_unreadable_ledger_never_stops_delivery() {
    let rig = rig(&[]);
    rig.ledger_store.fail.store(true, Ordering::SeqCst);
    let summary = direct(&rig, "r").await;
    assert_eq!(
        (summary.counts.forwarded, summary.counts.ledger_errors),
        (1, 2),
        "read and write both failed: {summary:?}"
    );
}

#[tokio::test]
async fn replay_resends_kept_events_once_and_removes_what_it_sent() {
    let rig = rig(&[]);
    rig.destination.fail_next(SendError::Permanent {
        reason: "destination answered HTTP 400".into(),
        class: ErrorClass::Http4xx,
    });
    rig.handler
        .handle_payload(SQS_BATCH, "outage", deadline())
        .await
        .unwrap();
    assert_eq!(
        dead_letter_lines(&rig.dead_letters).len(),
        5,
        "three events and two malformed messages kept"
    );
    // Meanwhile the first event reaches the destination another way (as pull would send it).
    rig.handler
        .handle_payload(DIRECT, "direct", deadline())
        .await
        .unwrap();

    let summary = replay_summary(
        rig.handler
            .handle_payload(r#"{"replay":{}}"#, "replay", deadline())
            .await
            .unwrap(),
    );
    let replay = summary.replay.clone().unwrap();
    assert_eq!(
        (
            summary.counts.forwarded,
            summary.counts.already_delivered,
            replay.not_events,
            replay.objects_rewritten,
            replay.still_kept
        ),
        (2, 1, 2, 1, 2),
        "{summary:?}"
    );
    let mut uuids: Vec<String> = rig
        .destination
        .accepted()
        .iter()
        .flat_map(|b| json_items(&b.bytes))
        .map(|e| {
            serde_json::from_str::<Value>(&e).unwrap()["uuid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    uuids.sort();
    let mut expected: Vec<String> = sample_bodies()[..3]
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(detail_text(b)).unwrap()["uuid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    expected.sort();
    assert_eq!(
        uuids, expected,
        "each event at the destination exactly once"
    );
    let left = dead_letter_lines(&rig.dead_letters);
    assert!(
        left.iter().all(|l| l.get("raw").is_some()),
        "only the malformed input is left: {left:?}"
    );

    let again = replay_summary(
        rig.handler
            .handle_payload(r#"{"replay":{}}"#, "again", deadline())
            .await
            .unwrap(),
    );
    assert_eq!(
        (
            again.counts.forwarded,
            again.replay.as_ref().unwrap().objects_rewritten,
            again.replay.as_ref().unwrap().objects_deleted
        ),
        (0, 0, 0),
        "{again:?}"
    );
}

#[tokio::test]
async fn replay_refuses_a_prefix_outside_the_dead_letters() {
    let rig = rig(&[]);
    let err = rig
        .handler
        .handle_payload(r#"{"replay":{"prefix":"ledger/"}}"#, "r", deadline())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("must start with dead-letter/"),
        "{err}"
    );
}

#[tokio::test]
async fn a_replay_request_with_a_wrong_field_is_refused_not_kept() {
    let rig = rig(&[]);
    for payload in [
        r#"{"replay":{"max_event_age_seconds":-1}}"#,
        r#"{"replay":{"since":"yesterday"}}"#,
        r#"{"replay":{"since":"2026-11-22T00:00:00Z","until":"2026-11-21T00:00:00Z"}}"#,
        r#"{"replay":{"prefx":"dead-letter/"}}"#,
        r#"{"replay":[]}"#,
    ] {
        let err = rig
            .handler
            .handle_payload(payload, "r", deadline())
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with("bad request"),
            "{payload}: {err}"
        );
    }
    assert!(dead_letter_lines(&rig.dead_letters).is_empty());
}
