//! okta-ingest: Okta System Log events into any HTTP log destination, with nothing lost.
//!
//! The logic of the `okta-push` Lambda (and later `okta-pull`) lives here; the binaries in
//! `functions/` only wire it to the Lambda runtime.

pub mod aws;
pub mod batch;
pub mod check;
pub mod checkpoint;
pub mod config;
pub mod dead_letter;
pub mod destination;
pub mod encode;
pub mod event;
pub mod format;
pub mod forward;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub mod okta;
pub mod pull;
pub mod push;
pub mod redact;
pub mod replay;
pub mod retry;
pub mod secret;
pub mod system_log;
