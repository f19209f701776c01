//! Just enough DER to take a PKCS#8 key apart and write PKCS#1 and SEC1 keys: tag-length-value in both directions.

/// `INTEGER`.
pub(super) const INTEGER: u8 = 0x02;
/// `BIT STRING`.
pub(super) const BIT_STRING: u8 = 0x03;
/// `OCTET STRING`.
pub(super) const OCTET_STRING: u8 = 0x04;
/// `OBJECT IDENTIFIER`.
pub(super) const OID: u8 = 0x06;
/// `SEQUENCE` (constructed).
pub(super) const SEQUENCE: u8 = 0x30;
/// `[0]` explicit (constructed, context-specific).
pub(super) const CONTEXT_0: u8 = 0xa0;
/// `[1]` explicit (constructed, context-specific).
pub(super) const CONTEXT_1: u8 = 0xa1;

/// One element read off the front of `input`: `(tag, content, rest)`.
///
/// Only single-byte tags and definite lengths, which is all DER has for keys.
pub(super) fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, input) = input.split_first()?;
    let (len, input) = if first < 0x80 {
        (usize::from(first), input)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > std::mem::size_of::<usize>() || input.len() < octets {
            return None;
        }
        let (len_bytes, rest) = input.split_at(octets);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if input.len() < len {
        return None;
    }
    let (content, rest) = input.split_at(len);
    Some((tag, content, rest))
}

/// The elements of a constructed value's content, in order.
pub(super) fn elements(mut content: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, value, rest) = read(content)?;
        out.push((tag, value));
        content = rest;
    }
    Some(out)
}

/// The content of the one element of `input` if it has `tag` and nothing follows it.
pub(super) fn only(tag: u8, input: &[u8]) -> Option<&[u8]> {
    match read(input)? {
        (t, content, []) if t == tag => Some(content),
        _ => None,
    }
}

/// An `INTEGER`'s content as an unsigned big-endian number without leading zeros.
pub(super) fn unsigned(content: &[u8]) -> &[u8] {
    let zeros = content.iter().take_while(|&&b| b == 0).count();
    // Zero itself keeps one octet.
    &content[zeros.min(content.len().saturating_sub(1))..]
}

/// One element: `tag`, the DER length, `content`.
pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A `SEQUENCE` of already encoded elements.
pub(super) fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// An `INTEGER` holding the unsigned big-endian `value` (a zero octet added when the top bit is set).
pub(super) fn integer(value: &[u8]) -> Vec<u8> {
    let value = unsigned(value);
    if value.first().is_none_or(|&b| b & 0x80 != 0) {
        let mut padded = vec![0];
        padded.extend_from_slice(value);
        tlv(INTEGER, &padded)
    } else {
        tlv(INTEGER, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reading_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some((_, content, rest)) = read(&bytes) {
                prop_assert!(content.len() + rest.len() < bytes.len());
            }
            let _ = elements(&bytes);
        }
    }

    #[test]
    fn lengths_round_trip_in_short_and_long_form() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let encoded = tlv(OCTET_STRING, &content);
            let (tag, read_back, rest) = read(&encoded).unwrap();
            assert_eq!(
                (tag, read_back, rest),
                (OCTET_STRING, &content[..], &[][..])
            );
        }
        assert_eq!(tlv(OCTET_STRING, &[0; 128])[..3], [0x04, 0x81, 0x80]);
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(integer(&[0, 0, 1]), [0x02, 0x01, 0x01]);
        assert_eq!(integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(integer(&[0]), [0x02, 0x01, 0x00]);
        assert_eq!(unsigned(&[0x00, 0x80]), [0x80]);
    }

    #[test]
    fn truncated_or_overlong_input_is_refused() {
        assert!(read(&[0x04, 0x02, 0x01]).is_none());
        assert!(read(&[0x04, 0x80]).is_none());
        assert!(read(&[0x04, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1]).is_none());
        assert!(only(SEQUENCE, &[0x30, 0x00, 0x00]).is_none());
        assert!(elements(&[0x02, 0x05, 0x01]).is_none());
    }
}
