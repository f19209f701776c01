//! Quick passes over JSON whose shape is known, for the push hot path: members and elements
//! found, every value validated as strictly as serde_json ([`valid_value`]) or unescaped, in
//! one pass and without building values. Each caller answers `None` wherever the quick pass
//! cannot decide exactly as serde_json would, and serde_json then reads the input (so both
//! ways give the same answer for every input).

/// The index of the first byte at or after `i` that is not JSON whitespace.
pub(crate) fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Bytes a string scan must stop at: the quote, the backslash, and control characters
/// (which end the quick pass: serde_json refuses them).
const STOP: [bool; 256] = {
    let mut stop = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        stop[b] = true;
        b += 1;
    }
    stop[b'"' as usize] = true;
    stop[b'\\' as usize] = true;
    stop
};

/// The index of the first byte at or after `i` that a string scan stops at, if any: eight
/// bytes a step ([`stops`]), the last few one by one.
fn next_stop(bytes: &[u8], mut i: usize) -> Option<usize> {
    while let Some(word) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let found = stops(u64::from_le_bytes(*word));
        if found != 0 {
            return Some(i + first_flagged(found));
        }
        i += 8;
    }
    let rest = bytes.get(i..)?;
    rest.iter()
        .position(|&b| STOP[usize::from(b)])
        .map(|n| i + n)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Eight bytes (read little-endian) with the high bit set in the first byte a string scan
/// stops at ([`STOP`]); zero when none does. Only the lowest flagged byte counts: a borrow
/// can flag bytes above it wrongly, never below. Portable arithmetic (no intrinsics, no
/// `unsafe`), so Lambda's arm64 runs what is measured here.
fn stops(word: u64) -> u64 {
    let zero_byte = |w: u64| w.wrapping_sub(ONES) & !w;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (quote | backslash | control) & HIGH
}

/// The index, within its eight bytes, of the lowest byte [`stops`] flagged.
fn first_flagged(found: u64) -> usize {
    (found.trailing_zeros() / 8) as usize
}

/// Walks the object that opens at `start`: for each member, `value(name, value_start)` reads
/// the value and answers the index just past it. `None` for a name that is not a valid JSON
/// string, a name with an escape (serde would unescape it) or anything out of shape. Answers
/// the index just past the object.
pub(crate) fn object(
    bytes: &[u8],
    start: usize,
    value: impl FnMut(&[u8], usize) -> Option<usize>,
) -> Option<usize> {
    walk_object(bytes, start, false, value)
}

/// [`object`], or with `escaped_names` names with escapes allowed too (where names are not
/// compared, only validated). Every name is checked as a JSON string.
fn walk_object(
    bytes: &[u8],
    start: usize,
    escaped_names: bool,
    mut value: impl FnMut(&[u8], usize) -> Option<usize>,
) -> Option<usize> {
    if bytes.get(start) != Some(&b'{') {
        return None;
    }
    let mut i = skip_ws(bytes, start + 1);
    if bytes.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        let name_end = valid_string(bytes, i)?;
        let name = bytes.get(i + 1..name_end - 1)?;
        if !escaped_names && name.contains(&b'\\') {
            return None;
        }
        i = skip_ws(bytes, name_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        let end = value(name, skip_ws(bytes, i + 1))?;
        i = skip_ws(bytes, end);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b'}') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Walks the array that opens at `start`: `element(element_start)` reads each element and
/// answers the index just past it. Answers the index just past the array.
pub(crate) fn array(
    bytes: &[u8],
    start: usize,
    mut element: impl FnMut(usize) -> Option<usize>,
) -> Option<usize> {
    if bytes.get(start) != Some(&b'[') {
        return None;
    }
    let mut i = skip_ws(bytes, start + 1);
    if bytes.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        i = skip_ws(bytes, element(i)?);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b']') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Deepest nesting [`valid_value`] follows (serde_json refuses past 128).
const MAX_DEPTH: usize = 100;

/// The index just past the value that starts at `start` when it is valid JSON, read as
/// strictly as serde_json reads it (strings, escapes, numbers, literals, nesting); `None`
/// for anything invalid, and also for what serde_json might read otherwise (a `\u` escape in
/// the surrogate range, nesting past [`MAX_DEPTH`]). `bytes` is UTF-8.
pub(crate) fn valid_value(bytes: &[u8], start: usize) -> Option<usize> {
    valid_at(bytes, start, 0)
}

fn valid_at(bytes: &[u8], start: usize, depth: usize) -> Option<usize> {
    match *bytes.get(start)? {
        b'"' => valid_string(bytes, start),
        b'{' if depth < MAX_DEPTH => {
            walk_object(bytes, start, true, |_, at| valid_at(bytes, at, depth + 1))
        }
        b'[' if depth < MAX_DEPTH => array(bytes, start, |at| valid_at(bytes, at, depth + 1)),
        b't' => literal(bytes, start, b"true"),
        b'f' => literal(bytes, start, b"false"),
        b'n' => literal(bytes, start, b"null"),
        b'-' | b'0'..=b'9' => number(bytes, start),
        _ => None,
    }
}

/// The index just past the valid string that opens at `start`.
pub(crate) fn valid_string(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.get(start) != Some(&b'"') {
        return None;
    }
    let mut i = start + 1;
    loop {
        i = next_stop(bytes, i)?;
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\\' => match *bytes.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    let code = hex4(bytes.get(i + 2..i + 6)?)?;
                    if (0xd800..=0xdfff).contains(&code) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            },
            _ => return None,
        }
    }
}

fn literal(bytes: &[u8], start: usize, word: &[u8]) -> Option<usize> {
    (bytes.get(start..start + word.len())? == word).then_some(start + word.len())
}

/// The index just past the number at `start`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn number(bytes: &[u8], start: usize) -> Option<usize> {
    let digits = |from: usize| {
        let n = bytes.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        });
        (n > 0).then_some(from + n)
    };
    let mut i = start;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match bytes.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(i)?,
        _ => return None,
    };
    if bytes.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(i)
}

/// The string that opens at `start`, unescaped, and the index just past it; `None` where
/// serde_json would refuse it or read it differently: a control character, an unknown
/// escape, a lone surrogate, text that is not UTF-8.
/// `room` is what to reserve for the text (a guess; it grows if needed).
pub(crate) fn unescape(bytes: &[u8], start: usize, room: usize) -> Option<(String, usize)> {
    if bytes.get(start) != Some(&b'"') {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(room);
    let mut i = start + 1;
    loop {
        // Eight bytes a step, all copied, then the copy cut back to the first stop (a fixed
        // eight-byte copy, where copying each run between escapes was a call each).
        if let Some(word) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
            let found = stops(u64::from_le_bytes(*word));
            out.extend_from_slice(word);
            if found == 0 {
                i += 8;
                continue;
            }
            let plain = first_flagged(found);
            out.truncate(out.len() - (8 - plain));
            i += plain;
        }
        let b = *bytes.get(i)?;
        if !STOP[usize::from(b)] {
            out.push(b);
            i += 1;
            continue;
        }
        match b {
            b'"' => return Some((String::from_utf8(out).ok()?, i + 1)),
            b'\\' => {
                let next = *bytes.get(i + 1)?;
                match ESCAPED[usize::from(next)] {
                    0 if next == b'u' => {
                        let (c, used) = unicode_escape(bytes, i)?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        i += used;
                    }
                    0 => return None,
                    // A table, not a `match`: the bodies escape every quote, and the jump
                    // table a `match` compiles to mispredicted.
                    escaped => {
                        out.push(escaped);
                        i += 2;
                    }
                }
            }
            _ => return None,
        }
    }
}

/// What each one-character escape stands for (`\"` is `"`), 0 for the others.
const ESCAPED: [u8; 256] = {
    let mut escaped = [0u8; 256];
    escaped[b'"' as usize] = b'"';
    escaped[b'\\' as usize] = b'\\';
    escaped[b'/' as usize] = b'/';
    escaped[b'b' as usize] = 0x08;
    escaped[b'f' as usize] = 0x0c;
    escaped[b'n' as usize] = b'\n';
    escaped[b'r' as usize] = b'\r';
    escaped[b't' as usize] = b'\t';
    escaped
};

/// The character of the `\uXXXX` escape at `i` (a surrogate pair is two escapes), and how
/// many bytes it took.
fn unicode_escape(bytes: &[u8], i: usize) -> Option<(char, usize)> {
    let first = hex4(bytes.get(i + 2..i + 6)?)?;
    match first {
        0xd800..=0xdbff => {
            if bytes.get(i + 6..i + 8)? != b"\\u" {
                return None;
            }
            let second = hex4(bytes.get(i + 8..i + 12)?)?;
            if !(0xdc00..=0xdfff).contains(&second) {
                return None;
            }
            let code = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
            Some((char::from_u32(code)?, 12))
        }
        0xdc00..=0xdfff => None,
        _ => Some((char::from_u32(first)?, 6)),
    }
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some(n * 16 + v)
    })
}

#[cfg(test)]
pub(crate) mod tests;
