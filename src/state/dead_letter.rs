//! Dead letters: what could not be delivered, kept in S3 as gzipped NDJSON for replay.

use std::sync::Arc;

use time::OffsetDateTime;

use super::store::{put_new, Condition, Listed, ObjectStore, StoreError};

/// Key prefix for everything dead-lettered.
pub const DEAD_LETTER_PREFIX: &str = "dead-letter/";

/// Keys tried for one object before giving up: each write is conditional on the key being
/// free, and a key that is taken (another invocation's object) is drawn again.
const KEEP_ATTEMPTS: usize = 4;

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
    /// An Okta LogEvent, byte for byte (valid JSON text).
    Event(&'a str),
    /// Input that could not be read as an event, as received.
    Raw(&'a str),
}

/// Renders records as NDJSON: `{"reason":…,"message_id":…,"event":{…}}` or `…,"raw":"…"}`.
fn to_ndjson(records: &[DeadLetter<'_>], kept_at: OffsetDateTime) -> Vec<u8> {
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
                // One record per line, even for a pretty-printed event.
                out.extend_from_slice(b",\"event\":");
                out.extend_from_slice(crate::event::compact_json(raw).as_bytes());
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

/// The key for a dead-letter object written by `origin` (`push`, `pull`) at `at`. The second
/// and the request id alone can repeat (two pull runs in one second, a replayed request id),
/// so 64 random bits make a collision unlikely; the conditional write makes it harmless.
fn object_key(origin: &str, at: OffsetDateTime, request_id: &str) -> String {
    let safe_id: String = request_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    format!(
        "{DEAD_LETTER_PREFIX}{origin}/{:04}/{:02}/{:02}/{:02}{:02}{:02}-{safe_id}-{:016x}.ndjson.gz",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        fastrand::u64(..)
    )
}

/// Why dead letters could not be written or read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("dead letters: {0}")]
pub struct DeadLetterError(#[from] pub StoreError);

impl DeadLetterError {
    /// The store did not answer within `budget`.
    pub(crate) fn timed_out(budget: std::time::Duration) -> Self {
        DeadLetterError(StoreError::Failed {
            location: DEAD_LETTER_PREFIX.to_owned(),
            message: format!(
                "no answer within {} ms (before the Lambda deadline)",
                budget.as_millis()
            ),
        })
    }
}

/// The dead letters in the state bucket, under [`DEAD_LETTER_PREFIX`].
#[derive(Clone)]
pub struct DeadLetters {
    store: Arc<dyn ObjectStore>,
    /// The folder of a second destination's lane (`lake/`), or empty.
    lane: &'static str,
}

impl DeadLetters {
    /// Dead letters in `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        DeadLetters { store, lane: "" }
    }

    /// The same store, writing under `dead-letter/<lane>/` (a second destination's lane), so
    /// a replay can tell whose they are.
    pub fn in_lane(mut self, lane: &'static str) -> Self {
        self.lane = lane;
        self
    }

    /// Writes `records` as one new object; returns its key. An object is never replaced: the
    /// write is conditional on the key being free, and a taken key is drawn again (up to
    /// [`KEEP_ATTEMPTS`] keys), so another invocation's dead letters are never lost.
    pub async fn keep(
        &self,
        origin: &str,
        request_id: &str,
        records: &[DeadLetter<'_>],
        now: OffsetDateTime,
    ) -> Result<String, DeadLetterError> {
        let body = crate::gzip::compress(&to_ndjson(records, now));
        let folder = match self.lane {
            "" => origin.to_owned(),
            lane => format!("{lane}/{origin}"),
        };
        let new_key = || object_key(&folder, now, request_id);
        let key = put_new(
            self.store.as_ref(),
            new_key,
            body,
            "application/gzip",
            KEEP_ATTEMPTS,
        )
        .await?;
        Ok(key)
    }

    /// The objects under `prefix`, in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, DeadLetterError> {
        Ok(self.store.list(prefix).await?)
    }

    /// The NDJSON text of one object.
    pub async fn read(&self, key: &str) -> Result<String, String> {
        let object = self
            .store
            .get(key)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} is gone", self.store.location(key)))?;
        crate::gzip::decompress_text(&object.body)
    }

    /// Replaces one object's content with `lines` (one record each).
    pub async fn rewrite(&self, key: &str, lines: &[&str]) -> Result<(), DeadLetterError> {
        let mut body = lines.join("\n");
        body.push('\n');
        self.store
            .put(
                key,
                crate::gzip::compress(body.as_bytes()),
                "application/gzip",
                Condition::None,
            )
            .await?;
        Ok(())
    }

    /// Removes one object.
    pub async fn delete(&self, key: &str) -> Result<(), DeadLetterError> {
        Ok(self.store.delete(key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryObjectStore;
    use time::macros::datetime;

    #[test]
    fn ndjson_keeps_events_verbatim_and_raw_input_escaped() {
        let event = r#"{"uuid":"u1","n":1.50}"#;
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

    fn records<'a>(event: &'a str, reason: &str) -> Vec<DeadLetter<'a>> {
        vec![DeadLetter {
            reason: reason.into(),
            message_id: None,
            content: Kept::Event(event),
        }]
    }

    fn kept(store: &MemoryObjectStore) -> Vec<(String, Vec<String>)> {
        store
            .objects_under(DEAD_LETTER_PREFIX)
            .into_iter()
            .map(|(key, gz)| {
                let text = crate::gzip::decompress_text(&gz).unwrap();
                (key, text.lines().map(str::to_owned).collect())
            })
            .collect()
    }

    #[tokio::test]
    async fn two_keeps_drawing_the_same_key_both_survive_whole() {
        let store = Arc::new(MemoryObjectStore::default());
        let dead_letters = DeadLetters::new(store.clone());
        let event = r#"{"uuid":"u1"}"#;
        let now = datetime!(2026-11-22 09:08:07 UTC);
        // Same second, same request id, same random draw: the same key, as two invocations
        // could draw it.
        fastrand::seed(7);
        let first = dead_letters
            .keep("pull", "req-1", &records(event, "first"), now)
            .await
            .unwrap();
        fastrand::seed(7);
        let second = dead_letters
            .keep("pull", "req-1", &records(event, "second"), now)
            .await
            .unwrap();
        assert_ne!(first, second);
        let kept = kept(&store);
        assert_eq!(kept.len(), 2, "{kept:?}");
        for (key, reason) in [(&first, "first"), (&second, "second")] {
            let (_, lines) = kept.iter().find(|(k, _)| k == key).unwrap();
            assert_eq!(lines.len(), 1);
            let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
            assert_eq!(line["reason"], reason);
            assert_eq!(line["event"]["uuid"], "u1");
        }
    }

    /// A bucket where every key is already taken.
    struct Full(MemoryObjectStore, std::sync::atomic::AtomicUsize);

    impl ObjectStore for Full {
        fn get<'a>(
            &'a self,
            key: &'a str,
        ) -> futures::future::BoxFuture<'a, Result<Option<super::super::store::Object>, StoreError>>
        {
            self.0.get(key)
        }
        fn put<'a>(
            &'a self,
            key: &'a str,
            _body: Vec<u8>,
            _content_type: &'static str,
            condition: Condition<'a>,
        ) -> futures::future::BoxFuture<'a, Result<String, StoreError>> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            assert_eq!(
                condition,
                Condition::IfAbsent,
                "never overwrite a dead letter"
            );
            let location = self.location(key);
            Box::pin(async move { Err(StoreError::Conflict { location }) })
        }
        fn list<'a>(
            &'a self,
            prefix: &'a str,
        ) -> futures::future::BoxFuture<'a, Result<Vec<Listed>, StoreError>> {
            self.0.list(prefix)
        }
        fn delete<'a>(
            &'a self,
            key: &'a str,
        ) -> futures::future::BoxFuture<'a, Result<(), StoreError>> {
            self.0.delete(key)
        }
        fn location(&self, key: &str) -> String {
            self.0.location(key)
        }
    }

    #[tokio::test]
    async fn a_keep_gives_up_after_a_few_taken_keys_and_says_so() {
        let store = Arc::new(Full(MemoryObjectStore::default(), Default::default()));
        let event = r#"{"uuid":"u1"}"#;
        let result = DeadLetters::new(store.clone())
            .keep(
                "push",
                "req-1",
                &records(event, "r"),
                OffsetDateTime::now_utc(),
            )
            .await;
        assert!(
            matches!(result, Err(DeadLetterError(StoreError::Conflict { .. }))),
            "{result:?}"
        );
        assert_eq!(
            store.1.load(std::sync::atomic::Ordering::SeqCst),
            KEEP_ATTEMPTS
        );
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
