//! The push handler in process with in-memory adapters, on the sample events in `events/`:
//! the GIVEN steps of the `push_*` handler tests.

use std::sync::Arc;
use std::time::Duration;

use okta_ingest::config::PushConfig;
use okta_ingest::{
    MemoryDestination, MemoryObjectStore, ObjectLedger, PushHandler, PushResponse, Summary,
};
use okta_ingest_testkit::okta_events::{gunzip_ndjson, sqs_bodies};
use serde_json::Value;
use time::macros::datetime;
use time::OffsetDateTime;
use tokio::time::Instant;

pub const SQS_BATCH: &str = include_str!("../../events/sqs-batch.json");
pub const DIRECT: &str = include_str!("../../events/eventbridge-direct.json");

/// Five minutes after the newest sample event.
pub fn sample_now() -> OffsetDateTime {
    datetime!(2026-11-22 09:05:00 UTC)
}

pub struct Rig {
    pub handler: PushHandler,
    pub destination: Arc<MemoryDestination>,
    pub dead_letters: Arc<MemoryObjectStore>,
    pub ledger_store: Arc<MemoryObjectStore>,
}

pub fn rig(extra: &[(&str, &str)]) -> Rig {
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

pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

pub fn sample_bodies() -> Vec<(String, String)> {
    sqs_bodies(SQS_BATCH)
}

pub fn json_items(body: &[u8]) -> Vec<String> {
    let items: Vec<Box<serde_json::value::RawValue>> = serde_json::from_slice(body).unwrap();
    items.into_iter().map(|r| r.get().to_owned()).collect()
}

pub fn dead_letter_lines(store: &MemoryObjectStore) -> Vec<Value> {
    let mut lines = Vec::new();
    for (key, gz) in store.objects_under("dead-letter/") {
        assert!(key.starts_with("dead-letter/push/2026/11/22/"), "{key}");
        lines.extend(gunzip_ndjson(&gz));
    }
    lines
}

/// Invokes the handler with the direct EventBridge sample and returns its counts.
pub async fn direct(rig: &Rig, request_id: &str) -> Summary {
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

pub fn failures(response: &PushResponse) -> Vec<String> {
    match response {
        PushResponse::Sqs(r) => r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect(),
        other => panic!("expected an SQS response, got {other:?}"),
    }
}

pub fn replay_summary(response: PushResponse) -> Summary {
    match response {
        PushResponse::Replay(s) => s,
        other => panic!("expected a replay summary, got {other:?}"),
    }
}
