//! Why a pull run ended without an error, in the words its summary's `stopped` gives.

/// Why a run ended without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stopped {
    /// The last page was short: nothing more to read now.
    CaughtUp,
    /// The next events are younger than the settle delay: push may still deliver them.
    Settling,
    /// Another invocation is sending an event of the last page (a live ledger claim).
    InFlight,
    /// The ledger could not decide events of the last page; the next run reads them again.
    Ledger(String),
    /// A full page without a `next` link.
    NoNextLink,
    /// A backfill read its whole window.
    BackfillDone,
    /// Waiting (rate limit, backoff) would have passed the deadline.
    OutOfTime(String),
    /// The destination stayed unavailable; the next run sends again.
    Destination(String),
    /// Another run holds the checkpoint's lease.
    LeaseHeld(String),
    /// Another run claimed the checkpoint between our read and our claim.
    LeaseTaken,
    /// The checkpoint changed under this run.
    LeaseLost,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::CaughtUp => f.write_str("caught up"),
            Stopped::Settling => {
                f.write_str("settling: the next events are younger than SETTLE_DELAY_SECONDS")
            }
            Stopped::InFlight => f.write_str(
                "in flight: another invocation is sending an event of this page; the next run reads it again",
            ),
            Stopped::Ledger(reason) => write!(
                f,
                "delivery ledger: {reason}; the next run reads these events again"
            ),
            Stopped::NoNextLink => f.write_str("no next link"),
            Stopped::BackfillDone => f.write_str("backfill window done"),
            Stopped::OutOfTime(reason) => f.write_str(reason),
            Stopped::Destination(reason) => write!(f, "destination: {reason}"),
            Stopped::LeaseHeld(owner) => write!(f, "another run ({owner}) holds the checkpoint"),
            Stopped::LeaseTaken => f.write_str("another run claimed the checkpoint first"),
            Stopped::LeaseLost => f.write_str("lost the checkpoint to another run"),
        }
    }
}
