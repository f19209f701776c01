//! The real okta-pull binary with its world on 127.0.0.1: the fake Okta System Log API,
//! moto, a recording destination and the Lambda Runtime API.

use std::collections::HashMap;
use std::time::Duration;

use okta_ingest_testkit::fake_okta::FakeOkta;
use okta_ingest_testkit::runtime_api::Invocation;
use okta_ingest_testkit::{binary_path, FunctionProcess, Moto, RecordingDestination, RuntimeApi};
use serde_json::Value;
use time::OffsetDateTime;

use super::BUCKET;

pub const TOKEN: &str = "00aOktaToken-first-7Hq2";
pub const ROTATED: &str = "00aOktaToken-rotated-9Kd4";
pub const T: Duration = Duration::from_secs(30);

/// One org, its state, its destination; functions (containers) are started on demand.
pub struct Org {
    pub okta: FakeOkta,
    pub moto: Moto,
    pub destination: RecordingDestination,
    pub secret_arn: String,
    pub extra_env: Vec<(String, String)>,
}

/// One okta-pull container.
pub struct Container {
    pub runtime: RuntimeApi,
    pub function: FunctionProcess,
}

impl Container {
    pub async fn run(&self, payload: &str, timeout: Duration) -> Invocation {
        self.runtime.invoke(payload.to_owned(), timeout).await
    }

    pub async fn scheduled(&self, timeout: Duration) -> Value {
        self.run(include_str!("../../events/schedule.json"), timeout)
            .await
            .response()
    }
}

impl Org {
    pub async fn start(extra: &[(&str, &str)]) -> Org {
        let okta = FakeOkta::start().await;
        okta.set_tokens(&[TOKEN]);
        let moto = Moto::start().await;
        moto.create_bucket(BUCKET).await;
        let secret_arn = moto.create_secret("okta-ingest/okta-token", TOKEN).await;
        let destination = RecordingDestination::start().await;
        let extra_env = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Org {
            okta,
            moto,
            destination,
            secret_arn,
            extra_env,
        }
    }

    pub async fn container(&self) -> Container {
        let runtime = RuntimeApi::start().await;
        let mut env = self.moto.function_env();
        env.extend(
            [
                ("OKTA_DOMAIN", self.okta.base_url()),
                ("ALLOW_INSECURE_HTTP", "true".into()),
                ("OKTA_TOKEN_SECRET_ARN", self.secret_arn.clone()),
                ("STATE_BUCKET", BUCKET.into()),
                ("DESTINATION_URL", self.destination.url()),
                ("DESTINATION_GZIP", "false".into()),
                ("DESTINATION_TIMEOUT_SECONDS", "5".into()),
                // Most tests use fresh events and no push path; settling has its own tests.
                ("SETTLE_DELAY_SECONDS", "0".into()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env.extend(self.extra_env.iter().cloned());
        let function = FunctionProcess::spawn(&binary_path("okta-pull"), &runtime, &env).await;
        Container { runtime, function }
    }

    /// How many times each uuid reached the destination.
    pub fn delivered(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for request in self.destination.accepted() {
            for item in request.json_array_items() {
                let v: Value = serde_json::from_str(&item).unwrap();
                *counts
                    .entry(v["uuid"].as_str().unwrap().to_owned())
                    .or_insert(0) += 1;
            }
        }
        counts
    }

    /// Every event of the fake org reached the destination exactly once.
    pub fn assert_exactly_once(&self) {
        let delivered = self.delivered();
        let expected: Vec<String> = self.okta.events().into_iter().map(|(u, _)| u).collect();
        let missing: Vec<&String> = expected
            .iter()
            .filter(|u| !delivered.contains_key(*u))
            .collect();
        let repeated: Vec<(&String, &usize)> = delivered.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            missing.is_empty(),
            "{} events never delivered, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        assert!(
            repeated.is_empty(),
            "{} events delivered more than once, e.g. {:?}",
            repeated.len(),
            repeated.first()
        );
        assert_eq!(
            delivered.len(),
            expected.len(),
            "nothing delivered that Okta did not have"
        );
    }

    pub async fn checkpoint(&self) -> Option<Value> {
        let keys = self.moto.list_keys(BUCKET, "checkpoint/").await;
        match keys.first() {
            None => None,
            Some(k) => {
                Some(serde_json::from_slice(&self.moto.get_object(BUCKET, k).await).unwrap())
            }
        }
    }

    pub async fn assert_no_token_anywhere(&self, containers: &[&Container]) {
        for c in containers {
            let out = c.function.output();
            for secret in [TOKEN, ROTATED] {
                assert!(
                    !out.contains(secret),
                    "{secret} leaked into the function output"
                );
            }
        }
        for key in self.moto.list_keys(BUCKET, "").await {
            let object =
                String::from_utf8_lossy(&self.moto.get_object(BUCKET, &key).await).into_owned();
            assert!(
                !object.contains(TOKEN) && !object.contains(ROTATED),
                "token written to s3://{BUCKET}/{key}"
            );
        }
    }
}

pub fn minutes_ago(m: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(m)
}
