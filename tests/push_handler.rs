//! The push handler in process, with in-memory adapters, on the sample events in `events/`:
//! what is forwarded, how it is batched and framed, and what is kept as malformed or oversized.

mod support;

use okta_ingest::{ErrorClass, PushResponse, SendError};
use okta_ingest_testkit::okta_events::detail_text;
use serde_json::Value;
use support::push_handler::{
    dead_letter_lines, deadline, direct, failures, json_items, replay_summary, rig, sample_bodies,
    DIRECT, SQS_BATCH,
};

#[tokio::test]
async fn sample_batch_forwards_fresh_events_byte_for_byte_once_and_keeps_the_malformed() {
    let rig = rig(&[]);
    let response = rig
        .handler
        .handle_payload(SQS_BATCH, "req-1", deadline())
        .await
        .unwrap();
    assert!(failures(&response).is_empty());

    let bodies = sample_bodies();
    let accepted = rig.destination.accepted();
    assert_eq!(accepted.len(), 1, "seven messages fit one batch");
    let expected: Vec<&str> = bodies[..3].iter().map(|(_, b)| detail_text(b)).collect();
    assert_eq!(
        json_items(&accepted[0].bytes),
        expected,
        "exact bytes, duplicate and stale left out"
    );

    let kept = dead_letter_lines(&rig.dead_letters);
    let ids: Vec<&str> = kept
        .iter()
        .map(|l| l["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [bodies[5].0.as_str(), bodies[6].0.as_str()]);
    assert!(kept[0]["reason"]
        .as_str()
        .unwrap()
        .contains("detail.uuid is missing"));
    assert!(kept[1]["reason"]
        .as_str()
        .unwrap()
        .contains("not an EventBridge event"));
    assert_eq!(
        kept[1]["raw"].as_str().unwrap(),
        bodies[6].1,
        "kept exactly as received"
    );
}

#[tokio::test]
async fn direct_invocation_answers_with_the_counts() {
    let rig = rig(&[]);
    let response = rig
        .handler
        .handle_payload(DIRECT, "req-2", deadline())
        .await
        .unwrap();
    let PushResponse::Direct(summary) = response else {
        panic!("expected counts")
    };
    assert_eq!(
        (
            summary.counts.received,
            summary.counts.forwarded,
            summary.counts.destination_requests
        ),
        (1, 1, 1),
        "{summary:?}"
    );
    let accepted = rig.destination.accepted();
    let v: Value = serde_json::from_str(DIRECT).unwrap();
    let items = json_items(&accepted[0].bytes);
    assert_eq!(
        serde_json::from_str::<Value>(&items[0]).unwrap(),
        v["detail"]
    );
}

#[tokio::test]
async fn stale_events_are_dropped_counted_and_never_sent() {
    let rig = rig(&[("MAX_EVENT_AGE_SECONDS", "60")]);
    let summary = direct(&rig, "r").await;
    assert_eq!(
        (summary.counts.dropped_stale, summary.counts.forwarded),
        (1, 0)
    );
    assert_eq!(rig.destination.attempts(), 0);
}

#[tokio::test]
async fn no_age_limit_forwards_the_old_event_too() {
    let rig = rig(&[("MAX_EVENT_AGE_SECONDS", "0")]);
    rig.handler
        .handle_payload(SQS_BATCH, "r", deadline())
        .await
        .unwrap();
    assert_eq!(json_items(&rig.destination.accepted()[0].bytes).len(), 4);
}

#[tokio::test]
async fn batch_limits_split_requests() {
    let rig = rig(&[("BATCH_MAX_EVENTS", "2")]);
    rig.handler
        .handle_payload(SQS_BATCH, "r", deadline())
        .await
        .unwrap();
    let mut sizes: Vec<usize> = rig
        .destination
        .accepted()
        .iter()
        .map(|b| json_items(&b.bytes).len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [1, 2]);
}

#[tokio::test]
async fn an_event_over_the_byte_limit_is_kept_and_the_rest_delivered() {
    let bodies = sample_bodies();
    // Each sample event is about 2 KB; 2.5 KB lets one through per request but not a padded one.
    let big_detail = detail_text(&bodies[1].1).replacen(
        "\"severity\"",
        &format!("\"pad\":\"{}\",\"severity\"", "x".repeat(3000)),
        1,
    );
    let big = bodies[1].1.replace(detail_text(&bodies[1].1), &big_detail);
    let payload =
        okta_ingest_testkit::okta_events::sqs_event(&[bodies[0].clone(), ("big".into(), big)]);
    let rig = rig(&[("BATCH_MAX_BYTES", "2500")]);
    let response = rig
        .handler
        .handle_payload(&payload, "r", deadline())
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    assert_eq!(rig.destination.accepted().len(), 1);
    let kept = dead_letter_lines(&rig.dead_letters);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["message_id"], "big");
    assert!(kept[0]["reason"]
        .as_str()
        .unwrap()
        .contains("BATCH_MAX_BYTES"));
}

#[tokio::test]
async fn one_body_with_a_broken_escape_is_kept_and_the_rest_of_the_batch_delivered() {
    // GIVEN the sample batch with one more message whose body holds a lone UTF-16 surrogate
    // (a truncated emoji), which no strict JSON reader accepts
    let rig = rig(&[]);
    let bad = r#"{"messageId":"bad-escape","body":"{\"detail\":{\"x\":\"\ud83d\"}}"},"#;
    let payload = SQS_BATCH.replacen("\"Records\": [", &format!("\"Records\": [{bad}"), 1);
    assert_ne!(payload, SQS_BATCH);
    // WHEN push handles it
    let response = rig
        .handler
        .handle_payload(&payload, "r", deadline())
        .await
        .unwrap();
    // THEN the three fresh events go out, and the bad message is kept as received
    assert!(failures(&response).is_empty());
    let accepted = rig.destination.accepted();
    assert_eq!(json_items(&accepted[0].bytes).len(), 3);
    let kept = dead_letter_lines(&rig.dead_letters);
    let bad_line = kept
        .iter()
        .find(|l| l["message_id"] == "bad-escape")
        .expect("the bad message is kept");
    assert!(
        bad_line["reason"]
            .as_str()
            .unwrap()
            .contains("not a valid JSON string"),
        "{bad_line}"
    );
    assert_eq!(bad_line["raw"], r#""{\"detail\":{\"x\":\"\ud83d\"}}""#);
}

#[tokio::test]
async fn a_pretty_printed_event_stays_one_line_in_line_framed_bodies_and_dead_letters() {
    // GIVEN a direct invocation whose detail spans several lines
    let v: Value = serde_json::from_str(DIRECT).unwrap();
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    assert!(pretty.lines().count() > 10);
    for format in ["ndjson", "elastic-bulk", "splunk-hec"] {
        let rig = rig(&[("DESTINATION_FORMAT", format)]);
        rig.handler
            .handle_payload(&pretty, "r", deadline())
            .await
            .unwrap();
        // THEN every line of the body is one whole JSON document with the same event
        let body = &rig.destination.accepted()[0].bytes;
        let lines: Vec<Value> = std::str::from_utf8(body)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{format}: {e}: {l}")))
            .collect();
        let event = lines.last().unwrap();
        let event = event.get("event").unwrap_or(event);
        assert_eq!(event["uuid"], v["detail"]["uuid"], "{format}");
        assert_eq!(event["actor"], v["detail"]["actor"], "{format}");
    }
    // AND kept, it is one record on one line that replay can send
    let rig = rig(&[("DESTINATION_FORMAT", "ndjson")]);
    rig.destination.fail_next(SendError::Permanent {
        reason: "destination answered HTTP 400".into(),
        class: ErrorClass::Http4xx,
    });
    rig.handler
        .handle_payload(&pretty, "r", deadline())
        .await
        .unwrap();
    let kept = dead_letter_lines(&rig.dead_letters);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["event"], v["detail"]);
    let replayed = replay_summary(
        rig.handler
            .handle_payload(r#"{"replay":{}}"#, "replay", deadline())
            .await
            .unwrap(),
    );
    assert_eq!(replayed.counts.forwarded, 1, "{replayed:?}");
}
