//! The push handler in process when the destination or the dead letters fail: retries,
//! permanent refusals, what SQS is asked to retry, and the bound on concurrent requests.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::config::PushConfig;
use okta_ingest::{
    ErrorClass, MemoryObjectStore, ObjectLedger, PushHandler, PushResponse, SendError, Summary,
};
use okta_ingest_testkit::okta_events::detail_text;
use serde_json::Value;
use support::push_handler::{
    dead_letter_lines, deadline, failures, json_items, rig, sample_bodies, DIRECT, SQS_BATCH,
};

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
