//! Why a pull run (or a directory run) failed, and the `errorType` each failure answers with.

use lambda_runtime::Diagnostic;

use crate::directory::DirectoryError;
use crate::lambda::{self, BadRequest};
use crate::okta::FetchError;
use crate::state::{CheckpointError, DeadLetterError};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Okta could not be read (401, 403, foreign link, persistent failure).
    #[error(transparent)]
    Okta(#[from] FetchError),
    /// The checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Dead letters could not be written; the page stays unacknowledged.
    #[error("{0}; the page will be read again next run")]
    DeadLetters(#[from] DeadLetterError),
    /// The checkpoint belongs to another org.
    #[error("the checkpoint at {location} belongs to {found}, not {expected}: set CHECKPOINT_KEY to a key of its own")]
    WrongOrg {
        /// Where.
        location: String,
        /// The org in it.
        found: String,
        /// The configured org.
        expected: String,
    },
    /// Okta returned a full page whose `next` is the same URL: following it would loop.
    #[error("Okta returned a full page whose next link is the request itself ({url}); stopping instead of looping")]
    Loop {
        /// The URL.
        url: String,
    },
    /// A payload that is not an invocation okta-pull reads.
    #[error("bad request: {0}")]
    BadRequest(#[from] BadRequest),
    /// A directory run failed (what it delivered stays delivered; its checkpoint says
    /// where the next one goes on).
    #[error("directory run: {0}")]
    Directory(#[from] DirectoryError),
    /// A backfill could not finish in this invocation.
    #[error("backfill stopped before the end of its window: {reason}. The window still to do is {resume_from} to {until}: invoke again with since={resume_from} and until={until} to finish")]
    BackfillIncomplete {
        /// Why.
        reason: String,
        /// Where the window still to do starts: every event before it is handled.
        resume_from: String,
        /// The window's end.
        until: String,
    },
}

impl From<PullError> for Diagnostic {
    fn from(e: PullError) -> Self {
        let kind = match &e {
            PullError::Okta(FetchError::Unauthorized { .. }) => "Unauthorized",
            PullError::Okta(FetchError::Forbidden { .. }) => "Forbidden",
            PullError::Okta(FetchError::ForeignLink { .. }) => "ForeignLink",
            PullError::Okta(FetchError::Auth { .. }) => "OAuth",
            PullError::Okta(FetchError::Token(_)) => "OktaCredential",
            PullError::Okta(FetchError::PageTooLarge { .. }) => "OktaPageTooLarge",
            PullError::Okta(_) => "OktaUnavailable",
            PullError::Checkpoint(_) | PullError::WrongOrg { .. } => "Checkpoint",
            PullError::DeadLetters(_) => "NotKept",
            PullError::Loop { .. } => "Loop",
            PullError::BadRequest(_) => "BadRequest",
            PullError::BackfillIncomplete { .. } => "BackfillIncomplete",
            PullError::Directory(DirectoryError::Okta(FetchError::ForbiddenList { .. })) => {
                "Forbidden"
            }
            PullError::Directory(DirectoryError::Okta(FetchError::Unauthorized { .. })) => {
                "Unauthorized"
            }
            PullError::Directory(_) => "Directory",
        };
        Diagnostic {
            error_type: lambda::error_type(kind),
            error_message: e.to_string(),
        }
    }
}
