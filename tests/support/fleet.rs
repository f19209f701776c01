//! Warm okta-push containers sharing one ledger table, one bucket and one destination: the
//! GIVEN of every test of the ledger through the binaries.

#![allow(dead_code)]

use std::collections::HashMap;

use okta_ingest_testkit::destination::RecordingDestination;
use okta_ingest_testkit::function::{binary_path, FunctionProcess};
use okta_ingest_testkit::moto::Moto;
use okta_ingest_testkit::okta_events::{
    eventbridge_envelope, okta_event, rfc3339_millis, sqs_event_received,
};
use okta_ingest_testkit::runtime_api::RuntimeApi;
use okta_ingest_testkit::{FakeDynamoDb, SerialProxy};
use serde_json::Value;
use time::OffsetDateTime;

use super::BUCKET;

pub const TABLE: &str = "okta-ingest-ledger";

/// Warm push containers over one bucket, one table and one destination.
pub struct Fleet {
    pub moto: Moto,
    /// What the functions talk to: moto, one request at a time (see [`SerialProxy`]).
    pub _aws: SerialProxy,
    /// The ledger table, in the testkit's DynamoDB: moto's PartiQL INSERT overwrites an item
    /// instead of refusing it, so moto cannot hold claims.
    pub table: FakeDynamoDb,
    pub destination: RecordingDestination,
    pub containers: Vec<(RuntimeApi, FunctionProcess)>,
}

impl Fleet {
    pub async fn start(n: usize) -> Fleet {
        Fleet::start_with(n, &[]).await
    }

    /// As [`Fleet::start`], with more settings for every container.
    pub async fn start_with(n: usize, env: &[(&str, &str)]) -> Fleet {
        let moto = Moto::start().await;
        moto.create_bucket(BUCKET).await;
        let destination = RecordingDestination::start().await;
        let aws = SerialProxy::start(moto.addr()).await;
        let table = FakeDynamoDb::start_named("uuid", TABLE).await;
        let mut extra: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        extra.push(("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), table.endpoint()));
        let mut containers = Vec::new();
        for _ in 0..n {
            containers.push(container(&moto, &aws, &destination, &extra).await);
        }
        Fleet {
            moto,
            _aws: aws,
            table,
            destination,
            containers,
        }
    }

    /// The `state` of each uuid in the ledger table.
    pub fn ledger_states(&self) -> HashMap<String, String> {
        self.table.ledger_view()
    }

    /// uuid -> how many accepted requests carried it.
    pub fn delivered(&self) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for request in self.destination.accepted() {
            for item in request.json_array_items() {
                let event: Value = serde_json::from_str(&item).unwrap();
                *seen
                    .entry(event["uuid"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        seen
    }
}

pub async fn container(
    moto: &Moto,
    aws: &SerialProxy,
    destination: &RecordingDestination,
    extra: &[(String, String)],
) -> (RuntimeApi, FunctionProcess) {
    let runtime = RuntimeApi::start().await;
    let mut env = moto.function_env();
    env.extend(
        [
            ("AWS_ENDPOINT_URL", aws.endpoint()),
            ("DESTINATION_URL", destination.url()),
            ("ALLOW_INSECURE_HTTP", "true".into()),
            ("DESTINATION_GZIP", "false".into()),
            ("STATE_BUCKET", BUCKET.into()),
            ("LEDGER_TABLE", TABLE.into()),
            ("DESTINATION_TIMEOUT_SECONDS", "2".into()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env.extend(extra.iter().cloned());
    let function = FunctionProcess::spawn(&binary_path("okta-push"), &runtime, &env).await;
    (runtime, function)
}

/// An SQS batch carrying `uuids` (fresh), message ids unique to `copy`.
pub fn batch(uuids: &[String], copy: &str) -> String {
    batch_received(uuids, copy, 1)
}

/// [`batch`] as SQS hands it out for the `receive`th time.
pub fn batch_received(uuids: &[String], copy: &str, receive: u32) -> String {
    let now = rfc3339_millis(OffsetDateTime::now_utc() - time::Duration::seconds(5));
    let bodies: Vec<(String, String)> = uuids
        .iter()
        .map(|u| {
            let envelope = eventbridge_envelope(&okta_event(u, &now), &format!("eb-{u}"), &now);
            (format!("{copy}-{u}"), envelope)
        })
        .collect();
    sqs_event_received(&bodies, receive)
}

/// The summary line of each invocation a container answered, in order.
pub fn summaries(function: &FunctionProcess) -> Vec<Value> {
    function
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "invocation summary")
        .collect()
}

/// The summaries of the first `n` invocations (see [`super::first_summaries_of`]).
pub async fn first_summaries(function: &FunctionProcess, n: usize) -> Vec<Value> {
    super::first_summaries_of(function, n).await
}
