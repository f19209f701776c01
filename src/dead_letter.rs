//! Dead letters: what could not be delivered, kept in S3 as gzipped NDJSON for replay.

use std::sync::Mutex;

use futures::future::BoxFuture;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::encode::gzip_bytes;

/// Key prefix for everything dead-lettered.
pub const DEAD_LETTER_PREFIX: &str = "dead-letter/";

/// One kept item.
#[derive(Debug, Clone)]
pub struct DeadLetter<'a> {
    /// Why it was kept, in words an operator understands.
    pub reason: String,
    /// The SQS message or EventBridge event it came in, if known.
    pub message_id: Option<&'a str>,
    /// The item itself.
    pub content: Kept<'a>,
}

/// What was kept: a whole event, or the raw input when it was not one.
#[derive(Debug, Clone, Copy)]
pub enum Kept<'a> {
    /// An Okta LogEvent, byte for byte.
    Event(&'a RawValue),
    /// Input that could not be read as an event, as received.
    Raw(&'a str),
}

/// Renders records as NDJSON: `{"reason":…,"message_id":…,"event":{…}}` or `…,"raw":"…"}`.
pub fn to_ndjson(records: &[DeadLetter<'_>], kept_at: OffsetDateTime) -> Vec<u8> {
    let kept_at = crate::event::format_rfc3339(kept_at);
    let mut out = Vec::new();
    for r in records {
        // Strings go through serde_json so they are escaped; the event is appended verbatim.
        out.extend_from_slice(b"{\"reason\":");
        out.extend_from_slice(&json_string(&r.reason));
        out.extend_from_slice(b",\"kept_at\":\"");
        out.extend_from_slice(kept_at.as_bytes());
        out.push(b'"');
        if let Some(id) = r.message_id {
            out.extend_from_slice(b",\"message_id\":");
            out.extend_from_slice(&json_string(id));
        }
        match r.content {
            Kept::Event(raw) => {
                out.extend_from_slice(b",\"event\":");
                out.extend_from_slice(raw.get().as_bytes());
            }
            Kept::Raw(text) => {
                out.extend_from_slice(b",\"raw\":");
                out.extend_from_slice(&json_string(text));
            }
        }
        out.extend_from_slice(b"}\n");
    }
    out
}

fn json_string(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).unwrap_or_else(|_| b"\"\"".to_vec())
}

/// The key for a dead-letter object written by `origin` (`push`, `pull`) at `at`.
pub fn object_key(origin: &str, at: OffsetDateTime, request_id: &str) -> String {
    let safe_id: String = request_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    format!(
        "{DEAD_LETTER_PREFIX}{origin}/{:04}/{:02}/{:02}/{:02}{:02}{:02}-{safe_id}-{:04x}.ndjson.gz",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        fastrand::u16(..)
    )
}

/// Why dead letters could not be stored.
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not write dead letters to {location}: {message}")]
pub struct StoreError {
    /// Bucket and key.
    pub location: String,
    /// The store's error.
    pub message: String,
}

/// A stored dead-letter object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its key.
    pub key: String,
    /// When it was last written.
    pub last_modified: OffsetDateTime,
}

/// Somewhere dead letters are kept.
pub trait DeadLetterStore: Send + Sync {
    /// Stores one gzipped NDJSON object under `key`.
    fn put<'a>(
        &'a self,
        key: &'a str,
        gzipped_ndjson: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The objects under `prefix`, in key order.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<StoredObject>, StoreError>>;

    /// One object's gzipped content.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, StoreError>>;

    /// Removes one object.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Writes `records` as one object; returns its key.
pub async fn keep(
    store: &dyn DeadLetterStore,
    origin: &str,
    request_id: &str,
    records: &[DeadLetter<'_>],
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    let key = object_key(origin, now, request_id);
    let body = gzip_bytes(&to_ndjson(records, now));
    store.put(&key, body).await?;
    Ok(key)
}

/// Dead letters in an S3 bucket.
pub struct S3DeadLetters {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3DeadLetters {
    /// Keeps dead letters in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3DeadLetters {
            client,
            bucket: bucket.into(),
        }
    }
}

impl DeadLetterStore for S3DeadLetters {
    fn put<'a>(
        &'a self,
        key: &'a str,
        gzipped_ndjson: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/gzip")
                .body(gzipped_ndjson.into())
                .send()
                .await
                .map_err(|e| StoreError {
                    location: format!("s3://{}/{key}", self.bucket),
                    message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                })?;
            Ok(())
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<StoredObject>, StoreError>> {
        Box::pin(async move {
            let objects = crate::aws::list_objects(&self.client, &self.bucket, prefix)
                .await
                .map_err(|e| self.error(prefix, e))?;
            Ok(objects
                .into_iter()
                .map(|(key, modified)| StoredObject {
                    key,
                    last_modified: OffsetDateTime::from_unix_timestamp(modified)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                })
                .collect())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, StoreError>> {
        Box::pin(async move {
            crate::aws::get_object_bytes(&self.client, &self.bucket, key)
                .await
                .map_err(|e| self.error(key, e))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.error(key, aws_sdk_s3::error::DisplayErrorContext(&e)))?;
            Ok(())
        })
    }
}

impl S3DeadLetters {
    fn error(&self, key: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            location: format!("s3://{}/{key}", self.bucket),
            message: e.to_string(),
        }
    }
}

/// Dead letters in memory, for local runs and tests; can be told to fail.
#[derive(Default)]
pub struct MemoryDeadLetters {
    /// Objects written, by key, gzipped.
    pub objects: Mutex<Vec<(String, Vec<u8>)>>,
    /// When set, every write fails.
    pub fail: std::sync::atomic::AtomicBool,
}

impl DeadLetterStore for MemoryDeadLetters {
    fn put<'a>(
        &'a self,
        key: &'a str,
        gzipped_ndjson: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError {
                    location: key.to_owned(),
                    message: "store unavailable".into(),
                });
            }
            if let Ok(mut objects) = self.objects.lock() {
                objects.retain(|(k, _)| k != key);
                objects.push((key.to_owned(), gzipped_ndjson));
            }
            Ok(())
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<StoredObject>, StoreError>> {
        let objects = self
            .objects
            .lock()
            .map(|o| {
                let mut found: Vec<StoredObject> = o
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, _)| StoredObject {
                        key: k.clone(),
                        last_modified: OffsetDateTime::now_utc(),
                    })
                    .collect();
                found.sort_by(|a, b| a.key.cmp(&b.key));
                found
            })
            .unwrap_or_default();
        Box::pin(async move { Ok(objects) })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, StoreError>> {
        let found = self
            .objects
            .lock()
            .ok()
            .and_then(|o| o.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()));
        Box::pin(async move {
            found.ok_or_else(|| StoreError {
                location: key.to_owned(),
                message: "no such key".into(),
            })
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        if let Ok(mut o) = self.objects.lock() {
            o.retain(|(k, _)| k != key);
        }
        Box::pin(async move { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ndjson_keeps_events_verbatim_and_raw_input_escaped() {
        let event: &RawValue = serde_json::from_str(r#"{"uuid":"u1","n":1.50}"#).unwrap();
        let records = [
            DeadLetter {
                reason: "HTTP 400".into(),
                message_id: Some("m1"),
                content: Kept::Event(event),
            },
            DeadLetter {
                reason: "not JSON".into(),
                message_id: None,
                content: Kept::Raw("oops\n\"x"),
            },
        ];
        let text =
            String::from_utf8(to_ndjson(&records, datetime!(2026-01-02 03:04:05.006 UTC))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"reason":"HTTP 400","kept_at":"2026-01-02T03:04:05.006Z","message_id":"m1","event":{"uuid":"u1","n":1.50}}"#
        );
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["raw"], "oops\n\"x");
        assert_eq!(second["reason"], "not JSON");
    }

    #[test]
    fn keys_are_partitioned_by_day_under_the_origin() {
        let key = object_key("push", datetime!(2026-11-22 09:08:07 UTC), "abc-123/../x");
        assert!(
            key.starts_with("dead-letter/push/2026/11/22/090807-abc-123x-"),
            "{key}"
        );
        assert!(key.ends_with(".ndjson.gz"));
    }
}
