//! Turning a batch of raw events into one request body: JSON array or NDJSON, optionally gzipped.

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

/// gzip level for request bodies. Level 1 still compresses varied Okta events about 10:1
/// (`make bench`) at roughly twice the speed of level 6, and the Lambda is billed by the
/// millisecond.
pub const GZIP_LEVEL: u32 = 1;

/// The body layout a destination expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `[event,event,...]`
    Json,
    /// `event\nevent\n...`
    Ndjson,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "ndjson" => Ok(Format::Ndjson),
            other => Err(format!(
                "{other:?} is not a known format; expected json or ndjson"
            )),
        }
    }
}

impl Format {
    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    /// Bytes the framing adds around one event of a batch.
    pub fn per_event_overhead(self) -> usize {
        1 // a comma or a newline
    }

    /// Bytes the framing adds to a batch as a whole.
    pub fn per_batch_overhead(self) -> usize {
        match self {
            Format::Json => 2,
            Format::Ndjson => 0,
        }
    }

    /// Uncompressed body size of events of these sizes.
    pub fn body_len(self, event_lens: impl Iterator<Item = usize>) -> usize {
        self.per_batch_overhead()
            + event_lens
                .map(|n| n + self.per_event_overhead())
                .sum::<usize>()
    }
}

/// A request body ready to send.
#[derive(Debug, Clone)]
pub struct Body {
    /// The bytes on the wire.
    pub bytes: bytes::Bytes,
    /// Size before compression.
    pub uncompressed_len: usize,
    /// Whether `bytes` is gzip.
    pub gzip: bool,
    /// `Content-Type` header value.
    pub content_type: &'static str,
}

/// Lays out `events` (each a complete JSON text) in `format`, compressing when asked.
pub fn encode<'a>(
    format: Format,
    gzip: bool,
    events: impl ExactSizeIterator<Item = &'a str> + Clone,
) -> Body {
    let len = format.body_len(events.clone().map(str::len));
    let mut plain = Vec::with_capacity(len);
    write_body(format, events, &mut plain);
    let uncompressed_len = plain.len();
    let bytes = if gzip { gzip_bytes(&plain) } else { plain };
    Body {
        bytes: bytes.into(),
        uncompressed_len,
        gzip,
        content_type: format.content_type(),
    }
}

fn write_body<'a>(format: Format, events: impl Iterator<Item = &'a str>, out: &mut Vec<u8>) {
    match format {
        Format::Json => {
            out.push(b'[');
            for (i, e) in events.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(e.as_bytes());
            }
            out.push(b']');
        }
        Format::Ndjson => {
            for e in events {
                out.extend_from_slice(e.as_bytes());
                out.push(b'\n');
            }
        }
    }
}

/// gzip of `data` at [`GZIP_LEVEL`].
pub fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 6 + 64),
        Compression::new(GZIP_LEVEL),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn json_array_joins_events_verbatim() {
        let events = [r#"{"a":1.50}"#, r#"{"b":"\u00e9"}"#];
        let body = encode(Format::Json, false, events.iter().copied());
        assert_eq!(&body.bytes[..], br#"[{"a":1.50},{"b":"\u00e9"}]"#);
        assert_eq!(body.uncompressed_len, body.bytes.len());
        assert_eq!(
            Format::Json.body_len(events.iter().map(|e| e.len())),
            body.bytes.len() + 1,
            "the estimate counts one separator per event, so it never undercounts"
        );
    }

    #[test]
    fn ndjson_ends_every_event_with_a_newline() {
        let events = ["{\"a\":1}", "{\"b\":2}"];
        let body = encode(Format::Ndjson, false, events.iter().copied());
        assert_eq!(&body.bytes[..], b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(body.content_type, "application/x-ndjson");
    }

    #[test]
    fn gzip_round_trips_to_the_same_bytes() {
        let events = vec![r#"{"uuid":"x","n":1}"#; 100];
        let plain = encode(Format::Json, false, events.iter().copied());
        let gz = encode(Format::Json, true, events.iter().copied());
        assert!(gz.bytes.len() < plain.bytes.len() / 5);
        assert_eq!(gunzip(&gz.bytes), plain.bytes.to_vec());
        assert_eq!(gz.uncompressed_len, plain.bytes.len());
    }
}
