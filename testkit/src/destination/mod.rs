//! A recording HTTP log destination whose answers can be scripted to fail.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
pub use hostile::base64;
use hostile::{echo, huge};
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Largest request body accepted (axum's default is 2 MiB).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// How the destination answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer with this status.
    Status(u16),
    /// Answer with this status and these extra headers (e.g. `Retry-After`).
    StatusWithHeaders(u16, Vec<(String, String)>),
    /// Sleep this long, then answer 200: used to exceed client timeouts.
    Hang(Duration),
    /// Answer 200 `{"ok":true}`.
    Ok,
    /// Answer this status with this JSON body (a platform's own success or error document).
    Respond(u16, String),
    /// Answer this status with a body that echoes the request: its URI and every header,
    /// as text, as JSON and base64-encoded (a hostile or debugging endpoint).
    Echo(u16),
    /// Answer this status with a body of this many bytes, streamed.
    Huge(u16, usize),
    /// Answer `status` redirecting to `location` (relative paths are on this server).
    Redirect(u16, String),
}

/// One request as the destination saw it.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// The HTTP method.
    pub method: String,
    /// The request path (without query).
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body exactly as sent.
    pub raw_body: Vec<u8>,
    /// The body gunzipped when `Content-Encoding: gzip`, else the raw body.
    pub body: Vec<u8>,
    /// The status we answered; 0 while a [`Behaviour::Hang`] is still sleeping
    /// or when the client went away before the answer.
    pub status: u16,
}

impl ReceivedRequest {
    /// The header `name` (case-insensitive) if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The decoded body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The exact raw text of each element of a JSON array body.
    ///
    /// Uses `RawValue` so no number or escape is re-serialised: what the
    /// function sent is what the test compares. Panics if the body is not a
    /// JSON array.
    pub fn json_array_items(&self) -> Vec<String> {
        let items: Vec<Box<RawValue>> = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "request body is not a JSON array ({e}): {}",
                truncate(&self.body_text(), 500)
            )
        });
        items.iter().map(|v| v.get().to_string()).collect()
    }

    /// The non-empty lines of an NDJSON body (a trailing `\r` is removed).
    pub fn ndjson_lines(&self) -> Vec<String> {
        self.body_text()
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// True when we answered 2xx.
    pub fn is_accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

struct Inner {
    requests: Vec<ReceivedRequest>,
    script: VecDeque<Behaviour>,
    default: Behaviour,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Woken on every recorded or answered request.
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A loopback HTTP server recording every request; stops when dropped.
pub struct RecordingDestination {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl RecordingDestination {
    /// Starts the destination on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> RecordingDestination {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                requests: Vec::new(),
                script: VecDeque::new(),
                default: Behaviour::Ok,
            }),
            changed: Notify::new(),
        });
        let app = Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("destination: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("destination: listener has no local address");
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("recording destination stopped: {e}");
            }
        });
        RecordingDestination {
            addr,
            shared,
            server,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/ingest` (any path is accepted).
    pub fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    /// Every request received so far, including the ones answered with a failure.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<ReceivedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.is_accepted())
            .cloned()
            .collect()
    }

    /// Forgets recorded requests (the script and default stay).
    pub fn clear(&self) {
        self.shared.lock().requests.clear();
    }

    /// Queues `b` as the answer to one upcoming request (FIFO).
    pub fn push_behaviour(&self, b: Behaviour) {
        self.shared.lock().script.push_back(b);
    }

    /// Queues `n` answers with `status`.
    pub fn fail_times(&self, status: u16, n: usize) {
        let mut inner = self.shared.lock();
        inner
            .script
            .extend(std::iter::repeat_n(Behaviour::Status(status), n));
    }

    /// Sets the answer used when the script queue is empty (initially [`Behaviour::Ok`]).
    pub fn set_default(&self, b: Behaviour) {
        self.shared.lock().default = b;
    }

    /// Waits until at least `n` requests were received; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |inner| inner.requests.len() >= n)
            .await
    }

    /// Waits until at least `n` requests were answered 2xx; false on timeout.
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |inner| {
            inner.requests.iter().filter(|r| r.is_accepted()).count() >= n
        })
        .await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn(&Inner) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register before checking so a change in between is not missed.
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(&self.shared.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

impl Drop for RecordingDestination {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Sets the recorded status when the answer is decided, or leaves 0 if the
/// handler is dropped first (the client gave up during a `Hang`).
struct Answer {
    shared: Arc<Shared>,
    index: usize,
}

impl Answer {
    fn answered(self, status: u16) {
        if let Some(r) = self.shared.lock().requests.get_mut(self.index) {
            r.status = status;
        }
        self.shared.changed.notify_waiters();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = decode(&headers, &raw);
    let (index, behaviour) = {
        let mut inner = shared.lock();
        let behaviour = inner
            .script
            .pop_front()
            .unwrap_or_else(|| inner.default.clone());
        // Recorded on arrival so a hanging request is visible to the test at once.
        inner.requests.push(ReceivedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            headers,
            raw_body: raw.to_vec(),
            body,
            status: 0,
        });
        (inner.requests.len() - 1, behaviour)
    };
    shared.changed.notify_waiters();
    let answer = Answer {
        shared: shared.clone(),
        index,
    };
    let mut custom: Option<String> = None;
    let echoed = echo(&uri, &shared.lock().requests[index].headers);
    let (status, extra) = match behaviour {
        Behaviour::Echo(s) => {
            custom = Some(echoed);
            (s, Vec::new())
        }
        Behaviour::Huge(s, bytes) => {
            answer.answered(s);
            return huge(s, bytes);
        }
        Behaviour::Redirect(s, location) => (s, vec![("location".to_owned(), location)]),
        Behaviour::Ok => (200, Vec::new()),
        Behaviour::Status(s) => (s, Vec::new()),
        Behaviour::StatusWithHeaders(s, h) => (s, h),
        Behaviour::Hang(d) => {
            tokio::time::sleep(d).await;
            (200, Vec::new())
        }
        Behaviour::Respond(s, body) => {
            custom = Some(body);
            (s, Vec::new())
        }
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    answer.answered(code.as_u16());
    let body = match custom {
        Some(b) => b,
        None if code.is_success() => r#"{"ok":true}"#.to_owned(),
        None => r#"{"ok":false,"error":"scripted failure"}"#.to_owned(),
    };
    let mut response = (code, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    for (name, value) in extra {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}

/// Gunzips a `Content-Encoding: gzip` body; anything undecodable is kept raw
/// so the test sees what was actually sent.
fn decode(headers: &HeaderMap, raw: &[u8]) -> Vec<u8> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return raw.to_vec();
    }
    let mut out = Vec::new();
    match flate2::read::MultiGzDecoder::new(raw).read_to_end(&mut out) {
        Ok(_) => out,
        Err(_) => raw.to_vec(),
    }
}

mod hostile;
#[cfg(test)]
mod tests;
