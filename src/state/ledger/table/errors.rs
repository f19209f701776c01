//! DynamoDB's answers in words: which failures a retry can help (throttling, conflicts, 5xx,
//! no answer) and which need an operator (a missing table, a wrong region, no permission).

use std::fmt::Debug;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::super::{Trouble, TroubleKind};

/// A cancellation reason's code (`TransactWriteItems`, one per item) as a kind; `None` for
/// `None` (the item was fine) and `ConditionalCheckFailed` (decided by the caller). A
/// missing reason is unknown: tried again.
pub(super) fn reason_kind(code: Option<&str>) -> Option<TroubleKind> {
    let Some(code) = code else {
        return Some(TroubleKind::Unavailable);
    };
    match code {
        "None" | "ConditionalCheckFailed" => None,
        "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded" => {
            Some(TroubleKind::Throttled)
        }
        "TransactionConflict" => Some(TroubleKind::Conflict),
        "ValidationError" | "ItemCollectionSizeLimitExceeded" => Some(TroubleKind::Rejected),
        _ => Some(TroubleKind::Unavailable),
    }
}

/// A PartiQL statement's error code (`BatchExecuteStatement`, one per statement) as a kind;
/// `DuplicateItem` and `ConditionalCheckFailed` are decided by the caller.
pub(super) fn statement_kind(code: Option<&str>) -> TroubleKind {
    match code {
        Some("ResourceNotFound" | "AccessDenied") => TroubleKind::Misconfigured,
        Some("InternalServerError") => TroubleKind::Unavailable,
        code => reason_kind(code).unwrap_or(TroubleKind::Unavailable),
    }
}

/// A statement's error in words, naming the table.
pub(super) fn statement_detail(location: &str, code: Option<&str>) -> String {
    let code = code.unwrap_or("(none given)");
    let words = match code {
        "ResourceNotFound" => {
            ": the table does not exist in this account and region (check LEDGER_TABLE and the region)"
        }
        _ => "",
    };
    format!("{location}: claim refused with {code}{words}")
}

/// What a failed request means, naming the table (and its region) in words.
pub(super) fn classify<E, R>(location: &str, error: &SdkError<E, R>) -> Trouble
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let code = error.code().unwrap_or_default();
    let kind = match error {
        SdkError::TimeoutError(_) => TroubleKind::TimedOut,
        SdkError::ServiceError(_) => match code {
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded" => TroubleKind::Throttled,
            "TransactionConflictException" | "TransactionInProgressException" => {
                TroubleKind::Conflict
            }
            "ValidationException" | "SerializationException" => TroubleKind::Rejected,
            "ResourceNotFoundException"
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "MissingAuthenticationTokenException" => TroubleKind::Misconfigured,
            _ => TroubleKind::Unavailable,
        },
        _ => TroubleKind::Unavailable,
    };
    let words = match code {
        "ResourceNotFoundException" => {
            "the table does not exist in this account and region (check LEDGER_TABLE and the region)"
        }
        "AccessDeniedException" => {
            "this function's role may not use the table (check its IAM policy)"
        }
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "MissingAuthenticationTokenException" => "the AWS credentials were refused",
        "ProvisionedThroughputExceededException" | "ThrottlingException" => {
            "throttled past the SDK's retries"
        }
        _ if kind == TroubleKind::TimedOut => "no answer within the attempt timeout",
        _ => "",
    };
    let context = DisplayErrorContext(error).to_string();
    let detail = if words.is_empty() {
        format!("{location}: {context}")
    } else {
        format!("{location}: {words}: {context}")
    };
    Trouble { kind, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cancellation_reason_dynamodb_documents_has_a_kind() {
        assert_eq!(reason_kind(Some("None")), None);
        assert_eq!(reason_kind(Some("ConditionalCheckFailed")), None);
        assert_eq!(
            reason_kind(Some("ThrottlingError")),
            Some(TroubleKind::Throttled)
        );
        assert_eq!(
            reason_kind(Some("ProvisionedThroughputExceeded")),
            Some(TroubleKind::Throttled)
        );
        assert_eq!(
            reason_kind(Some("TransactionConflict")),
            Some(TroubleKind::Conflict)
        );
        assert_eq!(
            reason_kind(Some("ValidationError")),
            Some(TroubleKind::Rejected)
        );
        assert_eq!(
            reason_kind(Some("ItemCollectionSizeLimitExceeded")),
            Some(TroubleKind::Rejected)
        );
        // A reason DynamoDB may add later is tried again, never taken as decided.
        assert_eq!(
            reason_kind(Some("Brand new")),
            Some(TroubleKind::Unavailable)
        );
        assert_eq!(reason_kind(None), Some(TroubleKind::Unavailable));
    }

    #[test]
    fn every_statement_error_dynamodb_documents_has_a_kind() {
        let kind = |code| statement_kind(Some(code));
        assert_eq!(kind("ThrottlingError"), TroubleKind::Throttled);
        assert_eq!(
            kind("ProvisionedThroughputExceeded"),
            TroubleKind::Throttled
        );
        assert_eq!(kind("RequestLimitExceeded"), TroubleKind::Throttled);
        assert_eq!(kind("TransactionConflict"), TroubleKind::Conflict);
        assert_eq!(kind("ValidationError"), TroubleKind::Rejected);
        assert_eq!(
            kind("ItemCollectionSizeLimitExceeded"),
            TroubleKind::Rejected
        );
        assert_eq!(kind("ResourceNotFound"), TroubleKind::Misconfigured);
        assert_eq!(kind("AccessDenied"), TroubleKind::Misconfigured);
        assert_eq!(kind("InternalServerError"), TroubleKind::Unavailable);
        assert_eq!(kind("Brand new"), TroubleKind::Unavailable);
        assert_eq!(statement_kind(None), TroubleKind::Unavailable);
        let words = statement_detail("table t (region r)", Some("ResourceNotFound"));
        assert!(words.contains("check LEDGER_TABLE"), "{words}");
    }
}
