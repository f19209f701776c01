//! The delivery ledger: which events reached the destination, shared by push, pull and replay.
//!
//! Two stores, one interface ([`Ledger::claim`] before sending, [`Ledger::settle`] after):
//!
//! - a DynamoDB table (`LEDGER_TABLE`, the template's default): one item per uuid, claimed
//!   before it is sent ([`super::claims`]), so concurrent copies of one event are sent once,
//!   and the cost per invocation does not depend on the org's volume;
//! - objects in the state bucket ([`super::objects`]), as before 0.3.

use std::collections::HashSet;
use std::sync::Arc;

use time::OffsetDateTime;

use super::claims::{Claim, DynamoClaims};
use super::objects::{ObjectLedger, LEDGER_PREFIX};
use super::store::{ObjectStore, StoreError};

/// A ledger operation that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("delivery ledger {0}")]
pub struct LedgerError(#[from] StoreError);

impl LedgerError {
    /// The ledger at `location` did not answer within `budget`.
    fn timed_out(location: String, budget: std::time::Duration) -> Self {
        LedgerError(StoreError::Failed {
            location,
            message: format!("no answer within {} ms", budget.as_millis()),
        })
    }
}

/// The ledger one container uses.
pub struct Ledger(Store);

enum Store {
    /// Objects in the state bucket: nothing is claimed.
    Objects(ObjectLedger),
    /// Claims in a DynamoDB table.
    Table(DynamoClaims),
}

impl Ledger {
    /// A ledger of objects in `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Ledger(Store::Objects(ObjectLedger::new(store)))
    }

    /// A ledger of claims in a DynamoDB table.
    pub fn table(claims: DynamoClaims) -> Self {
        Ledger(Store::Table(claims))
    }

    /// Where the ledger is, for the start-up line: `dynamodb:TABLE` or `s3-objects`.
    pub fn describe(&self) -> String {
        match &self.0 {
            Store::Table(c) => format!("dynamodb:{}", c.table()),
            Store::Objects(_) => "s3-objects".to_owned(),
        }
    }

    /// This ledger did not answer within `budget`.
    pub(crate) fn timed_out(&self, budget: std::time::Duration) -> LedgerError {
        let location = match &self.0 {
            Store::Table(c) => format!("table {}", c.table()),
            Store::Objects(_) => LEDGER_PREFIX.to_owned(),
        };
        LedgerError::timed_out(location, budget)
    }

    /// Whether a claim keeps other invocations from sending the same events.
    pub fn claims(&self) -> bool {
        matches!(self.0, Store::Table(_))
    }

    /// Claims `events` (uuid, published) until `lease_until`: what comes back was delivered
    /// before or is being sent by another invocation; the rest is the caller's to send and
    /// to [`Ledger::settle`]. Without a table, nothing is claimed and `in_flight` is empty.
    /// `read_first`: many are likely delivered already, so the table is read before claiming.
    pub async fn claim(
        &self,
        events: &[(&str, OffsetDateTime)],
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
        read_first: bool,
    ) -> Result<Claim, LedgerError> {
        match &self.0 {
            Store::Table(c) => {
                let uuids: Vec<&str> = events.iter().map(|(u, _)| *u).collect();
                c.claim(&uuids, lease_until, now, read_first).await
            }
            Store::Objects(o) => Ok(Claim {
                delivered: o.delivered(events).await?,
                in_flight: HashSet::new(),
            }),
        }
    }

    /// Records `delivered` as delivered and gives up the claims on `released` (claimed, not
    /// delivered), so a later copy, a replay or pull can send them.
    pub async fn settle(
        &self,
        delivered: &[(&str, OffsetDateTime)],
        released: &[&str],
        now: OffsetDateTime,
    ) -> Result<(), LedgerError> {
        match &self.0 {
            Store::Table(c) => {
                let uuids: Vec<&str> = delivered.iter().map(|(u, _)| *u).collect();
                c.settle(&uuids, released, now).await
            }
            Store::Objects(_) if delivered.is_empty() => Ok(()),
            Store::Objects(o) => o.record(delivered).await,
        }
    }
}
