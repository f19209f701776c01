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

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use futures::future::BoxFuture;
use futures::StreamExt;
use time::OffsetDateTime;
use tokio::time::Instant;

mod errors;
mod settle;

use super::decide::{until_decided, Attempt};
use super::{Claim, Key, Ledger, LedgerError, PendingMarks, Settled, Terms, Trouble, TroubleKind};

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

/// One transaction's answer: a verdict per put, and what went wrong.
struct Chunk<'u> {
    verdicts: Vec<(&'u str, &'static str, Verdict)>,
    trouble: Vec<Trouble>,
}

/// What one put decided.
enum Verdict {
    Claimed,
    Delivered,
    InFlight,
    /// Claimed by another whose lease ran out.
    RunOut,
    /// Not written only because another put of the transaction was refused.
    Again,
    Undecided(TroubleKind),
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

    /// Which of `uuids` the table shows delivered (an eventually consistent read).
    async fn delivered(&self, uuids: &[&str]) -> Result<HashSet<String>, LedgerError> {
        // The futures are made first: a stream over a closure that makes them is not `Send`
        // for every lifetime, as the port's boxed futures must be.
        let reads: Vec<_> = uuids
            .chunks(READS_PER_BATCH)
            .map(|chunk| self.read_batch(chunk))
            .collect();
        let reads: Vec<Result<Vec<String>, LedgerError>> = futures::stream::iter(reads)
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
                tokio::time::sleep(super::decide::pause(round as u32)).await;
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
                .map_err(|e| self.failed(errors::classify(&self.location, &e).detail))?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            for item in items {
                if let (Some(DELIVERED), Some(uuid)) = (
                    item.get(STATE)
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str),
                    item.get(UUID).and_then(|v| v.as_s().ok()),
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

    /// One attempt at `todo`: puts that were refused only because of another put of their
    /// transaction go again at once; run-out claims are checked against the pending marks
    /// and taken over.
    async fn attempt<'u>(&self, todo: Vec<&'u str>, terms: &Terms) -> Attempt<'u> {
        let mut answer = Attempt::default();
        let mut fresh = todo;
        let mut take_over: Vec<&'u str> = Vec::new();
        for _ in 0..ROUNDS {
            if fresh.is_empty() && take_over.is_empty() {
                return answer;
            }
            let requests = fresh
                .chunks(CLAIMS_PER_TRANSACTION)
                .map(|c| (c, FRESH))
                .chain(
                    take_over
                        .chunks(CLAIMS_PER_TRANSACTION)
                        .map(|c| (c, TAKE_OVER)),
                );
            let requests: Vec<_> = requests
                .map(|(chunk, condition)| self.claim_chunk(chunk, condition, terms))
                .collect();
            let chunks: Vec<Chunk<'u>> = futures::stream::iter(requests)
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let (mut next_fresh, mut next_take_over, mut run_out) =
                (Vec::new(), Vec::new(), Vec::new());
            let mut verdicts = Vec::new();
            for chunk in chunks {
                answer.trouble.extend(chunk.trouble);
                verdicts.extend(chunk.verdicts);
            }
            for (uuid, condition, verdict) in verdicts {
                match verdict {
                    Verdict::Claimed => {}
                    Verdict::Delivered => answer.delivered.push(uuid.to_owned()),
                    Verdict::InFlight => answer.in_flight.push(uuid.to_owned()),
                    Verdict::RunOut => run_out.push(uuid),
                    Verdict::Again if condition == TAKE_OVER => next_take_over.push(uuid),
                    Verdict::Again => next_fresh.push(uuid),
                    Verdict::Undecided(kind) => answer.undecided.push((uuid, kind)),
                }
            }
            if !run_out.is_empty() {
                match self.pending_among(&run_out).await {
                    Ok(found) => {
                        for uuid in run_out {
                            if found.contains(uuid) {
                                answer.delivered.push(uuid.to_owned());
                            } else {
                                next_take_over.push(uuid);
                            }
                        }
                    }
                    Err(e) => answer.merge(Attempt::failed(
                        &run_out,
                        Trouble {
                            kind: TroubleKind::Unavailable,
                            detail: format!("pending marks: {e}"),
                        },
                    )),
                }
            }
            (fresh, take_over) = (next_fresh, next_take_over);
        }
        // Still refused for another put's sake after every round: busy, try again later.
        let left: Vec<&'u str> = fresh.into_iter().chain(take_over).collect();
        if !left.is_empty() {
            answer.merge(Attempt::failed(
                &left,
                Trouble {
                    kind: TroubleKind::Conflict,
                    detail: format!("{}: claims contended round after round", self.location),
                },
            ));
        }
        answer
    }

    /// Which of `uuids` (met with run-out claims) the pending marks show delivered.
    async fn pending_among(&self, uuids: &[&str]) -> Result<HashSet<String>, LedgerError> {
        match &self.pending {
            None => Ok(HashSet::new()),
            Some(pending) => pending.among(uuids).await,
        }
    }

    /// One transaction of conditional puts, each with its verdict; a request that fails or
    /// does not answer in time leaves them all undecided.
    async fn claim_chunk<'u>(
        &self,
        chunk: &[&'u str],
        condition: &'static str,
        terms: &Terms,
    ) -> Chunk<'u> {
        let all = |kind: Option<TroubleKind>, trouble: Option<Trouble>| Chunk {
            verdicts: chunk
                .iter()
                .map(|u| {
                    let verdict = kind.map_or(Verdict::Claimed, Verdict::Undecided);
                    (*u, condition, verdict)
                })
                .collect(),
            trouble: trouble.into_iter().collect(),
        };
        let items = match self.puts(chunk, condition, terms) {
            Ok(items) => items,
            Err(e) => {
                let trouble = Trouble {
                    kind: TroubleKind::Rejected,
                    detail: e.to_string(),
                };
                return all(Some(TroubleKind::Rejected), Some(trouble));
            }
        };
        let sent = tokio::time::timeout_at(
            terms.give_up_at,
            self.client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send(),
        )
        .await;
        let err = match sent {
            Err(_) => {
                let trouble = Trouble {
                    kind: TroubleKind::TimedOut,
                    detail: format!("{}: no answer to a claim in time", self.location),
                };
                return all(Some(TroubleKind::TimedOut), Some(trouble));
            }
            Ok(Ok(_)) => return all(None, None),
            Ok(Err(e)) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            let trouble = errors::classify(&self.location, &err);
            return all(Some(trouble.kind), Some(trouble));
        };
        let reasons = cancelled.cancellation_reasons();
        let now_ms = epoch_ms(terms.now);
        let mut trouble: Vec<Trouble> = Vec::new();
        let verdicts = chunk
            .iter()
            .enumerate()
            .map(|(i, uuid)| {
                let reason = reasons.get(i);
                let code = reason.and_then(|r| r.code());
                let verdict = if code == Some("ConditionalCheckFailed") {
                    self.refused(reason.and_then(|r| r.item()), now_ms)
                } else {
                    match errors::reason_kind(code) {
                        None => Verdict::Again,
                        Some(kind) => {
                            if !trouble.iter().any(|t| t.kind == kind) {
                                trouble.push(Trouble {
                                    kind,
                                    detail: format!(
                                        "{}: claim cancelled with reason {}",
                                        self.location,
                                        code.unwrap_or("(none given)")
                                    ),
                                });
                            }
                            Verdict::Undecided(kind)
                        }
                    }
                };
                (*uuid, condition, verdict)
            })
            .collect();
        Chunk { verdicts, trouble }
    }

    /// What a refused put met: delivered, a live claim, a run-out claim, or (no item, a
    /// state it does not know) nothing it can decide on.
    fn refused(&self, item: Option<&HashMap<String, AttributeValue>>, now_ms: i128) -> Verdict {
        let Some(item) = item else {
            return Verdict::Undecided(TroubleKind::Unavailable);
        };
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        };
        match text(STATE) {
            Some(DELIVERED) => Verdict::Delivered,
            Some(CLAIMED) if text(OWNER) == Some(self.owner.as_str()) => Verdict::Again,
            Some(CLAIMED) => {
                let lease = item
                    .get(LEASE)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i128>().ok());
                match lease {
                    Some(lease) if lease >= now_ms => Verdict::InFlight,
                    Some(_) => Verdict::RunOut,
                    None => Verdict::Undecided(TroubleKind::Unavailable),
                }
            }
            _ => Verdict::Undecided(TroubleKind::Unavailable),
        }
    }

    /// The puts of one transaction; what they share is made once and copied.
    fn puts(
        &self,
        chunk: &[&str],
        condition: &'static str,
        terms: &Terms,
    ) -> Result<Vec<TransactWriteItem>, LedgerError> {
        let (claimed, owner) = (s(CLAIMED), s(&self.owner));
        let (lease, expires) = (n(epoch_ms(terms.lease_until)), n(expires(terms.now)));
        let mut names = HashMap::from([
            ("#u".to_owned(), UUID.to_owned()),
            ("#s".to_owned(), STATE.to_owned()),
            ("#o".to_owned(), OWNER.to_owned()),
        ]);
        let mut values = HashMap::from([
            (":claimed".to_owned(), claimed.clone()),
            (":me".to_owned(), owner.clone()),
        ]);
        if condition == TAKE_OVER {
            names.insert("#l".to_owned(), LEASE.to_owned());
            values.insert(":now".to_owned(), n(epoch_ms(terms.now)));
        }
        chunk
            .iter()
            .map(|uuid| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(HashMap::from([
                        (UUID.to_owned(), s(uuid)),
                        (STATE.to_owned(), claimed.clone()),
                        (LEASE.to_owned(), lease.clone()),
                        (OWNER.to_owned(), owner.clone()),
                        (EXPIRES.to_owned(), expires.clone()),
                    ])))
                    .condition_expression(condition)
                    .set_expression_attribute_names(Some(names.clone()))
                    .set_expression_attribute_values(Some(values.clone()))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|e| self.failed(e))?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }
}

impl Ledger for DynamoLedger {
    fn describe(&self) -> String {
        format!("dynamodb:{}", self.table)
    }

    fn claims(&self) -> bool {
        true
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
        terms: Terms,
    ) -> BoxFuture<'a, Result<Settled, LedgerError>> {
        Box::pin(self.settle_claims(delivered, released, terms))
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
