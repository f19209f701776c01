//! Start-up configuration from environment variables, read once into typed structs and
//! validated, with errors that name the variable and the expected form. One file per
//! concern; this one holds what they share.

use std::num::NonZeroUsize;
use std::time::Duration;

mod destination;
mod directory;
mod filter;
mod lake;
mod platform;
mod pull;
mod push;
mod schema;

pub(crate) use destination::{is_org_label, org_label};
pub use destination::{DestinationConfig, Limits, Platform, ORG_PLACEHOLDER};
pub use directory::DirectoryConfig;
pub use filter::EventFilter;
pub use lake::{lake_beside, LakeConfig, LakeSource, LAKE_FORMAT};
pub use pull::PullConfig;
pub use push::PushConfig;
pub use schema::{Schema, OCSF_FORMAT};

/// The variables both functions read: the destination, its platform, batching, filters.
pub const DESTINATION_VARIABLES: &[&str] = &[
    "DESTINATION_URL",
    "ALLOW_INSECURE_HTTP",
    "DESTINATION_FORMAT",
    "DESTINATION_SCHEMA",
    "OCSF_RAW_DATA",
    "DESTINATION_GZIP",
    "DESTINATION_SECRET_ARN",
    "DESTINATION_AUTH_HEADER",
    "DESTINATION_AUTH_SCHEME",
    "DESTINATION_TIMEOUT_SECONDS",
    "DESTINATION_CONCURRENCY",
    "BATCH_MAX_EVENTS",
    "BATCH_MAX_BYTES",
    "SPLUNK_SOURCETYPE",
    "SPLUNK_SOURCE",
    "SPLUNK_INDEX",
    "DATADOG_SOURCE",
    "DATADOG_SERVICE",
    "DATADOG_TAGS",
    "CORALOGIX_APPLICATION",
    "CORALOGIX_SUBSYSTEM",
    "ELASTIC_INDEX",
    "SUMO_CATEGORY",
    "SUMO_NAME",
    "SECURITY_LAKE_SOURCES",
    "SECURITY_LAKE_EXTERNAL_ID",
    "SECURITY_LAKE_ACCOUNT_ID",
    "EVENT_TYPES_INCLUDE",
    "EVENT_TYPES_EXCLUDE",
    "OKTA_ORG_LABEL",
    "MAX_EVENT_AGE_SECONDS",
    "STATE_BUCKET",
    "LEDGER_TABLE",
    "RUST_LOG",
];
/// What okta-push reads besides [`DESTINATION_VARIABLES`].
pub const PUSH_VARIABLES: &[&str] = &["QUEUE_MAX_RECEIVE_COUNT"];
/// What okta-pull reads besides [`DESTINATION_VARIABLES`].
pub const PULL_VARIABLES: &[&str] = &[
    "OKTA_DOMAIN",
    "OKTA_TOKEN_SECRET_ARN",
    "CHECKPOINT_KEY",
    "INITIAL_LOOKBACK_SECONDS",
    "RATE_LIMIT_HEADROOM",
    "OKTA_TIMEOUT_SECONDS",
    "SETTLE_DELAY_SECONDS",
    "DIRECTORY_ENABLED",
    "DIRECTORY_USER_FIELDS",
    "DIRECTORY_FULL_INTERVAL_HOURS",
    "DIRECTORY_STATE_PREFIX",
];

/// The largest number of seconds any setting takes: a year.
const MAX_SECONDS: u64 = 31_536_000;

/// Default for `MAX_EVENT_AGE_SECONDS`: Okta events older than a day are dropped.
pub const DEFAULT_MAX_EVENT_AGE: Duration = Duration::from_secs(86_400);

/// A configuration value that is missing or not of the expected form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What was wrong and what form is expected. Never contains the value of a secret.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            variable,
            problem: problem.into(),
        }
    }
}

/// Where configuration comes from: the process environment in Lambda, a map in tests.
pub trait Env {
    /// The value of `name` exactly as set, empty or not.
    fn get_raw(&self, name: &str) -> Option<String>;

    /// The value of `name`, if set. Empty strings count as unset, since CloudFormation
    /// passes an empty optional parameter as an empty variable.
    fn get(&self, name: &str) -> Option<String> {
        self.get_raw(name).filter(|v| !v.trim().is_empty())
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get_raw(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for [(&str, &str)] {
    fn get_raw(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

impl Env for Vec<(String, String)> {
    fn get_raw(&self, name: &str) -> Option<String> {
        self.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

/// `MAX_EVENT_AGE_SECONDS`, where `0` means no limit.
pub(crate) fn max_event_age(env: &(impl Env + ?Sized)) -> Result<Option<Duration>, ConfigError> {
    let age = seconds_var(env, "MAX_EVENT_AGE_SECONDS", DEFAULT_MAX_EVENT_AGE, true)?;
    Ok((!age.is_zero()).then_some(age))
}

/// `LEDGER_TABLE`: the DynamoDB table of the delivery ledger (a name or an ARN); unset or
/// empty keeps the ledger as objects in `STATE_BUCKET`.
pub(crate) fn ledger_table(env: &(impl Env + ?Sized)) -> Result<Option<String>, ConfigError> {
    const VAR: &str = "LEDGER_TABLE";
    let Some(name) = env.get(VAR) else {
        return Ok(None);
    };
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    let valid = name.starts_with("arn:")
        || ((3..=255).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')));
    if !valid {
        return Err(ConfigError::new(
            VAR,
            format!(
                "{name:?} is not a DynamoDB table name (3-255 characters: letters, digits, '_', '-' and '.') or ARN"
            ),
        ));
    }
    Ok(Some(name.to_owned()))
}

/// `STATE_BUCKET`: required, an S3 bucket name.
pub(crate) fn state_bucket(env: &(impl Env + ?Sized)) -> Result<String, ConfigError> {
    const VAR: &str = "STATE_BUCKET";
    let name = env.get(VAR).ok_or_else(|| {
        ConfigError::new(VAR, "required: the S3 bucket for dead letters and state")
    })?;
    let name = name.trim();
    let valid = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.']);
    if !valid {
        return Err(ConfigError::new(
            VAR,
            format!(
                "{name:?} is not an S3 bucket name (3-63 characters: lowercase letters, digits, '-' and '.'); give the name, not an ARN"
            ),
        ));
    }
    Ok(name.to_owned())
}

/// `ALLOW_INSECURE_HTTP`: admits `http://` destinations and Okta orgs, for local fakes only.
pub(crate) fn allow_insecure_http(env: &(impl Env + ?Sized)) -> Result<bool, ConfigError> {
    bool_var(env, "ALLOW_INSECURE_HTTP", false)
}

pub(crate) fn bool_var(
    env: &(impl Env + ?Sized),
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match env.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError::new(
                name,
                format!("{v:?} is not a boolean; expected true or false"),
            )),
        },
    }
}

pub(crate) fn seconds_var(
    env: &(impl Env + ?Sized),
    name: &'static str,
    default: Duration,
    zero_allowed: bool,
) -> Result<Duration, ConfigError> {
    let Some(v) = env.get(name) else {
        return Ok(default);
    };
    // Whole seconds only: "1e-10" or "0.5" would otherwise round to a different setting
    // (for MAX_EVENT_AGE_SECONDS, 0 means no limit at all).
    let secs: u64 = v
        .trim()
        .parse()
        .map_err(|_| ConfigError::new(name, format!("{v:?} is not a whole number of seconds")))?;
    if (secs == 0 && !zero_allowed) || secs > MAX_SECONDS {
        let range = if zero_allowed { "0" } else { "1" };
        return Err(ConfigError::new(
            name,
            format!("{v:?} is out of range; expected {range} up to {MAX_SECONDS} seconds"),
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// A text that goes into an HTTP header: refused at start-up if it could not be sent.
pub(crate) fn header_text(name: &'static str, value: String) -> Result<String, ConfigError> {
    match reqwest::header::HeaderValue::from_str(&value) {
        Ok(_) => Ok(value),
        Err(_) => Err(ConfigError::new(
            name,
            "contains characters not allowed in an HTTP header (control characters or line breaks)",
        )),
    }
}

/// A count with the platform's default, refused above the platform's documented maximum.
pub(crate) fn limited(
    env: &(impl Env + ?Sized),
    name: &'static str,
    default: usize,
    max: Option<usize>,
    platform: &str,
) -> Result<NonZeroUsize, ConfigError> {
    let value = count_var(env, name, default)?;
    match max {
        Some(max) if value.get() > max => Err(ConfigError::new(
            name,
            format!("{value} is more than {platform} accepts per request ({max})"),
        )),
        _ => Ok(value),
    }
}

pub(crate) fn count_var(
    env: &(impl Env + ?Sized),
    name: &'static str,
    default: usize,
) -> Result<NonZeroUsize, ConfigError> {
    let Some(v) = env.get(name) else {
        return NonZeroUsize::new(default)
            .ok_or_else(|| ConfigError::new(name, "the built-in default is zero"));
    };
    v.trim()
        .parse::<NonZeroUsize>()
        .map_err(|_| ConfigError::new(name, format!("{v:?} is not a whole number greater than 0")))
}

#[cfg(test)]
mod tests;
