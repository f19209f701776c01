//! The delivery ledger in a DynamoDB table: one item per uuid, so exactly one invocation
//! sends each event, however many copies arrive at once.
//!
//! Before sending, an invocation whose events are often delivered already (pull, replay)
//! reads its uuids (BatchGetItem, 100 a request) and skips those; then it *claims* the rest
//! (push, whose events are nearly always new, claims at once): a conditional put per uuid
//! (`state = claimed`, with a lease until shortly after its Lambda deadline), 100 to a
//! transaction, that succeeds only if the uuid is unknown or already this container's. A
//! refused put comes back with the item it met: delivered (skip), claimed under a running
//! lease (*in flight*: that invocation sends it), or claimed under a lease that ran out.
//! That last one's claimer died, or sent the event and could not mark it (DynamoDB left the
//! marks unprocessed): the pending marks ([`PendingMarks`]) say which, and only an event not
//! there is taken over, with a second put. After sending, the invocation *settles*
//! ([`settle`]).
//!
//! A throttled, conflicting or failed request leaves its events *undecided* (never in
//! flight), retried with backoff while time remains ([`super::decide`]).
//!
//! Items carry `expires` (epoch seconds) for the table's TTL: the ledger forgets a uuid a
//! month (31 days) after it was written, as the S3 ledger's lifecycle rule does: a dead letter
//! can be replayed for 30 days, and the replay must still find what was delivered.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::BoxFuture;
use time::OffsetDateTime;
use tokio::time::Instant;

mod claim;
mod errors;
mod read;
mod settle;

use super::decide::until_decided;
use super::{Claim, Key, Ledger, LedgerError, PendingMarks, Settled, Terms};

/// Items per transaction (DynamoDB's limit).
const CLAIMS_PER_TRANSACTION: usize = 100;
/// Keys per BatchGetItem request (DynamoDB's limit).
const READS_PER_BATCH: usize = 100;
/// Items per BatchWriteItem request (DynamoDB's limit).
const WRITES_PER_BATCH: usize = 25;
/// Reads and claims in flight at once: a 6 MB SQS batch (about 1,800 events) needs 19 of each.
const CONCURRENCY: usize = 32;
/// Delivered marks in flight at once: the same batch needs 73 (25 a request), all at once,
/// so settling costs one round trip.
const WRITE_CONCURRENCY: usize = 80;
/// Rounds within one attempt for puts cancelled only because another put of their
/// transaction failed (or met a run-out claim): they go again at once, without the others.
const ROUNDS: usize = 4;
/// How long the table remembers a uuid.
pub const RETENTION: Duration = Duration::from_secs(31 * 86_400);

const UUID: &str = "uuid";
const STATE: &str = "state";
const LEASE: &str = "lease";
const OWNER: &str = "owner";
const EXPIRES: &str = "expires";
const CLAIMED: &str = "claimed";
const DELIVERED: &str = "delivered";

/// A put's condition: the uuid is new or this container's; or, for a claim whose lease ran
/// out (checked against the pending marks first), also that.
const FRESH: &str = "attribute_not_exists(#u) OR (#s = :claimed AND #o = :me)";
const TAKE_OVER: &str = "attribute_not_exists(#u) OR (#s = :claimed AND (#l < :now OR #o = :me))";

/// The DynamoDB table of claims, as one container sees it.
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// `table NAME (region R)`, for messages.
    location: String,
    /// Names this container in its claims. A container runs one invocation at a time, so
    /// a claim of its own is never in flight elsewhere: it may take it again, and only it
    /// may release it.
    owner: String,
    /// Where marks the table did not take in time are kept.
    pending: Option<PendingMarks>,
}

impl DynamoLedger {
    /// Claims in `table`; marks it cannot write in time go to `pending`.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: String,
        pending: Option<PendingMarks>,
    ) -> Self {
        let region = client
            .config()
            .region()
            .map_or_else(|| "no region set".to_owned(), ToString::to_string);
        DynamoLedger {
            location: format!("table {table} (region {region})"),
            client,
            table,
            owner: format!("{:016x}", fastrand::u64(..)),
            pending,
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn failed(&self, message: impl std::fmt::Display) -> LedgerError {
        LedgerError::at(self.location.clone(), message)
    }
}

impl Ledger for DynamoLedger {
    fn describe(&self) -> String {
        format!("dynamodb:{}", self.table)
    }

    fn read<'a>(
        &'a self,
        events: &'a [Key<'a>],
    ) -> BoxFuture<'a, Result<HashSet<String>, LedgerError>> {
        Box::pin(async move {
            let uuids: Vec<&str> = events.iter().map(|(u, _)| *u).collect();
            self.delivered(&uuids).await
        })
    }

    fn claim<'a>(&'a self, events: &'a [Key<'a>], terms: Terms) -> BoxFuture<'a, Claim> {
        Box::pin(async move {
            let uuids: Vec<&str> = events.iter().map(|(u, _)| *u).collect();
            // Most copies pull reads were delivered long ago: a read costs a quarter of a
            // refused claim. The read may be stale or fail; the claim below decides.
            let delivered = if terms.read_first {
                self.delivered(&uuids).await.unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "ledger read failed: the claim decides alone");
                    HashSet::new()
                })
            } else {
                HashSet::new()
            };
            let todo: Vec<&str> = uuids
                .into_iter()
                .filter(|u| !delivered.contains(*u))
                .collect();
            let mut claim = until_decided(todo, terms.give_up_at, |todo| async move {
                self.attempt(todo, &terms).await
            })
            .await;
            claim.delivered.extend(delivered);
            claim
        })
    }

    fn settle<'a>(
        &'a self,
        delivered: &'a [Key<'a>],
        released: &'a [&'a str],
        now: OffsetDateTime,
        give_up_at: Instant,
    ) -> BoxFuture<'a, Result<Settled, LedgerError>> {
        Box::pin(self.settle_claims(delivered, released, now, give_up_at))
    }

    fn catch_up(&self, give_up_at: Instant) -> BoxFuture<'_, Result<usize, LedgerError>> {
        Box::pin(self.apply_pending(give_up_at))
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i128) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn epoch_ms(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

/// The TTL of an item written at `now`.
fn expires(now: OffsetDateTime) -> i128 {
    i128::from(now.unix_timestamp()).saturating_add(i128::from(RETENTION.as_secs()))
}
