//! Destination platforms: how one Okta event becomes one item of a request, and each
//! platform's framing, headers and answers. The Okta event itself is carried byte for byte
//! (or, with `DESTINATION_SCHEMA=ocsf`, its OCSF mapping in its place); platforms that need
//! their own fields get them around it or in front of its keys.
//! Which platform and its options are configuration (`config::Platform`); one file here per
//! platform that shapes its items.

use std::borrow::Cow;

use crate::config::{Platform, Schema};
use crate::delivery::framing::Framing;
use crate::event::OktaEvent;
use crate::ocsf::OcsfOptions;

mod coralogix;
mod datadog;
mod elastic;
mod splunk;
mod sumo;

/// How items are joined.
pub(crate) fn framing(platform: &Platform) -> Framing {
    match platform {
        Platform::Json | Platform::Datadog { .. } | Platform::Coralogix { .. } => {
            Framing::JsonArray
        }
        Platform::Ndjson
        | Platform::SplunkHec { .. }
        | Platform::ElasticBulk { .. }
        | Platform::Sumo { .. }
        | Platform::SecurityLake(_) => Framing::Lines,
    }
}

/// The body's `Content-Type`.
pub(crate) fn content_type(platform: &Platform) -> &'static str {
    match platform {
        Platform::Json | Platform::Datadog { .. } | Platform::Coralogix { .. } => {
            "application/json"
        }
        Platform::SplunkHec { .. } => "application/json",
        Platform::Sumo { .. } => "text/plain",
        Platform::Ndjson | Platform::ElasticBulk { .. } | Platform::SecurityLake(_) => {
            "application/x-ndjson"
        }
    }
}

/// Whether the platform takes the org label per request (a header) rather than per item:
/// then a request carries the events of one org only. Sumo Logic's `X-Sumo-Host` names the
/// host of the whole request, and an HTTP source has no per-line metadata.
pub(crate) fn org_per_request(platform: &Platform) -> bool {
    matches!(platform, Platform::Sumo { .. })
}

/// Headers the platform wants on every request besides the credential; `org` is the org
/// label of the request's events (all of them: see [`org_per_request`]).
pub(crate) fn extra_headers(platform: &Platform, org: Option<&str>) -> Vec<(&'static str, String)> {
    match platform {
        Platform::Sumo { category, name } => sumo::headers(category.as_deref(), name, org),
        _ => Vec::new(),
    }
}

/// One event as an item of `platform`'s request, carrying what `schema` says (the Okta event,
/// or its OCSF mapping where the Okta event would be; a directory record is always carried
/// as it is); `org` is the event's org label, which platforms carry in their own metadata
/// (never by editing the event).
pub(crate) fn item<'e>(
    platform: &Platform,
    schema: Schema,
    ocsf_options: &OcsfOptions,
    event: &'e OktaEvent<'_>,
    org: Option<&str>,
) -> Cow<'e, [u8]> {
    let ocsf = (schema == Schema::Ocsf && !event.directory).then(|| ocsf_text(event, ocsf_options));
    // The event on one line: the OCSF text is compact already.
    let one_line = || match &ocsf {
        Some(text) => Cow::Borrowed(text.as_str()),
        None => event.one_line(),
    };
    match platform {
        // Inside a JSON array a pretty-printed event is still one item: byte for byte.
        Platform::Json => match ocsf {
            Some(text) => Cow::Owned(text.into_bytes()),
            None => Cow::Borrowed(event.json().as_bytes()),
        },
        // One event per line: a pretty-printed event is put on one line first.
        Platform::Ndjson | Platform::Sumo { .. } | Platform::SecurityLake(_) => match ocsf {
            Some(text) => Cow::Owned(text.into_bytes()),
            None => match event.one_line() {
                Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                Cow::Owned(text) => Cow::Owned(text.into_bytes()),
            },
        },
        Platform::SplunkHec {
            sourcetype,
            source,
            index,
        } => Cow::Owned(splunk::item(
            event,
            &one_line(),
            sourcetype,
            source,
            index.as_deref(),
            org,
        )),
        Platform::Datadog {
            source,
            service,
            tags,
        } => {
            let payload = match &ocsf {
                Some(text) => datadog::Payload::Ocsf(text),
                None => datadog::Payload::Okta(event.json()),
            };
            Cow::Owned(datadog::item(
                event,
                payload,
                source,
                service,
                tags.as_deref(),
                org,
            ))
        }
        Platform::Coralogix {
            application,
            subsystem,
        } => {
            let subsystem = subsystem.as_deref().or(org).unwrap_or("system-log");
            let json = ocsf.as_deref().unwrap_or_else(|| event.json());
            Cow::Owned(coralogix::item(event, json, application, subsystem))
        }
        Platform::ElasticBulk { index } => {
            Cow::Owned(elastic::item(event, &one_line(), index, org))
        }
    }
}

/// The OCSF event for `event`, as compact JSON text.
fn ocsf_text(event: &OktaEvent<'_>, options: &OcsfOptions) -> String {
    let mut out = Vec::with_capacity(event.json().len() + 256);
    crate::ocsf::write_ocsf(event, options, &mut out);
    // `write_ocsf` writes JSON, which is UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// What a 2xx answer says about the items of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Every item was taken.
    AllAccepted,
    /// Some items failed in a way worth retrying (429, 5xx): the request should be sent again
    /// (for `_bulk` with `create`, items already stored answer 409 and count as taken).
    Retry(String),
    /// These items (by position) were refused for good, with why; the rest were taken.
    Rejected(Vec<(usize, String)>),
}

/// Reads a successful answer for per-item results. Only `_bulk` has them: a 200 can still
/// carry failed items.
pub(crate) fn check_answer(platform: &Platform, body: &[u8]) -> Answer {
    match platform {
        Platform::ElasticBulk { .. } => elastic::bulk_answer(body),
        _ => Answer::AllAccepted,
    }
}

/// `,` then the event's keys: `{"a":1}` becomes `…,"a":1}` after the caller's own fields.
fn splice_rest(out: &mut Vec<u8>, raw: &str) {
    let inner = raw
        .trim_start()
        .strip_prefix('{')
        .unwrap_or(raw)
        .trim_start();
    if !inner.starts_with('}') {
        out.push(b',');
    }
    out.extend_from_slice(inner.as_bytes());
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    match serde_json::to_vec(s) {
        Ok(v) => out.extend_from_slice(&v),
        Err(_) => out.extend_from_slice(b"\"\""),
    }
}

fn epoch_millis(event: &OktaEvent<'_>) -> i64 {
    i64::try_from(event.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
