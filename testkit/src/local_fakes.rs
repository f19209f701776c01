//! The `okta-ingest-fakes` process (what `make fakes` runs) driven from a test: started in a
//! directory of its own, its environment file and rebased samples read back, its printed
//! lines (the fake Okta's events, each request the destination answered) collected; and what
//! the samples of `events/` should deliver. Shared by `tests/cargo_lambda.rs` and
//! `tests/sam_local.rs`, which run the samples two ways `docs/configuration.md` documents.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::function::binary_path;

/// Which function each sample in `events/` is for. A new sample must be added here.
pub const SAMPLES: [(&str, &str); 6] = [
    ("eventbridge-direct.json", "okta-push"),
    ("sqs-batch.json", "okta-push"),
    ("schedule.json", "okta-pull"),
    ("backfill.json", "okta-pull"),
    ("directory-full.json", "okta-pull"),
    ("directory-changes.json", "okta-pull"),
];

/// How long `okta-ingest-fakes` may take to start moto and write its files.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `okta-ingest-fakes DIR`, with the lines it printed so far. Stopped (with moto) on drop.
pub struct LocalFakes {
    child: Child,
    dir: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl LocalFakes {
    /// Starts the fakes writing into `dir` and waits until they print `ready`.
    pub async fn start(dir: &Path) -> LocalFakes {
        let mut child = Command::new(binary_path("okta-ingest-fakes"))
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot run okta-ingest-fakes");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let fakes = LocalFakes {
            child,
            dir: dir.to_owned(),
            lines,
        };
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            while !fakes.lines().iter().any(|l| l.starts_with("ready")) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            ready.is_ok(),
            "okta-ingest-fakes not ready: {:?}",
            fakes.lines()
        );
        fakes
    }

    /// The environment file the fakes wrote, for `cargo lambda watch --env-file`.
    pub fn env_file(&self) -> PathBuf {
        self.dir.join("env")
    }

    /// That file as a map: the fakes' addresses, bucket, table and secret.
    pub fn env(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.env_file())
            .expect("the fakes' env file")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The sample `name` of `events/`, its dates moved to now.
    pub fn sample(&self, name: &str) -> PathBuf {
        self.dir.join("events").join(name)
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The uuids of the events the fake Okta holds.
    pub fn okta_events(&self) -> HashSet<String> {
        self.json_lines("okta_events")
            .into_iter()
            .flat_map(|v| strings(&v))
            .collect()
    }

    /// Every request the destination answered, in order.
    pub fn destination_requests(&self) -> Vec<Value> {
        self.json_lines("destination")
    }

    fn json_lines(&self, key: &str) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get(key).cloned())
            .collect()
    }

    /// Stops the fakes and removes their directory.
    pub async fn stop(mut self) {
        self.terminate();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// SIGTERM: the fakes stop moto server before they exit (SIGKILL would orphan it).
    fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

impl Drop for LocalFakes {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The uuids the destination accepted (2xx) in `requests`, in order.
pub fn delivered_uuids(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| (200..300).contains(&r["status"].as_u64().unwrap_or(0)))
        .flat_map(|r| strings(&r["uuids"]))
        .collect()
}

/// The uuids of a sample SQS batch that okta-push must forward: well-formed, first copy
/// only, and published less than `max_age` ago (`None`: any age).
pub fn forwardable_uuids(sqs_batch: &str, max_age: Option<Duration>) -> HashSet<String> {
    let batch: Value = serde_json::from_str(sqs_batch).expect("sqs-batch.json is JSON");
    let now = time::OffsetDateTime::now_utc();
    let mut out = HashSet::new();
    for record in batch["Records"].as_array().expect("Records") {
        let Some(body) = record["body"].as_str() else {
            continue;
        };
        let Ok(envelope) = serde_json::from_str::<Value>(body) else {
            continue;
        };
        let detail = &envelope["detail"];
        let (Some(uuid), Some(published)) = (detail["uuid"].as_str(), detail["published"].as_str())
        else {
            continue;
        };
        let published =
            time::OffsetDateTime::parse(published, &time::format_description::well_known::Rfc3339)
                .expect("sample published is RFC 3339");
        if max_age.is_none_or(|age| now - published < age) {
            out.insert(uuid.to_owned());
        }
    }
    out
}

/// The names of the files in `events/` under `root`, sorted, checked against [`SAMPLES`].
pub fn check_every_sample_is_listed(root: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(root.join("events"))
        .expect("events/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut covered: Vec<String> = SAMPLES.iter().map(|(n, _)| n.to_string()).collect();
    covered.sort();
    assert_eq!(names, covered, "every file in events/ is invoked");
}
