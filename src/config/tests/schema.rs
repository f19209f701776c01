//! `DESTINATION_SCHEMA` and the `DESTINATION_FORMAT=ocsf` shorthand.

use super::*;

#[test]
fn the_schema_is_okta_unless_ocsf_is_asked_for_with_any_platform() {
    assert_eq!(with(&[]).unwrap().destination.schema, Schema::Okta);
    assert_eq!(
        with(&[("DESTINATION_SCHEMA", " OKTA ")])
            .unwrap()
            .destination
            .schema,
        Schema::Okta
    );
    for format in [
        "json",
        "ndjson",
        "splunk-hec",
        "datadog",
        "coralogix",
        "elastic-bulk",
        "sumo",
    ] {
        let c = with(&[
            ("DESTINATION_FORMAT", format),
            ("DESTINATION_SCHEMA", "ocsf"),
        ])
        .unwrap();
        assert_eq!(c.destination.schema, Schema::Ocsf, "{format}");
        assert_eq!(c.destination.platform.name(), format);
    }
}

#[test]
fn destination_format_ocsf_is_ndjson_carrying_ocsf() {
    for extra in [&[][..], &[("DESTINATION_SCHEMA", "ocsf")][..]] {
        let mut env = vec![("DESTINATION_FORMAT", "ocsf")];
        env.extend_from_slice(extra);
        let c = with(&env).unwrap().destination;
        assert_eq!(c.platform, Platform::Ndjson);
        assert_eq!(c.schema, Schema::Ocsf);
        assert_eq!(c.auth_scheme, "Bearer");
    }
}

#[test]
fn a_mistyped_or_contradictory_schema_is_refused_by_name() {
    let e = with(&[("DESTINATION_SCHEMA", "ocfs")]).err().unwrap();
    assert_eq!(e.variable, "DESTINATION_SCHEMA");
    assert!(
        e.problem.contains("\"ocfs\"") && e.problem.contains("okta") && e.problem.contains("ocsf"),
        "{}",
        e.problem
    );
    let e = with(&[
        ("DESTINATION_FORMAT", "ocsf"),
        ("DESTINATION_SCHEMA", "okta"),
    ])
    .err()
    .unwrap();
    assert_eq!(e.variable, "DESTINATION_SCHEMA");
    assert!(
        e.problem.contains("DESTINATION_FORMAT=ocsf"),
        "{}",
        e.problem
    );
    let e = with(&[("DESTINATION_FORMAT", "ocfs")]).err().unwrap();
    assert_eq!(e.variable, "DESTINATION_FORMAT");
    assert!(e.problem.contains("ocsf"), "{}", e.problem);
}

#[test]
fn ocsf_raw_data_is_off_unless_set_and_refuses_other_words() {
    assert!(!with(&[]).unwrap().destination.ocsf.raw_data);
    let on = with(&[("DESTINATION_SCHEMA", "ocsf"), ("OCSF_RAW_DATA", "true")]).unwrap();
    assert!(on.destination.ocsf.raw_data);
    let err = with(&[("OCSF_RAW_DATA", "yes please")]).unwrap_err();
    assert_eq!(err.variable, "OCSF_RAW_DATA", "{err}");
}
