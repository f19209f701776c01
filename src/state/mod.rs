//! What okta-ingest keeps between invocations, all in one S3 bucket: the delivery ledger,
//! the dead letters and pull's checkpoint, each over one [`ObjectStore`] port.

mod checkpoint;
mod dead_letter;
mod ledger;
mod memory;
mod s3;
mod store;

pub use checkpoint::{Checkpoint, CheckpointError, CheckpointStore, Lease};
pub(crate) use checkpoint::{CHECKPOINT_VERSION, MAX_REMEMBERED_UUIDS};
pub use dead_letter::{DeadLetter, DeadLetterError, DeadLetters, Kept, DEAD_LETTER_PREFIX};
pub use ledger::{Ledger, LedgerError};
pub use memory::MemoryObjectStore;
pub use s3::S3ObjectStore;
pub use store::{Listed, ObjectStore};
