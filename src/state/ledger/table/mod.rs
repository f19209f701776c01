//! The delivery ledger in a DynamoDB table: one item per uuid, so exactly one invocation
//! sends each event, however many copies arrive at once.
//!
//! Before sending, an invocation whose events are often delivered already (pull, replay)
//! reads its uuids (BatchGetItem, 100 keys a request) and skips those; then it *claims* the
//! rest (push, whose events are nearly always new, claims at once): a PartiQL INSERT per
//! uuid (`state = claimed`, with a lease until shortly after its Lambda deadline, and the
//! claim's *group*), 25 to a request, one write unit each, that succeeds only if the uuid is
//! unknown ([`insert`]); meeting this claim's own item is a claim too. After sending, the
//! invocation *settles* ([`settle`]): what the destination accepted is marked delivered
//! **by group**, one update per group and batch that adds the events' digests to the item
//! `group#<id>` (the uuid items stay `claimed`), so a batch of 455 events costs one write,
//! not 455.
//!
//! A refused INSERT comes back with the item it met: delivered (an item of the older design,
//! `state = delivered`), or claimed under some group. A claim of another group is looked up
//! in that group's item (a strongly consistent read): a member was delivered (skip); if not,
//! a running lease means *in flight* (that invocation sends it), and a lease that ran out
//! means its claimer died, or sent the event and could not mark it (DynamoDB left the marks
//! unprocessed): the pending marks ([`PendingMarks`]) say which, and only an event not there
//! is taken over, with a conditional put (in a transaction) on the group it met.
//!
//! A throttled, conflicting or failed request leaves its events *undecided* (never in
//! flight), retried with backoff while time remains ([`super::decide`]).
//!
//! Items carry `expires` (epoch seconds) for the table's TTL: the ledger forgets a uuid a
//! month (31 days) after it was written, as the S3 ledger's lifecycle rule does: a dead letter
//! can be replayed for 30 days, and the replay must still find what was delivered. A group's
//! item is written after its members' claims and expires no earlier than any of them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::BoxFuture;
use time::OffsetDateTime;
use tokio::time::Instant;

mod claim;
mod errors;
mod groups;
mod insert;
mod read;
mod refused;
mod settle;

use super::decide::until_decided;
use super::{Claim, Key, Ledger, LedgerError, PendingMarks, Settled, Terms};

/// A map keyed by uuid, on the push hot path (several lookups per event): foldhash, randomly
/// seeded per process like std's SipHash, at a fraction of its cost.
type ByUuid<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// The group each uuid of a claim is asked under.
type Groups<'u> = ByUuid<&'u str, Arc<str>>;

/// Items per transaction (DynamoDB's limit): take-overs, and claims when INSERTs are denied.
const CLAIMS_PER_TRANSACTION: usize = 100;
/// Keys per BatchGetItem request (DynamoDB's limit).
const READS_PER_BATCH: usize = 100;
/// Items per BatchWriteItem request (DynamoDB's limit).
const WRITES_PER_BATCH: usize = 25;
/// Reads in flight at once: a 6 MB SQS batch (about 1,800 events) needs 19.
const CONCURRENCY: usize = 32;
/// Claim requests in flight at once: the same batch needs 73 (25 INSERTs a request), so
/// claiming it costs two round trips.
const CLAIM_CONCURRENCY: usize = 40;
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
const GROUP: &str = "group";
const MEMBERS: &str = "members";
const CLAIMED: &str = "claimed";
const DELIVERED: &str = "delivered";
/// How a group's item is keyed: `group#<id>` (no uuid begins so).
const GROUP_KEY: &str = "group#";
/// Events claimed under one group, at most: a group's item holds 16 bytes per delivered
/// member (16 KB for 1,000), and each mark is billed at the item's size after it.
const GROUP_SIZE: usize = 1_000;

/// A fresh claim's condition when it goes as a put (INSERTs denied): the uuid is new or
/// already this claim's (owner and group).
const FRESH: &str = "attribute_not_exists(#u) OR (#s = :claimed AND #o = :me AND #g = :g)";
/// A take-over's: the claim met is still the one whose group was looked up (or a claim of
/// the older design, without a group), and its lease ran out or it is this container's.
const TAKE_OVER: &str =
    "attribute_not_exists(#u) OR (#s = :claimed AND #g = :old AND (#l < :now OR #o = :me))";
const TAKE_OVER_UNGROUPED: &str = "attribute_not_exists(#u) OR (#s = :claimed AND attribute_not_exists(#g) AND (#l < :now OR #o = :me))";

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
    /// The group of each uuid this container claimed (or may have: the claim got no answer)
    /// and has not settled yet. Only saves writes: a uuid not known claimed is marked
    /// delivered on its own item, and one not here at all is not released.
    groups: Mutex<ByUuid<String, Held>>,
    /// The number of this container's next group.
    next_group: AtomicU64,
    /// The PartiQL INSERT of a claim ([`insert::statement`]).
    insert: String,
    /// Set once the table refused an INSERT for want of `dynamodb:PartiQLInsert` (a role
    /// from before claims were INSERTs): fresh claims then go as transactions.
    inserts_denied: AtomicBool,
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
            insert: insert::statement(&table),
            inserts_denied: AtomicBool::new(false),
            client,
            table,
            owner: format!("{:016x}", fastrand::u64(..)),
            pending,
            groups: Mutex::new(ByUuid::default()),
            next_group: AtomicU64::new(0),
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
            let groups = &self.assign_groups(&todo);
            let mut claim = until_decided(todo.clone(), terms.give_up_at, |todo| async move {
                self.attempt(todo, groups, &terms).await
            })
            .await;
            self.remember_claimed(&todo, groups, &claim);
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

impl DynamoLedger {
    /// Gives `uuids` their groups: a new one per [`GROUP_SIZE`].
    fn assign_groups<'u>(&self, uuids: &[&'u str]) -> Groups<'u> {
        let mut assigned = Groups::with_capacity_and_hasher(uuids.len(), Default::default());
        for chunk in uuids.chunks(GROUP_SIZE) {
            let number = self.next_group.fetch_add(1, Ordering::Relaxed);
            let group: Arc<str> = format!("{}-{number:x}", self.owner).into();
            for uuid in chunk {
                assigned.insert(*uuid, group.clone());
            }
        }
        assigned
    }

    /// Remembers, for settling, the group of each of `asked` that `claim` left to the
    /// caller (claimed), or left undecided with its outcome unknown (to release). A group's
    /// mark counts only for an event whose own item names the group, so an event sent without
    /// a sure claim (undecided, on its last receive) is marked on its own item.
    fn remember_claimed(&self, asked: &[&str], groups: &Groups<'_>, claim: &Claim) {
        let unknown: HashSet<String> = claim.outcome_unknown().into_iter().collect();
        let mut remembered = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        // Only a store of what settling saves: claims a caller never settled are forgotten
        // rather than kept for ever (their marks then go on their own items).
        if remembered.len() > 64 * GROUP_SIZE {
            remembered.clear();
        }
        for uuid in asked {
            let Some(group) = groups.get(uuid) else {
                continue;
            };
            let held = if unknown.contains(*uuid) {
                Held::Maybe(group.clone())
            } else if claim.delivered.contains(*uuid)
                || claim.in_flight.contains(*uuid)
                || claim.undecided.contains_key(*uuid)
            {
                continue;
            } else {
                Held::Claimed(group.clone())
            };
            remembered.insert((*uuid).to_owned(), held);
        }
    }

    /// Forgets and returns what this container holds on `uuids`.
    fn take_groups<'u>(&self, uuids: &[&'u str]) -> Vec<(&'u str, Option<Held>)> {
        let mut remembered = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        uuids.iter().map(|u| (*u, remembered.remove(*u))).collect()
    }
}

/// A claim this container holds, or may hold, on a uuid, under its group.
#[derive(Debug, Clone)]
enum Held {
    /// The claim was written.
    Claimed(Arc<str>),
    /// The claim got no answer: it may have been written.
    Maybe(Arc<str>),
}

impl Held {
    fn group(&self) -> &Arc<str> {
        match self {
            Held::Claimed(g) | Held::Maybe(g) => g,
        }
    }
}

/// What a group's item holds for `uuid`: the first 16 bytes of its SHA-256.
fn digest(uuid: &str) -> Vec<u8> {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, uuid.as_bytes());
    hash.as_ref().iter().take(16).copied().collect()
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
