//! Security Lake beside an HTTP destination in one stack (`SECURITY_LAKE_SOURCES` with the
//! SIEM's own format): the real okta-pull and okta-push binaries send each event raw to the
//! SIEM and as OCSF Parquet to the lake, each exactly once to each, sharing one DynamoDB
//! ledger (the testkit's table) under separate keys; what the lake cannot take is kept in its own folder and
//! replayed into the lake alone.

use std::collections::BTreeMap;

use okta_ingest_testkit::lake::{lake_sources, rows_per_event, OKTA_CLASSES};
use okta_ingest_testkit::okta_events::{
    eventbridge_envelope, gunzip_ndjson, okta_event, sqs_event,
};
use okta_ingest_testkit::{binary_path, FakeDynamoDb, FunctionProcess, RuntimeApi};
use serde_json::{json, Value};

mod support;

use support::pull::*;
use support::BUCKET;

const LAKE: &str = "aws-security-data-lake-us-east-1-both";
const ACCOUNT: &str = "111122223333";
const TABLE: &str = "okta-ingest-ledger-both";

/// The lake's variables, beside the SIEM the test org already sends to.
fn lake_env(classes: &[u32]) -> Vec<(&'static str, String)> {
    vec![
        (
            "SECURITY_LAKE_SOURCES",
            lake_sources(classes, LAKE, ACCOUNT),
        ),
        ("SECURITY_LAKE_EXTERNAL_ID", "okta-ingest-ext-both".into()),
        ("SECURITY_LAKE_ACCOUNT_ID", ACCOUNT.into()),
        ("LEDGER_TABLE", TABLE.into()),
        ("MAX_EVENT_AGE_SECONDS", "0".into()),
    ]
}

/// The org, and its ledger table (the testkit's DynamoDB).
async fn org(classes: &[u32]) -> (Org, FakeDynamoDb) {
    let table = FakeDynamoDb::start_named("uuid", TABLE).await;
    let mut settings = lake_env(classes);
    settings.push(("AWS_ENDPOINT_URL_DYNAMODB", table.endpoint()));
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let org = Org::start(&extra).await;
    org.moto.create_bucket(LAKE).await;
    (org, table)
}

/// okta-push with the org's SIEM and the lake of `classes`.
async fn push(org: &Org, table: &FakeDynamoDb, classes: &[u32]) -> (RuntimeApi, FunctionProcess) {
    let runtime = RuntimeApi::start().await;
    let mut env = org.moto.function_env();
    env.extend(
        [
            ("STATE_BUCKET", BUCKET.to_owned()),
            ("DESTINATION_URL", org.destination.url()),
            ("ALLOW_INSECURE_HTTP", "true".into()),
            ("DESTINATION_GZIP", "false".into()),
            ("AWS_ENDPOINT_URL_DYNAMODB", table.endpoint()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env.extend(
        lake_env(classes)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
    );
    let function = FunctionProcess::spawn(&binary_path("okta-push"), &runtime, &env).await;
    (runtime, function)
}

/// How many times each event (`metadata.uid`) is in the lake.
async fn in_lake(org: &Org) -> BTreeMap<String, usize> {
    rows_per_event(&org.moto, LAKE).await
}

fn summary(function: &FunctionProcess, message: &str) -> Value {
    function
        .json_lines()
        .into_iter()
        .rfind(|l| l["message"] == message)
        .unwrap_or_else(|| panic!("a {message:?} line"))
}

#[tokio::test]
async fn pull_and_push_send_each_event_once_to_the_siem_and_once_to_the_lake() {
    let (org, table) = org(&OKTA_CLASSES).await;
    let uuids = org
        .okta
        .add_events(40, minutes_ago(30), time::Duration::seconds(20));

    // A scheduled pull: raw to the SIEM, OCSF to the lake.
    let pull = org.container().await;
    let response = pull.scheduled(T).await;
    assert_eq!(response["forwarded"], 40, "{response}");
    assert_eq!(response["lake"]["forwarded"], 40, "{response}");
    org.assert_exactly_once();
    let lake = in_lake(&org).await;
    assert_eq!(lake.len(), 40, "{lake:?}");
    assert!(lake.values().all(|n| *n == 1), "{lake:?}");
    assert!(uuids.iter().all(|u| lake.contains_key(u)));
    // One ledger table, two keys per event: the SIEM's and the lake's, each delivered
    // (marked by its group: one item per lane's claim).
    let rows = table.ledger_rows();
    let items = okta_ingest_testkit::ledger_view::view(&rows);
    assert_eq!(items.len(), 80, "{items:?}");
    assert_eq!(items.keys().filter(|k| k.starts_with("lake#")).count(), 40);
    assert!(items.values().all(|s| s == "delivered"), "{items:?}");
    assert!(okta_ingest_testkit::ledger_view::groups(&rows) >= 2);
    // The connection check tries both, each on its own line.
    let report = pull.run(r#"{"check":true}"#, T).await.response();
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == true)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"destination") && names.contains(&"security lake"),
        "{report}"
    );
    let lake = in_lake(&org).await;
    assert_eq!(lake.len(), 41, "the check's test event is in the lake too");

    // Log Streaming brings ten of the same events late: neither destination gets them again.
    let (runtime, function) = push(&org, &table, &OKTA_CLASSES).await;
    let siem_requests = org.destination.accepted().len();
    let bodies: Vec<(String, String)> = org.okta.events()[..10]
        .iter()
        .map(|(uuid, json)| {
            let id = format!("m-{uuid}");
            let body = eventbridge_envelope(json, uuid, "2026-12-01T00:00:00Z");
            (id, body)
        })
        .collect();
    let response = runtime.invoke(sqs_event(&bodies), T).await.response();
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    let line = summary(&function, "invocation summary");
    assert_eq!(line["already_delivered"], 10, "{line}");
    let lake_counts: Value = serde_json::from_str(line["lake"].as_str().unwrap()).unwrap();
    assert_eq!(lake_counts["already_delivered"], 10, "{line}");
    assert_eq!(lake_counts["forwarded"], 0, "{line}");
    assert_eq!(org.destination.accepted().len(), siem_requests);
    assert_eq!(in_lake(&org).await, lake, "the lake is unchanged");
}

/// An Okta event of `event_type`.
fn event(n: u32, event_type: &str) -> String {
    okta_event(
        &format!("0f0000{n:02}-8b7d-11ef-96f7-3e4a5b6c7d8e"),
        &format!("2026-12-01T00:00:{n:02}.000Z"),
    )
    .replace(
        r#""eventType":"user.session.start""#,
        &format!(r#""eventType":"{event_type}""#),
    )
}

#[tokio::test]
async fn what_the_lake_cannot_take_is_kept_apart_and_replayed_into_the_lake_alone() {
    // GIVEN a lake with a source for sign-ins (3002) only
    let (org, table) = org(&[3002]).await;
    let events = [
        event(1, "user.session.start"),
        event(2, "user.session.start"),
        event(3, "group.user_membership.add"),
        event(4, "system.api_token.create"),
    ];
    let bodies: Vec<(String, String)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let id = format!("msg-{i}");
            let body = eventbridge_envelope(e, &id, "2026-12-01T00:00:05Z");
            (id, body)
        })
        .collect();
    let (runtime, first) = push(&org, &table, &[3002]).await;
    let response = runtime.invoke(sqs_event(&bodies), T).await.response();
    // The lake's own metrics, on which LakeDeadLettersWrittenAlarm watches.
    let metrics = first
        .json_lines()
        .into_iter()
        .find(|l| l.get("_aws").is_some())
        .expect("an EMF metrics line");
    assert_eq!(metrics["LakeEventsDeadLettered"], 2, "{metrics}");
    assert_eq!(metrics["LakeEventsForwarded"], 2, "{metrics}");
    assert_eq!(metrics["EventsDeadLettered"], 0, "{metrics}");
    // THEN the SIEM has all four, the lake the two sign-ins, and the other two are kept
    // under the lake's own folder: nothing is handed back to SQS
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    assert_eq!(org.delivered().len(), 4);
    assert_eq!(in_lake(&org).await.len(), 2);
    assert!(org
        .moto
        .list_keys(BUCKET, "dead-letter/push/")
        .await
        .is_empty());
    let kept_keys = org.moto.list_keys(BUCKET, "dead-letter/lake/push/").await;
    assert_eq!(kept_keys.len(), 1, "{kept_keys:?}");
    let kept = gunzip_ndjson(&org.moto.get_object(BUCKET, &kept_keys[0]).await);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().all(|k| k["reason"]
        .as_str()
        .unwrap()
        .contains("SECURITY_LAKE_SOURCES")));

    // WHEN the missing sources are added and the dead letters replayed
    let (runtime, function) = push(&org, &table, &OKTA_CLASSES).await;
    let response = runtime
        .invoke(r#"{"replay":{}}"#.to_owned(), T)
        .await
        .response();
    // THEN the two go to the lake only, once, and the dead letters are gone
    assert_eq!(response["lake"]["forwarded"], 2, "{response}");
    assert_eq!(response["forwarded"], 0, "{response}");
    assert_eq!(response["objects_deleted"], 1, "{response}");
    let lake = in_lake(&org).await;
    assert_eq!(lake.len(), 4, "{lake:?}");
    assert!(lake.values().all(|n| *n == 1), "{lake:?}");
    let siem = org.delivered();
    assert_eq!(siem.len(), 4);
    assert!(siem.values().all(|n| *n == 1), "{siem:?}");
    assert!(org.moto.list_keys(BUCKET, "dead-letter/").await.is_empty());
    drop(function);
}
