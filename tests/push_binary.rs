//! The real okta-push binary driven through a local Lambda Runtime API, with moto server for
//! S3 and Secrets Manager and a recording HTTP destination, all on 127.0.0.1.

use std::io::Read;
use std::time::Duration;

use okta_ingest_testkit::destination::Behaviour;
use okta_ingest_testkit::okta_events::{detail_text, rebase_timestamps, sqs_bodies};
use okta_ingest_testkit::runtime_api::Invocation;
use serde_json::Value;
use time::OffsetDateTime;

mod support;

use support::*;

const T: Duration = Duration::from_secs(15);

#[tokio::test]
async fn forwards_fresh_events_byte_for_byte_gzipped_with_the_secret_credential() {
    let stack = Stack::start(&[]).await;
    let batch = sample_batch();
    let response = stack.invoke(&batch, T).await.response();
    assert_eq!(failed_ids(&response), Vec::<String>::new());

    let accepted = stack.destination.accepted();
    assert_eq!(accepted.len(), 1);
    let request = &accepted[0];
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(request.path, format!("/ingest/{URL_SECRET}"));
    let expected: Vec<String> = sqs_bodies(&batch)[..3]
        .iter()
        .map(|(_, b)| detail_text(b).to_owned())
        .collect();
    assert_eq!(
        request.json_array_items(),
        expected,
        "the fresh, distinct events, exactly as sent"
    );

    let summary = &stack.summaries()[0];
    for (field, n) in [
        ("received", 7),
        ("forwarded", 3),
        ("dropped_stale", 1),
        ("duplicates", 1),
        ("malformed", 2),
        ("dead_lettered", 2),
        ("destination_requests", 1),
    ] {
        assert_eq!(summary[field], n, "{field} in {summary}");
    }
    let stale_log = stack
        .function
        .json_lines()
        .into_iter()
        .find(|l| l["uuid"] == "8b5f4c2d-8b7d-11ef-96f7-3e4a5b6c7d8e")
        .unwrap();
    assert!(
        stale_log["message"].as_str().unwrap().contains("stale"),
        "{stale_log}"
    );
    assert!(stale_log["age_seconds"].as_i64().unwrap() > 86_400);

    let metrics = &stack.metrics()[0];
    assert_eq!(
        metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "OktaIngest"
    );
    assert_eq!(metrics["FunctionName"], "okta-push");
    for (name, n) in [
        ("EventsReceived", 7),
        ("EventsForwarded", 3),
        ("EventsDroppedStale", 1),
        ("EventsDuplicate", 1),
        ("EventsMalformed", 2),
        ("EventsDeadLettered", 2),
        ("DestinationRequests", 1),
    ] {
        assert_eq!(metrics[name], n, "{name} in {metrics}");
    }
    let latencies = metrics["DeliveryLatency"].as_array().unwrap();
    assert_eq!(latencies.len(), 3, "one per delivered event");
    assert!(
        latencies.iter().all(|ms| ms.as_u64().unwrap() >= 60_000),
        "published a minute ago: {latencies:?}"
    );

    let kept = stack.dead_letters().await;
    assert_eq!(kept.len(), 2, "the two malformed messages");
    assert_eq!(kept[1]["raw"].as_str().unwrap(), sqs_bodies(&batch)[6].1);
    stack.assert_no_secret_in_output();
}

#[tokio::test]
async fn ndjson_without_gzip_and_small_batches_when_configured() {
    let stack = Stack::start(&[
        ("DESTINATION_FORMAT", "ndjson"),
        ("DESTINATION_GZIP", "false"),
        ("BATCH_MAX_EVENTS", "2"),
    ])
    .await;
    let batch = sample_batch();
    stack.invoke(&batch, T).await.response();
    let accepted = stack.destination.accepted();
    assert_eq!(accepted.len(), 2, "three events, two per request");
    let mut lines: Vec<String> = accepted.iter().flat_map(|r| r.ndjson_lines()).collect();
    lines.sort();
    let mut expected: Vec<String> = sqs_bodies(&batch)[..3]
        .iter()
        .map(|(_, b)| detail_text(b).to_owned())
        .collect();
    expected.sort();
    assert_eq!(lines, expected);
    assert!(accepted
        .iter()
        .all(|r| r.header("content-encoding").is_none()
            && r.header("content-type") == Some("application/x-ndjson")));
}

#[tokio::test]
async fn retries_503_and_honours_429_retry_after_then_delivers() {
    let stack = Stack::start(&[]).await;
    stack.destination.fail_times(503, 2);
    stack
        .destination
        .push_behaviour(Behaviour::StatusWithHeaders(
            429,
            vec![("Retry-After".into(), "2".into())],
        ));
    let started = std::time::Instant::now();
    let response = stack.invoke(&sample_batch(), T).await.response();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited for Retry-After"
    );
    let requests = stack.destination.requests();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [503, 503, 429, 200]
    );
    assert_eq!(stack.summaries()[0]["destination_requests"], 4);
    let metrics = &stack.metrics()[0];
    assert_eq!(
        (
            metrics["DestinationErrors5xx"].as_u64(),
            metrics["DestinationErrors429"].as_u64()
        ),
        (Some(2), Some(1)),
        "{metrics}"
    );
    assert_eq!(stack.summaries()[0]["forwarded"], 3);
    assert_eq!(
        stack.dead_letters().await.len(),
        2,
        "only the malformed messages"
    );
}

#[tokio::test]
async fn a_permanent_rejection_keeps_intact_events_in_s3_and_acknowledges() {
    let stack = Stack::start(&[]).await;
    stack.destination.set_default(Behaviour::Status(400));
    let batch = sample_batch();
    let response = stack.invoke(&batch, T).await.response();
    assert_eq!(
        failed_ids(&response),
        Vec::<String>::new(),
        "kept in S3, so nothing to retry"
    );
    assert_eq!(
        stack.destination.requests().len(),
        1,
        "a 400 is not retried"
    );
    let kept = stack.dead_letters().await;
    let events: Vec<&Value> = kept.iter().filter_map(|l| l.get("event")).collect();
    let expected: Vec<Value> = sqs_bodies(&batch)[..3]
        .iter()
        .map(|(_, b)| serde_json::from_str(detail_text(b)).unwrap())
        .collect();
    assert_eq!(events, expected.iter().collect::<Vec<_>>());
    assert!(kept
        .iter()
        .filter(|l| l.get("event").is_some())
        .all(|l| l["reason"].as_str().unwrap().contains("HTTP 400")));
    // Byte-exact in the object too: the raw line contains the event text verbatim.
    let keys = stack.moto.list_keys(BUCKET, "dead-letter/push/").await;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&stack.moto.get_object(BUCKET, &keys[0]).await[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains(detail_text(&sqs_bodies(&batch)[0].1)));
}

#[tokio::test]
async fn a_destination_that_hangs_is_given_up_on_before_the_deadline_and_kept() {
    let stack = Stack::start(&[("DESTINATION_TIMEOUT_SECONDS", "1")]).await;
    stack
        .destination
        .set_default(Behaviour::Hang(Duration::from_secs(30)));
    let started = std::time::Instant::now();
    let response = stack
        .invoke(&sample_batch(), Duration::from_secs(8))
        .await
        .response();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered before the Lambda deadline"
    );
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert!(
        stack.destination.requests().len() >= 2,
        "timeouts are retried"
    );
    let kept = stack.dead_letters().await;
    assert_eq!(kept.iter().filter(|l| l.get("event").is_some()).count(), 3);
    assert!(
        kept.iter()
            .any(|l| l["reason"].as_str().unwrap().contains("timed out")),
        "{kept:?}"
    );
}

#[tokio::test]
async fn when_s3_is_down_too_unkept_messages_go_back_to_sqs() {
    let mut stack = Stack::start(&[]).await;
    // Read the secret before S3 goes away (moto serves both), as a warm container would have.
    stack.invoke(&sample_batch(), T).await.response();
    stack.destination.set_default(Behaviour::Status(400));
    stack.moto.kill().await;
    let batch = sample_batch();
    let response = stack.invoke(&batch, T).await.response();
    let all = sqs_bodies(&batch);
    let mut expected: Vec<String> = [0, 1, 2, 5, 6].iter().map(|&i| all[i].0.clone()).collect();
    expected.sort();
    assert_eq!(
        failed_ids(&response),
        expected,
        "undelivered and malformed, not the stale or duplicate"
    );
    assert!(stack
        .function
        .output()
        .contains("could not keep undeliverable items"));
}

#[tokio::test]
async fn a_direct_eventbridge_invocation_is_forwarded_and_answered_with_counts() {
    let stack = Stack::start(&[]).await;
    let event = rebase_timestamps(
        include_str!("../events/eventbridge-direct.json"),
        OffsetDateTime::now_utc(),
    );
    let response = stack.invoke(&event, T).await.response();
    assert_eq!(response["forwarded"], 1, "{response}");
    let sent: Value =
        serde_json::from_str(&stack.destination.accepted()[0].json_array_items()[0]).unwrap();
    let original: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(sent, original["detail"]);
}

#[tokio::test]
async fn a_direct_invocation_fails_when_its_event_can_be_neither_delivered_nor_kept() {
    let mut stack = Stack::start(&[]).await;
    stack.destination.set_default(Behaviour::Status(400));
    let event = rebase_timestamps(
        include_str!("../events/eventbridge-direct.json"),
        OffsetDateTime::now_utc(),
    );
    stack.invoke(&event, T).await.response(); // warm: secret read, event kept in S3
    stack.moto.kill().await;
    match stack.invoke(&event, T).await {
        Invocation::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "OktaIngest.NotKept");
            assert!(
                error_message.contains("neither delivered nor kept"),
                "{error_message}"
            );
        }
        other => panic!("expected an invocation error so Lambda retries, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rotated_destination_secret_is_re_read_once_after_a_401() {
    // Even the most verbose logging must not reveal a credential.
    let stack = Stack::start(&[("RUST_LOG", "trace")]).await;
    stack.invoke(&sample_batch(), T).await.response();
    stack
        .moto
        .put_secret_value(&stack.secret_arn, ROTATED_TOKEN)
        .await;
    stack.destination.push_behaviour(Behaviour::Status(401));
    let response = stack.invoke(&another_sample_batch(1), T).await.response();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    let requests = stack.destination.requests();
    let auth: Vec<&str> = requests
        .iter()
        .map(|r| r.header("authorization").unwrap())
        .collect();
    let old = format!("Bearer {TOKEN}");
    let new = format!("Bearer {ROTATED_TOKEN}");
    assert_eq!(
        auth,
        [old.as_str(), old.as_str(), new.as_str()],
        "cached, then re-read after the 401"
    );
    assert_eq!(requests.last().unwrap().status, 200);
    stack.assert_no_secret_in_output();
}

#[tokio::test]
async fn bad_configuration_stops_start_up_with_a_message_naming_the_variable() {
    let stack = Stack::start(&[("BATCH_MAX_BYTES", "lots")]).await;
    let mut function = stack.function;
    let status = function.wait_exit(Duration::from_secs(10)).await;
    assert!(
        status.is_some_and(|s| !s.success()),
        "the process exits non-zero"
    );
    let out = function.output();
    assert!(
        out.contains("BATCH_MAX_BYTES") && out.contains("whole number"),
        "{out}"
    );
}

#[tokio::test]
async fn events_okta_sends_again_later_are_skipped_through_the_ledger_in_s3() {
    let stack = Stack::start(&[]).await;
    let batch = sample_batch();
    stack.invoke(&batch, T).await.response();
    // The same events again, as Okta's at-least-once delivery or an SQS redelivery would.
    let response = stack.invoke(&batch, T).await.response();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(stack.destination.accepted().len(), 1, "sent once");
    let second = &stack.summaries()[1];
    assert_eq!(
        (
            second["forwarded"].as_u64(),
            second["already_delivered"].as_u64()
        ),
        (Some(0), Some(3)),
        "{second}"
    );
    let ledger = stack.moto.list_keys(BUCKET, "ledger/").await;
    assert_eq!(
        ledger.len(),
        1,
        "one ledger object for the one delivered batch: {ledger:?}"
    );
}
