//! Splunk HTTP Event Collector: `{"time":…,"source":…,"sourcetype":…,"event":{…}}` per event.

use super::{epoch_millis, push_json_string};
use crate::event::OktaEvent;

/// The event (`raw`: on one line, Okta's or OCSF) wrapped with its time in seconds (milliseconds as decimals), the add-on's
/// sourcetype, and the org as `host`.
pub(super) fn item(
    event: &OktaEvent<'_>,
    raw: &str,
    sourcetype: &str,
    source: &str,
    index: Option<&str>,
    org: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 128);
    out.extend_from_slice(b"{\"time\":");
    out.extend_from_slice(epoch_seconds_millis(event).as_bytes());
    out.extend_from_slice(b",\"source\":");
    push_json_string(&mut out, source);
    out.extend_from_slice(b",\"sourcetype\":");
    push_json_string(&mut out, sourcetype);
    if let Some(index) = index {
        out.extend_from_slice(b",\"index\":");
        push_json_string(&mut out, index);
    }
    if let Some(org) = org {
        out.extend_from_slice(b",\"host\":");
        push_json_string(&mut out, org);
    }
    out.extend_from_slice(b",\"event\":");
    out.extend_from_slice(raw.as_bytes());
    out.push(b'}');
    out
}

/// `1685456278.126`: Splunk's `time` with milliseconds.
fn epoch_seconds_millis(event: &OktaEvent<'_>) -> String {
    let ms = epoch_millis(event);
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}
