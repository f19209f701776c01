//! Settling claims: what the destination accepted is marked delivered in its group's item
//! ([`super::groups`]: one update per group), or, for an event this container did not claim
//! under a group, on its own item (`delivered`, 25 items to a BatchWriteItem), all at once,
//! with what DynamoDB leaves unprocessed (or throttles) sent again after a pause while time
//! remains; what is still unwritten then is kept as pending marks, so no later copy is sent.
//! What the destination did not accept is released, if still this claim's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::StreamExt;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::super::decide::{pause, room_for};
use super::super::{Key, LedgerError, Settled};
use super::{
    errors, expires, n, s, DynamoLedger, Held, CLAIMED, CONCURRENCY, DELIVERED, EXPIRES, GROUP,
    OWNER, STATE, UUID, WRITES_PER_BATCH, WRITE_CONCURRENCY,
};

/// Kept back from the give-up time for writing the pending marks.
const PENDING_WRITE_TIME: Duration = Duration::from_secs(1);

/// Before try `round` of a write (0: the first), the pause [`pause`] gives; `false` (and no
/// pause) if the try would then start too close to `until` ([`room_for`]).
pub(super) async fn paced(round: u32, until: Instant) -> bool {
    if round == 0 {
        return true;
    }
    let wait = pause(round - 1);
    if !room_for(wait, until) {
        return false;
    }
    tokio::time::sleep(wait).await;
    true
}

/// A write's answer, as its retry loop needs it: the output, or why not and whether another
/// round can help (not after a timeout: the time is up).
pub(super) fn answered<T, E, R>(
    location: &str,
    sent: Result<Result<T, SdkError<E, R>>, tokio::time::error::Elapsed>,
) -> Result<T, (String, bool)>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match sent {
        Err(_) => Err(("no answer in time".to_owned(), false)),
        Ok(Err(e)) => {
            let trouble = errors::classify(location, &e);
            Err((trouble.detail, trouble.kind.retryable()))
        }
        Ok(Ok(out)) => Ok(out),
    }
}

/// Marks not written, and the last reason.
pub(super) struct Unwritten<'u> {
    pub uuids: Vec<&'u str>,
    pub reason: String,
}

impl<'u> Unwritten<'u> {
    /// Runs `writes` all at once (up to [`WRITE_CONCURRENCY`]) and gathers what they left
    /// unwritten.
    pub(super) async fn gather<F>(writes: Vec<F>) -> Unwritten<'u>
    where
        F: std::future::Future<Output = Unwritten<'u>>,
    {
        let results: Vec<Unwritten<'u>> = futures::stream::iter(writes)
            .buffer_unordered(WRITE_CONCURRENCY)
            .collect()
            .await;
        Unwritten::all(results)
    }

    /// Every one of `results`' unwritten marks, with the last reason.
    pub(super) fn all(results: impl IntoIterator<Item = Unwritten<'u>>) -> Unwritten<'u> {
        let mut all = Unwritten {
            uuids: Vec::new(),
            reason: String::new(),
        };
        for r in results {
            if !r.uuids.is_empty() {
                all.uuids.extend(r.uuids);
                all.reason = r.reason;
            }
        }
        all
    }
}

impl DynamoLedger {
    /// Marks `delivered` delivered and releases this container's claims on `released`.
    pub(super) async fn settle_claims(
        &self,
        delivered: &[Key<'_>],
        released: &[&str],
        now: OffsetDateTime,
        give_up_at: Instant,
    ) -> Result<Settled, LedgerError> {
        let uuids: Vec<&str> = delivered.iter().map(|(u, _)| *u).collect();
        let left = give_up_at.saturating_duration_since(Instant::now());
        let marks_until = give_up_at - PENDING_WRITE_TIME.min(left / 4);
        // The marks of events claimed under a group go to its item, the others' to their own.
        let mut alone = Vec::new();
        let mut by_group: Vec<(Arc<str>, Vec<&str>)> = Vec::new();
        for (uuid, held) in self.take_groups(&uuids) {
            match held {
                Some(Held::Claimed(group)) => {
                    match by_group.iter_mut().find(|(g, _)| *g == group) {
                        Some((_, members)) => members.push(uuid),
                        None => by_group.push((group, vec![uuid])),
                    }
                }
                _ => alone.push(uuid),
            }
        }
        // Releases are rare (what was not delivered) and conditional: one request each. One
        // that fails only keeps the claim until its lease runs out; a uuid this container
        // holds no claim on (no group) is left alone.
        let releases: Vec<_> = self
            .take_groups(released)
            .into_iter()
            .filter_map(|(uuid, held)| {
                let group = held?.group().clone();
                Some(tokio::time::timeout_at(
                    marks_until,
                    self.release(uuid, group),
                ))
            })
            .collect();
        let freed = futures::stream::iter(releases)
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>();
        let marked = async {
            let (grouped, alone) = tokio::join!(
                self.mark_in_groups(by_group, now, marks_until),
                self.mark(&alone, now, marks_until)
            );
            Unwritten::all([grouped, alone])
        };
        let (unwritten, freed) = tokio::join!(marked, freed);
        let kept: Vec<String> = freed
            .into_iter()
            .filter_map(|r| r.unwrap_or_else(|_| Some("no answer in time".to_owned())))
            .collect();
        if let Some(first) = kept.first() {
            tracing::warn!(count = kept.len(), error = %first, "could not release some claims: they hold until their lease runs out");
        }
        if unwritten.uuids.is_empty() {
            return Ok(Settled::default());
        }
        let Some(pending) = &self.pending else {
            return Err(self.failed(format!(
                "{} delivered marks not written: {}",
                unwritten.uuids.len(),
                unwritten.reason
            )));
        };
        let kept = tokio::time::timeout_at(give_up_at, pending.keep(&unwritten.uuids, now))
            .await
            .unwrap_or_else(|_| Err(self.failed("no time left to keep the pending marks")));
        match kept {
            Ok(key) => {
                tracing::warn!(count = unwritten.uuids.len(), reason = %unwritten.reason, pending = %key, "delivered marks the table did not take in time are kept as pending marks: a later copy is still seen as delivered");
                Ok(Settled {
                    pending: unwritten.uuids.len(),
                })
            }
            Err(e) => Err(self.failed(format!(
                "{} delivered marks not written ({}), nor kept as pending marks ({e})",
                unwritten.uuids.len(),
                unwritten.reason
            ))),
        }
    }

    /// Writes delivered marks for `uuids` until `until`; returns what is still unwritten.
    async fn mark<'u>(
        &self,
        uuids: &[&'u str],
        now: OffsetDateTime,
        until: Instant,
    ) -> Unwritten<'u> {
        let (state, expires) = (s(DELIVERED), n(expires(now)));
        // Each request's items are made when its turn comes, not all first and copied.
        let writes: Vec<_> = uuids
            .chunks(WRITES_PER_BATCH)
            .map(|chunk| self.write_batch(chunk, &state, &expires, until))
            .collect();
        Unwritten::gather(writes).await
    }

    /// One BatchWriteItem, with what DynamoDB leaves unprocessed (or a request it throttles)
    /// sent again after a pause, until `until`.
    async fn write_batch<'u>(
        &self,
        chunk: &[&'u str],
        state: &aws_sdk_dynamodb::types::AttributeValue,
        expires: &aws_sdk_dynamodb::types::AttributeValue,
        until: Instant,
    ) -> Unwritten<'u> {
        let mut todo: Vec<&'u str> = chunk.to_vec();
        let mut reason = String::new();
        for round in 0u32.. {
            if !paced(round, until).await {
                break;
            }
            let requests: Result<Vec<WriteRequest>, _> = todo
                .iter()
                .map(|uuid| {
                    let item = HashMap::from([
                        (UUID.to_owned(), s(uuid)),
                        (STATE.to_owned(), state.clone()),
                        (EXPIRES.to_owned(), expires.clone()),
                    ]);
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map(|put| WriteRequest::builder().put_request(put).build())
                })
                .collect();
            let requests = match requests {
                Ok(r) => r,
                Err(e) => {
                    reason = e.to_string();
                    break;
                }
            };
            let sent = tokio::time::timeout_at(
                until,
                self.client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send(),
            )
            .await;
            let out = match answered(&self.location, sent) {
                Ok(out) => out,
                Err((why, again)) => {
                    reason = why;
                    if again {
                        continue;
                    }
                    break;
                }
            };
            let left: Vec<String> = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default()
                .iter()
                .filter_map(|w| w.put_request.as_ref())
                .filter_map(|p| p.item.get(UUID).and_then(|v| v.as_s().ok()).cloned())
                .collect();
            todo.retain(|u| left.iter().any(|l| l == u));
            if todo.is_empty() {
                break;
            }
            reason = format!("{}: left unprocessed (throttled)", self.location);
        }
        Unwritten {
            uuids: todo,
            reason,
        }
    }

    /// Deletes the claim on `uuid` if it is still this container's under `group` (not an
    /// earlier claim of its own that a group marked delivered); why not, if it could not. A
    /// failure only keeps the claim until its lease runs out.
    async fn release(&self, uuid: &str, group: Arc<str>) -> Option<String> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(UUID, s(uuid))
            .condition_expression("#s = :claimed AND #o = :me AND #g = :g")
            .expression_attribute_names("#s", STATE)
            .expression_attribute_names("#o", OWNER)
            .expression_attribute_names("#g", GROUP)
            .expression_attribute_values(":claimed", s(CLAIMED))
            .expression_attribute_values(":me", s(&self.owner))
            .expression_attribute_values(":g", s(&group))
            .send()
            .await;
        match sent {
            Ok(_) => None,
            // Delivered meanwhile, taken over, or never ours (the claim did not land).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                None
            }
            Err(e) => Some(errors::classify(&self.location, &e).detail),
        }
    }

    /// Writes the marks the pending marks hold, deleting each pending object once all of its
    /// marks are in the table. Returns how many were written.
    pub(super) async fn apply_pending(&self, until: Instant) -> Result<usize, LedgerError> {
        let Some(pending) = &self.pending else {
            return Ok(0);
        };
        let mut applied = 0;
        for (key, uuids) in pending.load().await? {
            if Instant::now() >= until {
                break;
            }
            let refs: Vec<&str> = uuids.iter().map(String::as_str).collect();
            let unwritten = self.mark(&refs, OffsetDateTime::now_utc(), until).await;
            if unwritten.uuids.is_empty() {
                pending.remove(&key).await?;
                applied += refs.len();
            } else {
                tracing::warn!(pending = %key, unwritten = unwritten.uuids.len(), reason = %unwritten.reason, "pending delivered marks still not taken by the table: kept for the next run");
            }
        }
        if applied > 0 {
            tracing::info!(
                count = applied,
                "applied pending delivered marks to the ledger table"
            );
        }
        Ok(applied)
    }
}
