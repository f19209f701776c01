//! The S3 object store through the real AWS SDK against moto: its conditional writes, and the
//! dead letters written over it never replacing one another.

use std::sync::Arc;

use okta_ingest::{
    Condition, DeadLetter, DeadLetters, Kept, ObjectStore, S3ObjectStore, StoreError,
};
use okta_ingest_testkit::moto::Moto;
use okta_ingest_testkit::okta_events::gunzip_ndjson;
use serde_json::value::RawValue;
use time::macros::datetime;

const BUCKET: &str = "okta-ingest-state";

async fn bucket() -> (Moto, S3ObjectStore) {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let store = S3ObjectStore::new(moto.s3().await, BUCKET);
    (moto, store)
}

#[tokio::test]
async fn a_write_if_absent_is_refused_over_an_existing_key_and_leaves_it_intact() {
    let (moto, store) = bucket().await;
    store
        .put("k", b"first".to_vec(), "text/plain", Condition::IfAbsent)
        .await
        .unwrap();
    let again = store
        .put("k", b"second".to_vec(), "text/plain", Condition::IfAbsent)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert_eq!(moto.get_object(BUCKET, "k").await, b"first");
}

#[tokio::test]
async fn dead_letters_drawing_the_same_key_in_s3_both_survive_whole() {
    let (moto, store) = bucket().await;
    let dead_letters = DeadLetters::new(Arc::new(store));
    let event: &RawValue = serde_json::from_str(r#"{"uuid":"u1"}"#).unwrap();
    let now = datetime!(2026-11-22 09:08:07 UTC);
    let mut keys = Vec::new();
    for reason in ["first", "second"] {
        let records = [DeadLetter {
            reason: reason.into(),
            message_id: None,
            content: Kept::Event(event.get()),
        }];
        // The same seed draws the same key for both, as two invocations might.
        fastrand::seed(7);
        keys.push(
            dead_letters
                .keep("pull", "req-1", &records, now)
                .await
                .unwrap(),
        );
    }
    assert_ne!(keys[0], keys[1]);
    let listed = moto.list_keys(BUCKET, "dead-letter/pull/").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (key, reason) in keys.iter().zip(["first", "second"]) {
        let lines = gunzip_ndjson(&moto.get_object(BUCKET, key).await);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["reason"], reason);
        assert_eq!(lines[0]["event"]["uuid"], "u1");
    }
}
