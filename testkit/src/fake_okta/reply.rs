//! One answer from the fake, and how it goes on the wire with the headers every answer carries.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::paging::link_lines;

/// IMF-fixdate, the `Date` header format (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(crate) const HTTP_DATE: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// One answer before the common headers are added.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// `(url, rel)` pairs for the `Link` header(s).
    pub(crate) links: Vec<(String, &'static str)>,
    pub(crate) returned: usize,
    /// Report `X-Rate-Limit-Remaining: 0` whatever the budget says.
    pub(crate) exhausted: bool,
    /// Headers of this answer alone (`WWW-Authenticate`, `DPoP-Nonce`, ...), set last.
    pub(crate) headers: Vec<(HeaderName, String)>,
    /// Bytes of whitespace streamed after the body's first byte, a chunk at a time and never
    /// held whole: a page of any size that is still the same JSON.
    pub(crate) padding: usize,
}

/// What the common headers say, read under the same lock as the answer.
pub(crate) struct Common {
    /// The fake clock when the answer was decided, for `Date`.
    pub(crate) fake_now: OffsetDateTime,
    /// From [`RateLimit::headers`](super::rate_limit::RateLimit::headers).
    pub(crate) rate: Vec<(HeaderName, String)>,
    /// Both relations in one `Link` header.
    pub(crate) combined_link: bool,
    /// `Link` targets relative to the org, with unquoted `rel` and a quoted title.
    pub(crate) relative_links: bool,
}

impl Reply {
    /// `status` with a JSON `body`, no links and no headers of its own.
    pub(crate) fn new(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            links: Vec::new(),
            returned: 0,
            exhausted: false,
            headers: Vec::new(),
            padding: 0,
        }
    }

    /// The same answer with one more header.
    pub(crate) fn with_header(mut self, name: HeaderName, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The status that goes out (and is recorded): a scripted status that is
    /// not a valid code becomes 500.
    pub(crate) fn http_status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The HTTP response: `status`, the body, JSON content type, `Date`, the
    /// rate-limit headers, the `Link` header(s) and the answer's own headers.
    pub(crate) fn into_response(self, status: StatusCode, common: Common) -> Response {
        let mut response = if self.padding == 0 {
            (status, self.body).into_response()
        } else {
            (status, padded(self.body, self.padding)).into_response()
        };
        let h = response.headers_mut();
        let date = common
            .fake_now
            .to_offset(UtcOffset::UTC)
            .format(HTTP_DATE)
            .unwrap_or_default();
        set(h, header::CONTENT_TYPE, "application/json".to_string());
        set(h, header::DATE, date);
        for (name, value) in common.rate {
            set(h, name, value);
        }
        for line in link_lines(&self.links, common.combined_link, common.relative_links) {
            if let Ok(v) = HeaderValue::from_str(&line) {
                // Appended: one header line per relation must survive.
                h.append(header::LINK, v);
            }
        }
        for (name, value) in self.headers {
            set(h, name, value);
        }
        response
    }
}

/// `body` with `padding` spaces after its first byte, as a stream of chunks.
fn padded(body: Vec<u8>, padding: usize) -> Body {
    const CHUNK: usize = 64 * 1024;
    let mut body = Bytes::from(body);
    let rest = body.split_off(body.len().min(1));
    let spaces = Bytes::from(vec![b' '; CHUNK]);
    let chunks = std::iter::once(body)
        .chain((0..padding / CHUNK).map(move |_| spaces.clone()))
        .chain(std::iter::once(Bytes::from(vec![b' '; padding % CHUNK])))
        .chain(std::iter::once(rest))
        .map(Ok::<_, std::convert::Infallible>);
    Body::from_stream(futures::stream::iter(chunks))
}

/// Sets one header, skipping a value that is not valid in a header.
fn set(h: &mut HeaderMap, name: HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        // Inserted over axum's octet-stream type; hyper keeps our `Date`.
        h.insert(name, v);
    }
}
