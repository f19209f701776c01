//! The DynamoDB ledger's delivered marks by group (docs/exactly-once.md), through the real
//! SDK against the testkit's table: a batch's marks are one write to its group's item, and
//! everything that reads the ledger (a later copy, the same container's next invocation, a
//! take-over, a replay or pull) still finds each event delivered once and only once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::{Claim, DynamoLedger, Key, Ledger, MemoryObjectStore, PendingMarks, Terms};
use okta_ingest_testkit::fake_dynamodb::FakeDynamoDb;
use time::OffsetDateTime;
use tokio::time::Instant;

mod faults;
mod inserts;
mod marks;

const TABLE: &str = "ledger";

/// One container's ledger on `table`, its pending marks in `store`.
async fn container(table: &FakeDynamoDb, store: &Arc<MemoryObjectStore>) -> DynamoLedger {
    DynamoLedger::new(
        table.client().await,
        TABLE.to_owned(),
        Some(PendingMarks::new(store.clone())),
    )
}

fn keys(uuids: &[&'static str]) -> Vec<Key<'static>> {
    let now = OffsetDateTime::now_utc();
    uuids.iter().map(|u| (*u, now)).collect()
}

/// One table, one state bucket (pending marks) and two containers' ledgers on them.
struct Rig {
    table: FakeDynamoDb,
    store: Arc<MemoryObjectStore>,
    a: DynamoLedger,
    b: DynamoLedger,
}

impl Rig {
    async fn start() -> Rig {
        let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
        let a = container(&table, &store).await;
        let b = container(&table, &store).await;
        Rig { table, store, a, b }
    }
}

/// A claim's terms: a lease of a minute, two seconds to decide; reading first as pull does
/// if `read_first`.
fn terms(read_first: bool) -> Terms {
    let now = OffsetDateTime::now_utc();
    Terms {
        now,
        lease_until: now + Duration::from_secs(60),
        give_up_at: Instant::now() + Duration::from_secs(2),
        read_first,
    }
}

/// A push-like claim (no read first).
async fn claim(ledger: &DynamoLedger, uuids: &[&'static str]) -> Claim {
    ledger.claim(&keys(uuids), terms(false)).await
}

async fn settle(ledger: &DynamoLedger, delivered: &[&'static str], released: &[&str]) -> usize {
    let give_up_at = Instant::now() + Duration::from_secs(2);
    let settled = ledger
        .settle(
            &keys(delivered),
            released,
            OffsetDateTime::now_utc(),
            give_up_at,
        )
        .await
        .expect("settled");
    settled.pending
}

fn set(uuids: &[&str]) -> HashSet<String> {
    uuids.iter().map(|u| (*u).to_owned()).collect()
}

/// What the claim left to the caller: claimed, to send.
fn claimed(claim: &Claim, asked: &[&str]) -> HashSet<String> {
    asked
        .iter()
        .filter(|u| {
            !claim.delivered.contains(**u)
                && !claim.in_flight.contains(**u)
                && !claim.undecided.contains_key(**u)
        })
        .map(|u| (*u).to_owned())
        .collect()
}
