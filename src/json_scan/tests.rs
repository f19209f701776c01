//! The quick passes against serde_json: the same answer wherever they answer.

use super::*;
use proptest::prelude::*;

#[test]
fn unescapes_every_escape_serde_json_knows() {
    let text = r#""a\"b\\c\/d\b\f\n\r\t \u00e9\u0000 \ud83d\ude00 é 😀" tail"#;
    let (out, end) = unescape(text.as_bytes(), 0, 16).unwrap();
    let expected: String = serde_json::from_str(&text[..end]).unwrap();
    assert_eq!(out, expected);
    assert_eq!(&text[end..], " tail");
}

#[test]
fn leaves_to_serde_json_what_it_would_refuse_or_read_otherwise() {
    for text in [
        r#""lone \ud83d here""#,
        r#""lone \ude00""#,
        r#""\x""#,
        "\"tab\tinside\"",
        r#""\u12""#,
        r#""unterminated"#,
        "5",
    ] {
        assert_eq!(unescape(text.as_bytes(), 0, 16), None, "{text}");
    }
    assert_eq!(unescape(b"\"\xff\"", 0, 16), None, "not UTF-8");
}

#[test]
fn walks_objects_and_arrays_and_refuses_what_is_out_of_shape() {
    let text = br#"{ "a" : [1, {"b": "]}"}, "x"] , "c":null}"#;
    let mut names = Vec::new();
    let end = object(text, 0, |name, at| {
        names.push(String::from_utf8_lossy(name).into_owned());
        valid_value(text, at)
    });
    assert_eq!(end, Some(text.len()));
    assert_eq!(names, ["a", "c"]);
    let mut elements = 0;
    assert_eq!(
        array(b"[1, \"2\", [3]]", 0, |at| {
            elements += 1;
            valid_value(b"[1, \"2\", [3]]", at)
        }),
        Some(13)
    );
    assert_eq!(elements, 3);
    for bad in [
        &b"{\"a\" 1}"[..],
        b"{\"a\":1 \"b\":2}",
        b"{\"\\u0061\":1}",
        b"{\"a\":}",
        b"[1 2]",
    ] {
        let walked = if bad[0] == b'{' {
            object(bad, 0, |_, at| valid_value(bad, at))
        } else {
            array(bad, 0, |at| valid_value(bad, at))
        };
        assert_eq!(walked, None, "{}", String::from_utf8_lossy(bad));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn unescape_reads_what_serde_json_reads(
        text in "[ -~\u{e9}\u{1F600}\t\u{0}\u{7f}]{0,40}",
        raw_escapes in proptest::collection::vec(
            prop_oneof![
                Just(r"\ud83d".to_owned()),
                Just(r"\ude00".to_owned()),
                Just(r"\ud83d\ude00".to_owned()),
                Just(r"\u00".to_owned()),
                Just(r"\q".to_owned()),
                "\\\\u[0-9a-fA-F]{4}",
            ],
            0..3,
        ),
    ) {
        // A serialised string (every escape serde_json writes), with raw escapes spliced in.
        let mut token = serde_json::to_string(&text).unwrap_or_default();
        token.pop();
        for e in &raw_escapes {
            token.push_str(e);
        }
        token.push('"');
        let by_serde: Result<String, _> = serde_json::from_str(&token);
        match unescape(token.as_bytes(), 0, 16) {
            Some((quick, end)) => {
                prop_assert_eq!(end, token.len());
                prop_assert_eq!(Ok(quick), by_serde.map_err(|e| e.to_string()));
            }
            // Refused: serde_json refuses it too, or reads a lone surrogate differently.
            None => prop_assert!(
                by_serde.is_err() || raw_escapes.iter().any(|e| e.starts_with(r"\ud") || e.starts_with(r"\uD")),
                "{}", token
            ),
        }
    }
}

#[test]
fn validates_as_strictly_as_serde_json() {
    for valid in [
        r#"{"a":[1,-2.5e+3,0,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"],"b":{}}"#,
        "[]",
        r#""""#,
        "-0.0E-1",
    ] {
        assert_eq!(
            valid_value(valid.as_bytes(), 0),
            Some(valid.len()),
            "{valid}"
        );
    }
    for invalid in [
        "01",
        "-",
        "1.",
        "1e",
        ".5",
        "+1",
        "tru",
        "nul",
        r#""\x""#,
        "\"a\tb\"",
        "[1,]",
        "{,}",
        r#"{"a":1,}"#,
        r#"{"a"}"#,
        "[1 2]",
        r#""\ud83d\ude00""#,
        "NaN",
    ] {
        let end = valid_value(invalid.as_bytes(), 0);
        assert!(end != Some(invalid.len()), "{invalid}: {end:?}");
    }
}

/// Whether `text` is one valid value, with whitespace around it, as [`valid_value`] reads.
fn whole(text: &str) -> bool {
    let bytes = text.as_bytes();
    valid_value(bytes, skip_ws(bytes, 0)).is_some_and(|end| skip_ws(bytes, end) == bytes.len())
}

/// JSON text, and text a few edits away from it.
fn maybe_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
        "[ -~\u{e9}]{0,8}".prop_map(|t| serde_json::to_string(&t).unwrap_or_default()),
        Just(r#""\u00e9\n""#.to_owned()),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(("[a-z]{1,3}", inner), 0..4).prop_map(|m| {
                let members: Vec<String> =
                    m.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
                format!("{{ {} }}", members.join(" ,"))
            }),
        ]
    });
    (value, edits(r#"[\[\]{}",:.e0-9a-z\\ ]"#)).prop_map(|(text, e)| edited(text, e))
}

/// Up to two one-character edits drawn from the regex `with`, for [`edited`].
pub(crate) fn edits(
    with: &'static str,
) -> impl Strategy<Value = Vec<(prop::sample::Index, String)>> {
    proptest::collection::vec((any::<prop::sample::Index>(), with), 0..3)
}

/// `text` with each of `edits` applied: the character at the index replaced (where the
/// index falls on a one-byte character).
pub(crate) fn edited(mut text: String, edits: Vec<(prop::sample::Index, String)>) -> String {
    for (at, with) in edits {
        if text.is_empty() {
            break;
        }
        let i = at.index(text.len());
        if text.is_char_boundary(i) && text.is_char_boundary(i + 1) {
            text.replace_range(i..i + 1, &with);
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn what_it_takes_as_valid_serde_json_takes(text in maybe_json()) {
        if whole(&text) {
            prop_assert!(serde_json::from_str::<&serde_json::value::RawValue>(&text).is_ok(), "{}", text);
        }
    }

    #[test]
    fn what_serde_json_takes_it_takes_too_unless_it_says_it_cannot_tell(text in maybe_json()) {
        // Where serde_json takes the text and it refuses, it is one of the cases it leaves to
        // serde_json on purpose (none of which the generator writes).
        if serde_json::from_str::<&serde_json::value::RawValue>(&text).is_ok() {
            prop_assert!(whole(&text), "{}", text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    /// Eight bytes a step finds the stop a byte at a time finds, wherever the scan starts and
    /// whatever surrounds it (bytes next to the stops' values, where borrows would show).
    #[test]
    fn a_word_at_a_time_stops_where_a_byte_at_a_time_stops(
        bytes in proptest::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    0x00u8, 0x01, 0x1f, 0x20, 0x21, b'"', 0x23, 0x5b, b'\\', 0x5d, 0x7f, 0x80,
                    0xa2, 0xdc, 0xff,
                ]),
                any::<u8>(),
                Just(b'a'),
            ],
            0..40,
        ),
        from in any::<prop::sample::Index>(),
    ) {
        let start = from.index(bytes.len() + 1);
        let one_by_one = bytes[start..].iter().position(|&b| STOP[usize::from(b)]).map(|n| start + n);
        prop_assert_eq!(next_stop(&bytes, start), one_by_one);
    }

    /// A string followed by more JSON unescapes to what serde_json reads, and ends where it
    /// ends, at any length around the eight-byte steps.
    #[test]
    fn unescape_stops_at_its_own_closing_quote(
        text in "[ -~\u{e9}\"\\\\\n]{0,24}",
        after in prop::sample::select(vec![",\"next\":\"x\\\"y\"}", "]", "}\"", ""]),
    ) {
        let token = serde_json::to_string(&text).unwrap_or_default();
        let bytes = format!("{token}{after}");
        prop_assert_eq!(unescape(bytes.as_bytes(), 0, 0), Some((text, token.len())));
    }
}
