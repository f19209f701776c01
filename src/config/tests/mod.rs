//! Push and destination configuration: defaults, and errors that name the variable.

use super::destination::{DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_EVENTS};
use super::*;
use std::collections::{BTreeMap, BTreeSet};

fn push(env: &[(&str, &str)]) -> Result<PushConfig, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    PushConfig::from_env(&env)
}

const MINIMAL: [(&str, &str); 2] = [
    ("DESTINATION_URL", "https://logs.example.com/ingest"),
    ("STATE_BUCKET", "okta-ingest-state"),
];

#[test]
fn defaults_apply_when_only_the_required_variables_are_set() {
    let c = push(&MINIMAL).unwrap();
    assert_eq!(c.max_event_age, Some(DEFAULT_MAX_EVENT_AGE));
    assert_eq!(c.destination.platform, Platform::Json);
    assert!(c.destination.gzip);
    assert_eq!(c.destination.auth_header.as_str(), "authorization");
    assert_eq!(c.destination.auth_scheme, "Bearer");
    assert_eq!(
        c.destination.batch_max_events.get(),
        DEFAULT_BATCH_MAX_EVENTS
    );
    assert_eq!(c.destination.batch_max_bytes.get(), DEFAULT_BATCH_MAX_BYTES);
    assert_eq!(c.destination.secret_arn, None);
}

#[test]
fn http_destination_is_refused_unless_explicitly_allowed() {
    let env = [("DESTINATION_URL", "http://127.0.0.1:9/x"), MINIMAL[1]];
    let err = push(&env).unwrap_err();
    assert_eq!(err.variable, "DESTINATION_URL");
    assert!(err.problem.contains("ALLOW_INSECURE_HTTP"), "{err}");
    let env = [env[0], env[1], ("ALLOW_INSECURE_HTTP", "true")];
    assert_eq!(push(&env).unwrap().destination.url.scheme(), "http");
}

#[test]
fn errors_name_the_variable_and_the_expected_form() {
    let cases: &[(&str, &str, &str)] = &[
        ("DESTINATION_FORMAT", "xml", "json"),
        ("DESTINATION_GZIP", "maybe", "true or false"),
        ("MAX_EVENT_AGE_SECONDS", "-5", "whole number of seconds"),
        ("MAX_EVENT_AGE_SECONDS", "1e-10", "whole number of seconds"),
        ("MAX_EVENT_AGE_SECONDS", "99999999999", "out of range"),
        (
            "DESTINATION_AUTH_SCHEME",
            "Bearer\r\nX-Injected: 1",
            "visible ASCII",
        ),
        ("DESTINATION_AUTH_SCHEME", "Bear er", "visible ASCII"),
        ("MAX_EVENT_AGE_SECONDS", "a day", "number of seconds"),
        ("BATCH_MAX_EVENTS", "0", "greater than 0"),
        ("BATCH_MAX_BYTES", "1MB", "whole number"),
        ("DESTINATION_TIMEOUT_SECONDS", "0", "expected 1 up to"),
        ("DESTINATION_AUTH_HEADER", "Bad Header", "header name"),
        ("STATE_BUCKET", "arn:aws:s3:::bucket", "bucket name"),
    ];
    for (var, value, expected) in cases {
        let mut env = MINIMAL.to_vec();
        env.retain(|(k, _)| k != var);
        env.push((var, value));
        let err = push(&env).unwrap_err();
        assert_eq!(&err.variable, var, "{err}");
        assert!(err.to_string().contains(expected), "{var}={value}: {err}");
    }
}

#[test]
fn missing_required_variables_are_named() {
    assert_eq!(push(&MINIMAL[1..]).unwrap_err().variable, "DESTINATION_URL");
    assert_eq!(push(&MINIMAL[..1]).unwrap_err().variable, "STATE_BUCKET");
}

#[test]
fn auth_defaults_follow_the_platform_and_none_sends_the_bare_credential() {
    let splunk = [MINIMAL[0], MINIMAL[1], ("DESTINATION_FORMAT", "splunk-hec")];
    assert_eq!(push(&splunk).unwrap().destination.auth_scheme, "Splunk");
    let datadog = [
        MINIMAL[0],
        MINIMAL[1],
        ("DESTINATION_FORMAT", "datadog"),
        ("DESTINATION_AUTH_SCHEME", ""),
    ];
    let d = push(&datadog).unwrap().destination;
    assert_eq!(
        (d.auth_header.as_str(), d.auth_scheme.as_str()),
        ("dd-api-key", ""),
        "empty means the platform default"
    );
    let bare = [MINIMAL[0], MINIMAL[1], ("DESTINATION_AUTH_SCHEME", "none")];
    assert_eq!(push(&bare).unwrap().destination.auth_scheme, "");
}

#[test]
fn batch_limits_default_to_the_platform_and_may_not_exceed_it() {
    let datadog = [MINIMAL[0], MINIMAL[1], ("DESTINATION_FORMAT", "datadog")];
    assert_eq!(
        push(&datadog).unwrap().destination.batch_max_bytes.get(),
        4 * 1024 * 1024
    );
    let too_many = [
        MINIMAL[0],
        MINIMAL[1],
        ("DESTINATION_FORMAT", "datadog"),
        ("BATCH_MAX_EVENTS", "5000"),
    ];
    let err = push(&too_many).unwrap_err();
    assert_eq!(err.variable, "BATCH_MAX_EVENTS");
    assert!(
        err.problem.contains("datadog accepts per request (1000)"),
        "{err}"
    );
}

#[test]
fn zero_max_age_means_no_limit() {
    let env = [MINIMAL[0], MINIMAL[1], ("MAX_EVENT_AGE_SECONDS", "0")];
    assert_eq!(push(&env).unwrap().max_event_age, None);
}

#[test]
fn a_url_token_never_reaches_debug_output_or_errors() {
    let env = [
        (
            "DESTINATION_URL",
            "https://collectors.sumologic.com/receiver/v1/http/SECRETTOKEN42",
        ),
        MINIMAL[1],
    ];
    let c = push(&env).unwrap();
    assert!(!format!("{c:?}").contains("SECRETTOKEN42"));
    let env = [("DESTINATION_URL", "ftp://h/SECRETTOKEN42"), MINIMAL[1]];
    assert!(!push(&env)
        .unwrap_err()
        .to_string()
        .contains("SECRETTOKEN42"));
}

#[test]
fn unknown_formats_and_bad_index_names_are_refused_by_name() {
    let env = vec![("DESTINATION_FORMAT".to_string(), "graylog".to_string())];
    let err = crate::config::Platform::from_env(&env).unwrap_err();
    assert_eq!(err.variable, "DESTINATION_FORMAT");
    assert!(err.problem.contains("elastic-bulk"));
    let env = vec![
        ("DESTINATION_FORMAT".to_string(), "elastic-bulk".to_string()),
        ("ELASTIC_INDEX".to_string(), "Okta Logs".to_string()),
    ];
    assert_eq!(
        crate::config::Platform::from_env(&env)
            .unwrap_err()
            .variable,
        "ELASTIC_INDEX"
    );
}

#[test]
fn header_bound_platform_options_are_checked_at_start_up() {
    for var in ["SUMO_CATEGORY", "SUMO_NAME"] {
        let env = [
            MINIMAL[0],
            MINIMAL[1],
            ("DESTINATION_FORMAT", "sumo"),
            (var, "okta\nX-Evil: 1"),
        ];
        let err = push(&env).unwrap_err();
        assert_eq!(err.variable, var);
        assert!(err.problem.contains("HTTP header"), "{err}");
    }
}

/// Every upper-case variable name quoted in `source`.
fn quoted_variables(source: &str) -> BTreeSet<String> {
    source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|t| {
            t.len() > 3 && t.contains('_') && t.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

fn listed() -> BTreeSet<String> {
    DESTINATION_VARIABLES
        .iter()
        .chain(PUSH_VARIABLES)
        .chain(PULL_VARIABLES)
        .map(|v| v.to_string())
        .collect()
}

#[test]
fn the_variable_lists_name_exactly_what_the_configuration_code_reads() {
    let mut read = BTreeSet::new();
    for source in [
        include_str!("../mod.rs"),
        include_str!("../destination.rs"),
        include_str!("../filter.rs"),
        include_str!("../push.rs"),
        include_str!("../pull.rs"),
        include_str!("../directory.rs"),
        include_str!("../schema.rs"),
        include_str!("../lake.rs"),
        include_str!("../platform.rs"),
    ] {
        // Test code and the lists themselves quote names too: only what precedes them counts.
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        // mod.rs: leave out the lists themselves.
        let code = match code.split_once("pub const DESTINATION_VARIABLES") {
            Some((before, rest)) => {
                let after = rest
                    .split_once("/// The largest number")
                    .map_or("", |(_, a)| a);
                format!("{before}{after}")
            }
            None => code.to_owned(),
        };
        read.extend(quoted_variables(&code));
    }
    read.insert("RUST_LOG".into()); // read by the logging set-up
    assert_eq!(listed(), read);
}

/// Every variable a function reads: the shared ones and `own`.
fn reads(own: &[&str]) -> BTreeSet<String> {
    DESTINATION_VARIABLES
        .iter()
        .chain(own)
        .map(|v| v.to_string())
        .collect()
}

#[test]
fn env_json_for_sam_local_sets_every_variable_each_function_reads() {
    let env: serde_json::Value = serde_json::from_str(include_str!("../../../env.json")).unwrap();
    let keys =
        |f: &str| -> BTreeSet<String> { env[f].as_object().unwrap().keys().cloned().collect() };
    let (push, pull) = (reads(PUSH_VARIABLES), reads(PULL_VARIABLES));
    assert_eq!(keys("PushFunction"), push);
    assert_eq!(keys("PullFunction"), pull);
}

/// The variables `template.yaml` declares, by the resource whose `Variables:` block names
/// them: `Function` for `Globals`, else the function's logical id; with each one's value.
fn template_variables() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut declared: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut owner = String::new();
    let mut in_variables: Option<usize> = None;
    for line in include_str!("../../../template.yaml").lines() {
        let indent = line.len() - line.trim_start().len();
        let content = !line.trim().is_empty() && !line.trim_start().starts_with('#');
        match in_variables {
            Some(depth) if indent > depth && content => {
                if let Some((name, value)) = line.trim().split_once(':') {
                    let value = value.trim().trim_matches('"').to_owned();
                    declared
                        .entry(owner.clone())
                        .or_default()
                        .insert(name.to_owned(), value);
                }
                continue;
            }
            Some(depth) if indent <= depth && content => in_variables = None,
            _ => {}
        }
        if indent == 2 && content {
            owner = line.trim().trim_end_matches(':').to_owned();
        }
        if line.trim() == "Variables:" {
            in_variables = Some(indent);
        }
    }
    declared
}

/// SAM passes a function only the variables its template declares (Globals and its own), so
/// `sam local invoke --env-vars env.json` can set exactly those; `tests/sam_local.rs` checks
/// the same with SAM CLI's own code.
#[test]
fn the_template_declares_every_variable_each_function_reads_and_no_other() {
    let declared = template_variables();
    let of = |function: &str| -> BTreeSet<String> {
        declared["Function"]
            .keys()
            .chain(declared[function].keys())
            .cloned()
            .collect()
    };
    let (push, pull) = (reads(PUSH_VARIABLES), reads(PULL_VARIABLES));
    assert_eq!(of("PushFunction"), push);
    assert_eq!(of("PullFunction"), pull);
}

/// A deployed stack never accepts `http://`: env.json may set `true` locally, the template
/// says `false`, and empty values elsewhere mean the function's default.
#[test]
fn a_deployed_stack_refuses_plain_http() {
    let declared = template_variables();
    assert_eq!(declared["Function"]["ALLOW_INSECURE_HTTP"], "false");
    let env: Vec<(String, String)> = declared["Function"]
        .iter()
        .chain(&declared["PushFunction"])
        .filter(|(_, v)| !v.starts_with('!'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain([
            (
                "DESTINATION_URL".into(),
                "http://siem.example/ingest".into(),
            ),
            ("STATE_BUCKET".into(), "state".into()),
        ])
        .collect();
    let err = PushConfig::from_env(&env).unwrap_err();
    assert_eq!(err.variable, "DESTINATION_URL", "{err}");
    assert!(err.problem.contains("uses http://"), "{err}");
}

fn with(extra: &[(&'static str, &'static str)]) -> Result<PushConfig, ConfigError> {
    let mut env = MINIMAL.to_vec();
    env.extend_from_slice(extra);
    push(&env)
}

mod beside;
mod schema;
