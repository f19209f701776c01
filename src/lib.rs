//! okta-ingest: Okta System Log events into any HTTP log destination, with nothing lost.
//!
//! The logic of the `okta-push` and `okta-pull` Lambdas; the binaries in `functions/` only
//! wire it to the Lambda runtime. The layout follows the data:
//!
//! - [`config`]: every environment variable, read once and validated;
//! - `event`: the Okta event as raw JSON plus the fields that decide anything;
//! - `push`, `pull`: the two handlers (push also replays dead letters; pull also checks the
//!   connection), which parse their invocation and hand events to
//! - `delivery`: the one pipeline (admission, ledger, destination, dead letters) that both
//!   use, over
//! - `state` (ledger, dead letters, checkpoint on one object store), `okta` (the System Log
//!   client) and `telemetry` (logs, the one summary, metrics, redaction).
//!
//! What is public here is what the binaries, tests and benchmarks use: the handlers, their
//! configuration, the ports and their in-memory adapters.

mod aws;
mod backoff;
pub mod config;
mod delivery;
mod directory;
mod event;
mod gzip;
mod http_body;
mod json_scan;
mod lambda;
pub mod ocsf;
mod okta;
mod pull;
mod push;
mod secret;
mod state;
pub mod telemetry;

#[cfg(test)]
mod module_graph;
#[cfg(test)]
mod proptests;

pub use delivery::{Body, Destination, HttpDestination, MemoryDestination, Rejected, SendError};
pub use event::OktaEvent;
pub use lambda::{BadRequest, RawPayloads, StartupError};
pub use okta::{Bucket, FetchError, HttpSystemLog, ListPage, OktaLists, OktaOrg, SystemLog};
pub use pull::{CheckReport, PullError, PullHandler, PullResponse};
pub use push::{PushError, PushHandler, PushPayload, PushResponse, ReplayRequest};
pub use secret::{Secret, SecretSource, StaticSecret};
pub use state::{
    Checkpoint, CheckpointStore, Claim, Condition, DeadLetter, DeadLetters, DynamoLedger, Kept,
    Key, Lease, Ledger, LedgerFault, MemoryLedger, MemoryObjectStore, ObjectLedger, ObjectStore,
    PendingMarks, S3ObjectStore, StoreError, Terms, TroubleKind,
};
pub use telemetry::{Counts, ErrorClass, Summary};
