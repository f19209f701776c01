//! A fake AWS Lambda Runtime API that hands queued invocations to a real function process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
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

fn epoch_millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// `GET /invocation/next`: long-polls until an invocation is queued.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared
        .lock()
        .first_poll
        .get_or_insert_with(std::time::Instant::now);
    let queued = {
        let mut rx = shared.rx.lock().await;
        rx.recv().await
    };
    let Some(q) = queued else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    // The deadline starts when the function receives the event, as in Lambda.
    let deadline = epoch_millis(SystemTime::now() + q.timeout);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", q.request_id.clone());
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        FUNCTION_ARN.to_string(),
    );
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            epoch_millis(SystemTime::now()) / 1000,
            NEXT_REQUEST.load(Ordering::Relaxed),
            std::process::id()
        ),
    );
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (StatusCode::OK, headers, q.payload).into_response()
}

/// Delivers `outcome` to the `invoke` call waiting on `id`.
fn complete(shared: &Shared, id: &str, outcome: Invocation) -> Response {
    let sender = shared.lock().pending.remove(id);
    match sender {
        Some(tx) => {
            // The invoker may have timed out already; nothing to do then.
            let _ = tx.send(outcome);
            accepted()
        }
        None => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
        )
            .into_response(),
    }
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

/// `POST /invocation/{id}/response`.
async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    complete(&shared, &id, Invocation::Response(value))
}

/// `POST /invocation/{id}/error`.
async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, error_message) = parse_error_body(&headers, &body);
    complete(
        &shared,
        &id,
        Invocation::Error {
            error_type,
            error_message,
        },
    )
}

/// `POST /runtime/init/error`: fails every pending and future invocation.
async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut inner = shared.lock();
    if inner.init_error.is_none() {
        inner.init_error = Some(body.clone());
    }
    for (_, tx) in inner.pending.drain() {
        let _ = tx.send(Invocation::InitError(body.clone()));
    }
    accepted()
}

/// Reads `errorType`/`errorMessage`, falling back to the error-type header and
/// the raw body so a malformed report is still visible in test output.
fn parse_error_body(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unknown")
        .to_string();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    (
        field("errorType").unwrap_or(header_type),
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback_http::request;

    /// Plays the function: takes one invocation and answers it with `reply`.
    async fn serve_one(addr: SocketAddr, reply: impl FnOnce(&[u8]) -> (&'static str, Vec<u8>)) {
        let next = request(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"")
            .await
            .expect("GET next");
        assert_eq!(next.status, 200);
        assert_eq!(next.header("content-type"), Some("application/json"));
        assert_eq!(
            next.header("lambda-runtime-invoked-function-arn"),
            Some(FUNCTION_ARN)
        );
        assert!(next.header("lambda-runtime-trace-id").is_some());
        let deadline: u128 = next
            .header("lambda-runtime-deadline-ms")
            .and_then(|d| d.parse().ok())
            .expect("numeric deadline header");
        assert!(deadline > epoch_millis(SystemTime::now()));
        let id = next
            .header("lambda-runtime-aws-request-id")
            .expect("request id header")
            .to_string();
        let (kind, body) = reply(&next.body);
        let answer = request(
            addr,
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/{kind}"),
            &[("content-type", "application/json")],
            &body,
        )
        .await
        .expect("POST answer");
        assert_eq!(answer.status, 202);
    }

    #[tokio::test]
    async fn response_round_trip_in_fifo_order() {
        let api = RuntimeApi::start().await;
        let addr = api.addr();
        let function = tokio::spawn(async move {
            for _ in 0..2 {
                serve_one(addr, |payload| {
                    let v: serde_json::Value = serde_json::from_slice(payload).expect("json");
                    (
                        "response",
                        serde_json::to_vec(&serde_json::json!({"echo": v})).expect("ser"),
                    )
                })
                .await;
            }
        });
        let first = api.invoke(r#"{"n":1}"#, Duration::from_secs(3)).await;
        let second = api.invoke(r#"{"n":2}"#, Duration::from_secs(3)).await;
        assert_eq!(first.response(), serde_json::json!({"echo": {"n": 1}}));
        assert_eq!(second.response(), serde_json::json!({"echo": {"n": 2}}));
        function.await.expect("function task");
    }

    #[tokio::test]
    async fn error_round_trip() {
        let api = RuntimeApi::start().await;
        let addr = api.addr();
        let function = tokio::spawn(async move {
            serve_one(addr, |_| {
                (
                    "error",
                    br#"{"errorType":"Boom","errorMessage":"it broke"}"#.to_vec(),
                )
            })
            .await;
        });
        let outcome = api.invoke("{}", Duration::from_secs(3)).await;
        assert!(outcome.is_error());
        assert_eq!(
            outcome,
            Invocation::Error {
                error_type: "Boom".into(),
                error_message: "it broke".into()
            }
        );
        function.await.expect("function task");
    }

    #[tokio::test]
    async fn init_error_fails_pending_and_future_invocations() {
        let api = RuntimeApi::start().await;
        let addr = api.addr();
        let poster = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let r = request(
                addr,
                "POST",
                "/2018-06-01/runtime/init/error",
                &[],
                br#"{"errorType":"Config","errorMessage":"missing DESTINATION_URL"}"#,
            )
            .await
            .expect("POST init error");
            assert_eq!(r.status, 202);
        });
        let pending = api.invoke("{}", Duration::from_secs(3)).await;
        poster.await.expect("poster task");
        assert!(matches!(&pending, Invocation::InitError(b) if b.contains("DESTINATION_URL")));
        let later = api.invoke("{}", Duration::from_secs(3)).await;
        assert!(later.is_error());
        assert!(api.init_error().is_some());
    }

    #[tokio::test]
    async fn unknown_request_id_is_rejected() {
        let api = RuntimeApi::start().await;
        let r = request(
            api.addr(),
            "POST",
            "/2018-06-01/runtime/invocation/nope/response",
            &[],
            b"{}",
        )
        .await
        .expect("POST");
        assert_eq!(r.status, 400);
    }
}
