//! One request from arrival to answer: record it, run a scripted hang, then rate limit, failures, auth, route and page.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderName;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;
use time::OffsetDateTime;

use super::failures::Failure;
use super::paging::{parse_params, parse_query, LOGS_PATH};
use super::reply::{Common, Reply};
use super::{Inner, OktaRequest, Shared};

/// What the answer depends on in a request.
struct Incoming {
    method: Method,
    uri: Uri,
    query: Vec<(String, String)>,
    authorization: Option<String>,
}

impl Incoming {
    fn new(method: Method, uri: Uri, headers: &HeaderMap) -> Incoming {
        Incoming {
            query: parse_query(uri.query().unwrap_or("")),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            method,
            uri,
        }
    }

    /// The request as the test will see it, before it is answered.
    fn record(&self) -> OktaRequest {
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
) -> Response {
    let req = Incoming::new(method, uri, &headers);
    let (index, failure) = shared.arrive(&req);
    if let Some(Failure::Hang(d)) = failure {
        tokio::time::sleep(d).await;
    }
    shared.answer(index, &req, failure.as_ref())
}

impl Shared {
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
        let fake_now = OffsetDateTime::now_utc() + inner.skew;
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
    /// Decides the answer within the rate limit; the caller adds the common headers.
    fn respond(
        &self,
        base_url: &str,
        req: &Incoming,
        failure: Option<&Failure>,
        fake_now: OffsetDateTime,
    ) -> Reply {
        if let Some(reply) = failure.and_then(Failure::replacement) {
            return reply;
        }
        self.serve_logs(base_url, req, failure, fake_now)
            .unwrap_or_else(|error| error)
    }

    /// Auth, route, query, then the page (spoilt by a page-altering failure).
    fn serve_logs(
        &self,
        base_url: &str,
        req: &Incoming,
        failure: Option<&Failure>,
        fake_now: OffsetDateTime,
    ) -> Result<Reply, Reply> {
        self.auth.check(req.authorization.as_deref())?;
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
        return Err(Reply::error(
            405,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
            &[],
        ));
    }
    Ok(())
}
