//! The local path of docs/configuration.md ("Running locally with cargo-lambda"), step for
//! step: `okta-ingest-fakes`, `cargo lambda watch` bound to 127.0.0.1 with the env file it
//! wrote, and `cargo lambda invoke` with every sample of `events/` (dates moved to now) for
//! the function it belongs to. Asserts what the destination received.
//!
//! cargo-lambda comes from `make tools` (PyPI). `cargo lambda watch` builds the functions
//! with `cargo run` in the dev profile, which `make build` has already done.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use okta_ingest_testkit::binary_path;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Which function each sample in `events/` is for. A new sample must be added here.
const SAMPLES: [(&str, &str); 4] = [
    ("eventbridge-direct.json", "okta-push"),
    ("sqs-batch.json", "okta-push"),
    ("schedule.json", "okta-pull"),
    ("backfill.json", "okta-pull"),
];

/// The first invoke waits for `cargo run` to find the binary up to date (or rebuild it).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(600);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo lambda watch`, killed with its function processes when dropped.
///
/// cargo-lambda 1.9 starts each function in a process group of its own, below a `cargo run`
/// that is below the `cargo` proxy this test starts. The test does not rely on any of them
/// passing a signal on: it finds the whole tree in /proc first and sends each process
/// SIGKILL, which reaches exactly those processes and runs no handler.
struct Watch {
    child: Child,
    log: PathBuf,
}

impl Watch {
    fn start(port: u16, env_file: &Path, log: PathBuf) -> Watch {
        let out = std::fs::File::create(&log).expect("cannot create the watch log");
        let err = out.try_clone().expect("cannot share the watch log");
        let child = Command::new("cargo")
            .args(["lambda", "watch", "-A", "127.0.0.1", "-P"])
            .arg(port.to_string())
            .arg("--ignore-changes")
            .arg("--env-file")
            .arg(env_file)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("cannot run `cargo lambda watch`");
        Watch { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else { return };
        let tree = descendants(pid);
        let _ = self.child.start_kill();
        for pid in tree {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Every process below `pid`, from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &c in parents.get(&p).into_iter().flatten() {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// `okta-ingest-fakes DIR`, with the lines it printed so far.
struct Fakes {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Fakes {
    async fn start(dir: &Path) -> Fakes {
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
        let fakes = Fakes { child, lines };
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
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

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn okta_events(&self) -> HashSet<String> {
        self.json_lines("okta_events")
            .into_iter()
            .flat_map(|v| strings(&v))
            .collect()
    }

    /// Every request the destination answered, in order.
    fn destination_requests(&self) -> Vec<Value> {
        self.json_lines("destination")
    }

    fn json_lines(&self, key: &str) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v.get(key).cloned())
            .collect()
    }

    async fn stop(mut self) {
        self.terminate();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }

    /// SIGTERM: our own binary stops moto server before it exits (SIGKILL would orphan it).
    fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

impl Drop for Fakes {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

async fn wait_listening(port: u16, watch: &Watch) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "cargo lambda watch did not listen on 127.0.0.1:{port}:\n{}",
        watch.log()
    );
}

/// `cargo lambda invoke FUNCTION -A 127.0.0.1 -P PORT --data-file FILE`: the answer.
async fn invoke(function: &str, port: u16, file: &Path, watch: &Watch) -> Value {
    let run = Command::new("cargo")
        .args(["lambda", "invoke", function, "-A", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .arg("--data-file")
        .arg(file)
        .current_dir(root())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(INVOKE_TIMEOUT, run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("cannot run `cargo lambda invoke`: {e}"),
        Err(_) => panic!(
            "`cargo lambda invoke {function}` with {} did not answer in {} s; watch log:\n{}",
            file.display(),
            INVOKE_TIMEOUT.as_secs(),
            watch.log()
        ),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "`cargo lambda invoke {function}` with {} failed: {}\n{stdout}\n{}\nwatch log:\n{}",
        file.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr),
        watch.log()
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("`cargo lambda invoke {function}` printed no JSON answer ({e}): {stdout}")
    })
}

/// The uuids of a sample SQS batch that okta-push must forward: well-formed, fresh
/// (published less than 24 h ago), first copy only.
fn fresh_uuids(sqs_batch: &str) -> HashSet<String> {
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
        if now - published < time::Duration::hours(24) {
            out.insert(uuid.to_owned());
        }
    }
    out
}

fn uuids_of(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| (200..300).contains(&r["status"].as_u64().unwrap_or(0)))
        .flat_map(|r| strings(&r["uuids"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_through_cargo_lambda_watch_and_invoke() {
    let version = std::process::Command::new("cargo")
        .args(["lambda", "--version"])
        .output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "cargo-lambda is not installed: run `make tools` (it installs cargo-lambda from PyPI)"
    );
    let mut names: Vec<String> = std::fs::read_dir(root().join("events"))
        .expect("events/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut covered: Vec<String> = SAMPLES.iter().map(|(n, _)| n.to_string()).collect();
    covered.sort();
    assert_eq!(names, covered, "every file in events/ is invoked here");

    let dir = root()
        .join("target")
        .join(format!("cargo-lambda-test-{}", std::process::id()));
    let fakes = Fakes::start(&dir).await;
    let port = free_port();
    let watch = Watch::start(port, &dir.join("env"), dir.join("watch.log"));
    wait_listening(port, &watch).await;

    let mut answers = HashMap::new();
    let mut seen = 0;
    let mut received = HashMap::new();
    for (name, function) in SAMPLES {
        let answer = invoke(function, port, &dir.join("events").join(name), &watch).await;
        // The destination's lines arrive within its 50 ms poll.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let requests = fakes.destination_requests();
        received.insert(name, uuids_of(&requests[seen..]));
        seen = requests.len();
        answers.insert(name, answer);
    }

    let direct = &answers["eventbridge-direct.json"];
    assert_eq!(direct["forwarded"], 1, "{direct}");
    let direct_uuid = received["eventbridge-direct.json"].clone();
    assert_eq!(direct_uuid.len(), 1, "{direct}");

    // The SQS sample's fresh events, less the one the direct sample already delivered.
    let sqs_sample =
        std::fs::read_to_string(dir.join("events/sqs-batch.json")).expect("rebased sample");
    let fresh = fresh_uuids(&sqs_sample);
    assert_eq!(fresh.len(), 3, "the sample holds three fresh events");
    assert!(fresh.contains(&direct_uuid[0]), "{direct_uuid:?} {fresh:?}");
    let mut pushed = received["sqs-batch.json"].clone();
    pushed.extend(direct_uuid);
    pushed.sort();
    let mut expected: Vec<String> = fresh.into_iter().collect();
    expected.sort();
    assert_eq!(pushed, expected, "{}", answers["sqs-batch.json"]);
    assert_eq!(
        answers["sqs-batch.json"]["batchItemFailures"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "bad records are kept as dead letters, not retried: {}",
        answers["sqs-batch.json"]
    );

    let okta = fakes.okta_events();
    let pulled: HashSet<String> = received["schedule.json"].iter().cloned().collect();
    assert_eq!(pulled, okta, "{}", answers["schedule.json"]);
    assert_eq!(received["schedule.json"].len(), okta.len(), "each once");
    assert_eq!(answers["schedule.json"]["forwarded"], okta.len());

    // The backfill window (the last six hours) was delivered by the scheduled run.
    let backfill = &answers["backfill.json"];
    assert!(received["backfill.json"].is_empty(), "{backfill}");
    assert!(
        backfill["already_delivered"].as_u64().unwrap_or(0) >= 11,
        "{backfill}"
    );

    drop(watch);
    fakes.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
