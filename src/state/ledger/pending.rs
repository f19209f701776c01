//! Pending marks: events delivered whose `delivered` mark the ledger table did not take in
//! time (throttled, unprocessed past every retry), kept in the state bucket so that nothing
//! delivered is forgotten. One small immutable object per settle that needed it, under
//! `ledger-pending/`. A claim that meets a run-out claim reads them before taking it over (so
//! a later copy is seen as delivered), and the next runs write them into the table and delete
//! them ([`super::Ledger::catch_up`]).

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use time::OffsetDateTime;

use super::objects::{decode_keys, encode_keys};
use super::LedgerError;
use crate::state::store::{put_new, ObjectStore};

/// Key prefix of the pending marks.
pub const PENDING_PREFIX: &str = "ledger-pending/";
/// Pending objects read at once.
const READ_CONCURRENCY: usize = 8;
/// Tries at a fresh key when one is taken.
const KEY_TRIES: usize = 3;

/// One pending object: its key and the uuids it holds.
pub type Pending = (String, Vec<String>);

/// The pending marks in one bucket.
#[derive(Clone)]
pub struct PendingMarks {
    store: Arc<dyn ObjectStore>,
}

impl PendingMarks {
    /// Pending marks in `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        PendingMarks { store }
    }

    /// Keeps `uuids` as delivered; returns where.
    pub async fn keep(&self, uuids: &[&str], now: OffsetDateTime) -> Result<String, LedgerError> {
        let body = encode_keys(uuids).into_bytes();
        let ms = now.unix_timestamp_nanos() / 1_000_000;
        let new_key = || format!("{PENDING_PREFIX}{ms:013}-{:016x}.jsonl", fastrand::u64(..));
        let key = put_new(self.store.as_ref(), new_key, body, "text/plain", KEY_TRIES).await?;
        Ok(self.store.location(&key))
    }

    /// Every pending object, with its uuids.
    pub async fn load(&self) -> Result<Vec<Pending>, LedgerError> {
        let listed = self.store.list(PENDING_PREFIX).await?;
        let store = &self.store;
        let reads: Vec<_> = listed
            .into_iter()
            .map(|o| async move {
                let body = store.get(&o.key).await?;
                Ok::<_, LedgerError>(body.map(|b| {
                    let uuids = decode_keys(&o.key, &b.body);
                    (o.key, uuids)
                }))
            })
            .collect();
        let read: Vec<Result<Option<Pending>, LedgerError>> = futures::stream::iter(reads)
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut objects = Vec::new();
        for r in read {
            // An object gone since the listing was applied by another run meanwhile.
            objects.extend(r?);
        }
        Ok(objects)
    }

    /// Which of `uuids` are pending.
    pub async fn among(&self, uuids: &[&str]) -> Result<HashSet<String>, LedgerError> {
        let wanted: HashSet<&str> = uuids.iter().copied().collect();
        Ok(self
            .load()
            .await?
            .into_iter()
            .flat_map(|(_, u)| u)
            .filter(|u| wanted.contains(u.as_str()))
            .collect())
    }

    /// Deletes the pending object `key`, once its marks are in the table.
    pub async fn remove(&self, key: &str) -> Result<(), LedgerError> {
        Ok(self.store.delete(key).await?)
    }
}
