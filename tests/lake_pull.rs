//! Security Lake from both paths: the real okta-pull binary writes what it reads from the
//! fake Okta into the lake, and the real okta-push binary, sharing the ledger, writes none of
//! the same events again: each event is in the lake once, whichever path saw it first.

use std::collections::BTreeMap;

use okta_ingest_testkit::lake::{lake_sources, read_parquet, rows_per_event, OKTA_CLASSES};
use okta_ingest_testkit::okta_events::{eventbridge_envelope, sqs_event};
use okta_ingest_testkit::{binary_path, FunctionProcess, RuntimeApi};
use serde_json::json;

mod support;

use support::pull::*;
use support::BUCKET;

const LAKE: &str = "aws-security-data-lake-us-east-1-pull";
const ACCOUNT: &str = "111122223333";

fn lake_env() -> Vec<(&'static str, String)> {
    vec![
        ("DESTINATION_FORMAT", "securitylake".into()),
        // Unset (empty counts as unset): the lake has no URL.
        ("DESTINATION_URL", String::new()),
        (
            "SECURITY_LAKE_SOURCES",
            lake_sources(&OKTA_CLASSES, LAKE, ACCOUNT),
        ),
        ("SECURITY_LAKE_EXTERNAL_ID", "okta-ingest-ext-pull".into()),
        ("SECURITY_LAKE_ACCOUNT_ID", ACCOUNT.into()),
    ]
}

/// How many times each event (`metadata.uid`) is in the lake.
async fn in_lake(org: &Org) -> BTreeMap<String, usize> {
    rows_per_event(&org.moto, LAKE).await
}

#[tokio::test]
async fn pull_writes_the_lake_and_push_writes_none_of_it_again() {
    let settings = lake_env();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let org = Org::start(&extra).await;
    org.moto.create_bucket(LAKE).await;
    let uuids = org
        .okta
        .add_events(40, minutes_ago(30), time::Duration::seconds(20));

    let pull = org.container().await;
    let response = pull.scheduled(T).await;
    assert_eq!(response["forwarded"], 40, "{response}");
    let counts = in_lake(&org).await;
    assert_eq!(counts.len(), 40, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    assert!(uuids.iter().all(|u| counts.contains_key(u)));
    assert!(
        org.destination.accepted().is_empty(),
        "nothing went to an HTTP destination"
    );

    // Log Streaming delivers ten of the same events late, to okta-push.
    let runtime = RuntimeApi::start().await;
    let mut env = org.moto.function_env();
    env.extend(
        [
            ("STATE_BUCKET", BUCKET.to_owned()),
            ("MAX_EVENT_AGE_SECONDS", "0".into()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let push = FunctionProcess::spawn(&binary_path("okta-push"), &runtime, &env).await;
    let events = org.okta.events();
    let bodies: Vec<(String, String)> = events[..10]
        .iter()
        .map(|(uuid, json)| {
            (
                format!("m-{uuid}"),
                eventbridge_envelope(json, uuid, "2026-12-01T00:00:00Z"),
            )
        })
        .collect();
    let response = runtime.invoke(sqs_event(&bodies), T).await.response();
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    let summary = push
        .json_lines()
        .into_iter()
        .find(|l| l["message"] == "invocation summary")
        .expect("a summary line");
    assert_eq!(summary["already_delivered"], 10, "{summary}");
    assert_eq!(summary["forwarded"], 0, "{summary}");
    assert_eq!(in_lake(&org).await, counts, "the lake is unchanged");
}

#[tokio::test]
async fn the_connection_check_writes_to_the_lake_or_says_what_to_fix() {
    let settings = lake_env();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let org = Org::start(&extra).await;
    let pull = org.container().await;
    let destination = |report: &serde_json::Value| {
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "destination").cloned())
            .expect("a destination check")
    };
    // No lake bucket yet: the check fails, naming the bucket and what to check.
    let report = pull.run(r#"{"check":true}"#, T).await.response();
    let check = destination(&report);
    assert_eq!(check["ok"], false, "{report}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(LAKE) && detail.contains("SECURITY_LAKE_SOURCES"),
        "{detail}"
    );
    assert!(
        !report.to_string().contains("okta-ingest-ext-pull"),
        "{report}"
    );

    org.moto.create_bucket(LAKE).await;
    let report = pull.run(r#"{"check":true}"#, T).await.response();
    assert_eq!(destination(&report)["ok"], true, "{report}");
    let keys = org.moto.list_keys(LAKE, "ext/okta-6003/").await;
    assert_eq!(keys.len(), 1, "the test event, as API Activity: {keys:?}");
    let rows = read_parquet(&org.moto.get_object(LAKE, &keys[0]).await).rows;
    assert_eq!(
        rows[0]["metadata"]["event_code"],
        "okta-ingest.connection_check"
    );
}
