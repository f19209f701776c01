//! The Okta directory beside the System Log: users, groups, memberships, apps, assignments
//! and admin roles, as records through the one delivery pipeline.
//!
//! Two runs, both invoked on okta-pull: a **full snapshot** (`{"directory": "full"}`) sends
//! every object once per snapshot and resumes across invocations from a checkpoint until it
//! is whole, then reports what disappeared since the last one; a **changes** run
//! (`{"directory": "changes"}`) sends what changed since the last changes run. Each record
//! has a ledger key of its own (per snapshot, per object version, per deletion), so overlapping
//! or repeated runs never send one twice. See docs/directory.md.

mod changes;
mod deliver;
mod full;
mod head;
mod kind;
mod record;
mod run;
mod state;
mod times;
mod walk;

pub(crate) use record::replayed;
pub use run::{Directory, DirectoryError, DirectoryReport, DirectoryRun};
