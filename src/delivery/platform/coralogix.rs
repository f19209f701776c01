//! Coralogix REST singles: `{"applicationName","subsystemName","timestamp","severity","json"}`.

use super::{epoch_millis, push_json_string};
use crate::event::OktaEvent;

/// The event (`raw`: Okta's or OCSF) as `json`, with Coralogix's numeric severity.
pub(super) fn item(
    event: &OktaEvent<'_>,
    raw: &str,
    application: &str,
    subsystem: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 128);
    out.extend_from_slice(b"{\"applicationName\":");
    push_json_string(&mut out, application);
    out.extend_from_slice(b",\"subsystemName\":");
    push_json_string(&mut out, subsystem);
    out.extend_from_slice(b",\"timestamp\":");
    out.extend_from_slice(epoch_millis(event).to_string().as_bytes());
    out.extend_from_slice(b",\"severity\":");
    out.extend_from_slice(severity(event.severity.as_deref()).to_string().as_bytes());
    out.extend_from_slice(b",\"json\":");
    out.extend_from_slice(raw.as_bytes());
    out.push(b'}');
    out
}

/// Okta `severity` as a Coralogix severity (1 debug, 3 info, 4 warning, 5 error).
pub(super) fn severity(severity: Option<&str>) -> u8 {
    match severity {
        Some("DEBUG") => 1,
        Some("WARN") => 4,
        Some("ERROR") => 5,
        _ => 3,
    }
}
