//! The delivery ledger: which events reached the destination, shared by push, pull and replay.
//!
//! A port ([`Ledger`]: read, claim before sending, settle after) with its adapters side by
//! side:
//!
//! - [`DynamoLedger`], a DynamoDB table (`LEDGER_TABLE`, the template's default): one item per
//!   uuid, claimed before it is sent, so concurrent copies of one event are sent once, at a
//!   cost per invocation that does not depend on the org's volume;
//! - [`ObjectLedger`], objects in the state bucket, as before 0.3: nothing is claimed;
//! - [`MemoryLedger`], in memory, for local runs and tests, whose faults a test can script.
//!
//! Every claim ends, for each event, in one of four answers: claimed (send it), delivered
//! before, held by another live claim (*in flight*), or *not decided* (the store throttled,
//! conflicted, refused or did not answer). Not decided is retried with jittered backoff while
//! the caller's time lasts ([`decide`]), and what is still undecided then is the caller's to
//! handle as its source allows: it is never taken for "in flight".

use std::collections::{HashMap, HashSet};

use futures::future::BoxFuture;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::store::StoreError;

mod decide;
mod lane;
mod memory;
mod objects;
mod pending;
mod table;

pub use lane::LaneLedger;
pub use memory::{LedgerFault, MemoryLedger};
pub use objects::ObjectLedger;
pub use pending::PendingMarks;
pub use table::DynamoLedger;

/// One event as the ledger knows it: its uuid and `published`.
pub type Key<'a> = (&'a str, OffsetDateTime);

/// A ledger operation that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("delivery ledger {0}")]
pub struct LedgerError(#[from] StoreError);

impl LedgerError {
    /// An error at `location` (`table NAME`, `s3://...`).
    pub(crate) fn at(location: impl Into<String>, message: impl std::fmt::Display) -> Self {
        LedgerError(StoreError::Failed {
            location: location.into(),
            message: message.to_string(),
        })
    }
}

/// What a claim is made with.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    /// The wall clock now.
    pub now: OffsetDateTime,
    /// Until when a claim keeps other invocations off (past the caller's Lambda deadline).
    pub lease_until: OffsetDateTime,
    /// When to stop retrying and answer with what is still undecided (or, settling, keep
    /// what is unwritten as pending marks).
    pub give_up_at: Instant,
    /// Many events were likely delivered before (pull, replay): read before claiming, since
    /// a read costs a quarter of a refused claim.
    pub read_first: bool,
}

/// Why the ledger could not decide (or record) an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TroubleKind {
    /// Throttled: `ThrottlingError` reasons, `ProvisionedThroughputExceeded`, request limits.
    Throttled,
    /// Caught in another transaction at the same moment (`TransactionConflict`).
    Conflict,
    /// The store refused the request itself (`ValidationException`, `ValidationError`):
    /// trying again cannot help.
    Rejected,
    /// The table is missing, in another region, or not this function's to use
    /// (`ResourceNotFoundException`, `AccessDeniedException`): an operator must act.
    Misconfigured,
    /// An error answer, a dropped connection, a 5xx.
    Unavailable,
    /// No answer within the time the caller had.
    TimedOut,
}

impl TroubleKind {
    /// Whether trying again, after a pause, can succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            TroubleKind::Throttled | TroubleKind::Conflict | TroubleKind::Unavailable
        )
    }

    /// The name used in logs and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            TroubleKind::Throttled => "throttled",
            TroubleKind::Conflict => "conflict",
            TroubleKind::Rejected => "rejected",
            TroubleKind::Misconfigured => "misconfigured",
            TroubleKind::Unavailable => "unavailable",
            TroubleKind::TimedOut => "timed out",
        }
    }
}

/// One cause of undecided events, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    /// Which kind.
    pub kind: TroubleKind,
    /// What the store said, naming where (`table NAME: ...`).
    pub detail: String,
}

/// What a claim found. Every uuid given is in exactly one of `delivered`, `in_flight`,
/// `undecided`, or in none: then it is the caller's to send and to [`Ledger::settle`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Delivered before: skip.
    pub delivered: HashSet<String>,
    /// Claimed by another invocation whose lease is still running: it sends them.
    pub in_flight: HashSet<String>,
    /// Not decided, and why: neither claimed nor known to be anyone else's.
    pub undecided: HashMap<String, TroubleKind>,
    /// The causes behind `undecided` (one per kind, the first detail seen).
    pub trouble: Vec<Trouble>,
}

impl Claim {
    /// Every one of `uuids` undecided for `trouble`.
    pub fn undecided<'u>(uuids: impl IntoIterator<Item = &'u str>, trouble: Trouble) -> Claim {
        Claim {
            undecided: uuids
                .into_iter()
                .map(|u| (u.to_owned(), trouble.kind))
                .collect(),
            trouble: vec![trouble],
            ..Claim::default()
        }
    }

    /// Notes `trouble`, once per kind.
    pub(crate) fn note(&mut self, trouble: Trouble) {
        if !self.trouble.iter().any(|t| t.kind == trouble.kind) {
            self.trouble.push(trouble);
        }
    }

    /// The worst cause: what an operator must fix first.
    pub fn worst(&self) -> Option<&Trouble> {
        let rank = |k: TroubleKind| match k {
            TroubleKind::Misconfigured => 0,
            TroubleKind::Rejected => 1,
            TroubleKind::TimedOut => 2,
            TroubleKind::Unavailable => 3,
            TroubleKind::Throttled => 4,
            TroubleKind::Conflict => 5,
        };
        self.trouble.iter().min_by_key(|t| rank(t.kind))
    }

    /// The undecided uuids whose claim may have been written all the same: no answer came
    /// (timed out) or an answer that does not say (a 5xx, a dropped connection). A refusal
    /// (throttled, conflicting, rejected, misconfigured) wrote nothing.
    pub fn outcome_unknown(&self) -> Vec<String> {
        self.undecided
            .iter()
            .filter(|(_, k)| matches!(k, TroubleKind::TimedOut | TroubleKind::Unavailable))
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Undecided because the store was busy (throttled or conflicting).
    pub fn throttled(&self) -> usize {
        self.undecided
            .values()
            .filter(|k| matches!(k, TroubleKind::Throttled | TroubleKind::Conflict))
            .count()
    }
}

/// What settling achieved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Delivered marks the store did not take in time, kept as pending marks instead
    /// ([`PendingMarks`]): applied by a later invocation, and seen by any claim that meets
    /// their events' run-out claims.
    pub pending: usize,
}

/// The delivery ledger, as one container uses it.
pub trait Ledger: Send + Sync {
    /// Where it is, for the start-up line: `dynamodb:TABLE`, `s3-objects`, `memory`.
    fn describe(&self) -> String;

    /// Whether a claim keeps other invocations from sending the same events (every store
    /// but the S3 objects).
    fn claims(&self) -> bool {
        true
    }

    /// Which of `events` the ledger shows delivered (eventually consistent).
    fn read<'a>(
        &'a self,
        events: &'a [Key<'a>],
    ) -> BoxFuture<'a, Result<HashSet<String>, LedgerError>>;

    /// Claims `events` on `terms`, retrying what is not decided until `terms.give_up_at`.
    fn claim<'a>(&'a self, events: &'a [Key<'a>], terms: Terms) -> BoxFuture<'a, Claim>;

    /// Records `delivered` as delivered and gives up this container's claims on `released`
    /// (claimed, not delivered), so a later copy, a replay or pull can send them, at `now`.
    /// Marks are retried until `give_up_at`; what is still unwritten is kept as pending marks
    /// where the ledger has them ([`Settled::pending`]), an error where it has not.
    fn settle<'a>(
        &'a self,
        delivered: &'a [Key<'a>],
        released: &'a [&'a str],
        now: OffsetDateTime,
        give_up_at: Instant,
    ) -> BoxFuture<'a, Result<Settled, LedgerError>>;

    /// Applies pending marks earlier invocations left; returns how many were applied.
    fn catch_up(&self, _give_up_at: Instant) -> BoxFuture<'_, Result<usize, LedgerError>> {
        Box::pin(async { Ok(0) })
    }
}

#[cfg(test)]
mod tests;
