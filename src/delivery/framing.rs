//! How items are joined into one request body (a JSON array or lines), optionally gzipped.

/// How items are joined into a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `[item,item]`
    JsonArray,
    /// `item\nitem\n`
    Lines,
}

impl Framing {
    /// Bytes the framing adds around one item of a batch.
    pub fn per_event_overhead(self) -> usize {
        1 // a comma or a newline
    }

    /// Bytes the framing adds to a batch as a whole.
    pub fn per_batch_overhead(self) -> usize {
        match self {
            Framing::JsonArray => 2,
            Framing::Lines => 0,
        }
    }

    /// Uncompressed body size of items of these sizes (an upper bound by one byte).
    pub fn body_len(self, item_lens: impl Iterator<Item = usize>) -> usize {
        self.per_batch_overhead()
            + item_lens
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
    /// Items in the body, in order.
    pub items: usize,
    /// The org label of the body's events, for platforms that name it in a header.
    pub org: Option<String>,
}

/// Joins `items` (each a complete JSON text, or for `_bulk` an action and document pair)
/// with `framing`, compressing when asked.
pub fn encode<'a>(
    framing: Framing,
    content_type: &'static str,
    gzip: bool,
    items: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
) -> Body {
    let count = items.len();
    let len = framing.body_len(items.clone().map(<[u8]>::len));
    let mut plain = Vec::with_capacity(len);
    match framing {
        Framing::JsonArray => {
            plain.push(b'[');
            for (i, item) in items.enumerate() {
                if i > 0 {
                    plain.push(b',');
                }
                plain.extend_from_slice(item);
            }
            plain.push(b']');
        }
        Framing::Lines => {
            for item in items {
                plain.extend_from_slice(item);
                plain.push(b'\n');
            }
        }
    }
    let uncompressed_len = plain.len();
    let bytes = if gzip {
        crate::gzip::compress(&plain)
    } else {
        plain
    };
    Body {
        bytes: bytes.into(),
        uncompressed_len,
        gzip,
        content_type,
        items: count,
        org: None,
    }
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

    fn items(texts: &[&'static str]) -> Vec<&'static [u8]> {
        texts.iter().map(|t| t.as_bytes()).collect()
    }

    #[test]
    fn json_array_joins_items_verbatim() {
        let events = items(&[r#"{"a":1.50}"#, r#"{"b":"\u00e9"}"#]);
        let body = encode(
            Framing::JsonArray,
            "application/json",
            false,
            events.iter().copied(),
        );
        assert_eq!(&body.bytes[..], br#"[{"a":1.50},{"b":"\u00e9"}]"#);
        assert_eq!(body.uncompressed_len, body.bytes.len());
        assert_eq!(body.items, 2);
        assert_eq!(
            Framing::JsonArray.body_len(events.iter().map(|e| e.len())),
            body.bytes.len() + 1,
            "the estimate counts one separator per item, so it never undercounts"
        );
    }

    #[test]
    fn lines_end_every_item_with_a_newline() {
        let events = items(&["{\"a\":1}", "{\"b\":2}"]);
        let body = encode(
            Framing::Lines,
            "application/x-ndjson",
            false,
            events.iter().copied(),
        );
        assert_eq!(&body.bytes[..], b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(body.content_type, "application/x-ndjson");
    }

    #[test]
    fn gzip_round_trips_to_the_same_bytes() {
        let events = vec![r#"{"uuid":"x","n":1}"#.as_bytes(); 100];
        let plain = encode(
            Framing::JsonArray,
            "application/json",
            false,
            events.iter().copied(),
        );
        let gz = encode(
            Framing::JsonArray,
            "application/json",
            true,
            events.iter().copied(),
        );
        assert!(gz.bytes.len() < plain.bytes.len() / 5);
        assert_eq!(gunzip(&gz.bytes), plain.bytes.to_vec());
        assert_eq!(gz.uncompressed_len, plain.bytes.len());
    }
}
