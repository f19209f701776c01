//! Destination platforms: how one Okta event becomes one item of a request, and each
//! platform's headers, limits and answers. The Okta event itself is always carried byte for
//! byte; platforms that need their own fields get them around it or in front of its keys.

use std::borrow::Cow;

use serde::Deserialize;

use crate::config::{ConfigError, Env};
use crate::event::{format_rfc3339, OktaEvent};

/// How items are joined into a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `[item,item]`
    JsonArray,
    /// `item\nitem\n`
    Lines,
}

/// The destination platform and its options (`DESTINATION_FORMAT` and its variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    /// A JSON array of events.
    Json,
    /// One event per line.
    Ndjson,
    /// Splunk HTTP Event Collector, `/services/collector/event`.
    SplunkHec {
        /// `SPLUNK_SOURCETYPE`, default `OktaIM2:log` (the Splunk Add-on for Okta's).
        sourcetype: String,
        /// `SPLUNK_SOURCE`, default `okta:system-log`.
        source: String,
        /// `SPLUNK_INDEX`; none = the token's default index.
        index: Option<String>,
    },
    /// Datadog logs intake v2, `/api/v2/logs`.
    Datadog {
        /// `DATADOG_SOURCE`, default `okta` (Datadog's Okta pipeline).
        source: String,
        /// `DATADOG_SERVICE`, default `okta`.
        service: String,
        /// `DATADOG_TAGS`, comma-separated `key:value`.
        tags: Option<String>,
    },
    /// Coralogix REST singles, `/logs/v1/singles`.
    Coralogix {
        /// `CORALOGIX_APPLICATION`, default `okta`.
        application: String,
        /// `CORALOGIX_SUBSYSTEM`, default `system-log`.
        subsystem: String,
    },
    /// Elasticsearch / OpenSearch `_bulk`, one `create` per event with `_id` = uuid.
    ElasticBulk {
        /// `ELASTIC_INDEX`, default `logs-okta.system-default` (a data stream name).
        index: String,
    },
    /// Sumo Logic HTTP source: raw events, one per line.
    Sumo {
        /// `SUMO_CATEGORY` (`X-Sumo-Category`).
        category: Option<String>,
        /// `SUMO_NAME` (`X-Sumo-Name`), default `okta-system-log`.
        name: String,
    },
}

/// Batch limits a platform documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Default events per request.
    pub default_events: usize,
    /// Default body bytes per request, before compression.
    pub default_bytes: usize,
    /// Most events per request the platform accepts.
    pub max_events: Option<usize>,
    /// Most body bytes per request, before compression.
    pub max_bytes: Option<usize>,
    /// Most bytes of one item.
    pub max_item_bytes: Option<usize>,
}

const MIB: usize = 1024 * 1024;

impl Platform {
    /// Reads `DESTINATION_FORMAT` and the chosen platform's own variables.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let name = env
            .get("DESTINATION_FORMAT")
            .map(|v| v.trim().to_ascii_lowercase());
        let text = |var: &str, default: &str| {
            env.get(var)
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| default.to_owned())
        };
        let optional = |var: &str| env.get(var).map(|v| v.trim().to_owned());
        Ok(match name.as_deref().unwrap_or("json") {
            "json" => Platform::Json,
            "ndjson" => Platform::Ndjson,
            "splunk-hec" => Platform::SplunkHec {
                sourcetype: text("SPLUNK_SOURCETYPE", "OktaIM2:log"),
                source: text("SPLUNK_SOURCE", "okta:system-log"),
                index: optional("SPLUNK_INDEX"),
            },
            "datadog" => Platform::Datadog {
                source: text("DATADOG_SOURCE", "okta"),
                service: text("DATADOG_SERVICE", "okta"),
                tags: optional("DATADOG_TAGS"),
            },
            "coralogix" => Platform::Coralogix {
                application: text("CORALOGIX_APPLICATION", "okta"),
                subsystem: text("CORALOGIX_SUBSYSTEM", "system-log"),
            },
            "elastic-bulk" => {
                let index = text("ELASTIC_INDEX", "logs-okta.system-default");
                if index.is_empty() || index.starts_with(['-', '_', '+']) || index.chars().any(|c| c.is_ascii_uppercase() || " \"*\\<|,>/?#:".contains(c)) {
                    return Err(ConfigError::new("ELASTIC_INDEX", format!("{index:?} is not a valid index or data stream name (lowercase, no spaces or \\\"*\\\\<|,>/?#:)")));
                }
                Platform::ElasticBulk { index }
            }
            "sumo" => Platform::Sumo {
                category: optional("SUMO_CATEGORY"),
                name: text("SUMO_NAME", "okta-system-log"),
            },
            other => {
                return Err(ConfigError::new(
                    "DESTINATION_FORMAT",
                    format!("{other:?} is not a known format; expected json, ndjson, splunk-hec, datadog, coralogix, elastic-bulk or sumo"),
                ))
            }
        })
    }

    /// The `DESTINATION_FORMAT` value.
    pub fn name(&self) -> &'static str {
        match self {
            Platform::Json => "json",
            Platform::Ndjson => "ndjson",
            Platform::SplunkHec { .. } => "splunk-hec",
            Platform::Datadog { .. } => "datadog",
            Platform::Coralogix { .. } => "coralogix",
            Platform::ElasticBulk { .. } => "elastic-bulk",
            Platform::Sumo { .. } => "sumo",
        }
    }

    /// How items are joined.
    pub fn framing(&self) -> Framing {
        match self {
            Platform::Json | Platform::Datadog { .. } | Platform::Coralogix { .. } => {
                Framing::JsonArray
            }
            Platform::Ndjson
            | Platform::SplunkHec { .. }
            | Platform::ElasticBulk { .. }
            | Platform::Sumo { .. } => Framing::Lines,
        }
    }

    /// The body's `Content-Type`.
    pub fn content_type(&self) -> &'static str {
        match self.framing() {
            Framing::JsonArray => "application/json",
            Framing::Lines => match self {
                Platform::SplunkHec { .. } => "application/json",
                Platform::Sumo { .. } => "text/plain",
                _ => "application/x-ndjson",
            },
        }
    }

    /// The credential header and scheme the platform documents (`None`: no credential, as
    /// for Sumo Logic, whose URL is the credential).
    pub fn default_auth(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Platform::Json | Platform::Ndjson | Platform::Coralogix { .. } => {
                Some(("authorization", "Bearer"))
            }
            Platform::SplunkHec { .. } => Some(("authorization", "Splunk")),
            Platform::Datadog { .. } => Some(("dd-api-key", "")),
            Platform::ElasticBulk { .. } => Some(("authorization", "ApiKey")),
            Platform::Sumo { .. } => None,
        }
    }

    /// Headers the platform wants on every request besides the credential.
    pub fn extra_headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Platform::Sumo { category, name } => {
                let mut h = vec![("x-sumo-name", name.clone())];
                if let Some(c) = category {
                    h.push(("x-sumo-category", c.clone()));
                }
                h
            }
            _ => Vec::new(),
        }
    }

    /// The platform's documented request limits.
    pub fn limits(&self) -> Limits {
        let plain = Limits {
            default_events: 1000,
            default_bytes: MIB,
            max_events: None,
            max_bytes: None,
            max_item_bytes: None,
        };
        match self {
            // Datadog: at most 1000 entries and 5 MB uncompressed per request, 1 MB per log.
            Platform::Datadog { .. } => Limits {
                default_events: 1000,
                default_bytes: 4 * MIB,
                max_events: Some(1000),
                max_bytes: Some(5_000_000),
                max_item_bytes: Some(1_000_000),
            },
            Platform::ElasticBulk { .. } => Limits {
                default_bytes: 5 * MIB,
                ..plain
            },
            _ => plain,
        }
    }

    /// One event as an item of this platform's request.
    pub fn item<'e>(&self, event: &'e OktaEvent<'_>) -> Cow<'e, [u8]> {
        let raw = event.json();
        match self {
            Platform::Json | Platform::Ndjson | Platform::Sumo { .. } => {
                Cow::Borrowed(raw.as_bytes())
            }
            Platform::SplunkHec {
                sourcetype,
                source,
                index,
            } => {
                let mut out = Vec::with_capacity(raw.len() + 128);
                out.extend_from_slice(b"{\"time\":");
                out.extend_from_slice(epoch_seconds_millis(event).as_bytes());
                out.extend_from_slice(b",\"source\":");
                push_json_string(&mut out, source);
                out.extend_from_slice(b",\"sourcetype\":");
                push_json_string(&mut out, sourcetype);
                if let Some(index) = index {
                    out.extend_from_slice(b",\"index\":");
                    push_json_string(&mut out, index);
                }
                out.extend_from_slice(b",\"event\":");
                out.extend_from_slice(raw.as_bytes());
                out.push(b'}');
                Cow::Owned(out)
            }
            Platform::Datadog {
                source,
                service,
                tags,
            } => {
                // Datadog reads top-level attributes: its own go in front of the event's keys.
                let mut out = Vec::with_capacity(raw.len() + 128);
                out.extend_from_slice(b"{\"ddsource\":");
                push_json_string(&mut out, source);
                out.extend_from_slice(b",\"service\":");
                push_json_string(&mut out, service);
                if let Some(tags) = tags {
                    out.extend_from_slice(b",\"ddtags\":");
                    push_json_string(&mut out, tags);
                }
                out.extend_from_slice(b",\"status\":\"");
                out.extend_from_slice(datadog_status(event.severity.as_deref()).as_bytes());
                out.extend_from_slice(b"\",\"timestamp\":");
                out.extend_from_slice(epoch_millis(event).to_string().as_bytes());
                splice_rest(&mut out, raw);
                Cow::Owned(out)
            }
            Platform::Coralogix {
                application,
                subsystem,
            } => {
                let mut out = Vec::with_capacity(raw.len() + 128);
                out.extend_from_slice(b"{\"applicationName\":");
                push_json_string(&mut out, application);
                out.extend_from_slice(b",\"subsystemName\":");
                push_json_string(&mut out, subsystem);
                out.extend_from_slice(b",\"timestamp\":");
                out.extend_from_slice(epoch_millis(event).to_string().as_bytes());
                out.extend_from_slice(b",\"severity\":");
                out.extend_from_slice(
                    coralogix_severity(event.severity.as_deref())
                        .to_string()
                        .as_bytes(),
                );
                out.extend_from_slice(b",\"json\":");
                out.extend_from_slice(raw.as_bytes());
                out.push(b'}');
                Cow::Owned(out)
            }
            Platform::ElasticBulk { index } => {
                // `create` with `_id` = uuid: a re-send answers 409 for documents already
                // there, so retries never index an event twice; data streams require `create`
                // and `@timestamp`.
                let mut out = Vec::with_capacity(raw.len() + 160);
                out.extend_from_slice(b"{\"create\":{\"_index\":");
                push_json_string(&mut out, index);
                out.extend_from_slice(b",\"_id\":");
                push_json_string(&mut out, &event.uuid);
                out.extend_from_slice(b"}}\n{\"@timestamp\":\"");
                out.extend_from_slice(format_rfc3339(event.published).as_bytes());
                out.push(b'"');
                splice_rest(&mut out, raw);
                Cow::Owned(out)
            }
        }
    }

    /// Reads a successful answer for per-item results. Only `_bulk` has them: a 200 can
    /// still carry failed items.
    pub fn check_answer(&self, body: &[u8]) -> Answer {
        match self {
            Platform::ElasticBulk { .. } => bulk_answer(body),
            _ => Answer::AllAccepted,
        }
    }
}

/// What a 2xx answer says about the items of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Every item was taken.
    AllAccepted,
    /// Some items failed in a way worth retrying (429, 5xx): the request should be sent again
    /// (for `_bulk` with `create`, items already stored answer 409 and count as taken).
    Retry(String),
    /// These items (by position) were refused for good, with why; the rest were taken.
    Rejected(Vec<(usize, String)>),
}

fn bulk_answer(body: &[u8]) -> Answer {
    #[derive(Deserialize)]
    struct Bulk {
        #[serde(default)]
        errors: bool,
        #[serde(default)]
        items: Vec<std::collections::HashMap<String, Item>>,
    }
    #[derive(Deserialize)]
    struct Item {
        status: u16,
        #[serde(default)]
        error: Option<serde_json::Value>,
    }
    let Ok(bulk) = serde_json::from_slice::<Bulk>(body) else {
        return Answer::Retry("the _bulk answer is not the documented JSON".into());
    };
    if !bulk.errors {
        return Answer::AllAccepted;
    }
    let mut rejected = Vec::new();
    for (i, item) in bulk.items.iter().enumerate() {
        let Some(result) = item.values().next() else {
            continue;
        };
        match result.status {
            200..=299 | 409 => {}
            429 | 500..=599 => {
                return Answer::Retry(format!(
                    "_bulk item answered {}: {}",
                    result.status,
                    error_text(&result.error)
                ))
            }
            status => rejected.push((
                i,
                format!(
                    "_bulk item refused with {status}: {}",
                    error_text(&result.error)
                ),
            )),
        }
    }
    if rejected.is_empty() {
        Answer::AllAccepted
    } else {
        Answer::Rejected(rejected)
    }
}

fn error_text(error: &Option<serde_json::Value>) -> String {
    match error {
        Some(e) => format!(
            "{} {}",
            e.get("type").and_then(|t| t.as_str()).unwrap_or("error"),
            e.get("reason").and_then(|r| r.as_str()).unwrap_or("")
        )
        .trim()
        .to_owned(),
        None => "no error detail".into(),
    }
}

/// `,` then the event's keys: `{"a":1}` becomes `…,"a":1}` after the caller's own fields.
fn splice_rest(out: &mut Vec<u8>, raw: &str) {
    let inner = raw
        .trim_start()
        .strip_prefix('{')
        .unwrap_or(raw)
        .trim_start();
    if !inner.starts_with('}') {
        out.push(b',');
    }
    out.extend_from_slice(inner.as_bytes());
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    match serde_json::to_vec(s) {
        Ok(v) => out.extend_from_slice(&v),
        Err(_) => out.extend_from_slice(b"\"\""),
    }
}

fn epoch_millis(event: &OktaEvent<'_>) -> i64 {
    (event.published.unix_timestamp_nanos() / 1_000_000) as i64
}

/// `1685456278.126`: Splunk's `time` with milliseconds.
fn epoch_seconds_millis(event: &OktaEvent<'_>) -> String {
    let ms = epoch_millis(event);
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Okta `severity` as a Datadog `status`.
pub fn datadog_status(severity: Option<&str>) -> &'static str {
    match severity {
        Some("DEBUG") => "debug",
        Some("WARN") => "warning",
        Some("ERROR") => "error",
        _ => "info",
    }
}

/// Okta `severity` as a Coralogix severity (1 debug, 3 info, 4 warning, 5 error).
pub fn coralogix_severity(severity: Option<&str>) -> u8 {
    match severity {
        Some("DEBUG") => 1,
        Some("WARN") => 4,
        Some("ERROR") => 5,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const EVENT: &str = r#"{"uuid":"u-1","published":"2023-05-30T14:17:58.126Z","severity":"WARN","n":1.50,"s":"\u00e9"}"#;

    fn platform(format: &str, extra: &[(&str, &str)]) -> Platform {
        let mut env = vec![("DESTINATION_FORMAT".to_string(), format.to_string())];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Platform::from_env(&env).unwrap()
    }

    fn item(p: &Platform) -> String {
        let raw: &serde_json::value::RawValue = serde_json::from_str(EVENT).unwrap();
        let e = OktaEvent::from_raw(raw).unwrap();
        String::from_utf8(p.item(&e).into_owned()).unwrap()
    }

    #[test]
    fn json_ndjson_and_sumo_carry_the_event_unchanged() {
        for f in ["json", "ndjson", "sumo"] {
            assert_eq!(item(&platform(f, &[])), EVENT, "{f}");
        }
    }

    #[test]
    fn splunk_hec_wraps_the_event_with_time_in_seconds_and_the_add_on_sourcetype() {
        let text = item(&platform("splunk-hec", &[("SPLUNK_INDEX", "okta")]));
        assert_eq!(
            text,
            format!(
                r#"{{"time":1685456278.126,"source":"okta:system-log","sourcetype":"OktaIM2:log","index":"okta","event":{EVENT}}}"#
            )
        );
    }

    #[test]
    fn datadog_puts_its_attributes_in_front_and_maps_severity() {
        let text = item(&platform(
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
        let text = item(&platform("coralogix", &[("CORALOGIX_SUBSYSTEM", "prod")]));
        assert_eq!(
            text,
            format!(
                r#"{{"applicationName":"okta","subsystemName":"prod","timestamp":1685456278126,"severity":4,"json":{EVENT}}}"#
            )
        );
    }

    #[test]
    fn elastic_bulk_creates_by_uuid_with_a_timestamp() {
        let text = item(&platform("elastic-bulk", &[]));
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
    fn unknown_formats_and_bad_index_names_are_refused_by_name() {
        let env = vec![("DESTINATION_FORMAT".to_string(), "graylog".to_string())];
        let err = Platform::from_env(&env).unwrap_err();
        assert_eq!(err.variable, "DESTINATION_FORMAT");
        assert!(err.problem.contains("elastic-bulk"));
        let env = vec![
            ("DESTINATION_FORMAT".to_string(), "elastic-bulk".to_string()),
            ("ELASTIC_INDEX".to_string(), "Okta Logs".to_string()),
        ];
        assert_eq!(
            Platform::from_env(&env).unwrap_err().variable,
            "ELASTIC_INDEX"
        );
    }

    #[test]
    fn bulk_answers_are_read_item_by_item() {
        assert_eq!(
            bulk_answer(br#"{"took":3,"errors":false,"items":[{"create":{"status":201}}]}"#),
            Answer::AllAccepted
        );
        let conflict_only = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}"#;
        assert_eq!(
            bulk_answer(conflict_only),
            Answer::AllAccepted,
            "already indexed is delivered"
        );
        let mapping = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}}]}"#;
        assert_eq!(
            bulk_answer(mapping),
            Answer::Rejected(vec![(
                1,
                "_bulk item refused with 400: mapper_parsing_exception failed to parse field [n]"
                    .into()
            )])
        );
        let busy = br#"{"errors":true,"items":[{"create":{"status":400,"error":{"type":"x"}}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}}]}"#;
        assert!(matches!(bulk_answer(busy), Answer::Retry(r) if r.contains("429")));
        assert!(matches!(bulk_answer(b"<html>"), Answer::Retry(_)));
    }

    #[test]
    fn severities_map_to_each_platform() {
        assert_eq!(
            [
                datadog_status(Some("DEBUG")),
                datadog_status(Some("ERROR")),
                datadog_status(None)
            ],
            ["debug", "error", "info"]
        );
        assert_eq!(
            [
                coralogix_severity(Some("DEBUG")),
                coralogix_severity(Some("INFO")),
                coralogix_severity(Some("ERROR"))
            ],
            [1, 3, 5]
        );
    }
}
