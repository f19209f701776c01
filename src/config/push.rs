//! `okta-push`'s configuration.

use std::num::NonZeroU32;
use std::time::Duration;

use super::{
    count_var, ledger_table, max_event_age, state_bucket, ConfigError, DestinationConfig, Env,
};

/// Default for `QUEUE_MAX_RECEIVE_COUNT`: the template's redrive policy.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
/// SQS's own limit on `maxReceiveCount`.
const LARGEST_MAX_RECEIVE_COUNT: usize = 1_000;

/// Everything `okta-push` needs.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// Where batches go.
    pub destination: DestinationConfig,
    /// Security Lake beside `destination` ([`super::lake_beside`]): the same events as OCSF.
    pub lake: Option<DestinationConfig>,
    /// `MAX_EVENT_AGE_SECONDS`: older events are dropped; `None` (`0`) keeps everything.
    pub max_event_age: Option<Duration>,
    /// `STATE_BUCKET`: the bucket that holds dead letters.
    pub state_bucket: String,
    /// `LEDGER_TABLE`: the ledger's DynamoDB table; `None` keeps it in `state_bucket`.
    pub ledger_table: Option<String>,
    /// `QUEUE_MAX_RECEIVE_COUNT`: the events queue's `maxReceiveCount`. A message the ledger
    /// cannot decide is handed back to SQS while it has receives to spare, and sent without
    /// the duplicate check on its last, so a ledger outage never moves it to the DLQ.
    pub max_receive_count: NonZeroU32,
}

impl PushConfig {
    /// Reads and validates the whole push configuration.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        Ok(PushConfig {
            destination: DestinationConfig::from_env(env)?,
            lake: super::lake_beside(env)?,
            max_event_age: max_event_age(env)?,
            state_bucket: state_bucket(env)?,
            ledger_table: ledger_table(env)?,
            max_receive_count: max_receive_count(env)?,
        })
    }
}

/// `QUEUE_MAX_RECEIVE_COUNT`, 1 to 1,000 as SQS allows.
fn max_receive_count(env: &(impl Env + ?Sized)) -> Result<NonZeroU32, ConfigError> {
    const VAR: &str = "QUEUE_MAX_RECEIVE_COUNT";
    let n = count_var(env, VAR, DEFAULT_MAX_RECEIVE_COUNT as usize)?;
    if n.get() > LARGEST_MAX_RECEIVE_COUNT {
        return Err(ConfigError::new(
            VAR,
            format!(
                "{n} is more than SQS allows for maxReceiveCount ({LARGEST_MAX_RECEIVE_COUNT})"
            ),
        ));
    }
    u32::try_from(n.get())
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| ConfigError::new(VAR, format!("{n} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive_count(value: Option<&str>) -> Result<NonZeroU32, ConfigError> {
        let env: Vec<(&str, &str)> = value
            .map(|v| vec![("QUEUE_MAX_RECEIVE_COUNT", v)])
            .unwrap_or_default();
        max_receive_count(&env[..])
    }

    #[test]
    fn the_queue_receive_count_defaults_to_the_templates_and_typos_are_refused_by_name() {
        assert_eq!(
            receive_count(None).unwrap().get(),
            DEFAULT_MAX_RECEIVE_COUNT
        );
        assert_eq!(receive_count(Some(" 10 ")).unwrap().get(), 10);
        assert_eq!(receive_count(Some("1000")).unwrap().get(), 1000);
        for (typo, expected) in [
            ("0", "greater than 0"),
            ("five", "greater than 0"),
            ("-3", "greater than 0"),
            ("1001", "more than SQS allows"),
            ("99999999999999999999", "greater than 0"),
        ] {
            let err = receive_count(Some(typo)).unwrap_err();
            assert_eq!(err.variable, "QUEUE_MAX_RECEIVE_COUNT", "{typo}");
            assert!(err.problem.contains(expected), "{typo}: {err}");
        }
    }
}
