//! Each platform's item shape and answers.

use super::*;
use serde_json::Value;

const EVENT: &str = r#"{"uuid":"u-1","published":"2023-05-30T14:17:58.126Z","severity":"WARN","n":1.50,"s":"\u00e9"}"#;

fn platform(format: &str, extra: &[(&str, &str)]) -> Platform {
    let mut env = vec![("DESTINATION_FORMAT".to_string(), format.to_string())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Platform::from_env(&env).unwrap()
}

fn item_text(p: &Platform) -> String {
    let raw: &serde_json::value::RawValue = serde_json::from_str(EVENT).unwrap();
    let e = OktaEvent::from_raw(raw).unwrap();
    String::from_utf8(item(p, Schema::Okta, &Default::default(), &e, None).into_owned()).unwrap()
}

fn item_for_org(p: &Platform, org: &str) -> String {
    let raw: &serde_json::value::RawValue = serde_json::from_str(EVENT).unwrap();
    let e = OktaEvent::from_raw(raw).unwrap();
    String::from_utf8(item(p, Schema::Okta, &Default::default(), &e, Some(org)).into_owned())
        .unwrap()
}

#[test]
fn each_platform_names_the_org_in_its_own_metadata_never_in_the_event() {
    for f in ["json", "ndjson", "sumo"] {
        assert_eq!(
            item_for_org(&platform(f, &[]), "acme"),
            EVENT,
            "{f}: byte for byte"
        );
    }
    let splunk: Value =
        serde_json::from_str(&item_for_org(&platform("splunk-hec", &[]), "acme")).unwrap();
    assert_eq!(splunk["host"], "acme");
    let datadog: Value = serde_json::from_str(&item_for_org(
        &platform("datadog", &[("DATADOG_TAGS", "env:prod")]),
        "acme",
    ))
    .unwrap();
    assert_eq!(
        (datadog["hostname"].as_str(), datadog["ddtags"].as_str()),
        (Some("acme"), Some("env:prod,okta_org:acme"))
    );
    let coralogix: Value =
        serde_json::from_str(&item_for_org(&platform("coralogix", &[]), "acme")).unwrap();
    assert_eq!(
        coralogix["subsystemName"], "acme",
        "the org is the default subsystem"
    );
    let set: Value = serde_json::from_str(&item_for_org(
        &platform("coralogix", &[("CORALOGIX_SUBSYSTEM", "prod")]),
        "acme",
    ))
    .unwrap();
    assert_eq!(set["subsystemName"], "prod", "a set subsystem wins");
    let elastic = item_for_org(
        &platform("elastic-bulk", &[("ELASTIC_INDEX", "okta-{org}")]),
        "Acme",
    );
    assert!(
        elastic.starts_with(r#"{"create":{"_index":"okta-acme","#),
        "{elastic}"
    );
    assert_eq!(
        extra_headers(&platform("sumo", &[]), Some("acme")),
        [
            ("x-sumo-name", "okta-system-log".to_owned()),
            ("x-sumo-host", "acme".to_owned())
        ]
    );
}

#[test]
fn json_ndjson_and_sumo_carry_the_event_unchanged() {
    for f in ["json", "ndjson", "sumo"] {
        assert_eq!(item_text(&platform(f, &[])), EVENT, "{f}");
    }
}

#[test]
fn splunk_hec_wraps_the_event_with_time_in_seconds_and_the_add_on_sourcetype() {
    let text = item_text(&platform("splunk-hec", &[("SPLUNK_INDEX", "okta")]));
    assert_eq!(
        text,
        format!(
            r#"{{"time":1685456278.126,"source":"okta:system-log","sourcetype":"OktaIM2:log","index":"okta","event":{EVENT}}}"#
        )
    );
}

#[test]
fn datadog_puts_its_attributes_in_front_and_maps_severity() {
    let text = item_text(&platform(
        "datadog",
        &[("DATADOG_TAGS", "env:prod,team:sec")],
    ));
    assert!(text.starts_with(r#"{"ddsource":"okta","service":"okta","ddtags":"env:prod,team:sec","status":"warning","timestamp":1685456278126,"uuid":"u-1""#), "{text}");
    assert!(
        text.ends_with(&EVENT[1..]),
        "the event's keys follow verbatim"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["n"].to_string(), "1.5");
}

#[test]
fn coralogix_sends_the_event_as_json_with_a_numeric_severity() {
    let text = item_text(&platform("coralogix", &[("CORALOGIX_SUBSYSTEM", "prod")]));
    assert_eq!(
        text,
        format!(
            r#"{{"applicationName":"okta","subsystemName":"prod","timestamp":1685456278126,"severity":4,"json":{EVENT}}}"#
        )
    );
}

#[test]
fn elastic_bulk_creates_by_uuid_with_a_timestamp() {
    let text = item_text(&platform("elastic-bulk", &[]));
    let (action, doc) = text.split_once('\n').unwrap();
    assert_eq!(
        action,
        r#"{"create":{"_index":"logs-okta.system-default","_id":"u-1"}}"#
    );
    assert_eq!(
        doc,
        format!(
            r#"{{"@timestamp":"2023-05-30T14:17:58.126Z",{}"#,
            &EVENT[1..]
        )
    );
}

#[test]
fn bulk_answers_are_read_item_by_item() {
    assert_eq!(
        elastic::bulk_answer(br#"{"took":3,"errors":false,"items":[{"create":{"status":201}}]}"#),
        Answer::AllAccepted
    );
    let conflict_only = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
    assert_eq!(
        elastic::bulk_answer(conflict_only),
        Answer::AllAccepted,
        "already indexed is delivered"
    );
    let mapping = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}}]}"#;
    assert_eq!(
        elastic::bulk_answer(mapping),
        Answer::Rejected(vec![(
            1,
            "_bulk item refused with 400: mapper_parsing_exception failed to parse field [n]"
                .into()
        )])
    );
    let busy = br#"{"errors":true,"items":[{"create":{"status":400,"error":{"type":"x"}}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}}]}"#;
    assert!(matches!(elastic::bulk_answer(busy), Answer::Retry(r) if r.contains("429")));
    assert!(matches!(elastic::bulk_answer(b"<html>"), Answer::Retry(_)));
}

#[test]
fn severities_map_to_each_platform() {
    assert_eq!(
        [
            datadog::status(Some("DEBUG")),
            datadog::status(Some("ERROR")),
            datadog::status(None)
        ],
        ["debug", "error", "info"]
    );
    assert_eq!(
        [
            coralogix::severity(Some("DEBUG")),
            coralogix::severity(Some("INFO")),
            coralogix::severity(Some("ERROR"))
        ],
        [1, 3, 5]
    );
}

/// The item for `EVENT` (a sign-on) with `DESTINATION_SCHEMA=ocsf`, as JSON.
fn ocsf_item(format: &str, directory: bool) -> Value {
    let text = r#"{"uuid":"u-1","published":"2023-05-30T14:17:58.126Z","eventType":"user.session.start","severity":"INFO","outcome":{"result":"SUCCESS"}}"#;
    let raw: &serde_json::value::RawValue = serde_json::from_str(text).unwrap();
    let mut e = OktaEvent::from_raw(raw).unwrap();
    e.directory = directory;
    let options = crate::ocsf::OcsfOptions::default();
    let bytes = item(
        &platform(format, &[]),
        Schema::Ocsf,
        &options,
        &e,
        Some("acme"),
    )
    .into_owned();
    // `_bulk`: the action line, then the document.
    let document = bytes.split(|&b| b == b'\n').next_back().unwrap();
    serde_json::from_slice(document).unwrap()
}

fn assert_ocsf(v: &Value, what: &str) {
    assert_eq!(v["metadata"]["uid"], "u-1", "{what}: {v}");
    assert_eq!(v["time"], 1_685_456_278_126_i64, "{what}: {v}");
    assert!(v["class_uid"].as_u64().is_some(), "{what}: {v}");
}

#[test]
fn with_the_ocsf_schema_each_platform_carries_the_ocsf_event_where_it_carries_the_okta_one() {
    for f in ["json", "ndjson", "sumo"] {
        assert_ocsf(&ocsf_item(f, false), f);
    }
    let splunk = ocsf_item("splunk-hec", false);
    assert_ocsf(&splunk["event"], "splunk-hec");
    assert_eq!(splunk["host"], "acme");
    assert_ocsf(&ocsf_item("coralogix", false)["json"], "coralogix");
    let datadog = ocsf_item("datadog", false);
    assert_ocsf(&datadog["ocsf"], "datadog");
    assert_eq!(
        datadog["status"], "info",
        "Datadog's own status stays its own"
    );
    let elastic = ocsf_item("elastic-bulk", false);
    assert_ocsf(&elastic, "elastic-bulk");
    assert_eq!(elastic["@timestamp"], "2023-05-30T14:17:58.126Z");
}

#[test]
fn with_the_ocsf_schema_a_directory_record_is_still_sent_as_it_is() {
    let v = ocsf_item("ndjson", true);
    assert_eq!(v["uuid"], "u-1");
    assert!(v.get("class_uid").is_none(), "{v}");
}

#[test]
fn ocsf_raw_data_carries_the_okta_event_only_when_asked() {
    let text =
        r#"{"uuid":"u-2","published":"2023-05-30T14:17:58.126Z","eventType":"user.session.start"}"#;
    let raw: &serde_json::value::RawValue = serde_json::from_str(text).unwrap();
    let e = OktaEvent::from_raw(raw).unwrap();
    let ndjson = platform("ndjson", &[]);
    for (raw_data, want) in [(false, Value::Null), (true, Value::String(text.to_owned()))] {
        let options = crate::ocsf::OcsfOptions { raw_data };
        let bytes = item(&ndjson, Schema::Ocsf, &options, &e, None).into_owned();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["raw_data"], want, "raw_data {raw_data}: {v}");
    }
}
