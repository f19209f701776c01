//! Security Lake's S3 as it fails in the world, through the real okta-push binary: the lake's
//! bucket answers `503 SlowDown` to every write, refuses with `403 AccessDenied`, or never
//! answers, while the state bucket (dead letters) works. Each time the events are kept with
//! S3's reason before the deadline, never lost, never a hang, and a replay once the lake is
//! back writes each exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use okta_ingest_testkit::lake::{lake_push_env, lake_sources, rows_per_event, OKTA_CLASSES};
use okta_ingest_testkit::moto::Moto;
use okta_ingest_testkit::okta_events::{
    eventbridge_envelope, gunzip_ndjson, okta_event, sqs_event,
};
use okta_ingest_testkit::{binary_path, Fault, FaultProxy, FunctionProcess, RuntimeApi};
use serde_json::{json, Value};

const LAKE: &str = "aws-security-data-lake-us-east-1-hostile";
const STATE: &str = "okta-ingest-state";
const ACCOUNT: &str = "111122223333";

struct Lake {
    moto: Moto,
    proxy: FaultProxy,
    runtime: RuntimeApi,
    function: FunctionProcess,
}

impl Lake {
    async fn start() -> Lake {
        let moto = Moto::start().await;
        moto.create_bucket(STATE).await;
        moto.create_bucket(LAKE).await;
        let proxy = FaultProxy::start(moto.addr()).await;
        let runtime = RuntimeApi::start().await;
        let env = lake_push_env(
            &moto,
            proxy.endpoint(),
            lake_sources(&OKTA_CLASSES, LAKE, ACCOUNT),
            ("okta-ingest-ext-hostile", ACCOUNT, STATE),
            1,
        );
        let function = FunctionProcess::spawn(&binary_path("okta-push"), &runtime, &env).await;
        Lake {
            moto,
            proxy,
            runtime,
            function,
        }
    }

    /// Ten sign-ins through SQS, with a function timeout of `timeout`.
    async fn send(&self, timeout: Duration) -> Value {
        let bodies: Vec<(String, String)> = (0..10)
            .map(|i| {
                let id = format!("msg-{i}");
                let event = okta_event(
                    &format!("0f0000{i:02}-8b7d-11ef-96f7-3e4a5b6c7d8e"),
                    &format!("2026-12-01T00:00:{i:02}.000Z"),
                );
                (
                    id.clone(),
                    eventbridge_envelope(&event, &id, "2026-12-01T00:01:00Z"),
                )
            })
            .collect();
        self.runtime
            .invoke(sqs_event(&bodies), timeout)
            .await
            .response()
    }

    async fn in_lake(&self) -> BTreeMap<String, usize> {
        rows_per_event(&self.moto, LAKE).await
    }

    async fn kept(&self) -> Vec<Value> {
        let mut kept = Vec::new();
        for key in self.moto.list_keys(STATE, "dead-letter/").await {
            kept.extend(gunzip_ndjson(&self.moto.get_object(STATE, &key).await));
        }
        kept
    }

    /// Heals the lake, replays, and checks each event is in the lake exactly once.
    async fn replay_writes_each_once(&self) {
        self.proxy.heal();
        let response = self
            .runtime
            .invoke(r#"{"replay":{}}"#.to_owned(), Duration::from_secs(20))
            .await
            .response();
        assert_eq!(response["forwarded"], 10, "{response}");
        let lake = self.in_lake().await;
        assert_eq!(lake.len(), 10, "{lake:?}");
        assert!(lake.values().all(|n| *n == 1), "{lake:?}");
        assert!(self.kept().await.is_empty(), "the dead letters are gone");
    }
}

fn put_to_lake() -> String {
    format!("PUT /{LAKE}/")
}

/// Every event kept, each with a reason that names what S3 said.
fn assert_kept_with(kept: &[Value], says: &str) {
    assert_eq!(kept.len(), 10, "{kept:?}");
    for k in kept {
        let reason = k["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(says), "{reason}");
        assert!(!reason.contains("okta-ingest-ext-hostile"), "{reason}");
    }
}

#[tokio::test]
async fn a_lake_answering_slowdown_to_every_write_keeps_the_events_and_a_replay_writes_them_once() {
    let lake = Lake::start().await;
    lake.proxy
        .fail(&put_to_lake(), Fault::Answer(503, "SlowDown"));
    let started = Instant::now();
    let response = lake.send(Duration::from_secs(8)).await;
    // Retried until the deadline, then kept: SQS may delete the messages.
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered before the deadline"
    );
    assert!(lake.proxy.faulted() > 1, "the write was retried");
    assert!(lake.in_lake().await.is_empty());
    assert_kept_with(&lake.kept().await, "SlowDown");
    lake.replay_writes_each_once().await;
}

#[tokio::test]
async fn a_lake_that_refuses_with_access_denied_keeps_the_events_at_once() {
    let lake = Lake::start().await;
    lake.proxy
        .fail(&put_to_lake(), Fault::Answer(403, "AccessDenied"));
    let started = Instant::now();
    let response = lake.send(Duration::from_secs(20)).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    // Permanent: not retried until the deadline.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let kept = lake.kept().await;
    assert_kept_with(&kept, "AccessDenied");
    assert!(
        kept[0]["reason"].as_str().unwrap().contains(LAKE),
        "{kept:?}"
    );
    lake.replay_writes_each_once().await;
}

#[tokio::test]
async fn a_lake_that_never_answers_does_not_hang_the_function() {
    let lake = Lake::start().await;
    lake.proxy.fail(&put_to_lake(), Fault::Silence);
    let started = Instant::now();
    let response = lake.send(Duration::from_secs(8)).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered before the deadline"
    );
    assert!(lake.in_lake().await.is_empty());
    assert_eq!(lake.kept().await.len(), 10);
    let summary = lake
        .function
        .json_lines()
        .into_iter()
        .rfind(|l| l["message"] == "invocation summary")
        .expect("a summary line");
    assert_eq!(summary["dead_lettered"], 10, "{summary}");
    lake.replay_writes_each_once().await;
}
