//! Datadog logs intake v2: Datadog's own attributes in front of the event's keys.

use super::{epoch_millis, push_json_string, splice_rest};
use crate::event::OktaEvent;

/// What a log carries besides Datadog's attributes.
pub(super) enum Payload<'a> {
    /// The Okta event's JSON text: its keys follow Datadog's attributes.
    Okta(&'a str),
    /// The OCSF event's JSON text, under `ocsf`: OCSF's own top-level `status` ("Success",
    /// "Failure") and `service` would clash with Datadog's reserved attributes of those names
    /// (a `status` of "Failure" reads as emergency), and `ocsf.*` is where Datadog's own
    /// OCSF processing puts OCSF attributes.
    Ocsf(&'a str),
}

/// Datadog reads top-level attributes: `ddsource`, `service`, `hostname` (the org),
/// `ddtags` (with `okta_org:`), `status` and `timestamp` go in front of the event's keys.
pub(super) fn item(
    event: &OktaEvent<'_>,
    payload: Payload<'_>,
    source: &str,
    service: &str,
    tags: Option<&str>,
    org: Option<&str>,
) -> Vec<u8> {
    let (Payload::Okta(raw) | Payload::Ocsf(raw)) = payload;
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
    match payload {
        Payload::Okta(raw) => splice_rest(&mut out, raw),
        Payload::Ocsf(ocsf) => {
            out.extend_from_slice(b",\"ocsf\":");
            out.extend_from_slice(ocsf.as_bytes());
            out.push(b'}');
        }
    }
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
