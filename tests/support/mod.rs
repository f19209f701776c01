//! The real okta-push binary with everything it talks to on 127.0.0.1: moto for S3 and
//! Secrets Manager, a recording destination, and the Lambda Runtime API. Shared by the test
//! files that drive the binary; each uses only part of it. `pull` is the same for okta-pull,
//! `platform` the push handler in process for the platform tests, `push_handler` the same
//! with in-memory adapters for the `push_*` handler tests.
#![allow(dead_code)]

use std::time::Duration;

use okta_ingest_testkit::destination::RecordingDestination;
use okta_ingest_testkit::function::{binary_path, FunctionProcess};
use okta_ingest_testkit::moto::Moto;
use okta_ingest_testkit::okta_events::{gunzip_ndjson, rebase_timestamps};
use okta_ingest_testkit::runtime_api::{Invocation, RuntimeApi};
use serde_json::Value;
use time::OffsetDateTime;

pub mod directory;
pub mod fleet;
pub mod handler;
pub mod platform;
pub mod pull;
pub mod push_handler;

pub const BUCKET: &str = "okta-ingest-state";
pub const TOKEN: &str = "dest-token-7f3a9c1e5b";
pub const ROTATED_TOKEN: &str = "dest-token-rotated-2d8e4b";
pub const URL_SECRET: &str = "urlsecret9b7d";

/// Everything one okta-push container talks to.
pub struct Stack {
    pub moto: Moto,
    pub destination: RecordingDestination,
    pub runtime: RuntimeApi,
    pub function: FunctionProcess,
    pub secret_arn: String,
}

impl Stack {
    pub async fn start(extra: &[(&str, &str)]) -> Stack {
        let moto = Moto::start().await;
        moto.create_bucket(BUCKET).await;
        let secret_arn = moto
            .create_secret(
                "okta-ingest/destination",
                &format!(r#"{{"token":"{TOKEN}"}}"#),
            )
            .await;
        let destination = RecordingDestination::start().await;
        let runtime = RuntimeApi::start().await;
        let mut env = moto.function_env();
        env.extend(
            [
                // The path carries a credential, as Sumo Logic URLs do: it must never be logged.
                (
                    "DESTINATION_URL",
                    format!("{}/{URL_SECRET}", destination.url()),
                ),
                ("ALLOW_INSECURE_HTTP", "true".into()),
                ("DESTINATION_SECRET_ARN", secret_arn.clone()),
                ("STATE_BUCKET", BUCKET.into()),
                ("DESTINATION_TIMEOUT_SECONDS", "2".into()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let function = FunctionProcess::spawn(&binary_path("okta-push"), &runtime, &env).await;
        Stack {
            moto,
            destination,
            runtime,
            function,
            secret_arn,
        }
    }

    pub async fn invoke(&self, payload: &str, timeout: Duration) -> Invocation {
        self.runtime.invoke(payload.to_owned(), timeout).await
    }

    /// The Embedded Metric Format lines (CloudWatch metrics).
    pub fn metrics(&self) -> Vec<Value> {
        self.function
            .json_lines()
            .into_iter()
            .filter(|l| l.get("_aws").is_some())
            .collect()
    }

    pub fn summaries(&self) -> Vec<Value> {
        self.function
            .json_lines()
            .into_iter()
            .filter(|l| l["message"] == "invocation summary")
            .collect()
    }

    /// The summaries of the first `n` invocations, waiting for them to be read.
    pub async fn first_summaries(&self, n: usize) -> Vec<Value> {
        first_summaries_of(&self.function, n).await
    }

    pub async fn dead_letters(&self) -> Vec<Value> {
        let mut lines = Vec::new();
        for key in self.moto.list_keys(BUCKET, "dead-letter/push/").await {
            lines.extend(gunzip_ndjson(&self.moto.get_object(BUCKET, &key).await));
        }
        lines
    }

    /// Nothing secret in anything the function printed.
    pub fn assert_no_secret_in_output(&self) {
        let out = self.function.output();
        for secret in [TOKEN, ROTATED_TOKEN, URL_SECRET] {
            assert!(
                !out.contains(secret),
                "{secret} leaked into the function output:\n{out}"
            );
        }
    }
}

/// The sample SQS batch with its dates moved to just now, so fresh events are fresh.
pub fn sample_batch() -> String {
    rebase_timestamps(
        include_str!("../../events/sqs-batch.json"),
        OffsetDateTime::now_utc(),
    )
}

/// The sample batch again, as new events (other uuids): a later delivery from Okta.
pub fn another_sample_batch(n: u32) -> String {
    sample_batch().replace("-8b7d-11ef-", &format!("-{:04x}-11ef-", 0x9000 + n))
}

pub fn failed_ids(response: &Value) -> Vec<String> {
    let mut ids: Vec<String> = response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not an SQS batch response: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The summary lines of the first `n` invocations of `function`, waiting (up to 10 s) for its
/// output to be read that far: the answer can arrive before its log lines do.
pub async fn first_summaries_of(
    function: &okta_ingest_testkit::FunctionProcess,
    n: usize,
) -> Vec<Value> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lines: Vec<Value> = function
            .json_lines()
            .into_iter()
            .filter(|l| l["message"] == "invocation summary")
            .collect();
        if lines.len() >= n || std::time::Instant::now() > until {
            assert!(lines.len() >= n, "{} summaries, wanted {n}", lines.len());
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
