//! Where the pull path stopped: a small JSON object in S3, written only with conditions.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::store::{Condition, ObjectStore, StoreError};

/// Format version written into every checkpoint.
pub const CHECKPOINT_VERSION: u32 = 1;
/// At most this many uuids are remembered at the resume point (five full pages).
pub const MAX_REMEMBERED_UUIDS: usize = 5000;

/// The pull path's position in the System Log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The org this checkpoint belongs to (`host[:port]`); a mismatch is refused.
    pub org: String,
    /// The `next` link to resume from, exactly as Okta issued it.
    pub next: String,
    /// Events already handled (delivered, kept or dropped) that `next` may return again:
    /// Okta's `next` can equal the request URL when caught up, and a page can be delivered
    /// in part before a destination outage.
    pub handled_at_next: Vec<String>,
    /// When it was written (RFC 3339).
    pub updated_at: String,
    /// The run currently holding the checkpoint, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// A claim on the checkpoint by one run, so two overlapping runs never both forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The Lambda request id of the holder.
    pub owner: String,
    /// Unix seconds after which the claim lapses (the holder's deadline), so a crashed run
    /// does not block the next one for long.
    pub until_unix: i64,
}

/// A checkpoint with the version tag the store gave it (S3's ETag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Opaque version for the next conditional write.
    pub etag: String,
}

/// Why a checkpoint operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckpointError {
    /// Someone else wrote it since we read it (or created it first): we are not the writer.
    #[error("the checkpoint was changed by another run")]
    Conflict,
    /// The stored object is not a checkpoint this version understands.
    #[error("the checkpoint at {location} is unreadable: {message}")]
    Corrupt {
        /// Bucket and key.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error("checkpoint store {location}: {message}")]
    Store {
        /// Bucket and key.
        location: String,
        /// The store's error.
        message: String,
    },
}

/// The checkpoint as one object, written only with `If-Match` / `If-None-Match`.
#[derive(Clone)]
pub struct CheckpointStore {
    store: Arc<dyn ObjectStore>,
    key: String,
}

impl CheckpointStore {
    /// The checkpoint under `key` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, key: impl Into<String>) -> Self {
        CheckpointStore {
            store,
            key: key.into(),
        }
    }

    /// Where it lives, for messages.
    pub fn location(&self) -> String {
        self.store.location(&self.key)
    }

    /// The current checkpoint, if one exists.
    pub async fn load(&self) -> Result<Option<Stored>, CheckpointError> {
        let Some(object) = self.store.get(&self.key).await.map_err(|e| self.error(e))? else {
            return Ok(None);
        };
        let checkpoint = parse(&object.body).map_err(|message| CheckpointError::Corrupt {
            location: self.location(),
            message,
        })?;
        Ok(Some(Stored {
            checkpoint,
            etag: object.etag,
        }))
    }

    /// Writes `checkpoint` if the stored version is still `expected` (`None`: only if none
    /// exists yet). Returns the new version.
    pub async fn save(
        &self,
        checkpoint: &Checkpoint,
        expected: Option<&str>,
    ) -> Result<String, CheckpointError> {
        let body = serde_json::to_vec(checkpoint).map_err(|e| CheckpointError::Store {
            location: self.location(),
            message: e.to_string(),
        })?;
        let condition = match expected {
            Some(etag) => Condition::IfMatch(etag),
            None => Condition::IfAbsent,
        };
        self.store
            .put(&self.key, body, "application/json", condition)
            .await
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: StoreError) -> CheckpointError {
        match e {
            StoreError::Conflict { .. } => CheckpointError::Conflict,
            StoreError::Failed { location, message } => {
                CheckpointError::Store { location, message }
            }
        }
    }
}

fn parse(bytes: &[u8]) -> Result<Checkpoint, String> {
    let c: Checkpoint = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if c.version != CHECKPOINT_VERSION {
        return Err(format!(
            "version {} (this build reads {CHECKPOINT_VERSION})",
            c.version
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(next: &str) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            org: "acme.okta.com".into(),
            next: next.into(),
            handled_at_next: vec!["u1".into()],
            updated_at: "2026-11-22T00:00:00.000Z".into(),
            lease: None,
        }
    }

    #[tokio::test]
    async fn only_the_holder_of_the_current_version_can_write() {
        let store = CheckpointStore::new(
            Arc::new(crate::state::MemoryObjectStore::default()),
            "checkpoint/pull/acme.okta.com.json",
        );
        assert!(store.load().await.unwrap().is_none());
        let v1 = store.save(&checkpoint("a"), None).await.unwrap();
        assert!(matches!(
            store.save(&checkpoint("b"), None).await,
            Err(CheckpointError::Conflict)
        ));
        let v2 = store.save(&checkpoint("b"), Some(&v1)).await.unwrap();
        assert!(matches!(
            store.save(&checkpoint("c"), Some(&v1)).await,
            Err(CheckpointError::Conflict)
        ));
        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!((loaded.checkpoint.next.as_str(), loaded.etag), ("b", v2));
    }

    #[test]
    fn reads_a_checkpoint_as_version_0_1_0_wrote_it() {
        // Written by okta-ingest 0.1.0 (the first release), with a live lease.
        let written = br#"{"version":1,"org":"acme.okta.com","next":"https://acme.okta.com/api/v1/logs?limit=1000&after=1700000000000_1&sortOrder=ASCENDING","handled_at_next":["u1","u2"],"updated_at":"2026-11-22T04:40:29.120Z","lease":{"owner":"8f0e","until_unix":1763786729}}"#;
        let c = parse(written).unwrap();
        assert_eq!(c.handled_at_next, ["u1", "u2"]);
        assert_eq!(c.lease.map(|l| l.owner), Some("8f0e".to_owned()));
        let without_lease = br#"{"version":1,"org":"acme.okta.com","next":"https://acme.okta.com/x","handled_at_next":[],"updated_at":"2026-11-22T04:40:29.120Z"}"#;
        assert!(parse(without_lease).unwrap().lease.is_none());
    }

    #[test]
    fn refuses_an_unknown_version() {
        let mut c = checkpoint("a");
        c.version = 9;
        let err = parse(&serde_json::to_vec(&c).unwrap()).unwrap_err();
        assert!(err.contains("version 9"), "{err}");
        assert!(parse(b"{}").is_err());
    }
}
