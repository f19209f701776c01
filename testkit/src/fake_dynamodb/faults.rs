//! What a test can make the fake table do, in DynamoDB's own shapes: cancel claim
//! transactions with a reason (`ThrottlingError`, `TransactionConflict`, ...), refuse requests
//! with an error type (`ProvisionedThroughputExceededException`, `ResourceNotFoundException`,
//! `AccessDeniedException`, `InternalServerError`), leave batch writes unprocessed, answer late.

use std::time::Duration;

use serde_json::{json, Value};

use super::ops::{error, Refusal};

/// One scripted misbehaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Claims are refused with this code for every put: `TransactWriteItems` is cancelled
    /// (`TransactionCanceledException`) with it as each put's reason, and each statement of a
    /// `BatchExecuteStatement` fails with it as its error.
    CancelClaims(&'static str),
    /// Statements `0, every, 2 * every, ...` of each `BatchExecuteStatement` fail with this
    /// error code (`ThrottlingError`, `TransactionConflict`...), unwritten; the others are
    /// applied.
    FailStatements {
        /// The statement error's `Code`.
        code: &'static str,
        /// Which statements fail.
        every: usize,
    },
    /// `BatchExecuteStatement` answers `DuplicateItem` without the item met, as if
    /// `ReturnValuesOnConditionCheckFailure` had not been asked (the API reference promises
    /// the item for condition failures; this covers a service that withholds it).
    WithholdOldItems,
    /// Requests of `operation` (`None`: any) are refused with this error type, HTTP 400
    /// (`InternalServerError`: 500), before the table is touched.
    Refuse {
        /// `TransactWriteItems`, `BatchWriteItem`, ... or any.
        operation: Option<&'static str>,
        /// The `__type` DynamoDB answers, e.g. `ProvisionedThroughputExceededException`.
        error: &'static str,
    },
    /// `BatchWriteItem` writes nothing and hands every request back in `UnprocessedItems`.
    LeaveUnprocessed,
    /// `BatchGetItem` answers from a replica that has seen no write yet (found nothing),
    /// unless the request asks for a strongly consistent read (`ConsistentRead`), as
    /// DynamoDB's eventually consistent reads may.
    StaleReads,
    /// Requests of `operation` are applied at once and answered only after this long: a
    /// caller that stops waiting has had its write made all the same.
    AnswerLate {
        /// Which operation.
        operation: &'static str,
        /// How late.
        by: Duration,
    },
    /// Requests of `operation` are applied, then answered with this error type (HTTP 500 for
    /// `InternalServerError`, else 400), as when a write lands and its answer is lost.
    LoseAnswers {
        /// Which operation.
        operation: &'static str,
        /// The `__type` answered.
        error: &'static str,
    },
    /// Requests of `operation` (`None`: any) are answered only after this long.
    Slow {
        /// Which operation.
        operation: Option<&'static str>,
        /// How late.
        by: Duration,
    },
}

impl Fault {
    /// Whether it applies to a request of `operation`.
    pub(super) fn applies_to(&self, operation: &str) -> bool {
        match self {
            Fault::CancelClaims(_) => {
                operation == "TransactWriteItems" || operation == "BatchExecuteStatement"
            }
            Fault::FailStatements { .. } | Fault::WithholdOldItems => {
                operation == "BatchExecuteStatement"
            }
            Fault::LeaveUnprocessed => operation == "BatchWriteItem",
            Fault::StaleReads => operation == "BatchGetItem",
            Fault::AnswerLate { operation: o, .. } | Fault::LoseAnswers { operation: o, .. } => {
                *o == operation
            }
            Fault::Refuse { operation: o, .. } | Fault::Slow { operation: o, .. } => {
                o.is_none_or(|o| o == operation)
            }
        }
    }

    /// The answer it gives to `body` instead of the table's, if it gives one.
    pub(super) fn answer(&self, body: &[u8]) -> Option<(u16, Value)> {
        match self {
            Fault::Slow { .. }
            | Fault::AnswerLate { .. }
            | Fault::LoseAnswers { .. }
            | Fault::FailStatements { .. }
            | Fault::WithholdOldItems => None,
            Fault::Refuse { error: kind, .. } => Some(refusal(kind)),
            Fault::CancelClaims(code) => {
                let request: Value = serde_json::from_slice(body).unwrap_or_default();
                if let Some(statements) = request["Statements"].as_array() {
                    let responses: Vec<Value> = statements
                        .iter()
                        .map(|_| json!({ "Error": { "Code": code, "Message": format!("scripted {code}") } }))
                        .collect();
                    return Some((200, json!({ "Responses": responses })));
                }
                let items = request["TransactItems"].as_array().map_or(0, Vec::len);
                let reasons: Vec<Value> = (0..items)
                    .map(|_| json!({ "Code": code, "Message": format!("scripted {code}") }))
                    .collect();
                let Refusal(body) = error(
                    "TransactionCanceledException",
                    "Transaction cancelled, please refer cancellation reasons for specific reasons",
                    Some(("CancellationReasons", Value::Array(reasons))),
                );
                Some((400, body))
            }
            Fault::LeaveUnprocessed => {
                let request: Value = serde_json::from_slice(body).unwrap_or_default();
                Some((200, json!({ "UnprocessedItems": request["RequestItems"] })))
            }
            Fault::StaleReads => {
                let request: Value = serde_json::from_slice(body).unwrap_or_default();
                let tables = request["RequestItems"].as_object()?;
                if tables.values().all(|t| t["ConsistentRead"] == true) {
                    return None;
                }
                let empty: serde_json::Map<String, Value> =
                    tables.keys().map(|k| (k.clone(), json!([]))).collect();
                Some((200, json!({ "Responses": empty, "UnprocessedKeys": {} })))
            }
        }
    }
}

/// The answer of a request refused with error type `kind`.
pub(super) fn refusal(kind: &str) -> (u16, Value) {
    let status = if kind == "InternalServerError" {
        500
    } else {
        400
    };
    let Refusal(body) = error(kind, &format!("scripted {kind}"), None);
    (status, body)
}

/// A fault and how many more requests it applies to (`None`: until cleared).
#[derive(Debug, Clone)]
pub(super) struct Scripted {
    pub fault: Fault,
    pub left: Option<u32>,
}

/// Takes the first fault in `script` that applies to `operation`, counting it down.
pub(super) fn take(script: &mut Vec<Scripted>, operation: &str) -> Option<Fault> {
    let at = script.iter().position(|s| s.fault.applies_to(operation))?;
    let fault = script[at].fault.clone();
    if let Some(left) = &mut script[at].left {
        *left = left.saturating_sub(1);
        if *left == 0 {
            script.remove(at);
        }
    }
    Some(fault)
}
