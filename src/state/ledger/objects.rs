//! The delivery ledger as objects in the state bucket (`LEDGER_TABLE` unset; template
//! `LedgerStore` `S3`): one small immutable object per delivered batch and hour of
//! `published`, under `ledger/YYYY/MM/DD/HH/`, holding the batch's uuids one per line. A
//! reader lists the hours its events belong to and reads the objects it has not read before.
//! Nothing is claimed: two invocations given copies of one event at the same moment both
//! send it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::StreamExt;
use time::OffsetDateTime;

use super::decide::{until_decided, Attempt};
use super::{Claim, Key, Ledger, LedgerError, Settled, Terms, Trouble, TroubleKind};
use crate::state::store::{Condition, ObjectStore, StoreError};

/// Key prefix of the ledger.
pub const LEDGER_PREFIX: &str = "ledger/";
/// Hour partitions kept in a container's memory.
const CACHED_PARTITIONS: usize = 72;
/// Ledger objects read at once.
const READ_CONCURRENCY: usize = 16;

/// Suffix of ledger objects holding one JSON string per line: each uuid exactly, whatever
/// characters it holds. Objects ending in `.txt` (written before) hold one raw uuid per line.
const KEYS_SUFFIX: &str = ".jsonl";

/// One JSON string per uuid and line: a newline, a space or a quote in a uuid cannot make
/// it match another.
pub(super) fn encode_keys(uuids: &[&str]) -> String {
    let mut body = String::with_capacity(uuids.iter().map(|u| u.len() + 3).sum());
    for uuid in uuids {
        if let Ok(line) = serde_json::to_string(uuid) {
            body.push_str(&line);
            body.push('\n');
        }
    }
    body
}

/// The uuids in the object `key`: JSON strings, or for objects written before, raw lines
/// taken exactly (never trimmed).
pub(super) fn decode_keys(key: &str, body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let lines = text.split('\n').filter(|l| !l.is_empty());
    if key.ends_with(KEYS_SUFFIX) {
        lines
            .filter_map(|l| serde_json::from_str::<String>(l).ok())
            .collect()
    } else {
        lines.map(str::to_owned).collect()
    }
}

/// The `ledger/YYYY/MM/DD/HH/` partition of an event published at `t`.
pub fn partition(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{LEDGER_PREFIX}{:04}/{:02}/{:02}/{:02}/",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour()
    )
}

/// `events`' uuids grouped by the hour partition of their `published`.
fn by_partition<'a>(events: &[(&'a str, OffsetDateTime)]) -> BTreeMap<String, Vec<&'a str>> {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (uuid, published) in events {
        groups.entry(partition(*published)).or_default().push(uuid);
    }
    groups
}

#[derive(Default)]
struct Partition {
    read_keys: HashSet<String>,
    uuids: HashSet<String>,
    last_used: u64,
}

/// The ledger as objects in the state bucket, as one container sees it: the store plus what
/// it has already read.
pub struct ObjectLedger {
    store: Arc<dyn ObjectStore>,
    writer: String,
    sequence: AtomicU64,
    uses: AtomicU64,
    cache: Mutex<HashMap<String, Partition>>,
}

impl ObjectLedger {
    /// A ledger of objects in `store`; a random `writer` names this container in its keys.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        ObjectLedger {
            store,
            writer: format!("{:08x}", fastrand::u32(..)),
            sequence: AtomicU64::new(0),
            uses: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Which of `events` (uuid, published) the ledger records as delivered.
    async fn delivered(
        &self,
        events: &[(&str, OffsetDateTime)],
    ) -> Result<HashSet<String>, LedgerError> {
        let by_partition = by_partition(events);
        for prefix in by_partition.keys() {
            self.refresh(prefix).await?;
        }
        let cache = self.lock();
        let mut found = HashSet::new();
        for (prefix, uuids) in &by_partition {
            if let Some(p) = cache.get(prefix) {
                found.extend(
                    uuids
                        .iter()
                        .filter(|u| p.uuids.contains(**u))
                        .map(|u| u.to_string()),
                );
            }
        }
        Ok(found)
    }

    /// Records `events` (uuid, published) as delivered: one object per hour they fall in.
    async fn record(&self, events: &[(&str, OffsetDateTime)]) -> Result<(), LedgerError> {
        let by_partition = by_partition(events);
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        for (prefix, uuids) in by_partition {
            let sequence = self.sequence.fetch_add(1, Ordering::SeqCst);
            let key = format!(
                "{prefix}{now_ms:013}-{}-{sequence:06}{KEYS_SUFFIX}",
                self.writer
            );
            let body = encode_keys(&uuids);
            self.store
                .put(&key, body.into_bytes(), "text/plain", Condition::None)
                .await?;
            // This container knows at once what it wrote.
            let mut cache = self.lock();
            let p = cache.entry(prefix).or_default();
            p.read_keys.insert(key);
            p.uuids.extend(uuids.iter().map(|u| u.to_string()));
        }
        Ok(())
    }

    /// Reads the objects of `prefix` this container has not read yet.
    async fn refresh(&self, prefix: &str) -> Result<(), LedgerError> {
        let keys: Vec<String> = self
            .store
            .list(prefix)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        let unread: Vec<String> = {
            let mut cache = self.lock();
            let use_number = self.uses.fetch_add(1, Ordering::SeqCst);
            let p = cache.entry(prefix.to_owned()).or_default();
            p.last_used = use_number;
            keys.into_iter()
                .filter(|k| !p.read_keys.contains(k))
                .collect()
        };
        let store = &self.store;
        let reads: Vec<_> = unread
            .into_iter()
            .map(|key| async move {
                let body = store.get(&key).await;
                (key, body)
            })
            .collect();
        let bodies: Vec<(String, Result<_, StoreError>)> = futures::stream::iter(reads)
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut cache = self.lock();
        let p = cache.entry(prefix.to_owned()).or_default();
        for (key, body) in bodies {
            // An object listed a moment ago and gone now holds nothing to skip.
            let Some(body) = body? else { continue };
            let body = body.body;
            p.uuids.extend(decode_keys(&key, &body));
            p.read_keys.insert(key);
        }
        // Forget the partitions used longest ago; they are read again if needed.
        while cache.len() > CACHED_PARTITIONS {
            let oldest = cache
                .iter()
                .min_by_key(|(_, p)| p.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => cache.remove(&k),
                None => break,
            };
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Partition>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Ledger for ObjectLedger {
    fn describe(&self) -> String {
        "s3-objects".to_owned()
    }

    fn claims(&self) -> bool {
        false
    }

    fn read<'a>(
        &'a self,
        events: &'a [Key<'a>],
    ) -> BoxFuture<'a, Result<HashSet<String>, LedgerError>> {
        Box::pin(self.delivered(events))
    }

    /// Nothing is claimed: the objects are read, again after a pause if the bucket fails.
    fn claim<'a>(&'a self, events: &'a [Key<'a>], terms: Terms) -> BoxFuture<'a, Claim> {
        Box::pin(async move {
            let uuids: Vec<&str> = events.iter().map(|(u, _)| *u).collect();
            until_decided(uuids, terms.give_up_at, |todo| async move {
                match self.delivered(events).await {
                    Ok(delivered) => Attempt {
                        delivered: delivered.into_iter().collect(),
                        ..Attempt::default()
                    },
                    Err(e) => Attempt::failed(
                        &todo,
                        Trouble {
                            kind: TroubleKind::Unavailable,
                            detail: e.to_string(),
                        },
                    ),
                }
            })
            .await
        })
    }

    fn settle<'a>(
        &'a self,
        delivered: &'a [Key<'a>],
        _released: &'a [&'a str],
        _now: OffsetDateTime,
        _give_up_at: tokio::time::Instant,
    ) -> BoxFuture<'a, Result<Settled, LedgerError>> {
        Box::pin(async move {
            if !delivered.is_empty() {
                self.record(delivered).await?;
            }
            Ok(Settled::default())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn partitions_by_hour_of_published() {
        assert_eq!(
            partition(datetime!(2026-11-22 09:59:59.999 UTC)),
            "ledger/2026/11/22/09/"
        );
        assert_eq!(
            partition(datetime!(2026-11-22 10:00 +01:00)),
            "ledger/2026/11/22/09/"
        );
    }

    #[tokio::test]
    async fn what_one_container_records_another_sees() {
        let store = Arc::new(crate::state::MemoryObjectStore::default());
        let (a, b) = (
            ObjectLedger::new(store.clone()),
            ObjectLedger::new(store.clone()),
        );
        let t1 = datetime!(2026-11-22 09:10 UTC);
        let t2 = datetime!(2026-11-22 11:40 UTC);
        a.record(&[("u1", t1), ("u2", t2), ("u3", t1)])
            .await
            .unwrap();
        assert_eq!(
            store.keys("").len(),
            2,
            "one object per hour touched, not per event"
        );
        let seen = b
            .delivered(&[("u1", t1), ("u2", t2), ("u4", t1)])
            .await
            .unwrap();
        assert_eq!(seen, HashSet::from(["u1".to_string(), "u2".to_string()]));
    }

    #[tokio::test]
    async fn objects_already_read_are_not_read_again() {
        let store = Arc::new(crate::state::MemoryObjectStore::default());
        let writer = ObjectLedger::new(store.clone());
        let reader = ObjectLedger::new(store.clone());
        let t = datetime!(2026-11-22 09:10 UTC);
        for i in 0..10 {
            writer.record(&[(&format!("u{i}"), t)]).await.unwrap();
        }
        reader.delivered(&[("u0", t)]).await.unwrap();
        let before = store.requests.load(Ordering::SeqCst);
        writer.record(&[("late", t)]).await.unwrap();
        let seen = reader.delivered(&[("late", t), ("u9", t)]).await.unwrap();
        assert_eq!(seen.len(), 2);
        // One PUT by the writer, then one LIST and one GET (the new object) by the reader.
        assert_eq!(store.requests.load(Ordering::SeqCst) - before, 3);
    }

    #[tokio::test]
    async fn the_lookup_fails_loudly_when_the_store_does() {
        let store = Arc::new(crate::state::MemoryObjectStore::default());
        store.fail.store(true, Ordering::SeqCst);
        let err = ObjectLedger::new(store)
            .delivered(&[("u", datetime!(2026-11-22 09:10 UTC))])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("store unavailable"));
    }

    #[tokio::test]
    async fn two_different_uuids_never_match_and_the_same_always_does() {
        let store = Arc::new(crate::state::MemoryObjectStore::default());
        let t = datetime!(2026-11-22 09:10 UTC);
        let tricky = ["a\nb", " a", "a ", "\"a\"", "a\\", "a\r"];
        ObjectLedger::new(store.clone())
            .record(&tricky.map(|u| (u, t)))
            .await
            .unwrap();
        let reader = ObjectLedger::new(store.clone());
        let others = ["a", "b", "a\"", "\"a"];
        let mut all: Vec<(&str, OffsetDateTime)> = tricky.map(|u| (u, t)).to_vec();
        all.extend(others.map(|u| (u, t)));
        let seen = reader.delivered(&all).await.unwrap();
        assert_eq!(seen, tricky.iter().map(|u| u.to_string()).collect());
    }

    proptest::proptest! {
        #[test]
        fn every_uuid_comes_back_exactly_as_written(uuids in proptest::collection::vec(".{0,12}", 0..8)) {
            let refs: Vec<&str> = uuids.iter().map(String::as_str).collect();
            let body = encode_keys(&refs);
            proptest::prop_assert_eq!(decode_keys("ledger/x.jsonl", body.as_bytes()), uuids);
        }
    }

    #[test]
    fn objects_written_before_are_read_line_by_line_untrimmed() {
        assert_eq!(decode_keys("ledger/x.txt", b"u1\n u2\n\n"), ["u1", " u2"]);
        assert_eq!(
            decode_keys("ledger/x.jsonl", b"\"u1\"\n\"a\\nb\"\nbroken\n"),
            ["u1", "a\nb"]
        );
    }
}
