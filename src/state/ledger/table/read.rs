//! Reading the table: which uuids are marked delivered (BatchGetItem, 100 keys a request,
//! the keys DynamoDB leaves unprocessed asked again).

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures::StreamExt;

use super::super::LedgerError;
use super::{
    errors, s, DynamoLedger, CONCURRENCY, DELIVERED, READS_PER_BATCH, ROUNDS, STATE, UUID,
};

impl DynamoLedger {
    /// Which of `uuids` the table shows delivered (an eventually consistent read).
    pub(super) async fn delivered(&self, uuids: &[&str]) -> Result<HashSet<String>, LedgerError> {
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
                tokio::time::sleep(super::super::decide::pause(
                    u32::try_from(round).unwrap_or(u32::MAX),
                ))
                .await;
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
}
