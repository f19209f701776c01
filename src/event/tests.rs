//! The event as read: fields, malformed input, compacting, timestamps.

use super::*;

const DETAIL: &str = r#"{"actor":{"id":"00u1"},"version":0,"uuid":"a\u0062c-1","published":"2023-05-30T14:17:58.126Z","client":{"zone":"null","geographicalContext":{"postalCode":94105,"geolocation":{"lat":37.7700,"lon":-122.41}}}}"#;

fn envelope(detail: &str, source: &str) -> String {
    format!(
        r#"{{"version":"0","id":"e1","detail-type":"SystemLog","source":"{source}","account":"1","time":"2023-05-30T14:17:59Z","region":"us-east-1","resources":[],"detail":{detail}}}"#
    )
}

#[test]
fn unwraps_detail_byte_for_byte() {
    let text = envelope(DETAIL, "aws.partner/okta.com/acme/okta");
    let event = OktaEvent::from_envelope(&text).unwrap();
    assert_eq!(event.org.as_deref(), Some("acme"));
    assert_eq!(event.json(), DETAIL);
    assert_eq!(event.uuid, "abc-1");
    assert_eq!(format_rfc3339(event.published), "2023-05-30T14:17:58.126Z");
}

#[test]
fn names_what_is_wrong_with_a_malformed_envelope() {
    let cases = [
        ("not json".to_string(), "not an EventBridge event"),
        (
            envelope(DETAIL, "aws.events"),
            "not an Okta partner event source",
        ),
        (
            r#"{"source":"aws.partner/okta.com/a/b"}"#.to_string(),
            "detail is missing",
        ),
        (
            envelope("[1]", "aws.partner/okta.com/a/b"),
            "not a JSON object",
        ),
        (
            envelope(
                r#"{"published":"2023-05-30T14:17:58.126Z"}"#,
                "aws.partner/okta.com/a/b",
            ),
            "detail.uuid is missing",
        ),
        (
            envelope(
                r#"{"uuid":7,"published":"2023-05-30T14:17:58.126Z"}"#,
                "aws.partner/okta.com/a/b",
            ),
            "not a string",
        ),
        (
            envelope(r#"{"uuid":"u"}"#, "aws.partner/okta.com/a/b"),
            "detail.published is missing",
        ),
        (
            envelope(
                &format!(
                    r#"{{"uuid":"{}","published":"2023-05-30T14:17:58.126Z"}}"#,
                    "a".repeat(2100)
                ),
                "aws.partner/okta.com/a/b",
            ),
            "2100 bytes, more than an Okta uuid can be (128)",
        ),
        (
            envelope(
                r#"{"uuid":"a\u0000b","published":"2023-05-30T14:17:58.126Z"}"#,
                "aws.partner/okta.com/a/b",
            ),
            "control characters",
        ),
        (
            envelope(
                r#"{"uuid":" ","published":"2023-05-30T14:17:58.126Z"}"#,
                "aws.partner/okta.com/a/b",
            ),
            "detail.uuid is empty",
        ),
        (
            envelope(
                r#"{"uuid":"u","published":"yesterday"}"#,
                "aws.partner/okta.com/a/b",
            ),
            "not an RFC 3339 timestamp",
        ),
    ];
    for (text, expected) in cases {
        let err = OktaEvent::from_envelope(&text).unwrap_err();
        assert!(err.reason.contains(expected), "{text}: {err}");
    }
}

#[test]
fn fields_the_code_does_not_use_may_hold_anything() {
    let detail = r#"{"uuid":"u","published":"2023-05-30T14:17:58Z","version":{"weird":[1,2]},"debugContext":{"debugData":{"x":"{k=v}"}}}"#;
    let text = envelope(detail, "aws.partner/okta.com/a/b");
    let event = OktaEvent::from_envelope(&text).unwrap();
    assert_eq!(event.json(), detail);
}

#[test]
fn a_pretty_printed_event_becomes_one_line_with_the_same_value_and_key_order() {
    let pretty = "{\n  \"uuid\": \"u 1\",\r\n  \"published\": \"2023-05-30T14:17:58.126Z\",\n  \"z\": {\"b\": [1, 2.50], \"a\": \"x \\\" \\n y\"}\n}";
    let raw: &RawValue = serde_json::from_str(pretty).unwrap();
    let event = OktaEvent::from_raw(raw).unwrap();
    let line = event.one_line();
    assert_eq!(
        line,
        r#"{"uuid":"u 1","published":"2023-05-30T14:17:58.126Z","z":{"b":[1,2.50],"a":"x \" \n y"}}"#
    );
    let before: serde_json::Value = serde_json::from_str(pretty).unwrap();
    let after: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(before, after);
    let compact = r#"{"uuid":"u", "published":"2023-05-30T14:17:58Z"}"#;
    assert!(
        matches!(compact_json(compact), Cow::Borrowed(t) if t == compact),
        "single-line events stay byte for byte"
    );
}
