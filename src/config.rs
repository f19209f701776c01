//! Start-up configuration from environment variables, validated once, with errors that name the variable.

use std::num::NonZeroUsize;
use std::time::Duration;

use reqwest::header::HeaderName;
use url::Url;

use crate::format::Platform;

/// Default for `MAX_EVENT_AGE_SECONDS`: Okta events older than a day are dropped.
pub const DEFAULT_MAX_EVENT_AGE: Duration = Duration::from_secs(86_400);
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

/// How and where batches are sent.
#[derive(Clone)]
pub struct DestinationConfig {
    /// `DESTINATION_URL`: the endpoint every batch is POSTed to.
    pub url: Url,
    /// `DESTINATION_FORMAT` and its platform's options: the request shape.
    pub platform: Platform,
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
}

impl std::fmt::Debug for DestinationConfig {
    // The URL may itself be a credential (Sumo Logic, webhook tokens): show only its origin.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationConfig")
            .field("url", &crate::redact::origin(&self.url))
            .field("platform", &self.platform)
            .field("gzip", &self.gzip)
            .field("secret_arn", &self.secret_arn)
            .field("auth_header", &self.auth_header)
            .field("auth_scheme", &self.auth_scheme)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .field("batch_max_events", &self.batch_max_events)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .finish()
    }
}

impl DestinationConfig {
    /// Reads the `DESTINATION_*` and `BATCH_*` variables.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let allow_http = bool_var(env, "ALLOW_INSECURE_HTTP", false)?;
        let platform = Platform::from_env(env)?;
        let limits = platform.limits();
        Ok(DestinationConfig {
            url: destination_url(env, allow_http)?,
            gzip: bool_var(env, "DESTINATION_GZIP", true)?,
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
                Some(v) => v.trim().to_owned(),
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
        })
    }
}

/// Everything `okta-push` needs.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// Where batches go.
    pub destination: DestinationConfig,
    /// `MAX_EVENT_AGE_SECONDS`: older events are dropped; `None` (`0`) keeps everything.
    pub max_event_age: Option<Duration>,
    /// `STATE_BUCKET`: the bucket that holds dead letters.
    pub state_bucket: String,
}

impl PushConfig {
    /// Reads and validates the whole push configuration.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(PushConfig {
            destination: DestinationConfig::from_env(env)?,
            max_event_age: max_event_age(env)?,
            state_bucket: state_bucket(env)?,
        })
    }
}

/// `MAX_EVENT_AGE_SECONDS`, where `0` means no limit.
pub fn max_event_age(env: &impl Env) -> Result<Option<Duration>, ConfigError> {
    let age = seconds_var(env, "MAX_EVENT_AGE_SECONDS", DEFAULT_MAX_EVENT_AGE, true)?;
    Ok((!age.is_zero()).then_some(age))
}

/// `STATE_BUCKET`: required, an S3 bucket name.
pub fn state_bucket(env: &impl Env) -> Result<String, ConfigError> {
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

fn destination_url(env: &impl Env, allow_http: bool) -> Result<Url, ConfigError> {
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

pub(crate) fn bool_var(
    env: &impl Env,
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
    env: &impl Env,
    name: &'static str,
    default: Duration,
    zero_allowed: bool,
) -> Result<Duration, ConfigError> {
    let Some(v) = env.get(name) else {
        return Ok(default);
    };
    let secs: f64 = v
        .trim()
        .parse()
        .map_err(|_| ConfigError::new(name, format!("{v:?} is not a number of seconds")))?;
    if !secs.is_finite() || secs < 0.0 || (secs == 0.0 && !zero_allowed) || secs > 31_536_000.0 {
        let range = if zero_allowed { "0" } else { "more than 0" };
        return Err(ConfigError::new(
            name,
            format!("{v:?} is out of range; expected {range} up to 31536000 seconds"),
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A count with the platform's default, refused above the platform's documented maximum.
fn limited(
    env: &impl Env,
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

fn count_var(
    env: &impl Env,
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
mod tests {
    use super::*;

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
            ("MAX_EVENT_AGE_SECONDS", "-5", "out of range"),
            ("MAX_EVENT_AGE_SECONDS", "a day", "number of seconds"),
            ("BATCH_MAX_EVENTS", "0", "greater than 0"),
            ("BATCH_MAX_BYTES", "1MB", "whole number"),
            ("DESTINATION_TIMEOUT_SECONDS", "0", "more than 0"),
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
}
