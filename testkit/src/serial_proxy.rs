//! A loopback HTTP proxy that lets one request at a time through to its upstream.
//!
//! moto's DynamoDB is not safe under concurrent requests: a cancelled `TransactWriteItems`
//! restores the whole table from a copy taken when it started, undoing what other requests
//! wrote meanwhile. Real DynamoDB isolates each item. Serialising the requests gives moto
//! one valid order of them, which is all a correct DynamoDB promises; the concurrency tests
//! put this in front of moto so that what they test is okta-ingest, not moto's race.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::loopback_http;

/// Headers the proxy sets itself.
const HOP: [&str; 4] = ["host", "content-length", "connection", "transfer-encoding"];

/// The proxy; stops when dropped.
pub struct SerialProxy {
    addr: SocketAddr,
    server: JoinHandle<()>,
}

struct Upstream {
    addr: SocketAddr,
    one_at_a_time: Mutex<()>,
}

impl SerialProxy {
    /// Forwards 127.0.0.1:<ephemeral> to `upstream`, one request at a time.
    pub async fn start(upstream: SocketAddr) -> SerialProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("serial proxy: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("serial proxy: no local address");
        let state = Arc::new(Upstream {
            addr: upstream,
            one_at_a_time: Mutex::new(()),
        });
        let app = Router::new()
            .fallback(forward)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(state);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("serial proxy stopped: {e}");
            }
        });
        SerialProxy { addr, server }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SerialProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn forward(
    State(upstream): State<Arc<Upstream>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let pass: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| !HOP.contains(&n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let pass: Vec<(&str, &str)> = pass.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let answer = {
        let _turn = upstream.one_at_a_time.lock().await;
        loopback_http::request(upstream.addr, method.as_str(), &path, &pass, &body).await
    };
    let Ok(answer) = answer else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::new(axum::body::Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in &answer.headers {
        if HOP.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}
