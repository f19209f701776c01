//! A fake Okta System Log API (`GET /api/v1/logs`): persistence-ordered polling, cursors, rate limits and scripted failures.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use tokio::task::JoinHandle;

use crate::okta_events::{okta_event, rfc3339_millis};

/// The API token accepted until [`FakeOkta::set_tokens`] says otherwise
/// (sent as `Authorization: SSWS okta-test-token`).
pub const DEFAULT_TOKEN: &str = "okta-test-token";

/// Where [`Failure::ForeignNext`] points the `next` link.
pub const FOREIGN_ORIGIN: &str = "https://evil.example.com";

const LOGS_PATH: &str = "/api/v1/logs";
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Okta's default lower bound when a request has no `since`.
const DEFAULT_SINCE_AGO: time::Duration = time::Duration::minutes(15);
/// How much of the real page [`Failure::BrokenJson`] sends.
const BROKEN_JSON_BYTES: usize = 100;
/// The default budget is far above anything a test sends, so only tests that
/// call [`FakeOkta::set_rate_limit`] ever see a 429 from it.
const DEFAULT_RATE_LIMIT: u32 = 1000;
const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(60);

/// IMF-fixdate, the `Date` header format (`Sun, 06 Nov 1994 08:49:37 GMT`).
const HTTP_DATE: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Cursor kinds: polling cursors hold a persistence index, bounded ones an
/// offset into the published-ordered result, and neither is accepted for the other.
const POLLING_CURSOR: char = '1';
const BOUNDED_CURSOR: char = '2';
/// Mixed into cursors so they do not read as plain numbers: clients must treat
/// them as opaque, and a test that builds one by hand should fail.
const CURSOR_MASK: u64 = 0x5a17_c0de_0b5c;
const CURSOR_DIGITS: usize = 12;

/// Event uuids from [`FakeOkta::add_events`] are unique across every fake in the test binary.
static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);
static NEXT_ERROR_ID: AtomicU64 = AtomicU64::new(1);

/// A scripted answer for one upcoming request (see [`FakeOkta::push_failure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 500 `E0000009`, what Okta answers when a query runs over 30 s.
    QueryTimeout,
    /// 429 `E0000047` with `X-Rate-Limit-Remaining: 0` and the current window's
    /// end as reset, even if budget remains (another client used it up).
    TooManyRequests,
    /// This status with an Okta-shaped error body.
    Status(u16),
    /// 200 with the proper headers and links, but the body is the first
    /// 100 bytes of the real page (never the whole page), so it does not parse.
    BrokenJson,
    /// 200 with the normal page, but `next` points to [`FOREIGN_ORIGIN`]
    /// (`self` stays correct): a client following it would leak its token.
    ForeignNext,
    /// Sleep this long, then answer normally (rate limit and auth are judged
    /// after the sleep).
    Hang(Duration),
}

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

struct StoredEvent {
    uuid: String,
    published: OffsetDateTime,
    json: String,
}

/// A fixed window that opens at the first request after the previous one closed.
struct RateLimit {
    limit: u32,
    window: Duration,
    start: Option<Instant>,
    used: u32,
}

impl RateLimit {
    /// Opens a new window if none is running at `now`.
    fn roll(&mut self, now: Instant) {
        let running = self
            .start
            .is_some_and(|s| now.saturating_duration_since(s) < self.window);
        if !running {
            self.start = Some(now);
            self.used = 0;
        }
    }

    /// Counts one request; true when the window was already used up.
    fn take(&mut self, now: Instant) -> bool {
        self.roll(now);
        let over = self.used >= self.limit;
        self.used = self.used.saturating_add(1);
        over
    }

    fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }

    /// The window's end on the fake clock, in epoch seconds rounded up.
    fn reset(&self, now: Instant, fake_now: OffsetDateTime) -> i64 {
        let left = self
            .start
            .map(|s| (s + self.window).saturating_duration_since(now))
            .unwrap_or(self.window);
        let end = fake_now + left;
        end.unix_timestamp() + i64::from(end.nanosecond() > 0)
    }
}

struct Inner {
    events: Vec<StoredEvent>,
    tokens: Vec<String>,
    forbidden: bool,
    rate: RateLimit,
    skew: time::Duration,
    failures: VecDeque<Failure>,
    next_self_when_short: bool,
    combined_link: bool,
    requests: Vec<OktaRequest>,
}

struct Shared {
    base_url: String,
    inner: Mutex<Inner>,
}

impl Shared {
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
            inner: Mutex::new(Inner {
                events: Vec::new(),
                tokens: vec![DEFAULT_TOKEN.to_string()],
                forbidden: false,
                rate: RateLimit {
                    limit: DEFAULT_RATE_LIMIT,
                    window: DEFAULT_RATE_WINDOW,
                    start: None,
                    used: 0,
                },
                skew: time::Duration::ZERO,
                failures: VecDeque::new(),
                next_self_when_short: false,
                combined_link: false,
                requests: Vec::new(),
            }),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
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
        self.shared.lock().tokens = valid.iter().map(|t| t.to_string()).collect();
    }

    /// When on, a valid token gets 403, as for an admin without the permission.
    pub fn set_forbidden(&self, on: bool) {
        self.shared.lock().forbidden = on;
    }

    /// `limit` requests per `window` (initially 1000 per 60 s); the next
    /// request opens a fresh window.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        let mut inner = self.shared.lock();
        inner.rate.limit = limit;
        inner.rate.window = window;
        inner.rate.start = None;
        inner.rate.used = 0;
    }

    /// Other clients of the org used `n` requests of the current window
    /// (opening one now if none is running).
    pub fn consume_budget(&self, n: u32) {
        let mut inner = self.shared.lock();
        inner.rate.roll(Instant::now());
        inner.rate.used = inner.rate.used.saturating_add(n);
    }

    /// The fake's clock (`Date` and `X-Rate-Limit-Reset`, and the default
    /// `since`) runs at local time plus `skew`.
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

    /// When on, one `Link` header carries both relations, comma-separated;
    /// when off (the default), one `Link` header line per relation.
    pub fn set_combined_link_header(&self, on: bool) {
        self.shared.lock().combined_link = on;
    }

    /// Every request received so far, in arrival order.
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

fn millis(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// One answer before the common headers are added.
struct Reply {
    status: u16,
    body: Vec<u8>,
    /// `(url, rel)` pairs for the `Link` header(s).
    links: Vec<(String, &'static str)>,
    returned: usize,
    /// Report `X-Rate-Limit-Remaining: 0` whatever the budget says.
    exhausted: bool,
}

impl Reply {
    fn error(status: u16, code: &str, summary: &str, causes: &[String]) -> Reply {
        let causes: Vec<serde_json::Value> = causes
            .iter()
            .map(|c| serde_json::json!({ "errorSummary": c }))
            .collect();
        let body = serde_json::json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": format!("oae{:019}", NEXT_ERROR_ID.fetch_add(1, Ordering::Relaxed)),
            "errorCauses": causes,
        });
        Reply {
            status,
            body: body.to_string().into_bytes(),
            links: Vec::new(),
            returned: 0,
            exhausted: false,
        }
    }

    fn bad_param(param: &str, why: &str) -> Reply {
        Reply::error(
            400,
            "E0000001",
            &format!("Api validation failed: {param}"),
            &[format!("{param}: {why}")],
        )
    }

    fn too_many() -> Reply {
        Reply::error(
            429,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            &[],
        )
    }

    /// The Okta error code and summary for a scripted [`Failure::Status`].
    fn for_status(status: u16) -> Reply {
        let (code, summary) = match status {
            400 => ("E0000001", "Api validation failed"),
            401 => ("E0000011", "Invalid token provided"),
            403 => (
                "E0000006",
                "You do not have permission to perform the requested action",
            ),
            404 => ("E0000007", "Not found: Resource not found"),
            429 => (
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            ),
            503 => ("E0000010", "Service is in read only mode"),
            _ => ("E0000009", "Internal Server Error"),
        };
        Reply::error(status, code, summary, &[])
    }
}

/// What the answer depends on in a request.
struct Incoming {
    method: Method,
    uri: Uri,
    query: Vec<(String, String)>,
    authorization: Option<String>,
}

/// The parsed query of a `/api/v1/logs` request.
struct Params {
    limit: usize,
    sort_order: Option<String>,
    since: Option<(String, OffsetDateTime)>,
    until: Option<(String, OffsetDateTime)>,
    after: Option<String>,
}

fn parse_params(query: &[(String, String)]) -> Result<Params, Reply> {
    // The first occurrence wins; Okta's behaviour with repeats is undocumented.
    let get = |name: &str| {
        query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let limit = match get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= MAX_LIMIT => n,
            _ => return Err(Reply::bad_param("limit", "must be between 0 and 1000")),
        },
    };
    let sort_order = get("sortOrder");
    if sort_order.as_deref().is_some_and(|s| s != "ASCENDING") {
        // Okta also supports DESCENDING; a forwarder has no use for it, so the
        // fake rejects it to catch a client that asks for it by mistake.
        return Err(Reply::bad_param(
            "sortOrder",
            "only ASCENDING is supported by the fake",
        ));
    }
    let time_param = |name: &str| -> Result<Option<(String, OffsetDateTime)>, Reply> {
        match get(name) {
            None => Ok(None),
            Some(v) => parse_time(&v)
                .map(|t| Some((v, t)))
                .ok_or_else(|| Reply::bad_param(name, "is not an ISO-8601 timestamp")),
        }
    };
    let since = time_param("since")?;
    let until = time_param("until")?;
    let after = get("after");
    if after.is_some() && since.is_some() && until.is_none() {
        return Err(Reply::bad_param(
            "after",
            "cannot be combined with since in a polling request",
        ));
    }
    Ok(Params {
        limit,
        sort_order,
        since,
        until,
        after,
    })
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    // A literal `+` in a query decodes to a space; put it back for offsets like +02:00.
    OffsetDateTime::parse(&text.replace(' ', "+"), &Rfc3339).ok()
}

impl Inner {
    /// Decides the answer; the caller adds the common headers.
    fn respond(
        &self,
        base_url: &str,
        req: &Incoming,
        failure: Option<Failure>,
        fake_now: OffsetDateTime,
    ) -> Reply {
        let Incoming {
            method,
            uri,
            query,
            authorization,
        } = req;
        match failure {
            Some(Failure::QueryTimeout) => {
                return Reply::error(500, "E0000009", "Internal Server Error", &[])
            }
            Some(Failure::TooManyRequests) => {
                // Reported as used up, but only this request is refused: the
                // budget itself is left alone so the next request goes through.
                let mut reply = Reply::too_many();
                reply.exhausted = true;
                return reply;
            }
            Some(Failure::Status(s)) => return Reply::for_status(s),
            _ => {}
        }
        let token = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("SSWS "));
        if !token.is_some_and(|t| self.tokens.iter().any(|v| v == t)) {
            return Reply::error(401, "E0000011", "Invalid token provided", &[]);
        }
        if self.forbidden {
            return Reply::error(
                403,
                "E0000006",
                "You do not have permission to perform the requested action",
                &[],
            );
        }
        if uri.path() != LOGS_PATH {
            return Reply::error(404, "E0000007", "Not found: Resource not found", &[]);
        }
        if *method != Method::GET {
            return Reply::error(
                405,
                "E0000022",
                "The endpoint does not support the provided HTTP method",
                &[],
            );
        }
        let params = match parse_params(query) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let self_url = format!(
            "{base_url}{}",
            uri.path_and_query().map_or(LOGS_PATH, |p| p.as_str())
        );
        let page = if params.until.is_some() {
            self.bounded_page(base_url, &params, fake_now)
        } else {
            self.polling_page(base_url, &params, &self_url, fake_now)
        };
        let (indices, next) = match page {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let items: Vec<&str> = indices
            .iter()
            .map(|&i| self.events[i].json.as_str())
            .collect();
        let mut body = format!("[{}]", items.join(",")).into_bytes();
        let mut returned = items.len();
        let mut next = next;
        match failure {
            Some(Failure::BrokenJson) => {
                // Never the whole page, so even `[]` becomes `[`.
                body.truncate(BROKEN_JSON_BYTES.min(body.len() - 1));
                returned = 0;
            }
            Some(Failure::ForeignNext) => {
                let target = next.as_deref().unwrap_or(&self_url);
                let path = target.strip_prefix(base_url).unwrap_or(target);
                next = Some(format!("{FOREIGN_ORIGIN}{path}"));
            }
            _ => {}
        }
        let mut links = vec![(self_url, "self")];
        links.extend(next.map(|n| (n, "next")));
        Reply {
            status: 200,
            body,
            links,
            returned,
            exhausted: false,
        }
    }

    /// Events persisted after the cursor (or published at or after `since`),
    /// in persistence order; `next` is always present.
    fn polling_page(
        &self,
        base_url: &str,
        params: &Params,
        self_url: &str,
        fake_now: OffsetDateTime,
    ) -> Result<(Vec<usize>, Option<String>), Reply> {
        let indices: Vec<usize> = match &params.after {
            Some(cursor) => {
                let last = decode_cursor(POLLING_CURSOR, cursor)
                    .ok_or_else(|| Reply::bad_param("after", "is not a valid cursor"))?;
                // Whatever their published time: this is how late events appear.
                (0..self.events.len())
                    .filter(|&i| i as u64 > last)
                    .take(params.limit)
                    .collect()
            }
            None => {
                let since = params
                    .since
                    .as_ref()
                    .map_or(fake_now - DEFAULT_SINCE_AGO, |(_, t)| *t);
                (0..self.events.len())
                    .filter(|&i| self.events[i].published >= since)
                    .take(params.limit)
                    .collect()
            }
        };
        let short = indices.len() < params.limit;
        let next = match indices.last() {
            Some(&last) if !(short && self.next_self_when_short) => {
                let mut url = format!(
                    "{base_url}{LOGS_PATH}?limit={}&after={}",
                    params.limit,
                    encode_cursor(POLLING_CURSOR, last as u64)
                );
                push_sort_order(&mut url, params);
                url
            }
            // Caught up (or told to repeat a short page): Okta hands back the request URL.
            _ => self_url.to_string(),
        };
        Ok((indices, Some(next)))
    }

    /// Events with `since <= published < until` ordered by published (ties by
    /// persistence), paged by offset; `next` only after a full page.
    fn bounded_page(
        &self,
        base_url: &str,
        params: &Params,
        fake_now: OffsetDateTime,
    ) -> Result<(Vec<usize>, Option<String>), Reply> {
        let offset = match &params.after {
            Some(cursor) => decode_cursor(BOUNDED_CURSOR, cursor)
                .and_then(|o| usize::try_from(o).ok())
                .ok_or_else(|| Reply::bad_param("after", "is not a valid cursor"))?,
            None => 0,
        };
        let (since_text, since) = params.since.clone().unwrap_or_else(|| {
            let t = fake_now - DEFAULT_SINCE_AGO;
            (t.format(&Rfc3339).unwrap_or_default(), t)
        });
        let (until_text, until) = params.until.clone().unwrap_or_else(|| {
            let t = fake_now;
            (t.format(&Rfc3339).unwrap_or_default(), t)
        });
        let mut matching: Vec<usize> = (0..self.events.len())
            .filter(|&i| (since..until).contains(&self.events[i].published))
            .collect();
        matching.sort_by_key(|&i| (self.events[i].published, i));
        let indices: Vec<usize> = matching
            .into_iter()
            .skip(offset)
            .take(params.limit)
            .collect();
        let next = (params.limit > 0 && indices.len() == params.limit).then(|| {
            let mut url = format!(
                "{base_url}{LOGS_PATH}?since={}&until={}&limit={}&after={}",
                encode_component(&since_text),
                encode_component(&until_text),
                params.limit,
                encode_cursor(BOUNDED_CURSOR, (offset + indices.len()) as u64)
            );
            push_sort_order(&mut url, params);
            url
        });
        Ok((indices, next))
    }
}

fn push_sort_order(url: &mut String, params: &Params) {
    if let Some(s) = &params.sort_order {
        url.push_str("&sortOrder=");
        url.push_str(&encode_component(s));
    }
}

fn cursor_check(body: &str) -> char {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let sum: usize = body.bytes().map(usize::from).sum();
    char::from(DIGITS[sum % DIGITS.len()])
}

/// `kind`, 12 masked hex digits and a check character.
fn encode_cursor(kind: char, value: u64) -> String {
    let body = format!(
        "{kind}{:0width$x}",
        value ^ CURSOR_MASK,
        width = CURSOR_DIGITS
    );
    let check = cursor_check(&body);
    format!("{body}{check}")
}

fn decode_cursor(kind: char, cursor: &str) -> Option<u64> {
    if !cursor.is_ascii() || cursor.len() != CURSOR_DIGITS + 2 || !cursor.starts_with(kind) {
        return None;
    }
    let (body, check) = cursor.split_at(CURSOR_DIGITS + 1);
    if !check.starts_with(cursor_check(body)) {
        return None;
    }
    u64::from_str_radix(&body[1..], 16)
        .ok()
        .map(|v| v ^ CURSOR_MASK)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` decoding of one component; bad escapes stay as they are.
fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(n), decode_component(v))
        })
        .collect()
}

async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let req = Incoming {
        query: parse_query(uri.query().unwrap_or("")),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        method,
        uri,
    };
    let (index, failure) = {
        let mut inner = shared.lock();
        let failure = inner.failures.pop_front();
        // Recorded on arrival so a hanging request is visible to the test at once.
        inner.requests.push(OktaRequest {
            path_and_query: req
                .uri
                .path_and_query()
                .map_or_else(|| req.uri.path().to_string(), |p| p.as_str().to_string()),
            query: req.query.clone(),
            authorization: req.authorization.clone(),
            status: 0,
            at: Instant::now(),
            returned: 0,
        });
        (inner.requests.len() - 1, failure)
    };
    if let Some(Failure::Hang(d)) = failure {
        tokio::time::sleep(d).await;
    }

    let mut inner = shared.lock();
    let now = Instant::now();
    let fake_now = OffsetDateTime::now_utc() + inner.skew;
    // Every request counts, whatever its answer; auth is only checked after.
    let over = inner.rate.take(now);
    let reply = if over && !matches!(failure, Some(Failure::QueryTimeout | Failure::Status(_))) {
        Reply::too_many()
    } else {
        inner.respond(&shared.base_url, &req, failure, fake_now)
    };
    let limit = inner.rate.limit;
    let remaining = if reply.exhausted {
        0
    } else {
        inner.rate.remaining()
    };
    let reset = inner.rate.reset(now, fake_now);
    let combined = inner.combined_link;
    // A scripted status that is not a valid code goes out (and is recorded) as 500.
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(r) = inner.requests.get_mut(index) {
        r.status = status.as_u16();
        r.returned = reply.returned;
    }
    drop(inner);

    let mut response = (status, reply.body).into_response();
    let h = response.headers_mut();
    let date = fake_now
        .to_offset(UtcOffset::UTC)
        .format(HTTP_DATE)
        .unwrap_or_default();
    let mut set = |name: HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            // Inserted over axum's octet-stream type; hyper keeps our `Date`.
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, "application/json".to_string());
    set(header::DATE, date);
    set(
        HeaderName::from_static("x-rate-limit-limit"),
        limit.to_string(),
    );
    set(
        HeaderName::from_static("x-rate-limit-remaining"),
        remaining.to_string(),
    );
    set(
        HeaderName::from_static("x-rate-limit-reset"),
        reset.to_string(),
    );
    let links: Vec<String> = reply
        .links
        .iter()
        .map(|(url, rel)| format!("<{url}>; rel=\"{rel}\""))
        .collect();
    let lines = if combined && !links.is_empty() {
        vec![links.join(", ")]
    } else {
        links
    };
    for line in lines {
        if let Ok(v) = HeaderValue::from_str(&line) {
            // Appended: one header line per relation must survive.
            h.append(header::LINK, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback_http::{request, RawResponse};
    use serde_json::value::RawValue;
    use time::PrimitiveDateTime;

    const AUTH: &str = "SSWS okta-test-token";

    async fn get_with(okta: &FakeOkta, path: &str, auth: Option<&str>) -> RawResponse {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        request(okta.addr(), "GET", path, &headers, b"")
            .await
            .expect("GET from fake Okta")
    }

    async fn get(okta: &FakeOkta, path: &str) -> RawResponse {
        get_with(okta, path, Some(AUTH)).await
    }

    /// Every `(rel, url)` from every `Link` header, also split on commas.
    fn links(r: &RawResponse) -> Vec<(String, String)> {
        r.headers
            .iter()
            .filter(|(n, _)| n == "link")
            .flat_map(|(_, v)| v.split(','))
            .map(|part| {
                let (url, rel) = part.split_once(';').expect("<url>; rel=...");
                let url = url.trim().trim_start_matches('<').trim_end_matches('>');
                let rel = rel.trim().trim_start_matches("rel=").trim_matches('"');
                (rel.to_string(), url.to_string())
            })
            .collect()
    }

    fn link(r: &RawResponse, rel: &str) -> Option<String> {
        links(r).into_iter().find(|(n, _)| n == rel).map(|(_, u)| u)
    }

    /// The `next` link as a path for [`request`], checking it stays on the fake.
    fn next_path(okta: &FakeOkta, r: &RawResponse) -> String {
        let next = link(r, "next").expect("a next link");
        next.strip_prefix(&okta.base_url())
            .unwrap_or_else(|| panic!("next {next} is not on the fake"))
            .to_string()
    }

    fn items(r: &RawResponse) -> Vec<String> {
        let items: Vec<Box<RawValue>> = serde_json::from_slice(&r.body).expect("a JSON array");
        items.iter().map(|v| v.get().to_string()).collect()
    }

    fn uuids(r: &RawResponse) -> Vec<String> {
        items(r)
            .iter()
            .map(|i| {
                let v: serde_json::Value = serde_json::from_str(i).expect("event JSON");
                v["uuid"].as_str().expect("uuid").to_string()
            })
            .collect()
    }

    fn error_code(r: &RawResponse) -> String {
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("an error body");
        assert_eq!(v["errorLink"], v["errorCode"]);
        assert!(v["errorId"].as_str().is_some_and(|s| s.starts_with("oae")));
        assert!(v["errorCauses"].is_array());
        v["errorCode"].as_str().expect("errorCode").to_string()
    }

    fn num(r: &RawResponse, name: &str) -> i64 {
        r.header(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .expect("a number")
    }

    fn date(r: &RawResponse) -> OffsetDateTime {
        let text = r.header("date").expect("a Date header");
        PrimitiveDateTime::parse(text, HTTP_DATE)
            .expect("an IMF-fixdate")
            .assume_utc()
    }

    fn since(t: OffsetDateTime) -> String {
        encode_component(&rfc3339_millis(t))
    }

    fn t0() -> OffsetDateTime {
        millis(OffsetDateTime::now_utc() - time::Duration::hours(1))
    }

    #[tokio::test]
    async fn paging_returns_every_event_once_then_next_is_self() {
        let okta = FakeOkta::start().await;
        assert_eq!(okta.base_url(), format!("http://{}", okta.host()));
        let t0 = t0();
        let expected = okta.add_events(7, t0, time::Duration::seconds(1));
        assert_eq!(okta.events().len(), 7);

        let mut path = format!("/api/v1/logs?since={}&limit=3", since(t0));
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let last = loop {
            let r = get(&okta, &path).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert_eq!(link(&r, "self"), Some(format!("{}{path}", okta.base_url())));
            assert_eq!(r.headers.iter().filter(|(n, _)| n == "link").count(), 2);
            let page = uuids(&r);
            sizes.push(page.len());
            if page.is_empty() {
                break r;
            }
            seen.extend(page);
            path = next_path(&okta, &r);
            assert!(path.starts_with("/api/v1/logs?limit=3&after="), "{path}");
        };
        assert_eq!(seen, expected);
        assert_eq!(sizes, vec![3, 3, 1, 0]);
        assert_eq!(link(&last, "next"), link(&last, "self"));
        // The JSON is forwarded verbatim.
        let first = okta.events()[0].1.clone();
        let again = get(&okta, &format!("/api/v1/logs?since={}&limit=1", since(t0))).await;
        assert_eq!(items(&again), vec![first]);

        let recorded = okta.requests();
        assert_eq!(
            recorded.iter().map(|r| r.returned).collect::<Vec<_>>(),
            vec![3, 3, 1, 0, 1]
        );
        assert_eq!(recorded[0].query[0], ("since".into(), rfc3339_millis(t0)));
        assert_eq!(recorded[0].authorization.as_deref(), Some(AUTH));
        assert_eq!(okta.count_status(200), 5);
    }

    #[tokio::test]
    async fn late_event_appears_by_following_the_last_next() {
        let okta = FakeOkta::start().await;
        let t0 = t0();
        let ids = okta.add_events(2, t0, time::Duration::seconds(1));
        let r = get(&okta, &format!("/api/v1/logs?since={}&limit=5", since(t0))).await;
        assert_eq!(uuids(&r), ids);
        let caught_up = get(&okta, &next_path(&okta, &r)).await;
        assert!(uuids(&caught_up).is_empty());
        assert_eq!(link(&caught_up, "next"), link(&caught_up, "self"));

        // Persisted now, published well before everything seen so far.
        okta.add_event("late-1", t0 - time::Duration::minutes(30));
        okta.add_event("new-1", t0 + time::Duration::minutes(1));
        let r = get(&okta, &next_path(&okta, &caught_up)).await;
        assert_eq!(uuids(&r), vec!["late-1", "new-1"]);
        // A since-only request filters by published and so misses it.
        let r = get(&okta, &format!("/api/v1/logs?since={}", since(t0))).await;
        assert_eq!(
            uuids(&r),
            vec![ids[0].clone(), ids[1].clone(), "new-1".into()]
        );
    }

    #[tokio::test]
    async fn next_self_when_short_repeats_the_page() {
        let okta = FakeOkta::start().await;
        let t0 = t0();
        let ids = okta.add_events(3, t0, time::Duration::seconds(1));
        okta.set_next_self_when_short(true);
        let path = format!(
            "/api/v1/logs?since={}&limit=10&sortOrder=ASCENDING",
            since(t0)
        );
        let r = get(&okta, &path).await;
        assert_eq!(uuids(&r), ids);
        assert_eq!(link(&r, "next"), Some(format!("{}{path}", okta.base_url())));
        let again = get(&okta, &next_path(&okta, &r)).await;
        assert_eq!(uuids(&again), ids);

        // A full page still moves on, keeping sortOrder.
        let r = get(
            &okta,
            &format!(
                "/api/v1/logs?since={}&limit=2&sortOrder=ASCENDING",
                since(t0)
            ),
        )
        .await;
        let next = next_path(&okta, &r);
        assert!(next.ends_with("&sortOrder=ASCENDING"), "{next}");
        assert_eq!(uuids(&get(&okta, &next).await), vec![ids[2].clone()]);
    }

    #[tokio::test]
    async fn default_since_is_fifteen_minutes_ago() {
        let okta = FakeOkta::start().await;
        let now = OffsetDateTime::now_utc();
        okta.add_event("old", now - time::Duration::minutes(20));
        okta.add_event("recent", now - time::Duration::minutes(10));
        assert_eq!(uuids(&get(&okta, "/api/v1/logs").await), vec!["recent"]);
    }

    #[tokio::test]
    async fn since_filters_and_bounded_orders_by_published() {
        let okta = FakeOkta::start().await;
        let t0 = t0();
        let m = time::Duration::minutes;
        okta.add_event("a", t0);
        okta.add_event("b", t0 + m(1));
        okta.add_event("c", t0 + m(2));
        okta.add_event("late", t0 - m(60));
        okta.add_event("tie", t0);

        let r = get(&okta, &format!("/api/v1/logs?since={}", since(t0 + m(1)))).await;
        assert_eq!(uuids(&r), vec!["b", "c"]);

        let first = format!(
            "/api/v1/logs?since={}&until={}&limit=2",
            since(t0 - m(120)),
            since(t0 + m(2))
        );
        let r = get(&okta, &first).await;
        assert_eq!(uuids(&r), vec!["late", "a"]);
        let next = next_path(&okta, &r);
        assert!(
            next.contains("&until=") && next.contains("&after="),
            "{next}"
        );
        let r = get(&okta, &next).await;
        // `until` is exclusive, so "c" is out; this page is short and ends the query.
        assert_eq!(uuids(&r), vec!["tie", "b"]);
        let r = get(&okta, &next_path(&okta, &r)).await;
        assert!(uuids(&r).is_empty());
        assert_eq!(link(&r, "next"), None);
        assert!(link(&r, "self").is_some());

        let r = get(&okta, &first.replace("limit=2", "limit=3")).await;
        assert_eq!(uuids(&r), vec!["late", "a", "tie"]);
        let r = get(&okta, &next_path(&okta, &r)).await;
        assert_eq!(uuids(&r), vec!["b"]);
        assert_eq!(link(&r, "next"), None);
    }

    #[tokio::test]
    async fn rate_limit_counts_down_then_429_until_the_window_passes() {
        let okta = FakeOkta::start().await;
        okta.set_rate_limit(3, Duration::from_secs(2));
        let started = Instant::now();
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let r = get(&okta, "/api/v1/logs").await;
            assert_eq!(r.status, 200);
            assert_eq!(num(&r, "x-rate-limit-limit"), 3);
            remaining.push(num(&r, "x-rate-limit-remaining"));
        }
        assert_eq!(remaining, vec![2, 1, 0]);
        let r = get(&okta, "/api/v1/logs").await;
        assert_eq!(r.status, 429);
        assert_eq!(error_code(&r), "E0000047");
        assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
        let reset = num(&r, "x-rate-limit-reset");
        let date = date(&r).unix_timestamp();
        assert!(
            reset > date && reset <= date + 3,
            "reset {reset}, date {date}"
        );
        // Rate limiting comes before auth, and a 429 still uses budget.
        let r = get_with(&okta, "/api/v1/logs", None).await;
        assert_eq!(r.status, 429);

        tokio::time::sleep_until((started + Duration::from_millis(2300)).into()).await;
        let r = get(&okta, "/api/v1/logs").await;
        assert_eq!(r.status, 200);
        assert_eq!(num(&r, "x-rate-limit-remaining"), 2);
        assert_eq!(okta.count_status(429), 2);
    }

    #[tokio::test]
    async fn budget_used_by_others_and_401_count() {
        let okta = FakeOkta::start().await;
        okta.set_rate_limit(5, Duration::from_secs(60));
        okta.consume_budget(2);
        let r = get_with(&okta, "/api/v1/logs", Some("SSWS wrong")).await;
        assert_eq!(r.status, 401);
        assert_eq!(num(&r, "x-rate-limit-remaining"), 2);
        let r = get(&okta, "/api/v1/logs").await;
        assert_eq!(num(&r, "x-rate-limit-remaining"), 1);
        okta.consume_budget(1);
        let r = get(&okta, "/api/v1/logs").await;
        assert_eq!(r.status, 429);
        assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
    }

    #[tokio::test]
    async fn clock_skew_shows_in_date_and_reset() {
        let okta = FakeOkta::start().await;
        okta.set_clock_skew(time::Duration::hours(1));
        let expected = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let r = get(&okta, "/api/v1/logs").await;
        let off = (date(&r) - expected).whole_seconds();
        assert!((-2..=2).contains(&off), "Date is {off} s off");
        let reset = num(&r, "x-rate-limit-reset") - expected.unix_timestamp();
        assert!((58..=62).contains(&reset), "reset is {reset} s ahead");
    }

    #[tokio::test]
    async fn auth_failures() {
        let okta = FakeOkta::start().await;
        for auth in [None, Some("SSWS wrong"), Some("Bearer okta-test-token")] {
            let r = get_with(&okta, "/api/v1/logs", auth).await;
            assert_eq!(r.status, 401, "{auth:?}");
            assert_eq!(error_code(&r), "E0000011");
            assert!(r.header("x-rate-limit-reset").is_some() && r.header("date").is_some());
            assert_eq!(r.header("content-type"), Some("application/json"));
            assert!(links(&r).is_empty());
        }
        okta.set_tokens(&["t1", "t2"]);
        assert_eq!(
            get_with(&okta, "/api/v1/logs", Some("SSWS t2"))
                .await
                .status,
            200
        );
        assert_eq!(get(&okta, "/api/v1/logs").await.status, 401);
        okta.set_forbidden(true);
        let r = get_with(&okta, "/api/v1/logs", Some("SSWS t1")).await;
        assert_eq!(r.status, 403);
        assert_eq!(error_code(&r), "E0000006");
        assert_eq!(okta.count_status(401), 4);
    }

    #[tokio::test]
    async fn each_failure_kind() {
        let okta = FakeOkta::start().await;
        let t0 = t0();
        let ids = okta.add_events(3, t0, time::Duration::seconds(1));
        let path = format!("/api/v1/logs?since={}&limit=2", since(t0));
        okta.push_failure(Failure::QueryTimeout);
        okta.push_failure(Failure::Status(503));
        okta.push_failure(Failure::BrokenJson);
        okta.push_failure(Failure::ForeignNext);
        okta.push_failure(Failure::TooManyRequests);
        okta.push_failure(Failure::Hang(Duration::from_millis(300)));

        let r = get(&okta, &path).await;
        assert_eq!((r.status, error_code(&r)), (500, "E0000009".to_string()));
        let r = get(&okta, &path).await;
        assert_eq!(r.status, 503);
        error_code(&r);

        let r = get(&okta, &path).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), BROKEN_JSON_BYTES);
        assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
        assert!(link(&r, "next").is_some());

        let r = get(&okta, &path).await;
        assert_eq!(uuids(&r), ids[..2]);
        let next = link(&r, "next").expect("next");
        assert!(
            next.starts_with("https://evil.example.com/api/v1/logs?"),
            "{next}"
        );
        assert!(next.contains("after="));
        assert_eq!(link(&r, "self"), Some(format!("{}{path}", okta.base_url())));

        let r = get(&okta, &path).await;
        assert_eq!((r.status, error_code(&r)), (429, "E0000047".to_string()));
        assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
        assert!(num(&r, "x-rate-limit-reset") > date(&r).unix_timestamp());

        let before = Instant::now();
        let r = get(&okta, &path).await;
        assert!(before.elapsed() >= Duration::from_millis(300));
        assert_eq!(uuids(&r), ids[..2]);
        // The queue is empty again.
        assert_eq!(get(&okta, &path).await.status, 200);

        let statuses: Vec<u16> = okta.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![500, 503, 200, 200, 429, 200, 200]);
        assert_eq!(okta.requests()[2].returned, 0);
        assert_eq!(okta.count_status(500), 1);
    }

    #[tokio::test]
    async fn combined_link_header() {
        let okta = FakeOkta::start().await;
        let t0 = t0();
        okta.add_events(2, t0, time::Duration::seconds(1));
        okta.set_combined_link_header(true);
        let r = get(&okta, &format!("/api/v1/logs?since={}&limit=1", since(t0))).await;
        let headers: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "link")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(headers.len(), 1);
        assert!(
            headers[0].contains(r#"; rel="self", <"#) && headers[0].ends_with(r#"; rel="next""#)
        );
        assert_eq!(uuids(&get(&okta, &next_path(&okta, &r)).await).len(), 1);
    }

    #[tokio::test]
    async fn bad_parameters_are_400() {
        let okta = FakeOkta::start().await;
        let t0 = t0();
        okta.add_events(2, t0, time::Duration::seconds(1));
        let r = get(
            &okta,
            &format!(
                "/api/v1/logs?since={}&until={}&limit=1",
                since(t0),
                since(t0 + time::Duration::minutes(1))
            ),
        )
        .await;
        let bounded_cursor = link(&r, "next")
            .expect("next")
            .rsplit("after=")
            .next()
            .expect("cursor")
            .to_string();
        let r = get(&okta, &format!("/api/v1/logs?since={}&limit=1", since(t0))).await;
        let polling_cursor = next_path(&okta, &r)
            .rsplit("after=")
            .next()
            .expect("cursor")
            .to_string();
        assert_ne!(bounded_cursor, polling_cursor);

        let s = since(t0);
        for query in [
            "limit=1001".to_string(),
            "limit=-1".to_string(),
            "limit=ten".to_string(),
            format!("since={s}&after={polling_cursor}"),
            "sortOrder=DESCENDING".to_string(),
            "since=yesterday".to_string(),
            format!("since={s}&until=2024-13-01"),
            "after=1".to_string(),
            format!("after={bounded_cursor}"),
            format!("since={s}&until={s}&after={polling_cursor}"),
        ] {
            let r = get(&okta, &format!("/api/v1/logs?{query}")).await;
            assert_eq!(r.status, 400, "{query}");
            assert_eq!(error_code(&r), "E0000001", "{query}");
        }
        for query in [
            "limit=0",
            "limit=1000",
            "filter=x&q=y",
            "sortOrder=ASCENDING",
        ] {
            assert_eq!(
                get(&okta, &format!("/api/v1/logs?{query}")).await.status,
                200,
                "{query}"
            );
        }
        let r = get(&okta, &format!("/api/v1/logs?after={polling_cursor}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(uuids(&r).len(), 1);
        assert_eq!(get(&okta, "/api/v1/users").await.status, 404);
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        for v in [0, 1, 41, 999_999] {
            let c = encode_cursor(POLLING_CURSOR, v);
            assert_eq!(decode_cursor(POLLING_CURSOR, &c), Some(v));
            assert_eq!(decode_cursor(BOUNDED_CURSOR, &c), None);
            let mut tampered = c.clone().into_bytes();
            tampered[5] = if tampered[5] == b'0' { b'1' } else { b'0' };
            let tampered = String::from_utf8(tampered).expect("ascii");
            assert_eq!(decode_cursor(POLLING_CURSOR, &tampered), None);
        }
        assert_eq!(decode_component("a%3Ab+c%2B%zz"), "a:b c+%zz");
        assert_eq!(
            encode_component("2023-05-30T14:17:58.126Z"),
            "2023-05-30T14%3A17%3A58.126Z"
        );
    }
}
