//! Scripted failures ([`Failure`]) and the Okta-shaped error answers (`Reply::error` and friends).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::paging::Page;
use super::reply::Reply;

/// Where [`Failure::ForeignNext`] points the `next` link.
pub const FOREIGN_ORIGIN: &str = "https://evil.example.com";

/// How much of the real page [`Failure::BrokenJson`] sends.
pub(crate) const BROKEN_JSON_BYTES: usize = 100;

static NEXT_ERROR_ID: AtomicU64 = AtomicU64::new(1);

/// A scripted answer for one upcoming request (see [`FakeOkta::push_failure`](super::FakeOkta::push_failure)).
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
    /// 429 `E0000047` without any `X-Rate-Limit-*` header.
    TooManyRequestsBare,
    /// The normal page, with absurd rate-limit headers: nothing remaining, and a reset at
    /// `i64::MIN` seconds.
    AbsurdRateLimit,
    /// 200 with the normal page (headers, links, events), but this many bytes of whitespace
    /// streamed inside its JSON array: still valid JSON, only too large. Streamed in chunks, so
    /// the fake never holds it whole.
    OversizedPage(usize),
    /// 401 `use_dpop_nonce` with a fresh `DPoP-Nonce`, whatever the proof carries: Okta
    /// rotated its resource nonce (the proofs after it must carry the new one when
    /// `nonce_on_logs` is on).
    NewDpopNonce,
}

impl Failure {
    /// Whether this answer goes out even when the rate limit is used up.
    pub(crate) fn ignores_rate_limit(&self) -> bool {
        matches!(self, Failure::QueryTimeout | Failure::Status(_))
    }

    /// The answer that replaces the normal one, for the failures that do
    /// (before auth is checked).
    pub(crate) fn replacement(&self) -> Option<Reply> {
        match self {
            Failure::QueryTimeout => {
                Some(Reply::error(500, "E0000009", "Internal Server Error", &[]))
            }
            Failure::TooManyRequests => {
                // Reported as used up, but only this request is refused: the
                // budget itself is left alone so the next request goes through.
                let mut reply = Reply::too_many();
                reply.exhausted = true;
                Some(reply)
            }
            Failure::Status(s) => Some(Reply::for_status(*s)),
            Failure::TooManyRequestsBare => Some(Reply::too_many()),
            _ => None,
        }
    }

    /// Spoils a 200 page for the failures that only alter one.
    pub(crate) fn alter_page(&self, page: &mut Page, base_url: &str) {
        match self {
            Failure::BrokenJson => {
                // Never the whole page, so even `[]` becomes `[`.
                page.body
                    .truncate(BROKEN_JSON_BYTES.min(page.body.len() - 1));
                page.returned = 0;
            }
            Failure::OversizedPage(padding) => page.padding = *padding,
            Failure::ForeignNext => {
                let target = page.next.as_deref().unwrap_or(&page.self_url);
                let path = target.strip_prefix(base_url).unwrap_or(target);
                page.next = Some(format!("{FOREIGN_ORIGIN}{path}"));
            }
            _ => {}
        }
    }
}

impl Reply {
    /// An Okta error body: code, summary, a fresh `errorId` and the causes.
    pub(crate) fn error(status: u16, code: &str, summary: &str, causes: &[String]) -> Reply {
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
        Reply::new(status, body.to_string().into_bytes())
    }

    /// 401 `E0000011`, for a missing, unknown, expired or revoked token.
    pub(crate) fn invalid_token() -> Reply {
        Reply::for_status(401)
    }

    /// 403 `E0000006`, for a valid token whose holder lacks the permission.
    pub(crate) fn forbidden() -> Reply {
        Reply::for_status(403)
    }

    /// 400 `E0000001` for one query parameter.
    pub(crate) fn bad_param(param: &str, why: &str) -> Reply {
        Reply::error(
            400,
            "E0000001",
            &format!("Api validation failed: {param}"),
            &[format!("{param}: {why}")],
        )
    }

    /// 429 `E0000047`.
    pub(crate) fn too_many() -> Reply {
        Reply::error(
            429,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            &[],
        )
    }

    /// The Okta error code and summary for a status: a scripted [`Failure::Status`], and
    /// the fake's own 401 and 403.
    pub(crate) fn for_status(status: u16) -> Reply {
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
