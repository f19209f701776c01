//! An Okta System Log event as it arrives: the raw JSON plus the two fields that decide anything.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

mod scan;

/// Every Okta partner event source starts with this.
pub const OKTA_SOURCE_PREFIX: &str = "aws.partner/okta.com/";

/// One Okta LogEvent, borrowed from the text it came in, ready to forward byte for byte.
#[derive(Debug, Clone)]
pub struct OktaEvent<'a> {
    /// Okta's unique event id: the deduplication key.
    pub uuid: Cow<'a, str>,
    /// When the event happened, per Okta.
    pub published: OffsetDateTime,
    /// The LogEvent exactly as Okta sent it: valid JSON text (serde_json or
    /// [`crate::json_scan`] read it whole).
    pub raw: &'a str,
    /// `severity` (DEBUG, INFO, WARN, ERROR) when it is a string, for platforms that map it.
    pub severity: Option<Cow<'a, str>>,
    /// `eventType` when it is a plain string, for `EVENT_TYPES_INCLUDE` / `_EXCLUDE`.
    pub event_type: Option<Cow<'a, str>>,
    /// The org's subdomain, from the partner event source an envelope came from (push).
    pub org: Option<Cow<'a, str>>,
    /// A directory record rather than a System Log event: `EVENT_TYPES_INCLUDE` /
    /// `EVENT_TYPES_EXCLUDE` do not apply (it has no `eventType`), and its uuid is the
    /// record's ledger key.
    pub directory: bool,
}

impl<'a> OktaEvent<'a> {
    /// The LogEvent's JSON text, unchanged.
    pub fn json(&self) -> &'a str {
        self.raw
    }

    /// The LogEvent on one line: unchanged, unless Okta (or a proxy) sent it pretty-printed,
    /// in which case the whitespace between tokens is removed (same value, same key order,
    /// every string byte for byte), so that line-framed bodies and dead letters stay one
    /// document per line.
    pub fn one_line(&self) -> Cow<'a, str> {
        compact_json(self.raw)
    }

    /// Reads a bare LogEvent (as the System Log API returns it, or as `detail`).
    pub fn from_raw(raw: &'a RawValue) -> Result<Self, Malformed> {
        let text = raw.get();
        if !text.starts_with('{') {
            return Err(Malformed::new("detail is not a JSON object"));
        }
        // The text is valid JSON (serde_json made the RawValue): one quick pass finds the four
        // members; where it cannot decide, serde_json reads them (same answers either way).
        let parts = match scan::parts(text) {
            Some(parts) => parts,
            None => serde_parts(text)?,
        };
        Self::from_parts(text, parts)
    }

    /// The event whose text (a JSON object) is `text` and whose members are `parts`.
    fn from_parts(text: &'a str, parts: Parts<'a>) -> Result<Self, Malformed> {
        let (uuid, published, severity, event_type) = parts;
        let uuid = match uuid {
            Some(u) => plausible_uuid(u)?,
            None => return Err(Malformed::new("detail.uuid is missing")),
        };
        let published = published.ok_or_else(|| Malformed::new("detail.published is missing"))?;
        let published = OffsetDateTime::parse(&published, &Rfc3339).map_err(|_| {
            Malformed::new(format!(
                "detail.published {published:?} is not an RFC 3339 timestamp"
            ))
        })?;
        Ok(OktaEvent {
            uuid,
            published,
            raw: text,
            severity,
            event_type,
            org: None,
            directory: false,
        })
    }

    /// Reads an EventBridge envelope from Okta Log Streaming and unwraps its `detail`: in one
    /// validating pass ([`scan::envelope`]), or with serde_json where that pass cannot tell
    /// (same answers either way).
    pub fn from_envelope(text: &'a str) -> Result<Self, Malformed> {
        if let Some((source, detail, parts)) = scan::envelope(text) {
            let source = source.map(Cow::Borrowed);
            okta_source(source.as_deref())?;
            let mut event = Self::from_parts(detail, parts)?;
            event.org = source.and_then(org_of_source);
            return Ok(event);
        }
        Self::from_envelope_by_serde(text)
    }

    /// [`OktaEvent::from_envelope`] as serde_json reads it.
    fn from_envelope_by_serde(text: &'a str) -> Result<Self, Malformed> {
        #[derive(Deserialize)]
        struct Envelope<'b> {
            #[serde(borrow)]
            source: Option<Cow<'b, str>>,
            #[serde(borrow)]
            detail: Option<&'b RawValue>,
        }
        let envelope: Envelope = serde_json::from_str(text)
            .map_err(|e| Malformed::new(format!("not an EventBridge event: {e}")))?;
        okta_source(envelope.source.as_deref())?;
        let detail = envelope
            .detail
            .ok_or_else(|| Malformed::new("detail is missing"))?;
        let mut event = Self::from_raw(detail)?;
        event.org = envelope.source.and_then(|source| org_of_source(source));
        Ok(event)
    }

    /// Seconds between `published` and `now`; negative for events stamped in the future.
    pub fn age(&self, now: OffsetDateTime) -> time::Duration {
        now - self.published
    }
}

/// `uuid`, `published`, and `severity` and `eventType` when they are plain strings.
type Parts<'t> = (
    Option<Cow<'t, str>>,
    Option<Cow<'t, str>>,
    Option<Cow<'t, str>>,
    Option<Cow<'t, str>>,
);

/// The [`Parts`] of a LogEvent's text as serde_json reads them.
fn serde_parts(text: &str) -> Result<Parts<'_>, Malformed> {
    #[derive(Deserialize)]
    struct Fields<'b> {
        #[serde(borrow)]
        uuid: Option<Cow<'b, str>>,
        #[serde(borrow)]
        published: Option<Cow<'b, str>>,
        // Borrowed as raw JSON: any type is accepted (a severity that is not a plain
        // string is simply not mapped), and nothing is allocated.
        #[serde(borrow, default)]
        severity: Option<&'b RawValue>,
        #[serde(borrow, default, rename = "eventType")]
        event_type: Option<&'b RawValue>,
    }
    // Only the fields used are typed; any other field may hold anything (OKTA.md).
    let fields: Fields = serde_json::from_str(text).map_err(|e| {
        Malformed::new(format!(
            "detail.uuid or detail.published is not a string ({e})"
        ))
    })?;
    Ok((
        fields.uuid,
        fields.published,
        fields.severity.and_then(plain_string),
        fields.event_type.and_then(plain_string),
    ))
}

/// A JSON string without escapes, borrowed as it is (anything else is not used).
fn plain_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    scan::plain_text(raw.get())
}

/// Refuses an envelope whose `source` is not an Okta partner event source.
fn okta_source(source: Option<&str>) -> Result<(), Malformed> {
    match source {
        Some(s) if s.starts_with(OKTA_SOURCE_PREFIX) => Ok(()),
        Some(s) => Err(Malformed::new(format!(
            "source {s:?} is not an Okta partner event source ({OKTA_SOURCE_PREFIX}...)"
        ))),
        None => Err(Malformed::new("source is missing")),
    }
}

/// `acme` of `aws.partner/okta.com/acme/okta-ingest-prod`.
fn org_of_source(source: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let org_of = |s: &str| -> Option<(usize, usize)> {
        let rest = s.strip_prefix(OKTA_SOURCE_PREFIX)?;
        let end = rest.find('/').unwrap_or(rest.len());
        let start = OKTA_SOURCE_PREFIX.len();
        (end > 0).then_some((start, start + end))
    };
    let (start, end) = org_of(&source)?;
    Some(match source {
        Cow::Borrowed(s) => Cow::Borrowed(&s[start..end]),
        Cow::Owned(s) => Cow::Owned(s[start..end].to_owned()),
    })
}

/// Why an input could not be read as an Okta event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Okta event: {reason}")]
pub struct Malformed {
    /// What was wrong, naming the field.
    pub reason: String,
}

impl Malformed {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Malformed {
            reason: reason.into(),
        }
    }
}

/// `text` (valid JSON) without line breaks: whitespace outside strings removed when there is
/// any line break, otherwise `text` itself. Inside a JSON string a line break is always
/// escaped, so every raw line break is insignificant whitespace.
pub fn compact_json(text: &str) -> Cow<'_, str> {
    if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `published` in Okta's own form, `2023-05-30T14:17:58.126Z`.
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Longest uuid taken: Okta's are 36 characters; DynamoDB refuses keys over 2,048 bytes
/// (and with them the whole request they came in).
pub const MAX_UUID_BYTES: usize = 128;

/// `uuid` if it can be an Okta event's id and a ledger key: not empty, at most
/// [`MAX_UUID_BYTES`], no control characters.
fn plausible_uuid(uuid: Cow<'_, str>) -> Result<Cow<'_, str>, Malformed> {
    if uuid.trim().is_empty() {
        return Err(Malformed::new("detail.uuid is empty"));
    }
    if uuid.len() > MAX_UUID_BYTES {
        return Err(Malformed::new(format!(
            "detail.uuid is {} bytes, more than an Okta uuid can be ({MAX_UUID_BYTES})",
            uuid.len()
        )));
    }
    if uuid.chars().any(char::is_control) {
        return Err(Malformed::new(
            "detail.uuid holds control characters, which no Okta uuid does",
        ));
    }
    Ok(uuid)
}

#[cfg(test)]
mod tests;
