//! Step 1 of the pipeline: which inputs go on to the destination. Malformed inputs are set
//! aside to keep, left-out event types and stale events dropped (counted), repeats skipped;
//! Okta's own log-stream lifecycle events are called out.

use std::collections::HashSet;

use super::{Fate, Input, Redelivery, Run};
use crate::config::EventFilter;
use crate::event::{format_rfc3339, OktaEvent};
use crate::state::DeadLetter;
use crate::telemetry::Counts;

/// Step 1: sets aside malformed inputs to keep, drops stale events, skips repeats, and
/// returns the events to deliver with their input index.
pub(super) fn admit<'i, 'a>(
    inputs: &'i [Input<'a>],
    run: &Run<'_>,
    filter: &EventFilter,
    fates: &mut [Option<Fate>],
    counts: &mut Counts,
    keep: &mut Vec<(usize, DeadLetter<'a>)>,
) -> Vec<(usize, &'i OktaEvent<'a>)> {
    // foldhash: a lookup per event on the hot path, where SipHash's cost showed.
    let mut seen: HashSet<&str, foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(inputs.len(), Default::default());
    let mut candidates = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let event = match &input.event {
            Ok(event) => event,
            Err(unreadable) => {
                counts.malformed += 1;
                tracing::warn!(message_id = input.message_id, reason = %unreadable.reason, "malformed input: it can never be sent");
                if run.redelivery == Redelivery::Always {
                    fates[i] = Some(Fate::Left(unreadable.reason.clone()));
                } else {
                    keep.push((
                        i,
                        DeadLetter {
                            reason: unreadable.reason.clone(),
                            message_id: input.message_id,
                            content: unreadable.content,
                        },
                    ));
                }
                continue;
            }
        };
        if is_log_stream_event(event) {
            warn_log_stream_event(event);
        }
        if !event.directory && filter.is_active() && !filter.admits(event.event_type.as_deref()) {
            counts.filtered += 1;
            fates[i] = Some(if run.redelivery == Redelivery::Always {
                Fate::Left(
                    "its eventType is not sent (EVENT_TYPES_INCLUDE / EVENT_TYPES_EXCLUDE)".into(),
                )
            } else {
                Fate::Filtered
            });
            continue;
        }
        if let Some(max) = run.max_age.filter(|max| event.age(run.now) > *max) {
            counts.dropped_stale += 1;
            fates[i] = Some(Fate::Stale);
            tracing::info!(
                uuid = %event.uuid,
                published = %format_rfc3339(event.published),
                age_seconds = event.age(run.now).whole_seconds(),
                max_event_age_seconds = max.as_secs(),
                "dropped stale event: older than MAX_EVENT_AGE_SECONDS"
            );
            continue;
        }
        if (run.known)(&event.uuid) || !seen.insert(&event.uuid) {
            counts.duplicates += 1;
            fates[i] = Some(Fate::Repeat);
            tracing::debug!(uuid = %event.uuid, "uuid already handled: forwarded once");
            continue;
        }
        candidates.push((i, event));
    }
    if counts.filtered > 0 {
        tracing::info!(
            count = counts.filtered,
            "dropped events whose eventType EVENT_TYPES_INCLUDE / EVENT_TYPES_EXCLUDE leave out"
        );
    }
    candidates
}

/// Okta's own record of a log stream changing state (`system.log_stream.*`).
fn is_log_stream_event(event: &OktaEvent<'_>) -> bool {
    event
        .event_type
        .as_deref()
        .is_some_and(|t| t.starts_with("system.log_stream."))
}

/// One WARN line naming the stream: a deactivated stream stops push until an admin
/// re-activates it, and Okta tells no one else.
fn warn_log_stream_event(event: &OktaEvent<'_>) {
    #[derive(serde::Deserialize)]
    struct Target {
        #[serde(rename = "displayName")]
        display_name: Option<String>,
        #[serde(rename = "alternateId")]
        alternate_id: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Fields {
        #[serde(rename = "displayMessage")]
        display_message: Option<String>,
        #[serde(default)]
        target: Vec<Target>,
    }
    let fields: Option<Fields> = serde_json::from_str(event.json()).ok();
    let stream = fields
        .as_ref()
        .and_then(|f| f.target.first())
        .and_then(|t| t.display_name.clone().or_else(|| t.alternate_id.clone()))
        .unwrap_or_else(|| "unnamed".into());
    tracing::warn!(
        uuid = %event.uuid,
        event_type = event.event_type.as_deref().unwrap_or_default(),
        published = %format_rfc3339(event.published),
        stream = %stream,
        display_message = fields.as_ref().and_then(|f| f.display_message.as_deref()).unwrap_or_default(),
        "Okta Log Streaming changed state: check the stream in the Okta Admin Console (Reports > Log Streaming)"
    );
}
