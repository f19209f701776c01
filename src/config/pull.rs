//! `okta-pull`'s configuration: the org, its credential, the checkpoint and the pacing.

use std::time::Duration;

use super::{
    allow_insecure_http, ledger_table, max_event_age, org_label, seconds_var, state_bucket,
    ConfigError, DestinationConfig, DirectoryConfig, Env, Platform,
};
use crate::okta::OktaOrg;
use crate::state::DEAD_LETTER_PREFIX;

/// Default for `INITIAL_LOOKBACK_SECONDS`: the first run starts a day back.
pub const DEFAULT_INITIAL_LOOKBACK: Duration = Duration::from_secs(86_400);
/// Okta keeps 90 days of System Log.
pub const MAX_LOOKBACK: Duration = Duration::from_secs(90 * 86_400);
/// Default for `RATE_LIMIT_HEADROOM`: a quarter of each window is left to other clients.
pub const DEFAULT_RATE_LIMIT_HEADROOM: f64 = 0.25;
/// Default for `OKTA_TIMEOUT_SECONDS`: Okta ends a slow query itself after 30 s (E0000009).
pub const DEFAULT_OKTA_TIMEOUT: Duration = Duration::from_secs(40);
/// Default for `SETTLE_DELAY_SECONDS`: how long push gets to deliver an event before pull
/// treats it as missed.
pub const DEFAULT_SETTLE_DELAY: Duration = Duration::from_secs(600);

/// Everything `okta-pull` needs.
#[derive(Clone, Debug)]
pub struct PullConfig {
    /// `OKTA_DOMAIN`: the org.
    pub org: OktaOrg,
    /// `OKTA_TOKEN_SECRET_ARN`: the secret with the SSWS API token.
    pub token_secret_arn: String,
    /// `STATE_BUCKET`: checkpoint and dead letters.
    pub state_bucket: String,
    /// `LEDGER_TABLE`: the ledger's DynamoDB table; `None` keeps it in `state_bucket`.
    pub ledger_table: Option<String>,
    /// `CHECKPOINT_KEY`: the checkpoint object's key.
    pub checkpoint_key: String,
    /// `INITIAL_LOOKBACK_SECONDS`: how far back the very first run starts.
    pub initial_lookback: Duration,
    /// `MAX_EVENT_AGE_SECONDS`: older events are skipped; `None` keeps all.
    pub max_event_age: Option<Duration>,
    /// `RATE_LIMIT_HEADROOM`: share of each rate-limit window left to other clients.
    pub rate_limit_headroom: f64,
    /// `OKTA_TIMEOUT_SECONDS`: limit for one Okta request.
    pub okta_timeout: Duration,
    /// `SETTLE_DELAY_SECONDS`: pull never reads past an event younger than this, leaving it
    /// to push; zero when Log Streaming is not used.
    pub settle_delay: Duration,
    /// Where events go.
    pub destination: DestinationConfig,
    /// Security Lake beside `destination` ([`super::lake_beside`]): the same events as OCSF
    /// (the directory's records go to `destination` only).
    pub lake: Option<DestinationConfig>,
    /// The directory runs' settings.
    pub directory: DirectoryConfig,
}

impl PullConfig {
    /// Reads and validates the whole pull configuration.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        let allow_http = allow_insecure_http(env)?;
        let org = OktaOrg::parse(
            &env.get("OKTA_DOMAIN").ok_or_else(|| {
                ConfigError::new(
                    "OKTA_DOMAIN",
                    "required: the Okta org's host name, e.g. acme.okta.com",
                )
            })?,
            allow_http,
        )
        .map_err(|e| ConfigError::new("OKTA_DOMAIN", e))?;
        let token_secret_arn = env
            .get("OKTA_TOKEN_SECRET_ARN")
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| {
                ConfigError::new(
                    "OKTA_TOKEN_SECRET_ARN",
                    "required: the ARN of the Secrets Manager secret holding the Okta API token",
                )
            })?;
        let checkpoint_key = match env.get("CHECKPOINT_KEY") {
            Some(k) => {
                let k = k.trim().trim_start_matches('/').to_owned();
                if k.is_empty() || k.len() > 1024 || k.starts_with(DEAD_LETTER_PREFIX) {
                    return Err(ConfigError::new(
                        "CHECKPOINT_KEY",
                        "must be an S3 key of 1 to 1024 characters outside dead-letter/",
                    ));
                }
                k
            }
            None => default_checkpoint_key(&org),
        };
        let initial_lookback = seconds_var(
            env,
            "INITIAL_LOOKBACK_SECONDS",
            DEFAULT_INITIAL_LOOKBACK,
            false,
        )?;
        if initial_lookback > MAX_LOOKBACK {
            return Err(ConfigError::new(
                "INITIAL_LOOKBACK_SECONDS",
                format!(
                    "{} is more than Okta's 90-day retention (7776000)",
                    initial_lookback.as_secs()
                ),
            ));
        }
        let rate_limit_headroom = match env.get("RATE_LIMIT_HEADROOM") {
            None => DEFAULT_RATE_LIMIT_HEADROOM,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(h) if (0.0..=0.9).contains(&h) => h,
                _ => {
                    return Err(ConfigError::new(
                        "RATE_LIMIT_HEADROOM",
                        format!("{v:?} is not a share between 0 and 0.9 (e.g. 0.25 leaves a quarter of each rate-limit window to other clients)"),
                    ))
                }
            },
        };
        let mut destination = DestinationConfig::from_env(env)?;
        // Pull's events name their org by OKTA_DOMAIN, unless OKTA_ORG_LABEL says.
        if destination.org_label.is_none() {
            destination.org_label = Some(org_label("OKTA_DOMAIN", &org.label())?);
        }
        let mut lake = super::lake_beside(env)?;
        if let Some(lake) = &mut lake {
            lake.org_label = destination.org_label.clone();
        }
        let mut directory = DirectoryConfig::from_env(env)?;
        // The directory's records are not OCSF events: the lake has no class for them.
        if matches!(destination.platform, Platform::SecurityLake(_)) && directory.enabled {
            if env.get("DIRECTORY_ENABLED").is_some() {
                return Err(ConfigError::new(
                    "DIRECTORY_ENABLED",
                    "is true, but Security Lake (DESTINATION_FORMAT=securitylake) takes OCSF events only and directory records have no OCSF class; set it to false, or put the lake beside an HTTP destination (DESTINATION_FORMAT of that destination, with SECURITY_LAKE_SOURCES), which takes the directory",
                ));
            }
            directory.enabled = false;
        }
        Ok(PullConfig {
            org,
            token_secret_arn,
            state_bucket: state_bucket(env)?,
            ledger_table: ledger_table(env)?,
            checkpoint_key,
            initial_lookback,
            max_event_age: max_event_age(env)?,
            rate_limit_headroom,
            settle_delay: seconds_var(env, "SETTLE_DELAY_SECONDS", DEFAULT_SETTLE_DELAY, true)?,
            okta_timeout: seconds_var(env, "OKTA_TIMEOUT_SECONDS", DEFAULT_OKTA_TIMEOUT, false)?,
            destination,
            lake,
            directory,
        })
    }
}

/// `checkpoint/pull/acme.okta.com.json`: one per org, so stacks can share a bucket.
pub fn default_checkpoint_key(org: &OktaOrg) -> String {
    format!("checkpoint/pull/{}.json", org.authority().replace(':', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: [(&str, &str); 4] = [
        ("OKTA_DOMAIN", "acme.okta.com"),
        (
            "OKTA_TOKEN_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-AbCdEf",
        ),
        ("STATE_BUCKET", "okta-ingest-state"),
        ("DESTINATION_URL", "https://logs.example.com/in"),
    ];

    fn config(overrides: &[(&'static str, &'static str)]) -> Result<PullConfig, ConfigError> {
        let mut env: Vec<(String, String)> = MINIMAL
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in overrides {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.to_string()));
        }
        PullConfig::from_env(&env)
    }

    #[test]
    fn defaults_and_the_checkpoint_key_follow_the_org() {
        let c = config(&[]).unwrap();
        assert_eq!(c.checkpoint_key, "checkpoint/pull/acme.okta.com.json");
        assert_eq!(c.initial_lookback, DEFAULT_INITIAL_LOOKBACK);
        assert_eq!(c.rate_limit_headroom, DEFAULT_RATE_LIMIT_HEADROOM);
        assert_eq!(c.max_event_age, Some(super::super::DEFAULT_MAX_EVENT_AGE));
        assert_eq!(
            config(&[("MAX_EVENT_AGE_SECONDS", "0")])
                .unwrap()
                .max_event_age,
            None
        );
    }

    #[test]
    fn errors_name_the_variable_and_the_expected_form() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "OKTA_DOMAIN",
                "https://acme.okta.com/api/v1/logs",
                "without a path",
            ),
            ("OKTA_DOMAIN", "http://acme.okta.com", "https"),
            ("OKTA_DOMAIN", "", "required"),
            ("OKTA_TOKEN_SECRET_ARN", "", "required"),
            ("INITIAL_LOOKBACK_SECONDS", "9999999", "90-day"),
            ("INITIAL_LOOKBACK_SECONDS", "0", "expected 1 up to"),
            ("SETTLE_DELAY_SECONDS", "1e-10", "whole number of seconds"),
            ("SETTLE_DELAY_SECONDS", "600.5", "whole number of seconds"),
            ("RATE_LIMIT_HEADROOM", "0.95", "between 0 and 0.9"),
            ("RATE_LIMIT_HEADROOM", "half", "between 0 and 0.9"),
            (
                "CHECKPOINT_KEY",
                "dead-letter/x.json",
                "outside dead-letter/",
            ),
            ("OKTA_TIMEOUT_SECONDS", "soon", "number of seconds"),
        ];
        for (var, value, expected) in cases {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(&err.variable, var, "{var}={value}: {err}");
            assert!(err.to_string().contains(expected), "{var}={value}: {err}");
        }
    }
}
