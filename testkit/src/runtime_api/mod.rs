//! A fake AWS Lambda Runtime API that hands queued invocations to a real function process:
//! the invoking side and the state it shares with the routes (`routes.rs`).

mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The ARN the fake reports for every invocation.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:test";

/// How long `invoke` waits beyond the invocation's own timeout before giving up:
/// covers process start-up and the response's trip back.
const GRACE: Duration = Duration::from_secs(5);

/// Request ids must be unique across every fake in the test binary, so the counter is global.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// The outcome of one invocation as seen by the Runtime API.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The function posted to `/invocation/{id}/response`; the body parsed as JSON
    /// (a body that is not JSON is kept as a JSON string).
    Response(serde_json::Value),
    /// The function posted to `/invocation/{id}/error`.
    Error {
        /// `errorType` from the error body.
        error_type: String,
        /// `errorMessage` from the error body.
        error_message: String,
    },
    /// The function posted to `/runtime/init/error` (body verbatim).
    InitError(String),
    /// Nothing came back within the timeout plus a grace period.
    TimedOut,
}

impl Invocation {
    /// The response document; panics describing what came instead.
    pub fn response(self) -> serde_json::Value {
        match self {
            Invocation::Response(v) => v,
            Invocation::Error {
                error_type,
                error_message,
            } => panic!(
                "expected an invocation response, got an invocation error: {error_type}: {error_message}"
            ),
            Invocation::InitError(body) => {
                panic!("expected an invocation response, got an init error: {body}")
            }
            Invocation::TimedOut => {
                panic!("expected an invocation response, but the invocation timed out")
            }
        }
    }

    /// True for an invocation error or an init error.
    pub fn is_error(&self) -> bool {
        matches!(self, Invocation::Error { .. } | Invocation::InitError(_))
    }
}

/// One invocation waiting for the function's next long-poll.
struct Queued {
    request_id: String,
    payload: Vec<u8>,
    timeout: Duration,
}

#[derive(Default)]
struct Inner {
    /// Senders for invocations that were queued or handed out and have no answer yet.
    pending: HashMap<String, oneshot::Sender<Invocation>>,
    /// The first init error posted; it fails every pending and future invocation.
    init_error: Option<String>,
    /// When the function first asked for an invocation (the end of its cold start).
    first_poll: Option<std::time::Instant>,
}

struct Shared {
    inner: Mutex<Inner>,
    tx: mpsc::UnboundedSender<Queued>,
    /// A tokio mutex because the long-poll holds it across `recv().await`;
    /// both the lock and `recv` are cancel-safe, so a poller whose connection
    /// dies (handler dropped) loses nothing.
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking test thread must not hide the state from the others.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake Runtime API; the server stops when this is dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts the fake on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> RuntimeApi {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            tx,
            rx: tokio::sync::Mutex::new(rx),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(routes::next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(routes::response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(routes::error),
            )
            .route("/2018-06-01/runtime/init/error", post(routes::init_error))
            // Function responses can be as large as Lambda allows (6 MB) and then some.
            .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("runtime API: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("runtime API: listener has no local address");
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("runtime API server stopped: {e}");
            }
        });
        RuntimeApi {
            addr,
            shared,
            server,
        }
    }

    /// The listening address; `addr().to_string()` is the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the function first polled `GET /invocation/next`, if it has.
    pub fn first_poll(&self) -> Option<std::time::Instant> {
        self.shared.lock().first_poll
    }

    /// Waits up to `timeout` for the function's first poll, and returns when it was.
    pub async fn wait_for_first_poll(&self, timeout: Duration) -> Option<std::time::Instant> {
        let until = std::time::Instant::now() + timeout;
        loop {
            if let Some(at) = self.first_poll() {
                return Some(at);
            }
            if std::time::Instant::now() > until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The init error the function posted, if any.
    pub fn init_error(&self) -> Option<String> {
        self.shared.lock().init_error.clone()
    }

    /// Queues one invocation (served FIFO) and waits for its outcome.
    ///
    /// `timeout` is the function timeout reported through
    /// `Lambda-Runtime-Deadline-Ms`; the wait gives up with
    /// [`Invocation::TimedOut`] after `timeout` + 5 s.
    pub async fn invoke(&self, payload: impl Into<Vec<u8>>, timeout: Duration) -> Invocation {
        let n = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("{:08x}-0000-4000-8000-{n:012x}", std::process::id());
        let (done_tx, done_rx) = oneshot::channel();
        {
            // Registering and checking the init error under one lock means an
            // init error posted concurrently is never missed.
            let mut inner = self.shared.lock();
            if let Some(body) = &inner.init_error {
                return Invocation::InitError(body.clone());
            }
            inner.pending.insert(request_id.clone(), done_tx);
        }
        let queued = Queued {
            request_id: request_id.clone(),
            payload: payload.into(),
            timeout,
        };
        if self.shared.tx.send(queued).is_err() {
            // Cannot happen while `shared` owns the receiver; treat it as no answer.
            self.shared.lock().pending.remove(&request_id);
            return Invocation::TimedOut;
        }
        match tokio::time::timeout(timeout + GRACE, done_rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => {
                self.shared.lock().pending.remove(&request_id);
                Invocation::TimedOut
            }
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests;
