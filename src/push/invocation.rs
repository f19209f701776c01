//! What okta-push can be invoked with, parsed once: an SQS batch, one EventBridge event, or a
//! replay request. Anything else is refused with a [`BadRequest`] naming what was expected.

use std::borrow::Cow;

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
    },
    /// `{"replay": {...}}`: re-send what the dead letters kept.
    Replay(ReplayRequest),
}

/// One SQS message: only what push reads, borrowed from the payload where it can be.
#[derive(Debug, Deserialize)]
pub(crate) struct SqsRecord<'a> {
    /// `messageId`, answered in `batchItemFailures`.
    #[serde(rename = "messageId", borrow, default)]
    pub message_id: Option<Cow<'a, str>>,
    /// `body`: the EventBridge envelope as a JSON string, still encoded, so that one body
    /// with an invalid escape (a lone UTF-16 surrogate) spoils only its own record.
    #[serde(borrow, default)]
    pub body: Option<&'a RawValue>,
}

/// The top-level keys that tell the invocations apart; other keys are not read.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<SqsRecord<'a>>>,
    #[serde(borrow, default)]
    replay: Option<&'a RawValue>,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

const EXPECTED: &str = "expected an SQS event ({\"Records\": [...]}), an EventBridge event from Okta Log Streaming ({\"source\": ..., \"detail\": {...}}) or {\"replay\": {...}}";

impl<'a> PushInvocation<'a> {
    /// Reads `payload`.
    pub(crate) fn parse(payload: &'a str) -> Result<Self, BadRequest> {
        let probe: Probe<'a> = serde_json::from_str(payload).map_err(|e| {
            BadRequest(format!(
                "the payload is not a JSON object okta-push reads ({e}); {EXPECTED}"
            ))
        })?;
        match probe {
            Probe {
                records: Some(records),
                replay: None,
                ..
            } => Ok(PushInvocation::Sqs(records)),
            Probe {
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
            Probe {
                records: None,
                replay: None,
                source,
                detail,
                id,
            } if source.is_some() || detail.is_some() => Ok(PushInvocation::EventBridge {
                id: id.and_then(|id| serde_json::from_str::<String>(id.get()).ok()),
            }),
            _ => Err(BadRequest(format!(
                "the payload is none of the invocations okta-push reads; {EXPECTED}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_three_invocations_apart() {
        let sqs = r#"{"Records":[{"messageId":"m1","body":"{\"a\":1}","attributes":{}}]}"#;
        match PushInvocation::parse(sqs).unwrap() {
            PushInvocation::Sqs(records) => {
                assert_eq!(records[0].message_id.as_deref(), Some("m1"));
                assert_eq!(records[0].body.map(RawValue::get), Some(r#""{\"a\":1}""#));
            }
            other => panic!("{other:?}"),
        }
        let direct = r#"{"id":"e1","source":"aws.partner/okta.com/a/b","detail":{}}"#;
        assert!(matches!(
            PushInvocation::parse(direct).unwrap(),
            PushInvocation::EventBridge { id: Some(id) } if id == "e1"
        ));
        let replay = r#"{"replay":{"prefix":"dead-letter/push/"}}"#;
        assert!(matches!(
            PushInvocation::parse(replay).unwrap(),
            PushInvocation::Replay(r) if r.prefix.as_deref() == Some("dead-letter/push/")
        ));
    }

    #[test]
    fn a_body_with_a_broken_escape_does_not_spoil_the_batch() {
        let sqs = r#"{"Records":[{"messageId":"m1","body":"bad \ud83d x"},{"messageId":"m2","body":"{}"}]}"#;
        let PushInvocation::Sqs(records) = PushInvocation::parse(sqs).unwrap() else {
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
            let err = PushInvocation::parse(payload).unwrap_err();
            assert!(err.0.contains(expected), "{payload}: {err}");
        }
    }
}
