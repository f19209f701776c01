//! The directory runs' settings (okta-pull): which profile attributes to keep, how often a
//! snapshot starts, and where its state lives.

use std::time::Duration;

use super::{bool_var, count_var, ConfigError, Env};
use crate::state::DEAD_LETTER_PREFIX;

/// Default for `DIRECTORY_FULL_INTERVAL_HOURS`: a snapshot a day.
pub const DEFAULT_FULL_INTERVAL_HOURS: usize = 24;
/// The longest interval: 30 days.
const MAX_FULL_INTERVAL_HOURS: usize = 720;
/// Default for `DIRECTORY_STATE_PREFIX`.
pub const DEFAULT_STATE_PREFIX: &str = "okta-directory/";

/// What the directory runs need besides the Okta client and the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryConfig {
    /// `DIRECTORY_ENABLED`: whether okta-pull reads the directory at all (the template sets
    /// it from `DirectoryEnabled`); off, directory invocations are refused and the
    /// connection check leaves the directory out.
    pub enabled: bool,
    /// `DIRECTORY_USER_FIELDS`: the user profile attributes kept; `None` keeps all.
    pub user_fields: Option<Vec<String>>,
    /// `DIRECTORY_FULL_INTERVAL_HOURS`: a new snapshot starts when the last one completed
    /// at least this long ago.
    pub full_interval: Duration,
    /// `DIRECTORY_STATE_PREFIX`: the state bucket prefix of checkpoints and state.
    pub prefix: String,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            enabled: true,
            user_fields: None,
            full_interval: hours(DEFAULT_FULL_INTERVAL_HOURS),
            prefix: DEFAULT_STATE_PREFIX.into(),
        }
    }
}

fn hours(n: usize) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(u64::MAX).saturating_mul(3600))
}

impl DirectoryConfig {
    /// Reads the three variables.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        let user_fields = match env.get("DIRECTORY_USER_FIELDS") {
            None => None,
            Some(v) => {
                let fields: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = fields
                    .iter()
                    .find(|f| !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                {
                    return Err(ConfigError::new(
                        "DIRECTORY_USER_FIELDS",
                        format!("{bad:?} is not a profile attribute name (letters, digits and _), e.g. login,email,department"),
                    ));
                }
                (!fields.is_empty()).then_some(fields)
            }
        };
        let interval = count_var(
            env,
            "DIRECTORY_FULL_INTERVAL_HOURS",
            DEFAULT_FULL_INTERVAL_HOURS,
        )?;
        if interval.get() > MAX_FULL_INTERVAL_HOURS {
            return Err(ConfigError::new(
                "DIRECTORY_FULL_INTERVAL_HOURS",
                format!("{interval} is more than {MAX_FULL_INTERVAL_HOURS} hours (30 days)"),
            ));
        }
        let prefix = match env.get("DIRECTORY_STATE_PREFIX") {
            None => DEFAULT_STATE_PREFIX.to_owned(),
            Some(p) => {
                let p = p.trim().trim_start_matches('/');
                let p = if p.ends_with('/') {
                    p.to_owned()
                } else {
                    format!("{p}/")
                };
                if p.len() < 2
                    || p.len() > 512
                    || p.starts_with(DEAD_LETTER_PREFIX)
                    || p.chars().any(char::is_control)
                {
                    return Err(ConfigError::new(
                        "DIRECTORY_STATE_PREFIX",
                        "must be an S3 key prefix of 1 to 511 characters outside dead-letter/, e.g. okta-directory/",
                    ));
                }
                p
            }
        };
        Ok(DirectoryConfig {
            enabled: bool_var(env, "DIRECTORY_ENABLED", true)?,
            user_fields,
            full_interval: hours(interval.get()),
            prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<DirectoryConfig, ConfigError> {
        let env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DirectoryConfig::from_env(&env)
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(read(&[]).unwrap(), DirectoryConfig::default());
        let c = read(&[
            ("DIRECTORY_USER_FIELDS", " login, department ,"),
            ("DIRECTORY_FULL_INTERVAL_HOURS", "6"),
            ("DIRECTORY_STATE_PREFIX", "/dir"),
        ])
        .unwrap();
        assert_eq!(
            c.user_fields,
            Some(vec!["login".into(), "department".into()])
        );
        assert_eq!(c.full_interval, Duration::from_secs(6 * 3600));
        assert_eq!(c.prefix, "dir/");
        assert_eq!(
            read(&[("DIRECTORY_USER_FIELDS", " ")]).unwrap().user_fields,
            None
        );
    }

    #[test]
    fn mistakes_name_the_variable() {
        for (var, value, expected) in [
            (
                "DIRECTORY_USER_FIELDS",
                "login;email",
                "not a profile attribute",
            ),
            ("DIRECTORY_FULL_INTERVAL_HOURS", "0", "greater than 0"),
            ("DIRECTORY_FULL_INTERVAL_HOURS", "daily", "whole number"),
            ("DIRECTORY_FULL_INTERVAL_HOURS", "1000", "30 days"),
            (
                "DIRECTORY_STATE_PREFIX",
                "dead-letter/x",
                "outside dead-letter/",
            ),
            ("DIRECTORY_ENABLED", "yes please", "not a boolean"),
        ] {
            let e = read(&[(var, value)]).unwrap_err();
            assert_eq!(e.variable, var);
            assert!(e.to_string().contains(expected), "{var}={value}: {e}");
        }
    }
}
