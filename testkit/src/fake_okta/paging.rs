//! Paging `/api/v1/logs`: query parsing, polling and bounded pages, opaque cursors and `Link` headers.

use axum::http::Uri;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::reply::Reply;
use super::Inner;

/// The one path the fake serves.
pub(crate) const LOGS_PATH: &str = "/api/v1/logs";
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Okta's default lower bound when a request has no `since`.
const DEFAULT_SINCE_AGO: time::Duration = time::Duration::minutes(15);

/// Cursor kinds: polling cursors hold a persistence index, bounded ones an
/// offset into the published-ordered result, and neither is accepted for the other.
pub(crate) const POLLING_CURSOR: char = '1';
pub(crate) const BOUNDED_CURSOR: char = '2';
/// Mixed into cursors so they do not read as plain numbers: clients must treat
/// them as opaque, and a test that builds one by hand should fail.
const CURSOR_MASK: u64 = 0x5a17_c0de_0b5c;
const CURSOR_DIGITS: usize = 12;

/// The parsed query of a `/api/v1/logs` request.
pub(crate) struct Params {
    limit: usize,
    sort_order: Option<String>,
    since: Option<(String, OffsetDateTime)>,
    until: Option<(String, OffsetDateTime)>,
    after: Option<String>,
}

/// A 200 page before any scripted alteration.
pub(crate) struct Page {
    /// The JSON array of the page's events.
    pub(crate) body: Vec<u8>,
    /// How many events `body` holds.
    pub(crate) returned: usize,
    /// The request URL, the `self` link.
    pub(crate) self_url: String,
    /// The `next` link, if any.
    pub(crate) next: Option<String>,
    /// Bytes of whitespace streamed after the body's `[` (see [`Reply::padding`]).
    pub(crate) padding: usize,
}

impl Page {
    /// The 200 answer with `self` and, if any, `next` links.
    pub(crate) fn into_reply(self) -> Reply {
        let mut links = vec![(self.self_url, "self")];
        links.extend(self.next.map(|n| (n, "next")));
        Reply {
            links,
            returned: self.returned,
            padding: self.padding,
            ..Reply::new(200, self.body)
        }
    }
}

/// Validates the query as Okta would (400 `E0000001` for a bad parameter).
pub(crate) fn parse_params(query: &[(String, String)]) -> Result<Params, Reply> {
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
    /// The page for a request to `uri`: bounded when it has `until`, polling otherwise.
    pub(crate) fn page(
        &self,
        base_url: &str,
        uri: &Uri,
        params: &Params,
        fake_now: OffsetDateTime,
    ) -> Result<Page, Reply> {
        let self_url = format!(
            "{base_url}{}",
            uri.path_and_query().map_or(LOGS_PATH, |p| p.as_str())
        );
        let (indices, next) = if params.until.is_some() {
            self.bounded_page(base_url, params, fake_now)
        } else {
            self.polling_page(base_url, params, &self_url, fake_now)
        }?;
        let items: Vec<&str> = indices
            .iter()
            .map(|&i| self.events[i].json.as_str())
            .collect();
        Ok(Page {
            body: format!("[{}]", items.join(",")).into_bytes(),
            returned: items.len(),
            self_url,
            next,
            padding: 0,
        })
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

/// The `Link` header values for `(url, rel)` pairs: one per relation, or
/// one comma-separated value when `combined`. With `relative`, as RFC 8288 also allows:
/// targets relative to the org, a quoted title holding a comma, and `rel` unquoted.
pub(crate) fn link_lines(
    links: &[(String, &'static str)],
    combined: bool,
    relative: bool,
) -> Vec<String> {
    let links: Vec<String> = links
        .iter()
        .map(|(url, rel)| match (relative, url.find("/api/")) {
            (true, Some(path)) => {
                format!("<{}>; title=\"page, {rel}\"; rel={rel}", &url[path..])
            }
            _ => format!("<{url}>; rel=\"{rel}\""),
        })
        .collect();
    if combined && !links.is_empty() {
        vec![links.join(", ")]
    } else {
        links
    }
}

fn cursor_check(body: &str) -> char {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let sum: usize = body.bytes().map(usize::from).sum();
    char::from(DIGITS[sum % DIGITS.len()])
}

/// `kind`, 12 masked hex digits and a check character.
pub(crate) fn encode_cursor(kind: char, value: u64) -> String {
    let body = format!(
        "{kind}{:0width$x}",
        value ^ CURSOR_MASK,
        width = CURSOR_DIGITS
    );
    let check = cursor_check(&body);
    format!("{body}{check}")
}

/// The value in a cursor of `kind`; `None` for any other kind or a tampered cursor.
pub(crate) fn decode_cursor(kind: char, cursor: &str) -> Option<u64> {
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
pub(crate) fn encode_component(s: &str) -> String {
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
pub(crate) fn decode_component(s: &str) -> String {
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

/// The query string's `(name, value)` pairs, decoded, in order.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(n), decode_component(v))
        })
        .collect()
}
