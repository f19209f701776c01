//! The push handler in process, with in-memory adapters, on the sample events in `events/`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::config::PushConfig;
use okta_ingest::{
    ErrorClass, MemoryDestination, MemoryObjectStore, ObjectLedger, PushHandler, PushResponse,
    SendError, Summary,
};
use okta_ingest_testkit::okta_events::{detail_text, gunzip_ndjson, sqs_bodies};
use serde_json::Value;
use time::macros::datetime;
use time::OffsetDateTime;
use tokio::time::Instant;

const SQS_BATCH: &str = include_str!("../events/sqs-batch.json");
const DIRECT: &str = include_str!("../events/eventbridge-direct.json");

/// Five minutes after the newest sample event.
fn sample_now() -> OffsetDateTime {
    datetime!(2026-11-22 09:05:00 UTC)
}

struct Rig {
    handler: PushHandler,
    destination: Arc<MemoryDestination>,
    dead_letters: Arc<MemoryObjectStore>,
    ledger_store: Arc<MemoryObjectStore>,
}

fn rig(extra: &[(&str, &str)]) -> Rig {
    let mut env: Vec<(String, String)> = vec![
        (
            "DESTINATION_URL".into(),
            "https://logs.example.com/in".into(),
        ),
        ("STATE_BUCKET".into(), "state".into()),
        ("DESTINATION_GZIP".into(), "false".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = PushConfig::from_env(&env).unwrap();
    let destination = Arc::new(MemoryDestination::default());
    let dead_letters = Arc::new(MemoryObjectStore::default());
    let ledger_store = Arc::new(MemoryObjectStore::default());
    let handler = PushHandler::new(
        config,
        destination.clone(),
        dead_letters.clone(),
        Arc::new(ObjectLedger::new(ledger_store.clone())),
    )
    .with_clock(sample_now);
    Rig {
        handler,
        destination,
        dead_letters,
        ledger_store,
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn sample_bodies() -> Vec<(String, String)> {
    sqs_bodies(SQS_BATCH)
}

fn json_items(body: &[u8]) -> Vec<String> {
    let items: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(body).unwrap();
    items.into_iter().map(|r| r.get().to_owned()).collect()
}

fn dead_letter_lines(store: &MemoryObjectStore) -> Vec<Value> {
    let mut lines = Vec::new();
    for (key, gz) in store.objects_under("dead-letter/") {
        assert!(key.starts_with("dead-letter/push/2026/11/22/"), "{key}");
        lines.extend(gunzip_ndjson(&gz));
    }
    lines
}

/// Invokes the handler with the direct EventBridge sample and returns its counts.
async fn direct(rig: &Rig, request_id: &str) -> Summary {
    match rig
        .handler
        .handle_payload(DIRECT, request_id, deadline())
        .await
        .unwrap()
    {
        PushResponse::Direct(summary) => summary,
        other => panic!("expected counts, got {other:?}"),
    }
}

fn failures(response: &PushResponse) -> Vec<String> {
    match response {
        PushResponse::Sqs(r) => r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect(),
        other => panic!("expected an SQS response, got {other:?}"),
    }
}

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
async fn a_permanent_rejection_keeps_the_events_intact_in_the_dead_letters() {
    let rig = rig(&[]);
    rig.destination.fail_next(SendError::Permanent {
        reason: "destination answered HTTP 400".into(),
        class: ErrorClass::Http4xx,
    });
    let response = rig
        .handler
        .handle_payload(SQS_BATCH, "r", deadline())
        .await
        .unwrap();
    assert!(
        failures(&response).is_empty(),
        "kept safely, so acknowledged"
    );
    let bodies = sample_bodies();
    let kept = dead_letter_lines(&rig.dead_letters);
    let events: Vec<String> = kept
        .iter()
        .filter(|l| l.get("event").is_some())
        .map(|l| l["event"].to_string())
        .collect();
    let expected: Vec<String> = bodies[..3]
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(detail_text(b))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(events, expected);
    assert!(kept[2]["reason"].as_str().unwrap().contains("HTTP 400"));
}

#[tokio::test]
async fn when_the_dead_letters_are_down_too_only_unkept_messages_are_retried() {
    let rig = rig(&[("BATCH_MAX_EVENTS", "1")]);
    rig.dead_letters.fail.store(true, Ordering::SeqCst);
    // The first request fails for good; the other two batches go through.
    rig.destination.fail_next(SendError::Permanent {
        reason: "HTTP 400".into(),
        class: ErrorClass::Http4xx,
    });
    let response = rig
        .handler
        .handle_payload(SQS_BATCH, "r", deadline())
        .await
        .unwrap();
    let mut failed = failures(&response);
    failed.sort();
    let bodies = sample_bodies();
    assert_eq!(
        failed.len(),
        3,
        "one undelivered event and two malformed messages: {failed:?}"
    );
    assert!(failed.contains(&bodies[5].0) && failed.contains(&bodies[6].0));
    let delivered: Vec<String> = rig
        .destination
        .accepted()
        .iter()
        .flat_map(|b| json_items(&b.bytes))
        .collect();
    assert_eq!(delivered.len(), 2);
    for (id, body) in &bodies[..3] {
        let was_delivered = delivered.iter().any(|d| d == detail_text(body));
        assert_ne!(
            was_delivered,
            failed.contains(id),
            "{id} is either delivered or retried, never both or neither"
        );
    }
}

#[tokio::test]
async fn a_direct_invocation_fails_when_nothing_can_keep_its_event() {
    let rig = rig(&[]);
    rig.dead_letters.fail.store(true, Ordering::SeqCst);
    rig.destination.fail_next(SendError::Permanent {
        reason: "HTTP 400".into(),
        class: ErrorClass::Http4xx,
    });
    let err = rig
        .handler
        .handle_payload(DIRECT, "r", deadline())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("neither delivered nor kept"),
        "{err}"
    );
}

#[tokio::test]
async fn retryable_failures_are_retried_then_succeed() {
    let rig = rig(&[]);
    for _ in 0..2 {
        rig.destination.fail_next(SendError::Retryable {
            reason: "HTTP 503".into(),
            retry_after: None,
            class: ErrorClass::Http5xx,
        });
    }
    let response = rig
        .handler
        .handle_payload(DIRECT, "r", deadline())
        .await
        .unwrap();
    let PushResponse::Direct(Summary { counts, .. }) = response else {
        panic!()
    };
    assert_eq!(
        (
            counts.forwarded,
            counts.destination_requests,
            counts.dead_lettered
        ),
        (1, 3, 0)
    );
}

/// A destination that takes a while and records how many requests overlapped.
#[derive(Default)]
struct Slow {
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl okta_ingest::Destination for Slow {
    fn send<'a>(
        &'a self,
        _body: &'a okta_ingest::Body,
        _timeout: Duration,
    ) -> futures::future::BoxFuture<'a, Result<okta_ingest::Rejected, SendError>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(Vec::new())
        })
    }

    fn describe(&self) -> String {
        "slow".into()
    }
}

#[tokio::test]
async fn requests_overlap_up_to_the_concurrency_bound_and_no_further() {
    let env: Vec<(String, String)> = [
        ("DESTINATION_URL", "https://logs.example.com/in"),
        ("STATE_BUCKET", "state"),
        ("BATCH_MAX_EVENTS", "1"),
        ("DESTINATION_CONCURRENCY", "2"),
        ("MAX_EVENT_AGE_SECONDS", "0"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let slow = Arc::new(Slow::default());
    let handler = PushHandler::new(
        PushConfig::from_env(&env).unwrap(),
        slow.clone(),
        Arc::new(MemoryObjectStore::default()),
        Arc::new(ObjectLedger::new(Arc::new(MemoryObjectStore::default()))),
    );
    let response = handler
        .handle_payload(SQS_BATCH, "r", deadline())
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    assert_eq!(
        slow.most.load(Ordering::SeqCst),
        2,
        "four one-event batches, two at a time"
    );
}

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

fn replay_summary(response: PushResponse) -> Summary {
    match response {
        PushResponse::Replay(s) => s,
        other => panic!("expected a replay summary, got {other:?}"),
    }
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
