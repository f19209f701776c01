//! What the directory runs remember in the state bucket, per kind: every id the last snapshot
//! (and the changes runs since) saw, with its version and when it was seen. A snapshot in
//! progress writes what it sees as chunks, one per invocation and kind; on completion they
//! become the new state, and what the old state had and the new one lacks is deleted.
//!
//! About 40 bytes per object, gzipped: ~4 MB for 100,000 users.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::kind::Kind;
use crate::gzip;
use crate::state::{Condition, ObjectStore, StoreError};

/// The format version of state and chunk objects.
const STATE_VERSION: u32 = 1;

/// What is remembered of one object or pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// Its version (`lastUpdated`; for a membership, its group's `lastMembershipUpdated`
    /// when the pair was first seen).
    pub version: Box<str>,
    /// When it was seen (unix milliseconds).
    pub observed: i64,
}

/// Every entry of one kind, by id (pairs sort by parent, so a group's members are a range).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Entries(pub BTreeMap<Box<str>, Entry>);

impl Entries {
    /// Notes `id` at `version`, seen at `observed`; a pair keeps the version it was first seen with.
    pub fn see(&mut self, kind: Kind, id: &str, version: &str, observed: i64) {
        match self.0.get_mut(id) {
            Some(e) if kind.is_pair() => e.observed = e.observed.max(observed),
            Some(e) => {
                e.version = version.into();
                e.observed = observed;
            }
            None => {
                self.0.insert(
                    id.into(),
                    Entry {
                        version: version.into(),
                        observed,
                    },
                );
            }
        }
    }

    /// The pairs under `parent` (`<parent>/...`).
    pub fn children<'a>(&'a self, parent: &str) -> impl Iterator<Item = (&'a str, &'a Entry)> {
        let from = format!("{parent}/");
        let to = format!("{parent}0"); // '0' follows '/'
        self.0
            .range::<str, _>((
                std::ops::Bound::Included(from.as_str()),
                std::ops::Bound::Excluded(to.as_str()),
            ))
            .map(|(k, v)| (k.as_ref(), v))
    }

    /// Merges `other` in (later observations win).
    pub fn merge(&mut self, kind: Kind, other: Entries) {
        for (id, e) in other.0 {
            self.see(kind, &id, &e.version, e.observed);
        }
    }
}

/// The stored form: `{"v":1,"run":"...","entries":[["id","version",observed],...]}`, read
/// and written as a stream: no text, no list beside the map (a large org's memberships are
/// hundreds of thousands of entries).
#[derive(Serialize, Deserialize)]
struct Stored<R, E> {
    v: u32,
    run: R,
    entries: E,
}

impl Serialize for Entries {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .iter()
                .map(|(id, e)| (id.as_ref(), e.version.as_ref(), e.observed)),
        )
    }
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of [id, version, observed]")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Entries, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((id, version, observed)) =
                    seq.next_element::<(String, String, i64)>()?
                {
                    map.insert(
                        id.into_boxed_str(),
                        Entry {
                            version: version.into_boxed_str(),
                            observed,
                        },
                    );
                }
                Ok(Entries(map))
            }
        }
        d.deserialize_seq(Visitor)
    }
}

/// One kind's state (or one chunk of a snapshot in progress), with the snapshot it came from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct KindState {
    /// The snapshot that last replaced it (empty before the first).
    pub run: String,
    /// What is remembered.
    pub entries: Entries,
}

/// Why the state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store failed.
    #[error("directory state: {0}")]
    Store(#[from] StoreError),
    /// An object is not what this version writes.
    #[error("directory state at {location} is unreadable ({reason}): delete it to start the comparison afresh (the next snapshot then reports no deletions)")]
    Unreadable {
        /// Where.
        location: String,
        /// Why.
        reason: String,
    },
}

/// Where the kind's state is kept.
pub(super) fn state_key(prefix: &str, kind: Kind) -> String {
    format!("{prefix}state/{}.json.gz", kind.as_str())
}

/// Where a snapshot's chunks of `kind` are kept.
pub(super) fn chunk_prefix(prefix: &str, run: &str) -> String {
    format!("{prefix}runs/{run}/")
}

fn chunk_key(prefix: &str, run: &str, kind: Kind, n: u32) -> String {
    format!(
        "{}{}-{n:05}.json.gz",
        chunk_prefix(prefix, run),
        kind.as_str()
    )
}

/// Reads the object at `key`: its content and version, or `None`.
pub(super) async fn load(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<(KindState, String)>, StateError> {
    let Some(object) = store.get(key).await? else {
        return Ok(None);
    };
    let unreadable = |reason: String| StateError::Unreadable {
        location: store.location(key),
        reason,
    };
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(&object.body[..]));
    let stored: Stored<String, Entries> =
        serde_json::from_reader(reader).map_err(|e| unreadable(e.to_string()))?;
    if stored.v != STATE_VERSION {
        return Err(unreadable(format!("format version {}", stored.v)));
    }
    Ok(Some((
        KindState {
            run: stored.run,
            entries: stored.entries,
        },
        object.etag,
    )))
}

/// Writes `state` at `key` under `condition`; returns the new version.
pub(super) async fn save(
    store: &dyn ObjectStore,
    key: &str,
    state: &KindState,
    condition: Condition<'_>,
) -> Result<String, StateError> {
    let stored = Stored {
        v: STATE_VERSION,
        run: &state.run,
        entries: &state.entries,
    };
    let mut gz =
        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(gzip::GZIP_LEVEL));
    // Writing into memory cannot fail.
    let _ = serde_json::to_writer(&mut gz, &stored);
    let body = gz.finish().unwrap_or_default();
    Ok(store.put(key, body, "application/gzip", condition).await?)
}

/// Writes what a snapshot saw of `kind` in one invocation as chunk `n` (a rewrite after a
/// crash writes the same content again).
pub(super) async fn save_chunk(
    store: &dyn ObjectStore,
    prefix: &str,
    run: &str,
    kind: Kind,
    n: u32,
    entries: &Entries,
) -> Result<(), StateError> {
    let state = KindState {
        run: run.to_owned(),
        entries: entries.clone(),
    };
    save(
        store,
        &chunk_key(prefix, run, kind, n),
        &state,
        Condition::None,
    )
    .await?;
    Ok(())
}

/// Everything a snapshot saw of `kind`, from its chunks.
pub(super) async fn load_chunks(
    store: &dyn ObjectStore,
    prefix: &str,
    run: &str,
    kind: Kind,
) -> Result<Entries, StateError> {
    let start = format!("{}{}-", chunk_prefix(prefix, run), kind.as_str());
    let mut all = Entries::default();
    for listed in store.list(&start).await? {
        if let Some((chunk, _)) = load(store, &listed.key).await? {
            all.merge(kind, chunk.entries);
        }
    }
    Ok(all)
}

/// Removes a completed snapshot's chunks (a failure leaves them to the bucket's lifecycle rule).
pub(super) async fn delete_chunks(store: &dyn ObjectStore, prefix: &str, run: &str) {
    let listed = match store.list(&chunk_prefix(prefix, run)).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the snapshot's chunks to delete them");
            return;
        }
    };
    for l in listed {
        if let Err(e) = store.delete(&l.key).await {
            tracing::warn!(error = %e, "could not delete a snapshot chunk");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryObjectStore;

    #[tokio::test]
    async fn state_round_trips_and_pairs_are_ranges() {
        let store = MemoryObjectStore::default();
        let mut entries = Entries::default();
        entries.see(Kind::GroupMember, "00g1/00u1", "v1", 10);
        entries.see(Kind::GroupMember, "00g1/00u2", "v1", 10);
        entries.see(Kind::GroupMember, "00g10/00u1", "v1", 10);
        entries.see(Kind::GroupMember, "00g1/00u1", "v2", 20);
        let state = KindState {
            run: "r1".into(),
            entries,
        };
        let key = state_key("okta-directory/", Kind::GroupMember);
        save(&store, &key, &state, Condition::IfAbsent)
            .await
            .unwrap();
        let (back, _) = load(&store, &key).await.unwrap().unwrap();
        assert_eq!(back, state);
        let members: Vec<&str> = back.entries.children("00g1").map(|(id, _)| id).collect();
        assert_eq!(members, ["00g1/00u1", "00g1/00u2"]);
        // A pair keeps the version it was first seen with, and its latest sighting.
        let e = &back.entries.0["00g1/00u1"];
        assert_eq!((&*e.version, e.observed), ("v1", 20));
    }

    #[tokio::test]
    async fn chunks_add_up_and_go_away() {
        let store = MemoryObjectStore::default();
        for n in 0..3u32 {
            let mut e = Entries::default();
            e.see(Kind::User, &format!("00u{n}"), "v", i64::from(n));
            save_chunk(&store, "p/", "r1", Kind::User, n, &e)
                .await
                .unwrap();
        }
        let mut g = Entries::default();
        g.see(Kind::Group, "00g1", "v", 1);
        save_chunk(&store, "p/", "r1", Kind::Group, 0, &g)
            .await
            .unwrap();
        assert_eq!(
            load_chunks(&store, "p/", "r1", Kind::User)
                .await
                .unwrap()
                .0
                .len(),
            3
        );
        assert_eq!(
            load_chunks(&store, "p/", "r1", Kind::Group)
                .await
                .unwrap()
                .0
                .len(),
            1
        );
        delete_chunks(&store, "p/", "r1").await;
        assert!(store.list("p/runs/").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_unreadable_state_says_where_and_what_to_do() {
        let store = MemoryObjectStore::default();
        store
            .put(
                "p/state/user.json.gz",
                b"plain".to_vec(),
                "x",
                Condition::None,
            )
            .await
            .unwrap();
        let e = load(&store, "p/state/user.json.gz").await.unwrap_err();
        assert!(e.to_string().contains("delete it"), "{e}");
    }
}
