//! The Runtime API's routes: the function's long-poll for the next invocation and its
//! response, error and init-error posts.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Invocation, Shared, FUNCTION_ARN, NEXT_REQUEST};

pub(super) fn epoch_millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// `GET /invocation/next`: long-polls until an invocation is queued.
pub(super) async fn next(State(shared): State<Arc<Shared>>) -> Response {
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
pub(super) async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    complete(&shared, &id, Invocation::Response(value))
}

/// `POST /invocation/{id}/error`.
pub(super) async fn error(
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
pub(super) async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
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
