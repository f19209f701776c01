//! The few top-level members of an Okta LogEvent that decide anything, found in one pass
//! that also validates the text ([`crate::json_scan`]); nothing is allocated or unescaped.
//!
//! Anything unusual (a member name with an escape, a wanted member twice, a wanted value that
//! is not a plain string or `null`) answers `None`, and the caller reads the event with
//! serde_json instead, so both ways give the same answer for every input.

use std::borrow::Cow;

use crate::json_scan;

/// The [`super::Parts`] of a LogEvent's text (valid JSON), or `None` where serde_json must
/// read them.
pub(super) fn parts(text: &str) -> Option<super::Parts<'_>> {
    parts_of(members(text, NAMES)?)
}

/// The members [`super::Parts`] come from.
const NAMES: [&str; 4] = ["uuid", "published", "severity", "eventType"];

/// An Okta envelope (text as SQS carried it) read and validated in one pass, as serde_json
/// would read it: its `source` when a string without escapes (`None` when absent or `null`),
/// and its `detail` object's text and [`super::Parts`]. `None` where serde_json must read it:
/// invalid JSON, a `detail` that is not an object, a member twice, anything unusual.
pub(super) fn envelope(text: &str) -> Option<(Option<&str>, &str, super::Parts<'_>)> {
    let bytes = text.as_bytes();
    let mut source: Option<Option<&str>> = None;
    let mut detail: Option<(&str, [Option<&str>; 4])> = None;
    let end = json_scan::object(bytes, json_scan::skip_ws(bytes, 0), |name, at| match name {
        b"source" if source.is_none() => {
            if bytes.get(at..at + 4) == Some(b"null") {
                source = Some(None);
                return Some(at + 4);
            }
            let end = json_scan::valid_string(bytes, at)?;
            let inner = text.get(at + 1..end - 1)?;
            if inner.contains('\\') {
                return None;
            }
            source = Some(Some(inner));
            Some(end)
        }
        b"detail" if detail.is_none() => {
            let (end, found) = members_at(text, at, NAMES)?;
            detail = Some((text.get(at..end)?, found));
            Some(end)
        }
        b"source" | b"detail" => None,
        _ => json_scan::valid_value(bytes, at),
    })?;
    if json_scan::skip_ws(bytes, end) != bytes.len() {
        return None;
    }
    let (detail, found) = detail?;
    Some((source.flatten(), detail, parts_of(found)?))
}

/// [`super::Parts`] from the raw text of the four members.
fn parts_of(found: [Option<&str>; 4]) -> Option<super::Parts<'_>> {
    let [uuid, published, severity, event_type] = found;
    Some((
        unescaped_or_null(uuid)?,
        unescaped_or_null(published)?,
        severity.and_then(plain_text),
        event_type.and_then(plain_text),
    ))
}

/// A value's text when it is a JSON string without escapes, borrowed without its quotes.
pub(super) fn plain_text(value: &str) -> Option<Cow<'_, str>> {
    value
        .strip_prefix('"')?
        .strip_suffix('"')
        .filter(|t| !t.contains('\\'))
        .map(Cow::Borrowed)
}

/// What serde reads as `Option<Cow<str>>` when that needs no unescaping: absent or `null` is
/// `Some(None)`, a string without escapes `Some(Some(text))`; anything else `None` (for
/// serde to read, or refuse).
fn unescaped_or_null(value: Option<&str>) -> Option<Option<Cow<'_, str>>> {
    match value {
        None | Some("null") => Some(None),
        Some(v) => plain_text(v).map(Some),
    }
}

/// The raw text of each of `names` among the top-level members of `object`, `None` in a slot
/// for a member that is absent; `None` overall when the quick pass cannot decide (see the
/// module).
pub(super) fn members<'t, const N: usize>(
    object: &'t str,
    names: [&str; N],
) -> Option<[Option<&'t str>; N]> {
    let bytes = object.as_bytes();
    let (end, found) = members_at(object, json_scan::skip_ws(bytes, 0), names)?;
    (json_scan::skip_ws(bytes, end) == bytes.len()).then_some(found)
}

/// [`members`] of the object that opens at `start` in `text`, every value validated, and the
/// index just past the object.
fn members_at<'t, const N: usize>(
    text: &'t str,
    start: usize,
    names: [&str; N],
) -> Option<(usize, [Option<&'t str>; N])> {
    let bytes = text.as_bytes();
    let mut found: [Option<&'t str>; N] = [None; N];
    let end = json_scan::object(bytes, start, |name, at| {
        let end = json_scan::valid_value(bytes, at)?;
        if let Some(slot) = names.iter().position(|n| n.as_bytes() == name) {
            if found[slot].is_some() {
                return None;
            }
            found[slot] = Some(text.get(at..end)?);
        }
        Some(end)
    })?;
    Some((end, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["uuid", "published", "eventType"];

    #[test]
    fn finds_the_top_level_members_and_skips_everything_else_whole() {
        let text = r#" { "actor": {"uuid": "nested", "a": [1, {"uuid": "deeper"}], "s": "}]\"{"},
            "uuid" : "u-1", "n": -1.5e3, "t": true, "published":"2026-12-03T10:00:00.000Z",
            "eventType": null } "#;
        assert_eq!(
            members(text, NAMES),
            Some([
                Some(r#""u-1""#),
                Some(r#""2026-12-03T10:00:00.000Z""#),
                Some("null")
            ])
        );
        assert_eq!(members("{}", NAMES), Some([None, None, None]));
        assert_eq!(members(r#"{"a":[]}"#, NAMES), Some([None, None, None]));
    }

    #[test]
    fn leaves_to_serde_what_it_cannot_decide() {
        for text in [
            r#"{"uuid":"a","uuid":"b"}"#,
            r#"{"u\u0075id":"a"}"#,
            "[1]",
            r#"{"uuid" "a"}"#,
            r#"{"uuid":"a" "b":1}"#,
            r#"{"uuid":"a"#,
        ] {
            assert_eq!(members(text, NAMES), None, "{text}");
        }
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[ -~\u{e9}\u{1F600}\"\\\\{}\\[\\]]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(("[a-z\"]{1,4}", inner), 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("\"uuid\"".to_owned()),
            Just("\"published\"".to_owned()),
            Just("\"severity\"".to_owned()),
            Just("\"eventType\"".to_owned()),
            Just("\"u\\u0075id\"".to_owned()),
            "[a-zA-Z]{1,6}".prop_map(|k| format!("\"{k}\"")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn the_quick_pass_reads_what_serde_reads_whenever_it_answers(
            members in proptest::collection::vec((key(), value(), 0..3usize), 0..7),
        ) {
            let ws = ["", " ", "\n  "];
            let body: Vec<String> = members
                .iter()
                .map(|(k, v, w)| {
                    let w = ws[*w];
                    format!("{w}{k}{w}:{w}{}{w}", serde_json::to_string(v).unwrap_or_default())
                })
                .collect();
            let text = format!("{{{}}}", body.join(","));
            prop_assume!(serde_json::from_str::<&serde_json::value::RawValue>(&text).is_ok());
            if let Some(quick) = parts(&text) {
                let by_serde = super::super::serde_parts(&text);
                prop_assert_eq!(Ok(quick), by_serde.map_err(|e| e.reason), "{}", text);
            }
        }
    }

    #[test]
    fn an_okta_event_takes_the_quick_pass() {
        let event = r#"{"actor":{"id":"00u1","type":"User"},"client":{"userAgent":{"rawUserAgent":"Mozilla/5.0 \"x\""}},"eventType":"user.session.start","uuid":"0f000001-8b7d-11ef-96f7-3e4a5b6c7d8e","published":"2026-12-01T00:00:01.250Z","severity":"INFO","target":[{"id":"a","detailEntry":{"k":[1,2,{"x":null}]}}]}"#;
        let (uuid, published, severity, event_type) = parts(event).expect("the quick pass");
        assert_eq!(
            uuid.as_deref(),
            Some("0f000001-8b7d-11ef-96f7-3e4a5b6c7d8e")
        );
        assert_eq!(published.as_deref(), Some("2026-12-01T00:00:01.250Z"));
        assert_eq!(severity.as_deref(), Some("INFO"));
        assert_eq!(event_type.as_deref(), Some("user.session.start"));
    }
}

#[cfg(test)]
mod envelope_props {
    use crate::event::{Malformed, OktaEvent};
    use proptest::prelude::*;

    type Seen = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    );

    fn seen(read: Result<OktaEvent<'_>, Malformed>) -> Result<Seen, String> {
        read.map(|e| {
            (
                e.uuid.into_owned(),
                e.published.to_string(),
                e.severity.map(|s| s.into_owned()),
                e.event_type.map(|s| s.into_owned()),
                e.org.map(|s| s.into_owned()),
                e.raw.to_owned(),
            )
        })
        .map_err(|m| m.reason)
    }

    fn member_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""0f000001-8b7d-11ef-96f7-3e4a5b6c7d8e""#.to_owned()),
            Just(r#""2026-12-01T00:00:01.250Z""#.to_owned()),
            Just(r#""user.session.start""#.to_owned()),
            Just(r#""a\u0062c""#.to_owned()),
            Just("null".to_owned()),
            Just("12".to_owned()),
            Just(r#"{"x":[1,"}"]}"#.to_owned()),
            "[ -~]{0,6}".prop_map(|t| serde_json::to_string(&t).unwrap_or_default()),
        ]
    }

    fn envelope_text() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("uuid"),
            Just("published"),
            Just("severity"),
            Just("eventType"),
            Just("actor"),
            Just("u\\u0075id"),
        ];
        let detail = proptest::collection::vec((name, member_value()), 0..6).prop_map(|m| {
            let members: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", members.join(","))
        });
        let source = prop_oneof![
            Just(r#""aws.partner/okta.com/acme/okta-ingest""#.to_owned()),
            Just(r#""aws.partner/okta.com/acme""#.to_owned()),
            Just(r#""aws.events""#.to_owned()),
            Just(r#""aws.partner\/okta.com/acme/x""#.to_owned()),
            Just("null".to_owned()),
            Just("7".to_owned()),
        ];
        let order = proptest::collection::vec(0usize..4, 1..5);
        (
            source,
            detail,
            order,
            crate::json_scan::tests::edits(r#"[\[\]{}",:0-9a-z\\ ]"#),
        )
            .prop_map(|(source, detail, order, edits)| {
                let parts: Vec<String> = order
                    .iter()
                    .map(|n| match n {
                        0 => format!("\"source\":{source}"),
                        1 => format!("\"detail\":{detail}"),
                        2 => r#""version":"0","resources":[]"#.to_owned(),
                        _ => r#""id":"e-1","time":"2026-12-01T00:00:02Z""#.to_owned(),
                    })
                    .collect();
                crate::json_scan::tests::edited(format!("{{{}}}", parts.join(",")), edits)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn the_one_pass_reads_every_envelope_as_serde_json_does(text in envelope_text()) {
            prop_assert_eq!(
                seen(OktaEvent::from_envelope(&text)),
                seen(OktaEvent::from_envelope_by_serde(&text)),
                "{}", text
            );
        }
    }

    #[test]
    fn a_log_streaming_envelope_takes_the_one_pass() {
        let text = r#"{"version":"0","id":"e1","detail-type":"SystemLog","source":"aws.partner/okta.com/acme/okta","account":"1","time":"2026-12-01T00:00:02Z","region":"us-east-1","resources":[],"detail":{"actor":{"id":"00u1","displayName":"J \"D\""},"eventType":"user.session.start","uuid":"u-1","published":"2026-12-01T00:00:01.250Z","severity":"INFO","n":-1.5e3}}"#;
        let (source, detail, _) = super::envelope(text).expect("the one pass");
        assert_eq!(source, Some("aws.partner/okta.com/acme/okta"));
        assert!(detail.starts_with(r#"{"actor""#) && detail.ends_with("-1.5e3}"));
    }
}
