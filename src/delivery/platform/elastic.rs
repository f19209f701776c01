//! Elasticsearch / OpenSearch `_bulk`: one `create` per event with `_id` = uuid, and the
//! per-item reading of a 200 answer.

use serde::Deserialize;

use super::{push_json_string, splice_rest, Answer};
use crate::config::ORG_PLACEHOLDER;
use crate::event::{format_rfc3339, OktaEvent};

/// `create` with `_id` = uuid: a re-send answers 409 for documents already there, so
/// retries never index an event twice; data streams require `create` and `@timestamp`.
/// `{org}` in the index name is the org label, lowercase (index names are). `raw` is the
/// document on one line (Okta's event or its OCSF mapping).
pub(super) fn item(event: &OktaEvent<'_>, raw: &str, index: &str, org: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 160);
    out.extend_from_slice(b"{\"create\":{\"_index\":");
    if index.contains(ORG_PLACEHOLDER) {
        let org = org.unwrap_or("unknown").to_ascii_lowercase();
        push_json_string(&mut out, &index.replace(ORG_PLACEHOLDER, &org));
    } else {
        push_json_string(&mut out, index);
    }
    out.extend_from_slice(b",\"_id\":");
    push_json_string(&mut out, &event.uuid);
    out.extend_from_slice(b"}}\n{\"@timestamp\":\"");
    out.extend_from_slice(format_rfc3339(event.published).as_bytes());
    out.push(b'"');
    splice_rest(&mut out, raw);
    out
}

/// Reads a `_bulk` answer item by item: 409 (already there) counts as taken, 429/5xx items
/// make the request worth sending again, other refusals are final for that item.
pub(super) fn bulk_answer(body: &[u8]) -> Answer {
    #[derive(Deserialize)]
    struct Bulk {
        #[serde(default)]
        errors: bool,
        #[serde(default)]
        items: Vec<std::collections::HashMap<String, Item>>,
    }
    #[derive(Deserialize)]
    struct Item {
        status: u16,
        #[serde(default)]
        error: Option<serde_json::Value>,
    }
    let Ok(bulk) = serde_json::from_slice::<Bulk>(body) else {
        return Answer::Retry("the _bulk answer is not the documented JSON".into());
    };
    if !bulk.errors {
        return Answer::AllAccepted;
    }
    let mut rejected = Vec::new();
    for (i, item) in bulk.items.iter().enumerate() {
        let Some(result) = item.values().next() else {
            continue;
        };
        match result.status {
            200..=299 | 409 => {}
            429 | 500..=599 => {
                return Answer::Retry(format!(
                    "_bulk item answered {}: {}",
                    result.status,
                    error_text(&result.error)
                ))
            }
            status => rejected.push((
                i,
                format!(
                    "_bulk item refused with {status}: {}",
                    error_text(&result.error)
                ),
            )),
        }
    }
    if rejected.is_empty() {
        Answer::AllAccepted
    } else {
        Answer::Rejected(rejected)
    }
}

fn error_text(error: &Option<serde_json::Value>) -> String {
    match error {
        Some(e) => format!(
            "{} {}",
            e.get("type").and_then(|t| t.as_str()).unwrap_or("error"),
            e.get("reason").and_then(|r| r.as_str()).unwrap_or("")
        )
        .trim()
        .to_owned(),
        None => "no error detail".into(),
    }
}
