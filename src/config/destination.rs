//! Where events go and in what shape: `DESTINATION_*` and `BATCH_*`; the platform and its own
//! variables are `platform.rs`.

use std::num::NonZeroUsize;
use std::time::Duration;

use reqwest::header::HeaderName;
use url::Url;

use super::lake::LakeConfig;
pub use super::platform::{Limits, Platform};
use super::schema::Schema;
use super::{
    allow_insecure_http, bool_var, count_var, limited, seconds_var, ConfigError, Env, EventFilter,
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
            "is set, but DESTINATION_FORMAT=securitylake writes to the custom sources' locations in SECURITY_LAKE_SOURCES; unset it, or, to send to both, set DESTINATION_FORMAT to the HTTP destination's format: SECURITY_LAKE_SOURCES then adds the lake beside it",
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
