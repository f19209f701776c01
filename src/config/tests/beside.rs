//! Security Lake beside an HTTP destination: `SECURITY_LAKE_SOURCES` with any other format.

use super::super::*;

const PULL: [(&str, &str); 3] = [
    ("OKTA_DOMAIN", "acme.okta.com"),
    (
        "OKTA_TOKEN_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-AbCdEf",
    ),
    ("DIRECTORY_ENABLED", "true"),
];

/// A Splunk destination with its own batch limits and gzip, and the lake's variables.
fn both(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [
        (
            "DESTINATION_URL",
            "https://splunk.example.com:8088/services/collector/event",
        ),
        ("DESTINATION_FORMAT", "splunk-hec"),
        (
            "DESTINATION_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:hec",
        ),
        ("BATCH_MAX_EVENTS", "50"),
        ("DESTINATION_GZIP", "true"),
        ("EVENT_TYPES_EXCLUDE", "system.agent.ad.*"),
        ("OCSF_RAW_DATA", "true"),
        ("STATE_BUCKET", "okta-ingest-state"),
        (
            "SECURITY_LAKE_SOURCES",
            r#"{"3002":{"location":"s3://lake-bucket/ext/okta-auth/1.0/"}}"#,
        ),
        ("SECURITY_LAKE_ACCOUNT_ID", "444455556666"),
    ]
    .iter()
    .chain(&PULL)
    .filter(|(k, _)| extra.iter().all(|(e, _)| e != k))
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

#[test]
fn lake_sources_beside_an_http_destination_add_the_lake_with_its_own_settings() {
    let push = PushConfig::from_env(&both(&[])).unwrap();
    // The HTTP destination is as configured.
    assert_eq!(push.destination.platform.name(), "splunk-hec");
    assert_eq!(push.destination.batch_max_events.get(), 50);
    assert!(push.destination.gzip);
    // The lake reads as DESTINATION_FORMAT=securitylake alone: OCSF, uncompressed, its own
    // limits and no credential, but the same filters and raw_data setting.
    let lake = push.lake.expect("the lake beside");
    assert!(matches!(lake.platform, Platform::SecurityLake(_)));
    assert_eq!(lake.schema, Schema::Ocsf);
    assert!(!lake.gzip);
    assert_eq!(lake.url.as_str(), "s3://lake-bucket/");
    assert_eq!(
        lake.batch_max_events.get(),
        Platform::SecurityLake(LakeConfig {
            sources: Default::default(),
            external_id: None,
            account: String::new(),
        })
        .limits()
        .default_events
    );
    assert_eq!(lake.secret_arn, None);
    assert!(lake.ocsf.raw_data);
    assert_eq!(lake.filter, push.destination.filter);
    // Pull: the directory still runs (to the HTTP destination), and both lanes name the org.
    let pull = PullConfig::from_env(&both(&[])).unwrap();
    assert!(pull.directory.enabled);
    let lake = pull.lake.expect("the lake beside");
    assert_eq!(lake.org_label, pull.destination.org_label);
    assert!(lake.org_label.is_some());
}

#[test]
fn the_lake_is_beside_only_when_asked_for_and_its_mistakes_are_named() {
    // No sources: no lake. The lake as the destination: no second lane.
    let none = PushConfig::from_env(&both(&[("SECURITY_LAKE_SOURCES", "")])).unwrap();
    assert!(none.lake.is_none());
    let only = PushConfig::from_env(&both(&[
        ("DESTINATION_FORMAT", "securitylake"),
        ("DESTINATION_URL", ""),
        ("DESTINATION_GZIP", ""),
    ]))
    .unwrap();
    assert!(only.lake.is_none());
    assert!(matches!(
        only.destination.platform,
        Platform::SecurityLake(_)
    ));
    // A mistyped lake stops start-up, naming the variable.
    for (extra, variable) in [
        (
            ("SECURITY_LAKE_ACCOUNT_ID", "4444"),
            "SECURITY_LAKE_ACCOUNT_ID",
        ),
        (
            ("SECURITY_LAKE_SOURCES", "{\"3002\":{}}"),
            "SECURITY_LAKE_SOURCES",
        ),
    ] {
        let err = PushConfig::from_env(&both(&[extra])).unwrap_err();
        assert_eq!(err.variable, variable, "{err}");
        let err = PullConfig::from_env(&both(&[extra])).unwrap_err();
        assert_eq!(err.variable, variable, "{err}");
    }
}
