//! Where the pull path stopped: a small JSON object in S3, written only with conditions.

use std::sync::Mutex;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

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

/// Somewhere the checkpoint lives.
pub trait CheckpointStore: Send + Sync {
    /// The current checkpoint, if one exists.
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, CheckpointError>>;

    /// Writes `checkpoint` if the stored version is still `expected` (`None`: only if none
    /// exists yet). Returns the new version.
    fn save<'a>(
        &'a self,
        checkpoint: &'a Checkpoint,
        expected: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, CheckpointError>>;

    /// Where it lives, for messages.
    fn location(&self) -> String;
}

/// The checkpoint as an S3 object, written with `If-Match` / `If-None-Match`.
pub struct S3CheckpointStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
}

impl S3CheckpointStore {
    /// The checkpoint at `s3://bucket/key`.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        S3CheckpointStore {
            client,
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    fn store_error(&self, message: String) -> CheckpointError {
        CheckpointError::Store {
            location: self.location(),
            message,
        }
    }
}

impl CheckpointStore for S3CheckpointStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, CheckpointError>> {
        Box::pin(async move {
            let out = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                    return Ok(None)
                }
                Err(e) => {
                    return Err(
                        self.store_error(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
                    )
                }
            };
            let etag = out.e_tag().unwrap_or_default().to_owned();
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| self.store_error(e.to_string()))?
                .into_bytes();
            let checkpoint = parse(&bytes).map_err(|message| CheckpointError::Corrupt {
                location: self.location(),
                message,
            })?;
            Ok(Some(Stored { checkpoint, etag }))
        })
    }

    fn save<'a>(
        &'a self,
        checkpoint: &'a Checkpoint,
        expected: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, CheckpointError>> {
        Box::pin(async move {
            let body =
                serde_json::to_vec(checkpoint).map_err(|e| self.store_error(e.to_string()))?;
            let mut put = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("application/json")
                .body(body.into());
            put = match expected {
                Some(etag) => put.if_match(etag),
                None => put.if_none_match("*"),
            };
            match put.send().await {
                Ok(out) => Ok(out.e_tag().unwrap_or_default().to_owned()),
                Err(e) => {
                    // 412 Precondition Failed, or 409 when a concurrent conditional write won.
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    if matches!(status, Some(412 | 409)) {
                        Err(CheckpointError::Conflict)
                    } else {
                        Err(self
                            .store_error(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))
                    }
                }
            }
        })
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
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

/// The checkpoint in memory, with the same conditional semantics as S3.
#[derive(Default)]
pub struct MemoryCheckpointStore {
    current: Mutex<Option<(Checkpoint, u64)>>,
}

impl CheckpointStore for MemoryCheckpointStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, CheckpointError>> {
        let stored = self.current.lock().ok().and_then(|c| {
            c.as_ref().map(|(checkpoint, n)| Stored {
                checkpoint: checkpoint.clone(),
                etag: n.to_string(),
            })
        });
        Box::pin(async move { Ok(stored) })
    }

    fn save<'a>(
        &'a self,
        checkpoint: &'a Checkpoint,
        expected: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, CheckpointError>> {
        let result = match self.current.lock() {
            Err(_) => Err(CheckpointError::Store {
                location: self.location(),
                message: "poisoned".into(),
            }),
            Ok(mut current) => {
                let now = current.as_ref().map(|(_, n)| n.to_string());
                if now.as_deref() != expected {
                    Err(CheckpointError::Conflict)
                } else {
                    let n = current.as_ref().map_or(1, |(_, n)| n + 1);
                    *current = Some((checkpoint.clone(), n));
                    Ok(n.to_string())
                }
            }
        };
        Box::pin(async move { result })
    }

    fn location(&self) -> String {
        "memory".into()
    }
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
        let store = MemoryCheckpointStore::default();
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
    fn refuses_an_unknown_version() {
        let mut c = checkpoint("a");
        c.version = 9;
        let err = parse(&serde_json::to_vec(&c).unwrap()).unwrap_err();
        assert!(err.contains("version 9"), "{err}");
        assert!(parse(b"{}").is_err());
    }
}
