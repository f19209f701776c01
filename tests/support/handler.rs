//! The pull handler in process: the real HTTP reader against the fake Okta API, with the
//! in-memory checkpoint, dead-letter and destination adapters (which can be told to fail).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::config::PullConfig;
use okta_ingest::{
    CheckpointStore, HttpSystemLog, Ledger, MemoryDestination, MemoryObjectStore, ObjectLedger,
    PullHandler, Secret, StaticSecret,
};
use okta_ingest_testkit::FakeOkta;
use serde_json::Value;
use tokio::time::Instant;

/// The API token the fake accepts in [`rig`].
pub const API_TOKEN: &str = "t0ken";

/// The handler and what it talks to.
pub struct Rig {
    pub okta: FakeOkta,
    pub handler: PullHandler,
    pub destination: Arc<MemoryDestination>,
    pub dead_letters: Arc<MemoryObjectStore>,
    pub checkpoints: CheckpointStore,
    /// Where the ledger keeps its objects.
    pub ledger_store: Arc<MemoryObjectStore>,
}

/// A handler reading the fake Okta with the API token [`API_TOKEN`], `extra` over the
/// default environment.
pub async fn rig(extra: &[(&str, &str)]) -> Rig {
    let okta = FakeOkta::start().await;
    okta.set_tokens(&[API_TOKEN]);
    rig_with_secret(okta, API_TOKEN, extra)
}

/// A handler reading `okta` with the Okta secret `secret` (an API token or a service app's
/// JSON), `extra` over the default environment.
pub fn rig_with_secret(okta: FakeOkta, secret: &str, extra: &[(&str, &str)]) -> Rig {
    let ledger_store = Arc::new(MemoryObjectStore::default());
    let ledger = Arc::new(ObjectLedger::new(ledger_store.clone()));
    rig_with_ledger(okta, secret, extra, ledger, ledger_store)
}

/// [`rig_with_secret`] over `ledger` (whose objects, if any, are in `ledger_store`).
pub fn rig_with_ledger(
    okta: FakeOkta,
    secret: &str,
    extra: &[(&str, &str)],
    ledger: Arc<dyn Ledger>,
    ledger_store: Arc<MemoryObjectStore>,
) -> Rig {
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
        Arc::new(StaticSecret(Secret::new(secret))),
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
    let log = Arc::new(log);
    let handler = PullHandler::new(
        config,
        log.clone(),
        destination.clone(),
        checkpoints.clone(),
        dead_letters.clone(),
        ledger,
    )
    .with_directory(log);
    Rig {
        okta,
        handler,
        destination,
        dead_letters,
        checkpoints,
        ledger_store,
    }
}

/// How many times each uuid reached the destination.
pub fn delivered(destination: &MemoryDestination) -> HashMap<String, usize> {
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

/// Half a minute from now.
pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

pub fn minutes_ago(n: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() - time::Duration::minutes(n)
}

/// The pull part of a run's summary.
pub fn summary_of(s: &okta_ingest::Summary) -> &okta_ingest::telemetry::PullRun {
    s.pull.as_ref().expect("a pull run summary")
}
