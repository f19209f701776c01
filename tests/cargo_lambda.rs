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
use std::time::Duration;

use okta_ingest_testkit::local_fakes::{
    check_every_sample_is_listed, delivered_uuids, forwardable_uuids, SAMPLES,
};
use okta_ingest_testkit::LocalFakes;
use serde_json::Value;
use tokio::process::{Child, Command};

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

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_through_cargo_lambda_watch_and_invoke() {
    let version = std::process::Command::new("cargo")
        .args(["lambda", "--version"])
        .output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "cargo-lambda is not installed: run `make tools` (it installs cargo-lambda from PyPI)"
    );
    check_every_sample_is_listed(&root());

    let dir = root()
        .join("target")
        .join(format!("cargo-lambda-test-{}", std::process::id()));
    let fakes = LocalFakes::start(&dir).await;
    let port = free_port();
    let watch = Watch::start(port, &fakes.env_file(), dir.join("watch.log"));
    wait_listening(port, &watch).await;

    let mut answers = HashMap::new();
    let mut seen = 0;
    let mut received = HashMap::new();
    for (name, function) in SAMPLES {
        let answer = invoke(function, port, &fakes.sample(name), &watch).await;
        // The destination's lines arrive within its 50 ms poll.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let requests = fakes.destination_requests();
        received.insert(name, delivered_uuids(&requests[seen..]));
        seen = requests.len();
        answers.insert(name, answer);
    }

    let direct = &answers["eventbridge-direct.json"];
    assert_eq!(direct["forwarded"], 1, "{direct}");
    let direct_uuid = received["eventbridge-direct.json"].clone();
    assert_eq!(direct_uuid.len(), 1, "{direct}");

    // The SQS sample's fresh events, less the one the direct sample already delivered.
    let sqs_sample =
        std::fs::read_to_string(fakes.sample("sqs-batch.json")).expect("rebased sample");
    // MAX_EVENT_AGE_SECONDS is left at its default, a day.
    let fresh = forwardable_uuids(&sqs_sample, Some(Duration::from_secs(86_400)));
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
}
