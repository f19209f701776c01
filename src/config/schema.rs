//! What each item a destination receives carries (`DESTINATION_SCHEMA`): Okta's event as it
//! came, or its OCSF mapping.

use super::lake::LAKE_FORMAT;
use super::{ConfigError, Env};

/// `DESTINATION_FORMAT` value that means ndjson carrying OCSF.
pub const OCSF_FORMAT: &str = "ocsf";

/// What each item of a request carries (`DESTINATION_SCHEMA`). Only System Log events are
/// mapped: directory records are sent as they are whatever the schema.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Schema {
    /// Okta's LogEvent byte for byte.
    #[default]
    Okta,
    /// Each System Log event as OCSF 1.3.0 (`crate::ocsf`).
    Ocsf,
}

impl Schema {
    /// Reads `DESTINATION_SCHEMA`; `DESTINATION_FORMAT=ocsf` stands for `ocsf` when it is
    /// unset, and contradicts an explicit `okta`.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        const VAR: &str = "DESTINATION_SCHEMA";
        // `ocsf` asks for OCSF; Security Lake reads nothing else.
        let format = env
            .get("DESTINATION_FORMAT")
            .map(|v| v.trim().to_ascii_lowercase());
        let shorthand = matches!(format.as_deref(), Some(OCSF_FORMAT | LAKE_FORMAT));
        let schema = match env.get(VAR).map(|v| v.trim().to_ascii_lowercase()) {
            None => None,
            Some(v) if v.is_empty() => None,
            Some(v) if v == "okta" => Some(Schema::Okta),
            Some(v) if v == "ocsf" => Some(Schema::Ocsf),
            Some(other) => {
                return Err(ConfigError::new(
                    VAR,
                    format!("{other:?} is not a known schema; expected okta (the Okta event as sent) or ocsf (OCSF 1.3.0)"),
                ))
            }
        };
        match (schema, shorthand) {
            (Some(Schema::Okta), true) => Err(ConfigError::new(
                VAR,
                match format.as_deref() {
                    Some(LAKE_FORMAT) => "is okta, but Security Lake (DESTINATION_FORMAT=securitylake) reads only OCSF; unset DESTINATION_SCHEMA",
                    _ => "is okta, but DESTINATION_FORMAT=ocsf asks for OCSF; use DESTINATION_FORMAT=ndjson for Okta events one per line, or unset DESTINATION_SCHEMA",
                },
            )),
            (_, true) => Ok(Schema::Ocsf),
            (schema, false) => Ok(schema.unwrap_or_default()),
        }
    }

    /// The `DESTINATION_SCHEMA` value.
    pub fn name(self) -> &'static str {
        match self {
            Schema::Okta => "okta",
            Schema::Ocsf => "ocsf",
        }
    }
}
