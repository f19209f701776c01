//! The destination platform (`DESTINATION_FORMAT`) and its own variables, request limits and
//! credential header: configuration, because they decide which values are valid; how a
//! request is built is `delivery::platform`'s.

use super::destination::{DEFAULT_BATCH_MAX_BYTES, DEFAULT_BATCH_MAX_EVENTS, ORG_PLACEHOLDER};
use super::lake::{LakeConfig, LAKE_FORMAT};
use super::schema::OCSF_FORMAT;
use super::{header_text, ConfigError, Env};

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
        /// `CORALOGIX_SUBSYSTEM`; unset: the org label, or `system-log` when none is known.
        subsystem: Option<String>,
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
    /// Amazon Security Lake: OCSF events as Parquet objects in custom sources' locations.
    SecurityLake(LakeConfig),
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
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
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
            // `ocsf` is shorthand for ndjson carrying OCSF (`Schema::from_env`).
            "ndjson" | OCSF_FORMAT => Platform::Ndjson,
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
                subsystem: optional("CORALOGIX_SUBSYSTEM"),
            },
            "elastic-bulk" => {
                let index = text("ELASTIC_INDEX", "logs-okta.system-default");
                // `{org}` stands for the org label, filled in per event.
                let checked = index.replace(ORG_PLACEHOLDER, "org");
                if checked.is_empty() || checked.starts_with(['-', '_', '+']) || checked.chars().any(|c| c.is_ascii_uppercase() || " \"*\\<|,>/?#:{}".contains(c)) {
                    return Err(ConfigError::new("ELASTIC_INDEX", format!("{index:?} is not a valid index or data stream name (lowercase, no spaces or \\\"*\\\\<|,>/?#:{{}}; {ORG_PLACEHOLDER} stands for the org)")));
                }
                Platform::ElasticBulk { index }
            }
            "sumo" => Platform::Sumo {
                category: optional("SUMO_CATEGORY")
                    .map(|c| header_text("SUMO_CATEGORY", c))
                    .transpose()?,
                name: header_text("SUMO_NAME", text("SUMO_NAME", "okta-system-log"))?,
            },
            LAKE_FORMAT => Platform::SecurityLake(LakeConfig::from_env(env)?),
            other => {
                return Err(ConfigError::new(
                    "DESTINATION_FORMAT",
                    format!("{other:?} is not a known format; expected json, ndjson, splunk-hec, datadog, coralogix, elastic-bulk, sumo, ocsf (ndjson with DESTINATION_SCHEMA=ocsf) or securitylake"),
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
            Platform::SecurityLake(_) => LAKE_FORMAT,
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
            // Security Lake: the provider role, not a header.
            Platform::Sumo { .. } | Platform::SecurityLake(_) => None,
        }
    }

    /// The platform's documented request limits.
    pub fn limits(&self) -> Limits {
        let plain = Limits {
            default_events: DEFAULT_BATCH_MAX_EVENTS,
            default_bytes: DEFAULT_BATCH_MAX_BYTES,
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
            // Security Lake wants few large objects (at most 256 MB): a whole invocation
            // is one batch, and one object per class and day.
            Platform::SecurityLake(_) => Limits {
                default_events: 100_000,
                default_bytes: 64 * MIB,
                max_events: None,
                max_bytes: Some(256 * MIB),
                max_item_bytes: None,
            },
            _ => plain,
        }
    }
}
