//! `okta-push`'s configuration.

use std::time::Duration;

use super::{ledger_table, max_event_age, state_bucket, ConfigError, DestinationConfig, Env};

/// Everything `okta-push` needs.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// Where batches go.
    pub destination: DestinationConfig,
    /// `MAX_EVENT_AGE_SECONDS`: older events are dropped; `None` (`0`) keeps everything.
    pub max_event_age: Option<Duration>,
    /// `STATE_BUCKET`: the bucket that holds dead letters.
    pub state_bucket: String,
    /// `LEDGER_TABLE`: the ledger's DynamoDB table; `None` keeps it in `state_bucket`.
    pub ledger_table: Option<String>,
}

impl PushConfig {
    /// Reads and validates the whole push configuration.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        Ok(PushConfig {
            destination: DestinationConfig::from_env(env)?,
            max_event_age: max_event_age(env)?,
            state_bucket: state_bucket(env)?,
            ledger_table: ledger_table(env)?,
        })
    }
}
