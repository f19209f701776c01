//! One request from arrival to answer: a token request goes to the authorization server; any other counts in flight (429 beyond the org's concurrency), a directory one goes to the directory; a System Log one is recorded, may hang, then rate limit, failures, auth, route and page.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderName;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;
use time::OffsetDateTime;

use super::auth::Credentials;
use super::directory::{is_directory_path, InFlight};
use super::failures::Failure;
use super::oauth::{TokenCall, TOKEN_PATH};
use super::paging::{parse_params, parse_query, LOGS_PATH};
use super::reply::{Common, Reply};
use super::{Inner, OktaRequest, Shared};

/// What the answer depends on in a request.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) authorization: Option<String>,
    pub(crate) dpop: Vec<String>,
}

impl Incoming {
    pub(crate) fn new(method: Method, uri: Uri, headers: &HeaderMap) -> Incoming {
        Incoming {
            query: parse_query(uri.query().unwrap_or("")),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            dpop: dpop_headers(headers),
            method,
            uri,
        }
    }

    /// The request as the test will see it, before it is answered.
    pub(crate) fn record(&self) -> OktaRequest {
        OktaRequest {
            path_and_query: self
                .uri
                .path_and_query()
                .map_or_else(|| self.uri.path().to_string(), |p| p.as_str().to_string()),
            query: self.query.clone(),
            authorization: self.authorization.clone(),
            status: 0,
            at: Instant::now(),
            returned: 0,
        }
    }
}

/// The fake's only route: every method and path ends up here.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path() == TOKEN_PATH {
        return shared.token(&method, &headers, &body);
    }
    // Counted until the answer is built (or the client goes away): org-wide, every API path.
    let (_in_flight, in_flight) = InFlight::enter(&shared.in_flight);
    if in_flight > shared.lock().directory.concurrency() {
        return shared.refuse_concurrent(&Incoming::new(method, uri, &headers));
    }
    if is_directory_path(uri.path()) {
        return shared.directory(method, uri, &headers).await;
    }
    let req = Incoming::new(method, uri, &headers);
    let (index, failure) = shared.arrive(&req);
    if let Some(Failure::Hang(d)) = failure {
        tokio::time::sleep(d).await;
    }
    shared.answer(index, &req, failure.as_ref())
}

/// Every `DPoP` header value; one that is not text stays in, to be refused as a proof.
fn dpop_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("dpop")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

impl Shared {
    /// A token request: answered by the authorization server, recorded in its own list.
    ///
    /// Okta rate-limits the token endpoint apart from the System Log, so it takes neither
    /// budget nor scripted failures from `/api/v1/logs`.
    fn token(&self, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
        let mut inner = self.lock();
        let fake_now = inner.now();
        let reply = if method == Method::POST {
            let call = TokenCall {
                content_type: headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
                body,
                dpop: &dpop_headers(headers),
            };
            let token_url = format!("{}{TOKEN_PATH}", self.base_url);
            inner.oauth.token(&token_url, &call, fake_now)
        } else {
            method_not_allowed()
        };
        drop(inner);
        let common = Common {
            fake_now,
            rate: Vec::new(),
            combined_link: false,
            relative_links: false,
        };
        let status = reply.http_status();
        reply.into_response(status, common)
    }

    /// Takes the next scripted failure and records the request; returns its index.
    fn arrive(&self, req: &Incoming) -> (usize, Option<Failure>) {
        let mut inner = self.lock();
        let failure = inner.failures.pop_front();
        // Recorded on arrival so a hanging request is visible to the test at once.
        inner.requests.push(req.record());
        (inner.requests.len() - 1, failure)
    }

    /// Decides the answer, records its status and builds the response.
    fn answer(&self, index: usize, req: &Incoming, failure: Option<&Failure>) -> Response {
        let mut inner = self.lock();
        let now = Instant::now();
        let fake_now = inner.now();
        // Every request counts, whatever its answer; auth is only checked after.
        let over = inner.rate.take(now);
        let reply = if over && !failure.is_some_and(Failure::ignores_rate_limit) {
            Reply::too_many()
        } else {
            inner.respond(&self.base_url, req, failure, fake_now)
        };
        let rate = match failure {
            Some(Failure::TooManyRequestsBare) => Vec::new(),
            Some(Failure::AbsurdRateLimit) => vec![
                (
                    HeaderName::from_static("x-rate-limit-limit"),
                    u32::MAX.to_string(),
                ),
                (
                    HeaderName::from_static("x-rate-limit-remaining"),
                    "0".to_owned(),
                ),
                (
                    HeaderName::from_static("x-rate-limit-reset"),
                    i64::MIN.to_string(),
                ),
            ],
            _ => inner.rate.headers(now, fake_now, reply.exhausted).into(),
        };
        let common = Common {
            fake_now,
            rate,
            combined_link: inner.combined_link,
            relative_links: inner.relative_links,
        };
        let status = reply.http_status();
        if let Some(r) = inner.requests.get_mut(index) {
            r.status = status.as_u16();
            r.returned = reply.returned;
        }
        drop(inner);
        reply.into_response(status, common)
    }
}

impl Inner {
    /// The fake clock: local time plus the skew.
    pub(crate) fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.skew
    }

    /// Decides the answer within the rate limit; the caller adds the common headers.
    fn respond(
        &mut self,
        base_url: &str,
        req: &Incoming,
        failure: Option<&Failure>,
        fake_now: OffsetDateTime,
    ) -> Reply {
        if let Some(reply) = failure.and_then(Failure::replacement) {
            return reply;
        }
        if failure == Some(&Failure::NewDpopNonce) {
            return self.oauth.new_resource_nonce();
        }
        self.serve_logs(base_url, req, failure, fake_now)
            .unwrap_or_else(|error| error)
    }

    /// Auth, route, query, then the page (spoilt by a page-altering failure).
    fn serve_logs(
        &mut self,
        base_url: &str,
        req: &Incoming,
        failure: Option<&Failure>,
        fake_now: OffsetDateTime,
    ) -> Result<Reply, Reply> {
        let credentials = Credentials {
            authorization: req.authorization.as_deref(),
            method: req.method.as_str(),
            url: &format!("{base_url}{}", req.uri.path()),
            dpop: &req.dpop,
        };
        self.authorize(&credentials, fake_now)?;
        route(req)?;
        let params = parse_params(&req.query)?;
        let mut page = self.page(base_url, &req.uri, &params, fake_now)?;
        if let Some(f) = failure {
            f.alter_page(&mut page, base_url);
        }
        Ok(page.into_reply())
    }
}

/// 404 for any other path, then 405 for any other method than GET.
fn route(req: &Incoming) -> Result<(), Reply> {
    if req.uri.path() != LOGS_PATH {
        return Err(Reply::error(
            404,
            "E0000007",
            "Not found: Resource not found",
            &[],
        ));
    }
    if req.method != Method::GET {
        return Err(method_not_allowed());
    }
    Ok(())
}

/// 405 `E0000022`.
pub(crate) fn method_not_allowed() -> Reply {
    Reply::error(
        405,
        "E0000022",
        "The endpoint does not support the provided HTTP method",
        &[],
    )
}
