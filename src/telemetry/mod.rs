//! What the functions tell operators: JSON logs, the one summary per invocation, EMF metrics,
//! and the redaction that keeps credentials out of all three.

pub(crate) mod directory;
pub mod logging;
pub(crate) mod metrics;
pub(crate) mod redact;
pub(crate) mod summary;

pub use directory::DirectoryRunSummary;
pub(crate) use summary::elapsed_ms;
pub use summary::{Counts, ErrorClass, ErrorCounts, PullRun, ReplayRun, Summary};
