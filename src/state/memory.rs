//! The object store in memory, for local runs and tests: the same conditional semantics as
//! S3, requests counted as S3 would bill them, and a switch that makes every request fail.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;
use time::OffsetDateTime;

use super::store::{Condition, Listed, Object, ObjectStore, StoreError};

struct Stored {
    body: Vec<u8>,
    version: u64,
    modified: OffsetDateTime,
}

/// A bucket in memory.
#[derive(Default)]
pub struct MemoryObjectStore {
    objects: Mutex<BTreeMap<String, Stored>>,
    versions: AtomicU64,
    /// GET, PUT, LIST and DELETE requests made.
    pub requests: AtomicU64,
    /// When set, every request fails.
    pub fail: AtomicBool,
}

impl MemoryObjectStore {
    fn objects(&self) -> MutexGuard<'_, BTreeMap<String, Stored>> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self, key: &str) -> Result<(), StoreError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Failed {
                location: self.location(key),
                message: "store unavailable".into(),
            });
        }
        Ok(())
    }

    /// Keys under `prefix`, in order (not counted as a request).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        self.objects()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Key and content of every object under `prefix`, in key order (not counted).
    pub fn objects_under(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        self.objects()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, o)| (k.clone(), o.body.clone()))
            .collect()
    }
}

impl ObjectStore for MemoryObjectStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Object>, StoreError>> {
        let result = self.check(key).map(|()| {
            self.objects().get(key).map(|o| Object {
                body: o.body.clone(),
                etag: o.version.to_string(),
            })
        });
        Box::pin(async move { result })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        _content_type: &'static str,
        condition: Condition<'a>,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        let result = self.check(key).and_then(|()| {
            let mut objects = self.objects();
            let current = objects.get(key).map(|o| o.version.to_string());
            let allowed = match condition {
                Condition::None => true,
                Condition::IfAbsent => current.is_none(),
                Condition::IfMatch(etag) => current.as_deref() == Some(etag),
            };
            if !allowed {
                return Err(StoreError::Conflict {
                    location: self.location(key),
                });
            }
            let version = self.versions.fetch_add(1, Ordering::SeqCst) + 1;
            objects.insert(
                key.to_owned(),
                Stored {
                    body,
                    version,
                    modified: OffsetDateTime::now_utc(),
                },
            );
            Ok(version.to_string())
        });
        Box::pin(async move { result })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Listed>, StoreError>> {
        let result = self.check(prefix).map(|()| {
            self.objects()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, o)| Listed {
                    key: k.clone(),
                    last_modified: o.modified,
                })
                .collect()
        });
        Box::pin(async move { result })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.check(key).map(|()| {
            self.objects().remove(key);
        });
        Box::pin(async move { result })
    }

    fn location(&self, key: &str) -> String {
        format!("memory://{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conditional_writes_behave_as_on_s3() {
        let store = MemoryObjectStore::default();
        let v1 = store
            .put("k", b"a".to_vec(), "text/plain", Condition::IfAbsent)
            .await
            .unwrap();
        let again = store
            .put("k", b"b".to_vec(), "text/plain", Condition::IfAbsent)
            .await;
        assert!(matches!(again, Err(StoreError::Conflict { .. })));
        let v2 = store
            .put("k", b"b".to_vec(), "text/plain", Condition::IfMatch(&v1))
            .await
            .unwrap();
        let stale = store
            .put("k", b"c".to_vec(), "text/plain", Condition::IfMatch(&v1))
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict { .. })));
        let got = store.get("k").await.unwrap().unwrap();
        assert_eq!((got.body, got.etag), (b"b".to_vec(), v2));
        assert_eq!(store.get("missing").await.unwrap(), None);
        store.delete("k").await.unwrap();
        assert!(store.list("").await.unwrap().is_empty());
        assert_eq!(store.requests.load(Ordering::SeqCst), 8);
    }
}
