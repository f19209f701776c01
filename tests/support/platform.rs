//! The push handler in process over real HTTP to a recording destination, for one platform:
//! the GIVEN steps of the platform tests (`formats.rs`, `sumo.rs`).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::config::PushConfig;
use okta_ingest::{
    HttpDestination, MemoryObjectStore, ObjectLedger, PushHandler, PushResponse, Secret,
    StaticSecret,
};
use okta_ingest_testkit::destination::ReceivedRequest;
use okta_ingest_testkit::okta_events::{detail_text, sqs_bodies};
use okta_ingest_testkit::RecordingDestination;
use serde_json::Value;
use time::macros::datetime;
use tokio::time::Instant;

pub const SQS_BATCH: &str = include_str!("../../events/sqs-batch.json");

pub struct Rig {
    pub handler: PushHandler,
    pub destination: RecordingDestination,
    pub dead_letters: Arc<MemoryObjectStore>,
}

/// The handler sending to a fresh recording destination in `format`, with `extra` settings.
pub async fn rig(format: &str, extra: &[(&str, &str)]) -> Rig {
    let destination = RecordingDestination::start().await;
    let mut env: Vec<(String, String)> = vec![
        ("DESTINATION_URL".into(), destination.url()),
        ("ALLOW_INSECURE_HTTP".into(), "true".into()),
        ("STATE_BUCKET".into(), "state".into()),
        ("DESTINATION_FORMAT".into(), format.into()),
        ("DESTINATION_GZIP".into(), "false".into()),
        ("DESTINATION_TIMEOUT_SECONDS".into(), "2".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = PushConfig::from_env(&env).unwrap();
    let secret = (format != "sumo").then(|| Arc::new(StaticSecret(Secret::new("tok-123"))) as _);
    let http = HttpDestination::new(&config.destination, secret).unwrap();
    let dead_letters = Arc::new(MemoryObjectStore::default());
    let handler = PushHandler::new(
        config,
        Arc::new(http),
        dead_letters.clone(),
        Arc::new(ObjectLedger::new(Arc::new(MemoryObjectStore::default()))),
    )
    .with_clock(|| datetime!(2026-11-22 09:05:00 UTC));
    Rig {
        handler,
        destination,
        dead_letters,
    }
}

impl Rig {
    /// The sample SQS batch.
    pub async fn send(&self) -> PushResponse {
        self.send_payload(SQS_BATCH).await
    }

    /// Any invocation payload.
    pub async fn send_payload(&self, payload: &str) -> PushResponse {
        self.handler
            .handle_payload(payload, "r", Instant::now() + Duration::from_secs(20))
            .await
            .unwrap()
    }

    pub fn kept_reasons(&self) -> Vec<String> {
        self.kept()
            .iter()
            .map(|v| v["reason"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The events the dead letters hold, as JSON text.
    pub fn kept_events(&self) -> Vec<String> {
        self.kept().iter().map(|v| v["event"].to_string()).collect()
    }

    /// Every dead letter record that holds an event.
    fn kept(&self) -> Vec<Value> {
        let mut kept = Vec::new();
        for (_, gz) in self.dead_letters.objects_under("dead-letter/") {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .unwrap();
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                if v.get("event").is_some() {
                    kept.push(v);
                }
            }
        }
        kept
    }
}

/// The three fresh, distinct events of the sample batch, as Okta sent them.
pub fn fresh_events() -> Vec<String> {
    sqs_bodies(SQS_BATCH)[..3]
        .iter()
        .map(|(_, b)| detail_text(b).to_owned())
        .collect()
}

pub fn only_request(rig: &Rig) -> ReceivedRequest {
    let requests = rig.destination.requests();
    assert_eq!(requests.len(), 1, "one request");
    requests.into_iter().next().unwrap()
}
