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
    /// `body`: the EventBridge envelope as a JSON string, still encoded, so that one body
    /// with an invalid escape (a lone UTF-16 surrogate) spoils only its own record.
    pub body: Option<&'a RawValue>,
}

/// An okta-push payload as the Lambda runtime reads it, in one pass: only the top-level
/// keys that tell the invocations apart, each kept as raw JSON; other keys are not read.
#[derive(Debug, Deserialize)]
pub struct PushPayload {
    #[serde(rename = "Records", default)]
    records: Option<Vec<OwnedRecord>>,
    #[serde(default)]
    replay: Option<Box<RawValue>>,
    #[serde(default)]
    source: Option<Box<RawValue>>,
    #[serde(default)]
    detail: Option<Box<RawValue>>,
    #[serde(default)]
    id: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
struct OwnedRecord {
    #[serde(rename = "messageId", default)]
    message_id: Option<String>,
    #[serde(default)]
    body: Option<Box<RawValue>>,
}

impl PushPayload {
    /// Reads a payload given as text (tests, local runs).
    pub(crate) fn parse(payload: &str) -> Result<Self, BadRequest> {
        serde_json::from_str(payload).map_err(|e| {
            BadRequest(format!(
                "the payload is not a JSON object okta-push reads ({e}); {EXPECTED}"
            ))
        })
    }

    /// The EventBridge envelope's text, from its `source` and `detail` (all push reads).
    fn envelope(&self) -> String {
        let mut text = String::from("{");
        for (name, value) in [("source", &self.source), ("detail", &self.detail)] {
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
        match payload {
            PushPayload {
                records: Some(records),
                replay: None,
                ..
            } => Ok(PushInvocation::Sqs(
                records
                    .iter()
                    .map(|r| SqsRecord {
                        message_id: r.message_id.as_deref(),
                        body: r.body.as_deref(),
                    })
                    .collect(),
            )),
            PushPayload {
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
            PushPayload {
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
                assert_eq!(records[0].body.map(RawValue::get), Some(r#""{\"a\":1}""#));
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
    fn a_body_with_a_broken_escape_does_not_spoil_the_batch() {
        let sqs = r#"{"Records":[{"messageId":"m1","body":"bad \ud83d x"},{"messageId":"m2","body":"{}"}]}"#;
        let PushInvocation::Sqs(records) = PushInvocation::parse_text(sqs).unwrap() else {
            panic!("an SQS batch")
        };
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0].body.map(RawValue::get),
            Some(r#""bad \ud83d x""#)
        );
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
