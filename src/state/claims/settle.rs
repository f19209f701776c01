//! Settling claims: what the destination accepted is marked `delivered`, 25 items to a
//! BatchWriteItem, all at once; what it did not is released, if still this container's.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::StreamExt;
use time::OffsetDateTime;

use super::{
    expires, n, s, DynamoClaims, CLAIMED, CONCURRENCY, DELIVERED, EXPIRES, OWNER, ROUNDS, STATE,
    UUID, WRITES_PER_BATCH, WRITE_CONCURRENCY,
};
use crate::state::LedgerError;

impl DynamoClaims {
    /// Marks `delivered` delivered and releases this container's claims on `released`.
    pub async fn settle(
        &self,
        delivered: &[&str],
        released: &[&str],
        now: OffsetDateTime,
    ) -> Result<(), LedgerError> {
        let (state, expires) = (s(DELIVERED), n(expires(now)));
        let marks = |chunk: &[&str]| -> Result<Vec<WriteRequest>, LedgerError> {
            chunk
                .iter()
                .map(|uuid| {
                    let item = HashMap::from([
                        (UUID.to_owned(), s(uuid)),
                        (STATE.to_owned(), state.clone()),
                        (EXPIRES.to_owned(), expires.clone()),
                    ]);
                    let put = PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map_err(|e| self.failed(e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect()
        };
        // Each request's items are made when its turn comes, not all first and copied.
        let marked = futures::stream::iter(delivered.chunks(WRITES_PER_BATCH).map(|chunk| {
            let requests = marks(chunk);
            async move { self.write_batch(requests?).await }
        }))
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect::<Vec<Result<(), LedgerError>>>();
        // Releases are rare (what was not delivered) and conditional: one request each.
        let freed = futures::stream::iter(released.iter().map(|uuid| self.release(uuid)))
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<Result<(), LedgerError>>>();
        let (marked, freed) = tokio::join!(marked, freed);
        marked.into_iter().chain(freed).collect()
    }

    /// Deletes the claim on `uuid` if it is still this container's.
    async fn release(&self, uuid: &str) -> Result<(), LedgerError> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(UUID, s(uuid))
            .condition_expression("#s = :claimed AND #o = :me")
            .expression_attribute_names("#s", STATE)
            .expression_attribute_names("#o", OWNER)
            .expression_attribute_values(":claimed", s(CLAIMED))
            .expression_attribute_values(":me", s(&self.owner))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Delivered meanwhile, taken over, or never ours (the claim did not land).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.failed(DisplayErrorContext(&e))),
        }
    }

    /// One BatchWriteItem, with what DynamoDB leaves unprocessed sent again.
    async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Result<(), LedgerError> {
        for round in 0..ROUNDS {
            if requests.is_empty() {
                return Ok(());
            }
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(20 << round)).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| self.failed(DisplayErrorContext(&e)))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
        }
        if requests.is_empty() {
            Ok(())
        } else {
            Err(self.failed(format!(
                "{} writes left unprocessed after {ROUNDS} attempts",
                requests.len()
            )))
        }
    }
}
