//! `DESTINATION_SCHEMA=ocsf`: what the destination receives is OCSF, one object per event,
//! inside each platform's wrapping, while the ledger, batching and dead letters still work on
//! the Okta event.

mod support;

use okta_ingest_testkit::destination::Behaviour;
use serde_json::Value;
use support::platform::{fresh_events, only_request, rig, Rig};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What an OCSF object for `okta` (an Okta event's JSON text) must say.
fn assert_is_ocsf_of(ocsf: &Value, okta: &str) {
    let okta: Value = serde_json::from_str(okta).unwrap();
    assert!(ocsf["class_uid"].as_u64().is_some(), "{ocsf}");
    assert_eq!(ocsf["metadata"]["uid"], okta["uuid"], "{ocsf}");
    let published = OffsetDateTime::parse(okta["published"].as_str().unwrap(), &Rfc3339).unwrap();
    let ms = i64::try_from(published.unix_timestamp_nanos() / 1_000_000).unwrap();
    assert_eq!(ocsf["time"], ms, "{ocsf}");
}

/// The lines of every request the destination took, as JSON.
fn received_lines(rig: &Rig) -> Vec<Value> {
    rig.destination
        .requests()
        .iter()
        .flat_map(|r| {
            r.body_text()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn ndjson_with_the_ocsf_schema_sends_one_ocsf_object_per_line_per_event() {
    let rig = rig("ndjson", &[("DESTINATION_SCHEMA", "ocsf")]).await;
    rig.send().await;
    let request = only_request(&rig);
    assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
    let lines = received_lines(&rig);
    let okta = fresh_events();
    assert_eq!(lines.len(), okta.len(), "one line per event");
    for (ocsf, okta) in lines.iter().zip(&okta) {
        assert_is_ocsf_of(ocsf, okta);
    }
}

#[tokio::test]
async fn splunk_hec_with_the_ocsf_schema_sends_the_ocsf_object_as_each_event() {
    let rig = rig("splunk-hec", &[("DESTINATION_SCHEMA", "ocsf")]).await;
    rig.send().await;
    let items = received_lines(&rig);
    let okta = fresh_events();
    assert_eq!(items.len(), okta.len());
    for (item, okta) in items.iter().zip(&okta) {
        assert_eq!(item["sourcetype"], "OktaIM2:log");
        assert_is_ocsf_of(&item["event"], okta);
    }
}

#[tokio::test]
async fn destination_format_ocsf_sends_what_ndjson_with_the_ocsf_schema_sends() {
    let shorthand = rig("ocsf", &[]).await;
    shorthand.send().await;
    let spelled_out = rig("ndjson", &[("DESTINATION_SCHEMA", "ocsf")]).await;
    spelled_out.send().await;
    let (a, b) = (only_request(&shorthand), only_request(&spelled_out));
    assert_eq!(a.body_text(), b.body_text());
    assert_eq!(a.header("content-type"), b.header("content-type"));
    assert_eq!(a.header("authorization"), Some("Bearer tok-123"));
}

#[tokio::test]
async fn a_refused_batch_leaves_dead_letters_holding_the_raw_okta_events() {
    let rig = rig("ocsf", &[]).await;
    rig.destination.set_default(Behaviour::Status(400));
    rig.send().await;
    assert_eq!(rig.destination.requests().len(), 1, "a 400 is not retried");
    // The request itself was OCSF ...
    for line in received_lines(&rig) {
        assert!(line["class_uid"].as_u64().is_some(), "{line}");
    }
    // ... but what is kept is the Okta event, ready to be mapped again by a replay.
    let normalise = |t: &str| serde_json::from_str::<Value>(t).unwrap();
    let mut kept: Vec<Value> = rig.kept_events().iter().map(|t| normalise(t)).collect();
    let mut sent: Vec<Value> = fresh_events().iter().map(|t| normalise(t)).collect();
    let by_uuid = |v: &Value| v["uuid"].as_str().unwrap().to_owned();
    kept.sort_by_key(by_uuid);
    sent.sort_by_key(by_uuid);
    assert_eq!(kept, sent);
    assert!(kept.iter().all(|k| k.get("class_uid").is_none()));
}

#[tokio::test]
async fn a_replay_maps_the_kept_okta_events_to_ocsf_again() {
    let rig = rig("ocsf", &[]).await;
    rig.destination.set_default(Behaviour::Status(400));
    rig.send().await;
    rig.destination.set_default(Behaviour::Ok);
    rig.send_payload(r#"{"replay":{}}"#).await;
    let requests = rig.destination.requests();
    assert_eq!(requests.len(), 2, "the refused request, then the replay");
    let replayed: Vec<Value> = requests[1]
        .body_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut uids: Vec<&str> = replayed
        .iter()
        .map(|o| o["metadata"]["uid"].as_str().unwrap())
        .collect();
    uids.sort_unstable();
    let okta = fresh_events();
    let mut expected: Vec<String> = okta
        .iter()
        .map(|t| {
            serde_json::from_str::<Value>(t).unwrap()["uuid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    expected.sort_unstable();
    assert_eq!(uids, expected);
    assert!(rig.kept_events().is_empty(), "nothing left kept");
}

#[tokio::test]
async fn an_event_already_delivered_as_ocsf_is_not_sent_again() {
    let rig = rig("ocsf", &[]).await;
    rig.send().await;
    rig.send().await;
    let lines = received_lines(&rig);
    assert_eq!(lines.len(), fresh_events().len(), "the repeat sent nothing");
}

#[tokio::test]
async fn batches_are_sized_on_the_ocsf_bytes_sent() {
    // Room for the three Okta events on one request, not for three OCSF objects.
    let okta_bytes: usize = fresh_events().iter().map(|e| e.len() + 1).sum();
    let ocsf = rig("ocsf", &[]).await;
    ocsf.send().await;
    let ocsf_bytes = only_request(&ocsf).body.len();
    assert!(ocsf_bytes > okta_bytes, "the sample's OCSF is the larger");
    let limit = okta_bytes.to_string();
    let rig = rig("ocsf", &[("BATCH_MAX_BYTES", &limit)]).await;
    rig.send().await;
    let requests = rig.destination.requests();
    assert!(requests.len() > 1, "split on the OCSF bytes");
    assert!(requests.iter().all(|r| r.body.len() <= okta_bytes));
    assert_eq!(received_lines(&rig).len(), fresh_events().len());
}
