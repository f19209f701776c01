//! What okta-push can be invoked with, parsed once: an SQS batch, one EventBridge event, or a
//! replay request. Anything else is refused with a [`BadRequest`] naming what was expected.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::replay::ReplayRequest;
use crate::lambda::BadRequest;

/// One okta-push invocation.
#[derive(Debug)]
pub(crate) enum PushInvocation<'a> {
    /// An SQS event source mapping's batch.
    Sqs(Vec<SqsRecord<'a>>),
    /// One EventBridge event, invoked directly (the whole payload is the envelope).
    EventBridge {
        /// The envelope's `id`, naming the dead letter if it cannot be delivered.
        id: Option<String>,
        /// The envelope as push reads it (`source` and `detail`).
        envelope: String,
    },
    /// `{"replay": {...}}`: re-send what the dead letters kept.
    Replay(ReplayRequest),
}

/// One SQS message: only what push reads.
#[derive(Debug)]
pub(crate) struct SqsRecord<'a> {
    /// `messageId`, answered in `batchItemFailures`.
    pub message_id: Option<&'a str>,
    /// `body`: the EventBridge envelope.
    pub body: Option<&'a Body>,
    /// `attributes.ApproximateReceiveCount`: how many times SQS has handed it out, this
    /// time included (`None` when absent or not a number).
    pub receive_count: Option<u32>,
}

/// An SQS message's `body` as read.
#[derive(Debug)]
pub(crate) enum Body {
    /// Unescaped: every body of the payload was a JSON string of valid UTF-8 (as SQS sends).
    Text(String),
    /// Still encoded, as received, because some body of the payload was not (a lone UTF-16
    /// surrogate, a number): each is then read on its own, so one spoils only its record.
    Encoded(Box<RawValue>),
}

/// An okta-push payload: only the top-level keys that tell the invocations apart, each kept
/// as raw JSON, and the SQS messages; other keys are not read.
#[derive(Debug)]
pub struct PushPayload(Payload<Body>);

#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "B: Deserialize<'de>"))]
pub(super) struct Payload<B> {
    #[serde(rename = "Records", default)]
    pub(super) records: Option<Vec<Record<B>>>,
    #[serde(default)]
    pub(super) replay: Option<Box<RawValue>>,
    #[serde(default)]
    pub(super) source: Option<Box<RawValue>>,
    #[serde(default)]
    pub(super) detail: Option<Box<RawValue>>,
    #[serde(default)]
    pub(super) id: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "B: Deserialize<'de>"))]
pub(super) struct Record<B> {
    #[serde(rename = "messageId", default)]
    pub(super) message_id: Option<String>,
    #[serde(default)]
    pub(super) body: Option<B>,
    /// Kept raw and read only for what push needs: an odd value spoils nothing else.
    #[serde(default)]
    pub(super) attributes: Option<Box<RawValue>>,
}

/// An SQS message's attributes: only the receive count.
#[derive(Debug, Deserialize)]
struct Attributes {
    #[serde(rename = "ApproximateReceiveCount", default)]
    receive_count: Option<Box<RawValue>>,
}

impl Attributes {
    /// The receive count in `attributes`, a string of digits as SQS sends it (a bare number
    /// is read too).
    fn receive_count(attributes: &RawValue) -> Option<u32> {
        let attributes: Attributes = serde_json::from_str(attributes.get()).ok()?;
        let raw = attributes.receive_count?;
        raw.get().trim_matches('"').parse().ok()
    }
}

impl<B> Payload<B> {
    pub(super) fn map_bodies(self, f: impl Fn(B) -> Body) -> Payload<Body> {
        Payload {
            records: self.records.map(|records| {
                records
                    .into_iter()
                    .map(|r| Record {
                        message_id: r.message_id,
                        body: r.body.map(&f),
                        attributes: r.attributes,
                    })
                    .collect()
            }),
            replay: self.replay,
            source: self.source,
            detail: self.detail,
            id: self.id,
        }
    }
}

/// A body read in the same pass as the payload: a JSON string unescaped, refused unless it
/// is valid UTF-8 (a lone surrogate escape is not), so that the payload is read again with
/// every body kept encoded.
pub(super) struct Unescaped(pub(super) String);

impl<'de> Deserialize<'de> for Unescaped {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Unescaped;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Unescaped, E> {
                std::str::from_utf8(v)
                    .map(|text| Unescaped(text.to_owned()))
                    .map_err(|_| E::custom("a body that is not valid UTF-8"))
            }
        }
        // Bytes, not a string: serde_json unescapes without refusing lone surrogates here,
        // which the UTF-8 check above then sends to the slower, per-record path.
        deserializer.deserialize_bytes(Visitor)
    }
}

impl PushPayload {
    /// Reads a payload as the runtime receives it: in one pass, SQS bodies unescaped on the
    /// way; if any body is not a plain string of text, again with each body kept encoded.
    pub fn from_slice(payload: &[u8]) -> Result<Self, BadRequest> {
        // An SQS event, the usual payload: one quick pass (`quick.rs`); serde_json reads
        // anything it does not.
        if let Some(sqs) = super::quick::sqs_event(payload) {
            return Ok(PushPayload(sqs));
        }
        if let Ok(fast) = serde_json::from_slice::<Payload<Unescaped>>(payload) {
            return Ok(PushPayload(fast.map_bodies(|b| Body::Text(b.0))));
        }
        serde_json::from_slice::<Payload<Box<RawValue>>>(payload)
            .map(|p| PushPayload(p.map_bodies(Body::Encoded)))
            .map_err(|e| {
                BadRequest(format!(
                    "the payload is not a JSON object okta-push reads ({e}); {EXPECTED}"
                ))
            })
    }

    /// Reads a payload given as text (tests, local runs).
    pub(crate) fn parse(payload: &str) -> Result<Self, BadRequest> {
        Self::from_slice(payload.as_bytes())
    }

    /// The EventBridge envelope's text, from its `source` and `detail` (all push reads).
    fn envelope(&self) -> String {
        let mut text = String::from("{");
        for (name, value) in [("source", &self.0.source), ("detail", &self.0.detail)] {
            if let Some(v) = value {
                if text.len() > 1 {
                    text.push(',');
                }
                text.push_str(&format!("\"{name}\":{}", v.get()));
            }
        }
        text.push('}');
        text
    }
}

const EXPECTED: &str = "expected an SQS event ({\"Records\": [...]}), an EventBridge event from Okta Log Streaming ({\"source\": ..., \"detail\": {...}}) or {\"replay\": {...}}";

impl<'a> PushInvocation<'a> {
    /// Which invocation `payload` is.
    pub(crate) fn of(payload: &'a PushPayload) -> Result<Self, BadRequest> {
        match &payload.0 {
            Payload {
                records: Some(records),
                replay: None,
                ..
            } => Ok(PushInvocation::Sqs(
                records
                    .iter()
                    .map(|r| SqsRecord {
                        message_id: r.message_id.as_deref(),
                        body: r.body.as_ref(),
                        receive_count: r.attributes.as_deref().and_then(Attributes::receive_count),
                    })
                    .collect(),
            )),
            Payload {
                replay: Some(replay),
                records: None,
                source: None,
                detail: None,
                ..
            } => {
                let request = serde_json::from_str(replay.get())
                    .map_err(|e| BadRequest::from_json("replay", &e))?;
                Ok(PushInvocation::Replay(request))
            }
            Payload {
                records: None,
                replay: None,
                source,
                detail,
                id,
            } if source.is_some() || detail.is_some() => Ok(PushInvocation::EventBridge {
                id: id
                    .as_deref()
                    .and_then(|id| serde_json::from_str::<String>(id.get()).ok()),
                envelope: payload.envelope(),
            }),
            _ => Err(BadRequest(format!(
                "the payload is none of the invocations okta-push reads; {EXPECTED}"
            ))),
        }
    }

    /// Reads `payload` given as text.
    #[cfg(test)]
    fn parse_text(payload: &str) -> Result<PushInvocation<'static>, BadRequest> {
        let payload: &'static PushPayload = Box::leak(Box::new(PushPayload::parse(payload)?));
        PushInvocation::of(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_three_invocations_apart() {
        let sqs = r#"{"Records":[{"messageId":"m1","body":"{\"a\":1}","attributes":{}}]}"#;
        match PushInvocation::parse_text(sqs).unwrap() {
            PushInvocation::Sqs(records) => {
                assert_eq!(records[0].message_id, Some("m1"));
                assert_eq!(records[0].receive_count, None);
                assert!(
                    matches!(records[0].body, Some(Body::Text(t)) if t == r#"{"a":1}"#),
                    "{records:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        let direct = r#"{"id":"e1","source":"aws.partner/okta.com/a/b","detail":{}}"#;
        assert!(matches!(
            PushInvocation::parse_text(direct).unwrap(),
            PushInvocation::EventBridge { id: Some(id), .. } if id == "e1"
        ));
        let replay = r#"{"replay":{"prefix":"dead-letter/push/"}}"#;
        assert!(matches!(
            PushInvocation::parse_text(replay).unwrap(),
            PushInvocation::Replay(r) if r.prefix.as_deref() == Some("dead-letter/push/")
        ));
    }

    #[test]
    fn the_receive_count_is_read_as_sqs_sends_it_and_nonsense_is_none() {
        for (attributes, expected) in [
            (r#"{"ApproximateReceiveCount":"3"}"#, Some(3)),
            (r#"{"ApproximateReceiveCount":4}"#, Some(4)),
            (r#"{"ApproximateReceiveCount":"-1"}"#, None),
            (r#"{"ApproximateReceiveCount":"99999999999"}"#, None),
            (r#"{"ApproximateReceiveCount":"x"}"#, None),
            (r#"{"ApproximateReceiveCount":null}"#, None),
            (r#""not an object""#, None),
            ("{}", None),
        ] {
            let sqs = format!(
                r#"{{"Records":[{{"messageId":"m1","body":"{{}}","attributes":{attributes}}}]}}"#
            );
            let PushInvocation::Sqs(records) = PushInvocation::parse_text(&sqs).unwrap() else {
                panic!("an SQS batch")
            };
            assert_eq!(records[0].receive_count, expected, "{attributes}");
        }
    }

    #[test]
    fn a_body_that_is_not_plain_text_is_read_on_its_own_and_spoils_only_its_record() {
        // A string with a lone surrogate escape, then bodies that are not strings at all:
        // the payload is read again with every body encoded, each then read on its own.
        for odd in [r#""bad \ud83d x""#, "5", "[1,2]", "{\"a\":1}", "true"] {
            let sqs = format!(
                r#"{{"Records":[{{"messageId":"m1","body":{odd}}},{{"messageId":"m2","body":"{{}}"}}]}}"#
            );
            let PushInvocation::Sqs(records) = PushInvocation::parse_text(&sqs).unwrap() else {
                panic!("an SQS batch")
            };
            assert_eq!(records.len(), 2, "{odd}");
            assert!(
                matches!(records[0].body, Some(Body::Encoded(raw)) if raw.get() == odd),
                "{odd}: {records:?}"
            );
            assert!(
                matches!(records[1].body, Some(Body::Encoded(raw)) if raw.get() == r#""{}""#),
                "{odd}: {records:?}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused_naming_the_field_and_the_expected_form() {
        for (payload, expected) in [
            ("{}", "none of the invocations"),
            (r#"{"Replay":{}}"#, "none of the invocations"),
            ("[1,2]", "not a JSON object"),
            (r#"{"Records":"x"}"#, "not a JSON object"),
            (
                r#"{"replay":{"prefx":"dead-letter/"}}"#,
                "unknown field `prefx`",
            ),
            (r#"{"replay":{"since":5}}"#, "replay: invalid type"),
            (r#"{"replay":{},"Records":[]}"#, "none of the invocations"),
        ] {
            let err = PushInvocation::parse_text(payload).unwrap_err();
            assert!(err.0.contains(expected), "{payload}: {err}");
        }
    }
}
