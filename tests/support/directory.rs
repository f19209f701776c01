//! The pull handler's directory runs in process: the real HTTP client against the fake
//! Okta's directory, the in-memory state bucket, ledger and destination.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use okta_ingest::{MemoryDestination, MemoryObjectStore, PullHandler, Summary};
use okta_ingest_testkit::FakeOkta;
use serde_json::Value;

use super::handler::{deadline, rig, rig_with_ledger, Rig, API_TOKEN};

/// A pull handler with its directory runs.
pub struct DirRig {
    pub okta: FakeOkta,
    pub handler: PullHandler,
    pub destination: Arc<MemoryDestination>,
    pub state: Arc<MemoryObjectStore>,
    pub ledger_store: Arc<MemoryObjectStore>,
}

/// The rig of [`rig`] with the directory runs on, `extra` over the default environment.
pub async fn dir_rig(extra: &[(&str, &str)]) -> DirRig {
    dir_rig_of(rig(extra).await)
}

/// The same over `ledger`.
pub async fn dir_rig_with_ledger(ledger: Arc<dyn okta_ingest::Ledger>) -> DirRig {
    let okta = FakeOkta::start().await;
    okta.set_tokens(&[API_TOKEN]);
    let store = Arc::new(MemoryObjectStore::default());
    dir_rig_of(rig_with_ledger(okta, API_TOKEN, &[], ledger, store))
}

fn dir_rig_of(rig: Rig) -> DirRig {
    let Rig {
        okta,
        handler,
        destination,
        dead_letters,
        ledger_store,
        ..
    } = rig;
    DirRig {
        okta,
        handler,
        destination,
        state: dead_letters,
        ledger_store,
    }
}

impl DirRig {
    /// Runs `{"directory": run}` as request `id`; the summary, or the error's text.
    pub async fn run(&self, run: &str, id: &str) -> Result<Summary, String> {
        self.handler
            .handle_payload(&format!("{{\"directory\":\"{run}\"}}"), id, deadline())
            .await
            .map_err(|e| e.to_string())
    }

    /// Every record the destination accepted, in order.
    pub fn records(&self) -> Vec<Value> {
        let mut all = Vec::new();
        for body in self.destination.accepted() {
            let bytes = if body.gzip {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body.bytes[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            } else {
                body.bytes.to_vec()
            };
            let items: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
            all.extend(items);
        }
        all
    }

    /// okta-push over the same destination, dead letters and ledger, for replays.
    pub fn push(&self) -> okta_ingest::PushHandler {
        let env: Vec<(String, String)> = vec![
            (
                "DESTINATION_URL".into(),
                "https://logs.example.com/in".into(),
            ),
            ("STATE_BUCKET".into(), "state".into()),
        ];
        okta_ingest::PushHandler::new(
            okta_ingest::config::PushConfig::from_env(&env).unwrap(),
            self.destination.clone(),
            self.state.clone(),
            Arc::new(okta_ingest::ObjectLedger::new(self.ledger_store.clone())),
        )
    }

    /// Makes the last snapshot look `hours` older, so the next full run is due.
    pub async fn age_snapshot(&self, hours: i64) {
        use okta_ingest::{Condition, ObjectStore};
        let key = "okta-directory/full.json";
        let object = self.state.get(key).await.unwrap().unwrap();
        let mut cp: Value = serde_json::from_slice(&object.body).unwrap();
        for field in ["completed_at", "started"] {
            if let Some(t) = cp[field].as_i64() {
                cp[field] = (t - hours * 3600).into();
            }
        }
        self.state
            .put(
                key,
                serde_json::to_vec(&cp).unwrap(),
                "application/json",
                Condition::None,
            )
            .await
            .unwrap();
    }
}

/// `(kind, action, id)` of each record, run records as `("run", action, "")`.
pub fn headers(records: &[Value]) -> Vec<(String, String, String)> {
    records
        .iter()
        .map(|r| {
            let h = &r["okta_directory"];
            (
                h["kind"].as_str().unwrap_or_default().to_owned(),
                h["action"].as_str().unwrap_or_default().to_owned(),
                h["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// How many records of each `(kind, action)`.
pub fn tally(records: &[Value]) -> HashMap<(String, String), usize> {
    let mut t = HashMap::new();
    for (kind, action, _) in headers(records) {
        *t.entry((kind, action)).or_insert(0) += 1;
    }
    t
}

/// The count of `(kind, action)` in `t`.
pub fn count(t: &HashMap<(String, String), usize>, kind: &str, action: &str) -> usize {
    t.get(&(kind.to_owned(), action.to_owned()))
        .copied()
        .unwrap_or(0)
}

/// The directory part of a summary.
pub fn dir(s: &Summary) -> &okta_ingest::telemetry::DirectoryRunSummary {
    s.directory.as_ref().expect("a directory run summary")
}
