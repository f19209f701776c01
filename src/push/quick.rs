//! An SQS event read in one quick pass ([`crate::json_scan`]): each record's `messageId`,
//! `attributes` and `body`, the body unescaped while it is found, the other members validated.
//! Anything else (another top-level member, a duplicate, a body that is not a plain string of
//! text) answers `None`, and serde_json reads the payload as before.

use serde_json::value::RawValue;

use super::invocation::{Body, Payload, Record};
use crate::json_scan::{array, object, skip_ws, unescape, valid_value};

/// The payload as serde_json would read it, when it is an SQS event the quick pass reads.
pub(super) fn sqs_event(payload: &[u8]) -> Option<Payload<Body>> {
    let mut records: Option<Vec<Record<Body>>> = None;
    let start = skip_ws(payload, 0);
    let end = object(payload, start, |name, at| match name {
        b"Records" if records.is_none() => {
            let mut list = Vec::new();
            let end = array(payload, at, |at| {
                let (record, end) = record(payload, at)?;
                list.push(record);
                Some(end)
            })?;
            records = Some(list);
            Some(end)
        }
        _ => None,
    })?;
    if skip_ws(payload, end) != payload.len() {
        return None;
    }
    Some(Payload {
        records: Some(records?),
        replay: None,
        source: None,
        detail: None,
        id: None,
    })
}

/// One SQS record and the index just past it.
fn record(payload: &[u8], at: usize) -> Option<(Record<Body>, usize)> {
    let (mut message_id, mut body, mut attributes) = (None, None, None);
    let (mut seen_id, mut seen_body, mut seen_attributes) = (false, false, false);
    let end = object(payload, at, |name, at| {
        let null = payload.get(at..at + 4) == Some(b"null");
        match name {
            b"messageId" if !seen_id => {
                seen_id = true;
                if null {
                    return Some(at + 4);
                }
                let (id, end) = unescape(payload, at, 64)?;
                message_id = Some(id);
                Some(end)
            }
            b"body" if !seen_body => {
                seen_body = true;
                if null {
                    return Some(at + 4);
                }
                // Okta's events are a few kilobytes: room for one up front.
                let (text, end) = unescape(payload, at, 4096)?;
                body = Some(Body::Text(text));
                Some(end)
            }
            b"attributes" if !seen_attributes => {
                seen_attributes = true;
                let end = valid_value(payload, at)?;
                if !null {
                    let text = std::str::from_utf8(payload.get(at..end)?).ok()?;
                    attributes = Some(RawValue::from_string(text.to_owned()).ok()?);
                }
                Some(end)
            }
            b"messageId" | b"body" | b"attributes" => None,
            _ => valid_value(payload, at),
        }
    })?;
    Some((
        Record {
            message_id,
            body,
            attributes,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::PushPayload;
    use proptest::prelude::*;

    /// What a payload holds, to compare the two ways of reading it.
    fn seen(payload: &Payload<Body>) -> Vec<(Option<String>, Option<String>, Option<String>)> {
        payload
            .records
            .iter()
            .flatten()
            .map(|r| {
                let body = r.body.as_ref().map(|b| match b {
                    Body::Text(t) => format!("text:{t}"),
                    Body::Encoded(raw) => format!("encoded:{}", raw.get()),
                });
                let attributes = r.attributes.as_ref().map(|a| a.get().to_owned());
                (r.message_id.clone(), body, attributes)
            })
            .collect()
    }

    /// The payload as serde_json alone reads it (what `from_slice` did before the quick pass).
    fn by_serde(text: &str) -> Option<Payload<Body>> {
        if let Ok(p) =
            serde_json::from_slice::<Payload<super::super::invocation::Unescaped>>(text.as_bytes())
        {
            return Some(p.map_bodies(|b| Body::Text(b.0)));
        }
        serde_json::from_slice::<Payload<Box<RawValue>>>(text.as_bytes())
            .ok()
            .map(|p| p.map_bodies(Body::Encoded))
    }

    #[test]
    fn reads_a_lambda_sqs_event_and_leaves_the_rest_to_serde() {
        let sqs = r#"{"Records":[{"messageId":"m\u002d1","receiptHandle":"AQEB+x==","body":"{\"source\":\"aws.partner/okta.com/a\",\"detail\":{\"uuid\":\"\u00e9\"}}","attributes":{"ApproximateReceiveCount":"2"},"messageAttributes":{},"md5OfBody":"x","eventSource":"aws:sqs","awsRegion":"us-east-1"}]}"#;
        let quick = sqs_event(sqs.as_bytes()).expect("the quick pass");
        assert_eq!(seen(&quick), seen(&by_serde(sqs).unwrap()));
        assert_eq!(
            seen(&quick)[0].1.as_deref(),
            Some(r#"text:{"source":"aws.partner/okta.com/a","detail":{"uuid":"é"}}"#)
        );
        for other in [
            r#"{"replay":{}}"#,
            r#"{"Records":[],"Records":[]}"#,
            r#"{"Records":[{"body":"a","body":"b"}]}"#,
            r#"{"Records":[{"body":5}]}"#,
            r#"{"Records":[{"body":"\ud83d"}]}"#,
            r#"{"Records":[]} x"#,
            r#"{"source":"a","detail":{}}"#,
        ] {
            assert!(sqs_event(other.as_bytes()).is_none(), "{other}");
        }
        // And from_slice still reads those as before.
        assert!(PushPayload::parse(r#"{"Records":[{"body":"\ud83d"}]}"#).is_ok());
    }

    fn json_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~\u{e9}\u{1F600}]{0,16}"
                .prop_map(|t| serde_json::to_string(&t).unwrap_or_default()),
            Just(r#""lone \ud83d""#.to_owned()),
            Just(r#""\u0041\/\n""#.to_owned()),
            Just("null".to_owned()),
            Just("5".to_owned()),
            Just(r#"{"a":[1,"]"]}"#.to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn the_quick_pass_reads_what_serde_reads_whenever_it_answers(
            records in proptest::collection::vec(
                proptest::collection::vec(
                    (
                        prop_oneof![
                            Just("messageId"), Just("body"), Just("attributes"),
                            Just("receiptHandle"), Just("md5OfBody"),
                        ],
                        json_text(),
                    ),
                    0..5,
                ),
                0..4,
            ),
            pad in prop_oneof![Just(""), Just(" "), Just("\n ")],
        ) {
            let records: Vec<String> = records
                .iter()
                .map(|members| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("{pad}\"{k}\"{pad}:{pad}{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                })
                .collect();
            let text = format!("{pad}{{\"Records\":[{}]}}{pad}", records.join(","));
            if let Some(quick) = sqs_event(text.as_bytes()) {
                let serde = by_serde(&text);
                prop_assert!(serde.is_some(), "{}", text);
                prop_assert_eq!(seen(&quick), seen(&serde.unwrap_or(Payload {
                    records: None, replay: None, source: None, detail: None, id: None,
                })), "{}", text);
            }
        }
    }
}
