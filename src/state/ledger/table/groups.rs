//! Groups' items (`group#<id>`): the delivered marks of a group's members, a binary set of
//! their digests. Marking adds a batch's digests with one update (billed at the item's size
//! after it: 16 bytes a member); reading is strongly consistent, so a mark written a moment
//! ago is never missed by the claim that looks it up.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::super::LedgerError;
use super::settle::{answered, paced, Unwritten};
use super::{
    digest, expires, n, s, DynamoLedger, CONCURRENCY, EXPIRES, GROUP_KEY, MEMBERS, READS_PER_BATCH,
    UUID,
};

/// The digests a group's item holds.
pub(super) type Members = HashSet<Vec<u8>>;

impl DynamoLedger {
    /// The delivered members of each of `groups` (none for a group without an item yet).
    /// Keys DynamoDB leaves unprocessed are asked again; still unread after that, an error:
    /// a group not read cannot say its events were not delivered.
    pub(super) async fn members_of(
        &self,
        groups: &[&str],
    ) -> Result<HashMap<String, Members>, LedgerError> {
        let reads: Vec<_> = groups
            .chunks(READS_PER_BATCH)
            .map(|chunk| self.read_groups(chunk))
            .collect();
        let reads: Vec<Result<HashMap<String, Members>, LedgerError>> =
            futures::stream::iter(reads)
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let mut all = HashMap::new();
        for read in reads {
            all.extend(read?);
        }
        Ok(all)
    }

    async fn read_groups(&self, chunk: &[&str]) -> Result<HashMap<String, Members>, LedgerError> {
        let keys = chunk.iter().map(|g| format!("{GROUP_KEY}{g}"));
        let got = self.get_items(keys, &[UUID, MEMBERS], true).await?;
        if got.unread > 0 {
            return Err(self.failed(format!(
                "{} group marks left unread (throttled)",
                got.unread
            )));
        }
        let mut found = HashMap::new();
        for item in got.items {
            let Some(group) = item
                .get(UUID)
                .and_then(|v| v.as_s().ok())
                .and_then(|k| k.strip_prefix(GROUP_KEY))
            else {
                continue;
            };
            let members: Members = item
                .get(MEMBERS)
                .and_then(|v| v.as_bs().ok())
                .map(|set| set.iter().map(|b| b.as_ref().to_vec()).collect())
                .unwrap_or_default();
            found.insert(group.to_owned(), members);
        }
        Ok(found)
    }

    /// Marks `by_group`'s uuids delivered in their groups' items, one update per group, all
    /// at once, each retried after a pause while it is throttled or failing, until `until`;
    /// returns what is still unwritten.
    pub(super) async fn mark_in_groups<'u>(
        &self,
        by_group: Vec<(Arc<str>, Vec<&'u str>)>,
        now: OffsetDateTime,
        until: Instant,
    ) -> Unwritten<'u> {
        let updates: Vec<_> = by_group
            .into_iter()
            .map(|(group, uuids)| self.add_members(group, uuids, now, until))
            .collect();
        Unwritten::gather(updates).await
    }

    /// One group's update: `ADD members :digests SET expires = :expires`.
    async fn add_members<'u>(
        &self,
        group: Arc<str>,
        uuids: Vec<&'u str>,
        now: OffsetDateTime,
        until: Instant,
    ) -> Unwritten<'u> {
        let digests = AttributeValue::Bs(uuids.iter().map(|u| Blob::new(digest(u))).collect());
        let mut reason = String::new();
        for round in 0u32.. {
            if !paced(round, until).await {
                break;
            }
            let sent = tokio::time::timeout_at(
                until,
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key(UUID, s(&format!("{GROUP_KEY}{group}")))
                    .update_expression("ADD #m :d SET #x = :x")
                    .expression_attribute_names("#m", MEMBERS)
                    .expression_attribute_names("#x", EXPIRES)
                    .expression_attribute_values(":d", digests.clone())
                    .expression_attribute_values(":x", n(expires(now)))
                    .send(),
            )
            .await;
            match answered(&self.location, sent) {
                Ok(_) => {
                    return Unwritten {
                        uuids: Vec::new(),
                        reason,
                    }
                }
                Err((why, again)) => {
                    reason = why;
                    if !again {
                        break;
                    }
                }
            }
        }
        Unwritten { uuids, reason }
    }
}
