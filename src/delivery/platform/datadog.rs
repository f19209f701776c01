//! Datadog logs intake v2: Datadog's own attributes in front of the event's keys.

use super::{epoch_millis, push_json_string, splice_rest};
use crate::event::OktaEvent;

/// Datadog reads top-level attributes: `ddsource`, `service`, `hostname` (the org),
/// `ddtags` (with `okta_org:`), `status` and `timestamp` go in front of the event's keys.
pub(super) fn item(
    event: &OktaEvent<'_>,
    source: &str,
    service: &str,
    tags: Option<&str>,
    org: Option<&str>,
) -> Vec<u8> {
    let raw = event.json();
    let mut out = Vec::with_capacity(raw.len() + 128);
    out.extend_from_slice(b"{\"ddsource\":");
    push_json_string(&mut out, source);
    out.extend_from_slice(b",\"service\":");
    push_json_string(&mut out, service);
    if let Some(org) = org {
        out.extend_from_slice(b",\"hostname\":");
        push_json_string(&mut out, org);
    }
    match (tags, org) {
        (Some(tags), Some(org)) => {
            out.extend_from_slice(b",\"ddtags\":");
            push_json_string(&mut out, &format!("{tags},okta_org:{org}"));
        }
        (None, Some(org)) => {
            out.extend_from_slice(b",\"ddtags\":");
            push_json_string(&mut out, &format!("okta_org:{org}"));
        }
        (Some(tags), None) => {
            out.extend_from_slice(b",\"ddtags\":");
            push_json_string(&mut out, tags);
        }
        (None, None) => {}
    }
    out.extend_from_slice(b",\"status\":\"");
    out.extend_from_slice(status(event.severity.as_deref()).as_bytes());
    out.extend_from_slice(b"\",\"timestamp\":");
    out.extend_from_slice(epoch_millis(event).to_string().as_bytes());
    splice_rest(&mut out, raw);
    out
}

/// Okta `severity` as a Datadog `status`.
pub(super) fn status(severity: Option<&str>) -> &'static str {
    match severity {
        Some("DEBUG") => "debug",
        Some("WARN") => "warning",
        Some("ERROR") => "error",
        _ => "info",
    }
}
