//! Runs a compiled function binary as a child process against a [`RuntimeApi`].

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::runtime_api::RuntimeApi;

/// The compiled binary `name` of a workspace package.
///
/// Looks in `$OKTA_INGEST_BIN_DIR` if set, otherwise in the cargo profile
/// directory of the running executable (a test binary lives in
/// `target/<profile>/deps/`, a bin or example one level closer).
/// Panics, telling to run `cargo build --bins`, when the binary is missing.
pub fn binary_path(name: &str) -> PathBuf {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let dir = match std::env::var_os("OKTA_INGEST_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => profile_dir(),
    };
    let path = dir.join(file);
    if !path.is_file() {
        panic!(
            "function binary {} not found; run `cargo build --bins` (add --release for a release \
             build) first, or point OKTA_INGEST_BIN_DIR at the directory holding it",
            path.display()
        );
    }
    path
}

/// `target/<profile>` for the running executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot determine the current executable's path");
    let mut dir = exe
        .parent()
        .expect("the current executable has no parent directory")
        .to_path_buf();
    // deps/ holds test binaries, examples/ the examples; both sit in the profile dir.
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.pop();
    }
    dir
}

/// Lines a child wrote so far, shared with the reader tasks.
#[derive(Default)]
struct Captured {
    lines: Mutex<Vec<String>>,
    /// Woken on every new line so `wait_for_line` need not poll.
    notify: Notify,
}

impl Captured {
    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running function process; killed when dropped.
pub struct FunctionProcess {
    child: Child,
    pid: Option<u32>,
    captured: Arc<Captured>,
    readers: Vec<JoinHandle<()>>,
}

impl FunctionProcess {
    /// Spawns `binary` with a Lambda-like environment pointing at `runtime`.
    ///
    /// The parent's environment is dropped (only `PATH` and `HOME` survive) so
    /// that developer AWS credentials or settings never leak into a test; the
    /// caller's `env` is applied last and wins.
    pub async fn spawn(
        binary: &Path,
        runtime: &RuntimeApi,
        env: &[(String, String)],
    ) -> FunctionProcess {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".to_string());
        let mut cmd = Command::new(binary);
        cmd.env_clear();
        for keep in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.env("AWS_LAMBDA_RUNTIME_API", runtime.addr().to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2024/01/01/[$LATEST]00000000000000000000000000000000",
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_REGION", "us-east-1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", binary.display()));
        let pid = child.id();
        let captured = Arc::new(Captured::default());
        let echo = std::env::var("OKTA_INGEST_TEST_ECHO").is_ok_and(|v| v == "1");
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(capture(
                out,
                captured.clone(),
                echo.then(|| name.clone()),
            )));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(capture(
                err,
                captured.clone(),
                echo.then(|| name.clone()),
            )));
        }
        FunctionProcess {
            child,
            pid,
            captured,
            readers,
        }
    }

    /// Everything captured from stdout and stderr so far, one line per line.
    pub fn output(&self) -> String {
        self.captured.lines().join("\n")
    }

    /// The captured lines that parse as JSON objects (structured log records).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.captured
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// Waits until a captured line contains `needle`; false on timeout.
    pub async fn wait_for_line(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before looking, so a line arriving in between still wakes us.
            let notified = self.captured.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.captured.lines().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// The child's process id, as recorded at spawn time.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Peak resident set size (VmHWM) in KiB, read from `/proc/<pid>/status`
    /// while the process is alive.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok()?;
        self.drain_readers().await;
        Some(status)
    }

    /// Kills the process and waits until its output has been fully captured.
    pub async fn stop(mut self) {
        // An error only means it is already gone.
        let _ = self.child.kill().await;
        self.drain_readers().await;
    }

    /// Lets the reader tasks hit EOF so `output()` is complete afterwards.
    async fn drain_readers(&mut self) {
        for reader in self.readers.drain(..) {
            // A grandchild holding the pipe open must not hang the test.
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
    }
}

/// Copies `stream` line by line into `captured` until EOF.
async fn capture(stream: impl AsyncRead + Unpin, captured: Arc<Captured>, echo_as: Option<String>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                // Lossy so a stray non-UTF-8 byte cannot end the capture.
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if let Some(name) = &echo_as {
                    eprintln!("[{name}] {line}");
                }
                captured.lines().push(line);
                captured.notify.notify_waiters();
            }
        }
    }
}
