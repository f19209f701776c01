//! A fake Okta org: the System Log API (`GET /api/v1/logs`) with persistence-ordered polling, cursors, rate limits, scripted failures, an OAuth authorization server for API service apps, and the directory (users, groups, apps, role assignments) beside it.

// This file holds the public `FakeOkta` and its state; answering is split by concern.
mod auth; // API tokens and OAuth access tokens, 401 and 403
mod directory; // users, groups, apps, role assignments: their lists, buckets and changes
mod failures; // `Failure`, the scripted answers and Okta's error bodies
mod handler; // one request from arrival to answer
mod oauth; // `POST /oauth2/v1/token`, private_key_jwt, DPoP, the tokens it issues
mod paging; // the query, polling and bounded pages, cursors, `Link`
mod rate_limit; // the fixed-window budget and its headers
mod reply; // one answer and the headers every answer carries
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::okta_events::{okta_event, rfc3339_millis};

pub use auth::DEFAULT_TOKEN;
pub use directory::{
    Bucket, DirectoryEndpoint, DirectoryFailure, DirectoryRateLimits, PopulatedOrg, UserStatus,
};
pub use failures::{Failure, FOREIGN_ORIGIN};
pub use oauth::{OAuthSettings, TokenFailure, TokenRequest};

use auth::Auth;
use directory::Directory;
use oauth::{OAuth, TOKEN_PATH};
use rate_limit::RateLimit;

/// Event uuids from [`FakeOkta::add_events`] are unique across every fake in the test binary.
static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct OktaRequest {
    /// Path and query exactly as received (`/api/v1/logs?limit=2&after=...`).
    pub path_and_query: String,
    /// The query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status we answered; 0 while a [`Failure::Hang`] is still sleeping
    /// or when the client went away before the answer.
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
    /// How many events the body held (0 for errors and [`Failure::BrokenJson`]).
    pub returned: usize,
}

/// One persisted event: what the fake orders and filters by, and the JSON it serves.
struct StoredEvent {
    uuid: String,
    published: OffsetDateTime,
    json: String,
}

/// Everything the answers depend on, behind [`Shared`]'s lock.
struct Inner {
    /// In persistence order.
    events: Vec<StoredEvent>,
    auth: Auth,
    oauth: OAuth,
    rate: RateLimit,
    skew: time::Duration,
    failures: VecDeque<Failure>,
    next_self_when_short: bool,
    combined_link: bool,
    relative_links: bool,
    requests: Vec<OktaRequest>,
    directory: Directory,
}

/// The state the server task and the [`FakeOkta`] handle share.
struct Shared {
    base_url: String,
    /// Requests in flight now, for the org-wide concurrency limit (outside the lock: a
    /// hanging request holds no lock).
    in_flight: AtomicUsize,
    inner: Mutex<Inner>,
}

impl Shared {
    /// The state, even after a panic elsewhere poisoned the lock.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A loopback fake of Okta's `GET /api/v1/logs`; stops when dropped.
///
/// Events are kept in persistence order (the order they were added). Polling
/// requests (no `until`) page through that order with `after` cursors, so an
/// event added later with an old `published` (a "late" event) shows up after
/// the ones added before it, just like events delayed inside Okta.
pub struct FakeOkta {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeOkta {
    /// Starts the fake on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> FakeOkta {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake Okta: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake Okta: listener has no local address");
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            in_flight: AtomicUsize::new(0),
            inner: Mutex::new(Inner {
                events: Vec::new(),
                auth: Auth::default(),
                oauth: OAuth::default(),
                rate: RateLimit::default(),
                skew: time::Duration::ZERO,
                failures: VecDeque::new(),
                next_self_when_short: false,
                combined_link: false,
                relative_links: false,
                requests: Vec::new(),
                directory: Directory::default(),
            }),
        });
        let app = Router::new()
            .fallback(handler::handle)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("fake Okta stopped: {e}");
            }
        });
        FakeOkta {
            addr,
            shared,
            server,
        }
    }

    /// The listening address (for [`crate::loopback_http::request`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the org URL.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Persists one realistic event now; returns its JSON text.
    ///
    /// `published` is cut to milliseconds, as in the JSON, so the fake filters
    /// on exactly the value a client can read.
    pub fn add_event(&self, uuid: &str, published: OffsetDateTime) -> String {
        let published = millis(published);
        let json = okta_event(uuid, &rfc3339_millis(published));
        self.add_raw_event(uuid, published, json.clone());
        json
    }

    /// Persists `n` events published `first_published + i * step`; returns their uuids.
    pub fn add_events(
        &self,
        n: usize,
        first_published: OffsetDateTime,
        step: time::Duration,
    ) -> Vec<String> {
        let mut published = first_published;
        (0..n)
            .map(|_| {
                let uuid = format!("evt-{:08}", NEXT_EVENT.fetch_add(1, Ordering::Relaxed));
                self.add_event(&uuid, published);
                published += step;
                uuid
            })
            .collect()
    }

    /// Persists `json` verbatim (it may be malformed); `uuid` and `published`
    /// are what the fake itself orders and filters by.
    pub fn add_raw_event(&self, uuid: &str, published: OffsetDateTime, json: String) {
        self.shared.lock().events.push(StoredEvent {
            uuid: uuid.to_string(),
            published,
            json,
        });
    }

    /// Every `(uuid, json)` in persistence order.
    pub fn events(&self) -> Vec<(String, String)> {
        self.shared
            .lock()
            .events
            .iter()
            .map(|e| (e.uuid.clone(), e.json.clone()))
            .collect()
    }

    /// Replaces the accepted tokens (initially [`DEFAULT_TOKEN`]); a request
    /// without `Authorization: SSWS <one of them>` gets 401.
    pub fn set_tokens(&self, valid: &[&str]) {
        self.shared.lock().auth.set_tokens(valid);
    }

    /// When on, a valid token gets 403, as for an admin without the permission
    /// (an OAuth access token as well as an API token).
    pub fn set_forbidden(&self, on: bool) {
        self.shared.lock().auth.set_forbidden(on);
    }

    /// `{base_url}/oauth2/v1/token`: the token endpoint, and the `aud` of a client assertion.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.shared.base_url)
    }

    /// Registers the API service app `client_id` with one public key for
    /// `private_key_jwt`; its `kid` member names it.
    ///
    /// A key with another `kid` is added next to the app's others (a key rotation); one
    /// with the same `kid` replaces that key.
    pub fn register_client(&self, client_id: &str, public_jwk: &serde_json::Value) {
        self.shared
            .lock()
            .oauth
            .register_client(client_id, public_jwk);
    }

    /// Replaces the authorization server's settings (initially [`OAuthSettings::default`]).
    ///
    /// Both DPoP nonces are forgotten, so the next proof at the token endpoint and at
    /// `/api/v1/logs` is asked for a new one: a nonce rotation.
    pub fn set_oauth(&self, settings: OAuthSettings) {
        self.shared.lock().oauth.set_settings(settings);
    }

    /// Every access token issued so far becomes invalid: 401 `invalid_token` at `/api/v1/logs`.
    pub fn revoke_tokens(&self) {
        self.shared.lock().oauth.revoke_all();
    }

    /// Every `POST /oauth2/v1/token` so far, in order.
    ///
    /// Token requests are not in [`FakeOkta::requests`], and take neither the System Log's
    /// rate-limit budget nor its scripted failures.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.lock().oauth.requests().to_vec()
    }

    /// Queues `f` as the answer to one upcoming `POST /oauth2/v1/token` (FIFO), before
    /// any check; token requests take only these, never [`FakeOkta::push_failure`]'s.
    pub fn push_token_failure(&self, f: TokenFailure) {
        self.shared.lock().oauth.push_failure(f);
    }

    /// How many token requests got an access token.
    pub fn issued_tokens(&self) -> usize {
        self.shared
            .lock()
            .oauth
            .requests()
            .iter()
            .filter(|r| r.status == 200)
            .count()
    }

    /// `limit` requests per `window` (initially 1000 per 60 s); the next
    /// request opens a fresh window.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        self.shared.lock().rate = RateLimit::new(limit, window);
    }

    /// Other clients of the org used `n` requests of the current window
    /// (opening one now if none is running).
    pub fn consume_budget(&self, n: u32) {
        self.shared.lock().rate.consume(Instant::now(), n);
    }

    /// The fake's clock (`Date` and `X-Rate-Limit-Reset`, the default `since`, and the
    /// authorization server's `exp`, `iat` and token expiry checks) runs at local time plus `skew`.
    pub fn set_clock_skew(&self, skew: time::Duration) {
        self.shared.lock().skew = skew;
    }

    /// Queues `f` as the answer to one upcoming request (FIFO).
    ///
    /// Every request takes the next queued failure on arrival. `QueryTimeout`,
    /// `TooManyRequests` and `Status` replace whatever the answer would have
    /// been (the request still uses budget); `BrokenJson` and `ForeignNext`
    /// only alter a 200 and are spent without effect on any other answer.
    pub fn push_failure(&self, f: Failure) {
        self.shared.lock().failures.push_back(f);
    }

    /// When on, a polling page that is non-empty but shorter than `limit` gets
    /// `next` = the request URL, so following it returns the same events again.
    pub fn set_next_self_when_short(&self, on: bool) {
        self.shared.lock().next_self_when_short = on;
    }

    /// Writes `Link` headers with targets relative to the org, a quoted title holding a
    /// comma, and unquoted `rel`, as RFC 8288 allows.
    pub fn set_relative_links(&self, on: bool) {
        self.shared.lock().relative_links = on;
    }

    /// When on, one `Link` header carries both relations, comma-separated;
    /// when off (the default), one `Link` header line per relation.
    pub fn set_combined_link_header(&self, on: bool) {
        self.shared.lock().combined_link = on;
    }

    /// Every request received so far, in arrival order (token requests are in
    /// [`FakeOkta::token_requests`]).
    pub fn requests(&self) -> Vec<OktaRequest> {
        self.shared.lock().requests.clone()
    }

    /// How many requests were answered with `status`.
    pub fn count_status(&self, status: u16) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.status == status)
            .count()
    }
}

impl Drop for FakeOkta {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `t` cut to whole milliseconds, the precision of `published` in the JSON.
fn millis(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}
