//! Reading the table: which uuids are marked delivered (BatchGetItem, 100 keys a request,
//! the keys DynamoDB leaves unprocessed asked again): on their own items, or, for those
//! claimed under a group, in the group's item (read next, one request for up to 100 groups).

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures::StreamExt;

use super::super::decide::pause;
use super::super::LedgerError;
use super::{
    digest, errors, DynamoLedger, CLAIMED, CONCURRENCY, DELIVERED, GROUP, READS_PER_BATCH, ROUNDS,
    STATE, UUID,
};

/// What one read found: uuids marked delivered, and uuids claimed under a group.
#[derive(Default)]
struct Found {
    delivered: Vec<String>,
    grouped: Vec<(String, String)>,
}

impl DynamoLedger {
    /// Which of `uuids` the table shows delivered (an eventually consistent read).
    pub(super) async fn delivered(&self, uuids: &[&str]) -> Result<HashSet<String>, LedgerError> {
        // The futures are made first: a stream over a closure that makes them is not `Send`
        // for every lifetime, as the port's boxed futures must be.
        let reads: Vec<_> = uuids
            .chunks(READS_PER_BATCH)
            .map(|chunk| self.read_batch(chunk))
            .collect();
        let reads: Vec<Result<Found, LedgerError>> = futures::stream::iter(reads)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut found = HashSet::new();
        let mut grouped = Vec::new();
        for read in reads {
            let read = read?;
            found.extend(read.delivered);
            grouped.extend(read.grouped);
        }
        if grouped.is_empty() {
            return Ok(found);
        }
        let groups: HashSet<&str> = grouped.iter().map(|(_, g)| g.as_str()).collect();
        let groups: Vec<&str> = groups.into_iter().collect();
        let members = self.members_of(&groups).await?;
        for (uuid, group) in grouped {
            if members
                .get(&group)
                .is_some_and(|m| m.contains(&digest(&uuid)))
            {
                found.insert(uuid);
            }
        }
        Ok(found)
    }

    /// One BatchGetItem of uuids, with the keys DynamoDB leaves unprocessed asked again.
    async fn read_batch(&self, chunk: &[&str]) -> Result<Found, LedgerError> {
        let keys = chunk.iter().map(|u| (*u).to_owned());
        // What is still unread is left to the claim, which decides anyway.
        let got = self.get_items(keys, &[UUID, STATE, GROUP], false).await?;
        let mut found = Found::default();
        for item in got.items {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
            let Some(uuid) = text(UUID) else {
                continue;
            };
            match (text(STATE).map(String::as_str), text(GROUP)) {
                (Some(DELIVERED), _) => found.delivered.push(uuid.clone()),
                (Some(CLAIMED), Some(group)) => {
                    found.grouped.push((uuid.clone(), group.clone()));
                }
                _ => {}
            }
        }
        Ok(found)
    }

    /// One BatchGetItem of the items keyed `keys` (at most 100), for the attributes `names`,
    /// strongly consistent if `consistent`, with the keys DynamoDB leaves unprocessed asked
    /// again while rounds remain.
    pub(super) async fn get_items(
        &self,
        keys: impl Iterator<Item = String>,
        names: &[&str],
        consistent: bool,
    ) -> Result<Got, LedgerError> {
        let mut keys: Vec<HashMap<String, AttributeValue>> = keys
            .map(|k| HashMap::from([(UUID.to_owned(), AttributeValue::S(k))]))
            .collect();
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("#a{i}")).collect();
        let projection = placeholders.join(", ");
        let mut items = Vec::new();
        for round in 0..ROUNDS {
            if keys.is_empty() {
                break;
            }
            if round > 0 {
                tokio::time::sleep(pause(u32::try_from(round).unwrap_or(u32::MAX))).await;
            }
            let mut wanted = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(consistent)
                .projection_expression(&projection);
            for (placeholder, name) in placeholders.iter().zip(names) {
                wanted = wanted.expression_attribute_names(placeholder, *name);
            }
            let wanted = wanted.build().map_err(|e| self.failed(e))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, wanted)
                .send()
                .await
                .map_err(|e| self.failed(errors::classify(&self.location, &e).detail))?;
            items.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        Ok(Got {
            items,
            unread: keys.len(),
        })
    }
}

/// What [`DynamoLedger::get_items`] read, and how many keys were left unread.
pub(super) struct Got {
    pub items: Vec<HashMap<String, AttributeValue>>,
    pub unread: usize,
}
