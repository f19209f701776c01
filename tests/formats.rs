//! Each destination platform's requests against its documented shape, over real HTTP to a
//! recording destination, including the platform's own error answers (Sumo Logic's are in
//! `sumo.rs`).

mod support;

use okta_ingest::PushResponse;
use okta_ingest_testkit::destination::Behaviour;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use support::platform::{fresh_events, only_request, rig};

#[tokio::test]
async fn splunk_hec_sends_concatenated_events_with_the_splunk_token() {
    let rig = rig("splunk-hec", &[("SPLUNK_INDEX", "okta")]).await;
    rig.send().await;
    let request = only_request(&rig);
    assert_eq!(request.header("authorization"), Some("Splunk tok-123"));
    #[derive(Deserialize)]
    struct Hec<'a> {
        time: f64,
        source: &'a str,
        sourcetype: &'a str,
        index: &'a str,
        #[serde(borrow)]
        event: &'a RawValue,
    }
    let text = request.body_text();
    let events: Vec<Hec> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Hec>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        events
            .iter()
            .map(|e| e.event.get().to_owned())
            .collect::<Vec<_>>(),
        fresh_events()
    );
    assert!(events.iter().all(|e| e.sourcetype == "OktaIM2:log"
        && e.source == "okta:system-log"
        && e.index == "okta"));
    // time is `published` in epoch seconds with milliseconds.
    let published: Value = serde_json::from_str(&fresh_events()[0]).unwrap();
    let expected = time::OffsetDateTime::parse(
        published["published"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((events[0].time - expected.unix_timestamp_nanos() as f64 / 1e9).abs() < 0.001);
}

#[tokio::test]
async fn splunk_hec_invalid_data_is_kept_with_splunks_reason() {
    let rig = rig("splunk-hec", &[]).await;
    rig.destination.set_default(Behaviour::Respond(
        400,
        r#"{"text":"Invalid data format","code":6,"invalid-event-number":0}"#.into(),
    ));
    rig.send().await;
    assert_eq!(rig.destination.requests().len(), 1, "a 400 is not retried");
    let reasons = rig.kept_reasons();
    assert_eq!(reasons.len(), 3);
    assert!(
        reasons[0].contains("HTTP 400") && reasons[0].contains("Invalid data format"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn datadog_sends_an_array_of_logs_with_its_attributes_and_the_api_key_header() {
    let rig = rig("datadog", &[("DATADOG_TAGS", "env:prod")]).await;
    rig.send().await;
    let request = only_request(&rig);
    assert_eq!(request.header("dd-api-key"), Some("tok-123"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("content-type"), Some("application/json"));
    let items: Vec<Value> = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(items.len(), 3);
    for (item, original) in items.iter().zip(fresh_events()) {
        let original: Value = serde_json::from_str(&original).unwrap();
        assert_eq!(
            (
                item["ddsource"].as_str(),
                item["service"].as_str(),
                item["ddtags"].as_str()
            ),
            (
                Some("okta"),
                Some("okta"),
                Some("env:prod,okta_org:acme-corp")
            )
        );
        let expected_status = match original["severity"].as_str() {
            Some("WARN") => "warning",
            _ => "info",
        };
        assert_eq!(item["status"], expected_status);
        assert!(item["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
        // Every field of the Okta event is there, unchanged.
        for (k, v) in original.as_object().unwrap() {
            assert_eq!(&item[k], v, "{k}");
        }
    }
}

#[tokio::test]
async fn datadog_too_large_is_permanent_and_throttling_is_retried() {
    let rig = rig("datadog", &[]).await;
    rig.destination.push_behaviour(Behaviour::StatusWithHeaders(
        429,
        vec![("Retry-After".into(), "1".into())],
    ));
    rig.send().await;
    assert_eq!(
        rig.destination
            .requests()
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [429, 200]
    );
    let rig = self::rig("datadog", &[]).await;
    rig.destination.set_default(Behaviour::Respond(
        413,
        r#"{"errors":[{"status":"413","title":"Payload Too Large"}]}"#.into(),
    ));
    rig.send().await;
    assert_eq!(rig.destination.requests().len(), 1);
    assert!(
        rig.kept_reasons()[0].contains("413"),
        "{:?}",
        rig.kept_reasons()
    );
}

#[tokio::test]
async fn coralogix_sends_singles_with_numeric_severity_and_the_event_as_json() {
    let rig = rig("coralogix", &[("CORALOGIX_APPLICATION", "security")]).await;
    rig.send().await;
    let request = only_request(&rig);
    assert_eq!(request.header("authorization"), Some("Bearer tok-123"));
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Single<'a> {
        application_name: &'a str,
        subsystem_name: &'a str,
        timestamp: u64,
        severity: u8,
        #[serde(borrow)]
        json: &'a RawValue,
    }
    let singles: Vec<Single> = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        singles
            .iter()
            .map(|s| s.json.get().to_owned())
            .collect::<Vec<_>>(),
        fresh_events()
    );
    assert!(singles.iter().all(|s| s.application_name == "security"
        && s.subsystem_name == "acme-corp"
        && s.timestamp > 1_700_000_000_000));
    assert_eq!(
        singles.iter().map(|s| s.severity).collect::<Vec<_>>(),
        [3, 3, 4],
        "INFO, INFO, WARN"
    );
}

#[tokio::test]
async fn elastic_bulk_creates_each_event_by_uuid() {
    let rig = rig("elastic-bulk", &[]).await;
    rig.send().await;
    let request = only_request(&rig);
    assert_eq!(request.header("authorization"), Some("ApiKey tok-123"));
    assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
    let lines = request.ndjson_lines();
    assert_eq!(lines.len(), 6, "an action and a document per event");
    for (pair, original) in lines.chunks(2).zip(fresh_events()) {
        let action: Value = serde_json::from_str(&pair[0]).unwrap();
        let original_value: Value = serde_json::from_str(&original).unwrap();
        assert_eq!(action["create"]["_index"], "logs-okta.system-default");
        assert_eq!(action["create"]["_id"], original_value["uuid"]);
        assert_eq!(
            pair[1],
            format!(
                "{{\"@timestamp\":{},{}",
                original_value["published"],
                &original[1..]
            )
        );
    }
}

#[tokio::test]
async fn elastic_bulk_keeps_refused_items_counts_conflicts_as_delivered_and_retries_busy_items() {
    let rig = rig("elastic-bulk", &[]).await;
    rig.destination.push_behaviour(Behaviour::Respond(
        200,
        r#"{"took":5,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [client.zone]"}}}]}"#.into(),
    ));
    let PushResponse::Sqs(response) = rig.send().await else {
        panic!()
    };
    assert!(response.batch_item_failures.is_empty());
    let reasons = rig.kept_reasons();
    assert_eq!(reasons.len(), 1, "only the refused item: {reasons:?}");
    assert!(
        reasons[0].contains("mapper_parsing_exception"),
        "{reasons:?}"
    );

    let rig = self::rig("elastic-bulk", &[]).await;
    rig.destination.push_behaviour(Behaviour::Respond(
        200,
        r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},{"create":{"status":201}}]}"#.into(),
    ));
    rig.send().await;
    assert_eq!(
        rig.destination.requests().len(),
        2,
        "the batch is sent again"
    );
    assert!(rig.kept_reasons().is_empty());
}

#[tokio::test]
async fn coralogix_refusing_the_key_is_kept_and_throttling_is_retried() {
    let rig = rig("coralogix", &[]).await;
    rig.destination.push_behaviour(Behaviour::Status(429));
    rig.send().await;
    assert_eq!(
        rig.destination
            .requests()
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [429, 200]
    );
    let rig = self::rig("coralogix", &[]).await;
    rig.destination.set_default(Behaviour::Respond(
        403,
        r#"{"message":"Forbidden: invalid private key"}"#.into(),
    ));
    rig.send().await;
    // 403 re-reads the credential once (the secret may have been rotated), then gives up.
    assert_eq!(rig.destination.requests().len(), 2);
    assert!(
        rig.kept_reasons()[0].contains("invalid private key"),
        "{:?}",
        rig.kept_reasons()
    );
}
