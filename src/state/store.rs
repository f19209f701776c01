//! The object-store port under the ledger, the dead letters and the checkpoint.

use futures::future::BoxFuture;
use time::OffsetDateTime;

/// A store operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the object changed (or already there).
    #[error("{location} was changed by another writer")]
    Conflict {
        /// Bucket and key.
        location: String,
    },
    /// The store failed or refused.
    #[error("{location}: {message}")]
    Failed {
        /// Bucket and key.
        location: String,
        /// The store's error, with its context.
        message: String,
    },
}

/// When a write may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// Always.
    None,
    /// Only if no object exists under the key yet.
    IfAbsent,
    /// Only if the object is still at this version (its ETag).
    IfMatch(&'a str),
}

/// One object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// When it was last written.
    pub last_modified: OffsetDateTime,
}

/// One object as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its content.
    pub body: Vec<u8>,
    /// Its version, for a conditional write.
    pub etag: String,
}

/// A bucket of objects: S3 in production, memory in local runs and tests.
pub trait ObjectStore: Send + Sync {
    /// The object under `key`, or `None` when there is none.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Object>, StoreError>>;

    /// Writes `body` under `key` when `condition` holds; returns the new version.
    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        content_type: &'static str,
        condition: Condition<'a>,
    ) -> BoxFuture<'a, Result<String, StoreError>>;

    /// Every object under `prefix`, in key order.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Listed>, StoreError>>;

    /// Removes the object under `key` (nothing happens if there is none).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Where `key` is, for messages: `s3://bucket/key`.
    fn location(&self, key: &str) -> String;
}

/// Writes `body` as a new object under a key `new_key` draws, never over an existing one:
/// the write is conditional on the key being free, and a taken key is drawn again, up to
/// `tries` keys. Returns the key written.
pub async fn put_new(
    store: &dyn ObjectStore,
    mut new_key: impl FnMut() -> String,
    body: Vec<u8>,
    content_type: &'static str,
    tries: usize,
) -> Result<String, StoreError> {
    let mut attempt = 1;
    loop {
        let key = new_key();
        match store
            .put(&key, body.clone(), content_type, Condition::IfAbsent)
            .await
        {
            Ok(_) => return Ok(key),
            Err(StoreError::Conflict { location }) if attempt < tries => {
                tracing::warn!(%location, attempt, "key already taken; writing under a new key");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
