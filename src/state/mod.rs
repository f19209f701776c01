//! What okta-ingest keeps between invocations: the delivery ledger (a DynamoDB table, or
//! objects in the state bucket), the dead letters and pull's checkpoint (S3, each over one
//! [`ObjectStore`] port).

mod checkpoint;
mod dead_letter;
mod ledger;
mod memory;
mod s3;
mod store;

pub use checkpoint::{Checkpoint, CheckpointError, CheckpointStore, Lease};
pub(crate) use checkpoint::{CHECKPOINT_VERSION, MAX_REMEMBERED_UUIDS};
pub use dead_letter::{DeadLetter, DeadLetterError, DeadLetters, Kept, DEAD_LETTER_PREFIX};
pub use ledger::{
    Claim, DynamoLedger, Key, LaneLedger, Ledger, LedgerFault, MemoryLedger, ObjectLedger,
    PendingMarks, Terms, Trouble, TroubleKind,
};
pub use memory::MemoryObjectStore;
pub use s3::S3ObjectStore;
pub use store::{Condition, Listed, ObjectStore, StoreError};
