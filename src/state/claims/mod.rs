//! The delivery ledger in a DynamoDB table: one item per uuid, so exactly one invocation
//! sends each event, however many copies arrive at once.
//!
//! Before sending, an invocation whose events are often delivered already (pull, replay)
//! reads its uuids (BatchGetItem, 100 a request) and skips those; then it *claims* the rest
//! (push, whose events are nearly always new, claims at once): a conditional put per uuid
//! (`state = claimed`, with a lease until shortly after its Lambda deadline), 100 to a
//! transaction. A put succeeds only if the uuid is unknown or its claim's lease has run
//! out (the claimer died). After sending, the invocation *settles*: what the destination
//! accepted becomes `state = delivered`; what it did not is released (deleted, if the
//! claim is still this container's), so a later copy, a replay or pull can send it. A claim that fails tells which: delivered before, or
//! claimed by another live invocation (*in flight*: that one sends it, and if it dies its
//! lease runs out and the source gives the event again).
//!
//! Items carry `expires` (epoch seconds) for the table's TTL: the ledger forgets a uuid a
//! month (31 days) after it was written, as the S3 ledger's lifecycle rule does: a dead letter
//! can be replayed for 30 days, and the replay must still find what was delivered.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use futures::StreamExt;
use time::OffsetDateTime;

mod settle;

use super::store::StoreError;
use super::LedgerError;

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
/// Rounds for items caught in another transaction at the same moment, or left unprocessed.
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

/// What a claim found for the uuids it did not get.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Delivered before: skip.
    pub delivered: HashSet<String>,
    /// Claimed by another invocation whose lease is still running: it sends them.
    pub in_flight: HashSet<String>,
}

/// The DynamoDB table of claims, as one container sees it.
pub struct DynamoClaims {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Names this container in its claims. A container runs one invocation at a time, so
    /// a claim of its own is never in flight elsewhere: it may take it again, and only it
    /// may release it.
    owner: String,
}

impl DynamoClaims {
    /// Claims in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        DynamoClaims {
            client,
            table,
            owner: format!("{:016x}", fastrand::u64(..)),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Claims `uuids` until `lease_until`. Every uuid not in the answer is this caller's
    /// to send, and to settle. With `read_first`, the table is read before claiming.
    pub async fn claim(
        &self,
        uuids: &[&str],
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
        read_first: bool,
    ) -> Result<Claim, LedgerError> {
        let mut claim = Claim::default();
        // Most copies pull reads were delivered long ago: a read costs a quarter of a failed
        // claim. The read may be stale; the claim below is what decides. New events (push)
        // go straight to the claim: a transaction holding a delivered one is cancelled, and
        // its other items are claimed again in the next round.
        let delivered = if read_first {
            self.delivered(uuids).await?
        } else {
            HashSet::new()
        };
        let mut todo: Vec<&str> = uuids
            .iter()
            .copied()
            .filter(|u| !delivered.contains(*u))
            .collect();
        claim.delivered = delivered;
        for _ in 0..ROUNDS {
            if todo.is_empty() {
                break;
            }
            let rounds: Vec<Result<Round, LedgerError>> = futures::stream::iter(
                todo.chunks(CLAIMS_PER_TRANSACTION)
                    .map(|chunk| self.claim_chunk(chunk, lease_until, now)),
            )
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
            todo = Vec::new();
            for round in rounds {
                let round = round?;
                claim.delivered.extend(round.delivered);
                claim.in_flight.extend(round.in_flight);
                todo.extend(round.again);
            }
        }
        // Still contended after every round: another invocation is writing them right now.
        claim.in_flight.extend(todo.into_iter().map(str::to_owned));
        Ok(claim)
    }

    /// Which of `uuids` the table shows delivered (an eventually consistent read).
    async fn delivered(&self, uuids: &[&str]) -> Result<HashSet<String>, LedgerError> {
        let reads: Vec<Result<Vec<String>, LedgerError>> = futures::stream::iter(
            uuids
                .chunks(READS_PER_BATCH)
                .map(|chunk| self.read_batch(chunk)),
        )
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
        let mut found = HashSet::new();
        for read in reads {
            found.extend(read?);
        }
        Ok(found)
    }

    /// One BatchGetItem, with the keys DynamoDB leaves unprocessed asked again.
    async fn read_batch(&self, chunk: &[&str]) -> Result<Vec<String>, LedgerError> {
        let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
            .iter()
            .map(|u| HashMap::from([(UUID.to_owned(), s(u))]))
            .collect();
        let mut found = Vec::new();
        for round in 0..ROUNDS {
            if keys.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(20 << round)).await;
            }
            let wanted = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("#u, #s")
                .expression_attribute_names("#u", UUID)
                .expression_attribute_names("#s", STATE)
                .build()
                .map_err(|e| self.failed(e))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, wanted)
                .send()
                .await
                .map_err(|e| self.failed(DisplayErrorContext(&e)))?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            for item in items {
                let state = item.get(STATE).and_then(|v| v.as_s().ok());
                if let (Some(DELIVERED), Some(Ok(uuid))) = (
                    state.map(String::as_str),
                    item.get(UUID).map(AttributeValue::as_s),
                ) {
                    found.push(uuid.clone());
                }
            }
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        // What is still unread is left to the claim, which decides anyway.
        Ok(found)
    }

    /// One transaction of conditional puts.
    async fn claim_chunk<'u>(
        &self,
        chunk: &[&'u str],
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Round<'u>, LedgerError> {
        // What every put of the transaction shares is made once and copied.
        let (claimed, owner) = (s(CLAIMED), s(&self.owner));
        let (lease, expires) = (n(epoch_ms(lease_until)), n(expires(now)));
        let names = HashMap::from([
            ("#u".to_owned(), UUID.to_owned()),
            ("#s".to_owned(), STATE.to_owned()),
            ("#l".to_owned(), LEASE.to_owned()),
            ("#o".to_owned(), OWNER.to_owned()),
        ]);
        let values = HashMap::from([
            (":claimed".to_owned(), claimed.clone()),
            (":now".to_owned(), n(epoch_ms(now))),
            (":me".to_owned(), owner.clone()),
        ]);
        let mut items = Vec::with_capacity(chunk.len());
        for uuid in chunk {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(HashMap::from([
                    (UUID.to_owned(), s(uuid)),
                    (STATE.to_owned(), claimed.clone()),
                    (LEASE.to_owned(), lease.clone()),
                    (OWNER.to_owned(), owner.clone()),
                    (EXPIRES.to_owned(), expires.clone()),
                ])))
                .condition_expression(
                    "attribute_not_exists(#u) OR (#s = :claimed AND (#l < :now OR #o = :me))",
                )
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(|e| self.failed(e))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let mut round = Round::default();
        let err = match sent {
            Ok(_) => return Ok(round),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            return Err(self.failed(DisplayErrorContext(&err)));
        };
        let reasons = cancelled.cancellation_reasons();
        for (i, uuid) in chunk.iter().enumerate() {
            let reason = reasons.get(i);
            match reason.and_then(|r| r.code()) {
                Some("ConditionalCheckFailed") => {
                    let state = reason
                        .and_then(|r| r.item())
                        .and_then(|item| item.get(STATE))
                        .and_then(|v| v.as_s().ok());
                    if state.is_some_and(|s| s == DELIVERED) {
                        round.delivered.push(uuid.to_string());
                    } else {
                        round.in_flight.push(uuid.to_string());
                    }
                }
                // Not written because another item of the transaction failed, or caught in
                // someone else's transaction: try again.
                _ => round.again.push(uuid),
            }
        }
        Ok(round)
    }

    fn failed(&self, message: impl std::fmt::Display) -> LedgerError {
        LedgerError::from(StoreError::Failed {
            location: format!("table {}", self.table),
            message: message.to_string(),
        })
    }
}

/// What one transaction decided.
#[derive(Default)]
struct Round<'u> {
    delivered: Vec<String>,
    in_flight: Vec<String>,
    again: Vec<&'u str>,
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
