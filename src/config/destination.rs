//! Where events go and in what shape: `DESTINATION_*`, `BATCH_*` and the chosen platform's
//! own variables. The platform's request limits and credential header live here too, because
//! they decide which values are valid; how a request is built is `delivery::platform`'s.

use std::num::NonZeroUsize;
use std::time::Duration;

use reqwest::header::HeaderName;
use url::Url;

use super::lake::{LakeConfig, LAKE_FORMAT};
use super::schema::{Schema, OCSF_FORMAT};
use super::{
    allow_insecure_http, bool_var, count_var, header_text, limited, seconds_var, ConfigError, Env,
    EventFilter,
};

/// An org label: it goes into headers, index names and tags, so it is kept to what all of
/// them accept.
pub(crate) fn org_label(variable: &'static str, value: &str) -> Result<String, ConfigError> {
    if is_org_label(value) {
        Ok(value.to_owned())
    } else {
        Err(ConfigError::new(
            variable,
            format!("{value:?} is not an org label; expected 1 to 100 letters, digits, '.', '-' or '_', e.g. acme"),
        ))
    }
}

/// Whether `value` may label an org: 1 to 100 ASCII letters, digits, `.`, `-` or `_`. The
/// same rule holds for `OKTA_ORG_LABEL` and for the org a push event's source names.
pub(crate) fn is_org_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
}

/// Default for `BATCH_MAX_EVENTS`.
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 1000;
/// Default for `BATCH_MAX_BYTES`, measured before compression.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 1024 * 1024;
/// Default for `DESTINATION_TIMEOUT_SECONDS`, per request.
pub const DEFAULT_DESTINATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for `DESTINATION_CONCURRENCY`: requests in flight at once.
pub const DEFAULT_DESTINATION_CONCURRENCY: usize = 4;
/// `DESTINATION_AUTH_SCHEME` value that sends the bare credential.
pub const NO_AUTH_SCHEME: &str = "none";
/// In `ELASTIC_INDEX`, replaced by the org label.
pub const ORG_PLACEHOLDER: &str = "{org}";

/// How and where batches are sent.
#[derive(Clone)]
pub struct DestinationConfig {
    /// `DESTINATION_URL`: the endpoint every batch is POSTed to.
    pub url: Url,
    /// `DESTINATION_FORMAT` and its platform's options: the request shape.
    pub platform: Platform,
    /// `DESTINATION_SCHEMA`: what each item carries, the Okta event or its OCSF mapping.
    pub schema: Schema,
    /// `OCSF_RAW_DATA`: with the OCSF schema, also carry the Okta event in `raw_data`.
    pub ocsf: crate::ocsf::OcsfOptions,
    /// `DESTINATION_GZIP`: compress bodies with gzip (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// `DESTINATION_SECRET_ARN`: Secrets Manager secret holding the credential, if any.
    pub secret_arn: Option<String>,
    /// `DESTINATION_AUTH_HEADER`: the header that carries the credential (default: the
    /// platform's).
    pub auth_header: HeaderName,
    /// `DESTINATION_AUTH_SCHEME`: prefix before the credential (default: the platform's;
    /// `none`: the bare credential).
    pub auth_scheme: String,
    /// `DESTINATION_TIMEOUT_SECONDS`: limit for one request, connection included.
    pub timeout: Duration,
    /// `DESTINATION_CONCURRENCY`: requests in flight at once.
    pub concurrency: NonZeroUsize,
    /// `BATCH_MAX_EVENTS`: events in one request at most.
    pub batch_max_events: NonZeroUsize,
    /// `BATCH_MAX_BYTES`: uncompressed body size of one request at most.
    pub batch_max_bytes: NonZeroUsize,
    /// `EVENT_TYPES_INCLUDE` / `EVENT_TYPES_EXCLUDE`: which events are sent at all.
    pub filter: EventFilter,
    /// `OKTA_ORG_LABEL`: the org named in each platform's metadata, over the org an event
    /// came from (push: its partner event source; pull: `OKTA_DOMAIN`).
    pub org_label: Option<String>,
}

impl std::fmt::Debug for DestinationConfig {
    // The URL may itself be a credential (Sumo Logic, webhook tokens): show only its origin.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationConfig")
            .field("url", &crate::telemetry::redact::origin(&self.url))
            .field("platform", &self.platform)
            .field("schema", &self.schema)
            .field("ocsf", &self.ocsf)
            .field("gzip", &self.gzip)
            .field("secret_arn", &self.secret_arn)
            .field("auth_header", &self.auth_header)
            .field("auth_scheme", &self.auth_scheme)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .field("batch_max_events", &self.batch_max_events)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .field("filter", &self.filter)
            .field("org_label", &self.org_label)
            .finish()
    }
}

impl DestinationConfig {
    /// Reads the `DESTINATION_*` and `BATCH_*` variables.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        let allow_http = allow_insecure_http(env)?;
        let platform = Platform::from_env(env)?;
        let limits = platform.limits();
        let url = match &platform {
            Platform::SecurityLake(lake) => lake_url(env, lake)?,
            _ => destination_url(env, allow_http)?,
        };
        // The lake's objects are Parquet written here: a compressed body would only be
        // decompressed again.
        let gzip = bool_var(env, "DESTINATION_GZIP", true)?
            && !matches!(platform, Platform::SecurityLake(_));
        Ok(DestinationConfig {
            url,
            gzip,
            secret_arn: env
                .get("DESTINATION_SECRET_ARN")
                .map(|v| v.trim().to_owned()),
            auth_header: match env.get("DESTINATION_AUTH_HEADER") {
                None => HeaderName::from_static(
                    platform.default_auth().map_or("authorization", |a| a.0),
                ),
                Some(v) => HeaderName::try_from(v.trim()).map_err(|_| {
                    ConfigError::new(
                        "DESTINATION_AUTH_HEADER",
                        format!("{v:?} is not a valid HTTP header name"),
                    )
                })?,
            },
            auth_scheme: match env.get("DESTINATION_AUTH_SCHEME") {
                None => platform.default_auth().map_or("", |a| a.1).to_owned(),
                Some(v) if v.trim().eq_ignore_ascii_case(NO_AUTH_SCHEME) => String::new(),
                Some(v) => {
                    let scheme = v.trim().to_owned();
                    if !scheme.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(ConfigError::new(
                            "DESTINATION_AUTH_SCHEME",
                            "must be one word of visible ASCII characters (e.g. Bearer, Splunk, ApiKey), or none",
                        ));
                    }
                    scheme
                }
            },
            timeout: seconds_var(
                env,
                "DESTINATION_TIMEOUT_SECONDS",
                DEFAULT_DESTINATION_TIMEOUT,
                false,
            )?,
            concurrency: count_var(
                env,
                "DESTINATION_CONCURRENCY",
                DEFAULT_DESTINATION_CONCURRENCY,
            )?,
            batch_max_events: limited(
                env,
                "BATCH_MAX_EVENTS",
                limits.default_events,
                limits.max_events,
                platform.name(),
            )?,
            batch_max_bytes: limited(
                env,
                "BATCH_MAX_BYTES",
                limits.default_bytes,
                limits.max_bytes,
                platform.name(),
            )?,
            platform,
            schema: Schema::from_env(env)?,
            ocsf: crate::ocsf::OcsfOptions {
                raw_data: bool_var(env, "OCSF_RAW_DATA", false)?,
            },
            filter: EventFilter::from_env(env)?,
            org_label: env
                .get("OKTA_ORG_LABEL")
                .map(|v| org_label("OKTA_ORG_LABEL", v.trim()))
                .transpose()?,
        })
    }
}

/// Where a Security Lake destination writes, for the start-up line: its first source's
/// bucket. `DESTINATION_URL` has no meaning there, so setting it is a mistake.
fn lake_url(env: &(impl Env + ?Sized), lake: &LakeConfig) -> Result<Url, ConfigError> {
    if env.get("DESTINATION_URL").is_some() {
        return Err(ConfigError::new(
            "DESTINATION_URL",
            "is set, but DESTINATION_FORMAT=securitylake writes to the custom sources' locations in SECURITY_LAKE_SOURCES; unset it, or deploy a second stack for an HTTP destination",
        ));
    }
    let bucket = lake
        .sources
        .values()
        .next()
        .map_or("", |s| s.bucket.as_str());
    Url::parse(&format!("s3://{bucket}/")).map_err(|e| {
        ConfigError::new(
            "SECURITY_LAKE_SOURCES",
            format!("names a bucket that is not a host ({e})"),
        )
    })
}

fn destination_url(env: &(impl Env + ?Sized), allow_http: bool) -> Result<Url, ConfigError> {
    const VAR: &str = "DESTINATION_URL";
    let raw = env
        .get(VAR)
        .ok_or_else(|| ConfigError::new(VAR, "required: the https URL batches are POSTed to"))?;
    // The URL may carry a token (Sumo Logic collectors), so problems never repeat it whole.
    let url = Url::parse(raw.trim()).map_err(|e| {
        ConfigError::new(
            VAR,
            format!("not an absolute URL ({e}); expected https://host/path"),
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(ConfigError::new(
                VAR,
                "uses http://; events would travel unencrypted. Use https://, or set ALLOW_INSECURE_HTTP=true for a local test endpoint",
            ))
        }
        other => {
            return Err(ConfigError::new(
                VAR,
                format!("scheme {other:?} is not supported; expected https://host/path"),
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(
            VAR,
            "has no host; expected https://host/path",
        ));
    }
    Ok(url)
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
