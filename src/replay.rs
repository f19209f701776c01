//! Replay: re-sending what the dead letters kept, through the ledger so nothing is sent twice.

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::dead_letter::{StoredObject, DEAD_LETTER_PREFIX};
use crate::encode::gzip_bytes;
use crate::event::OktaEvent;
use crate::push::{deadline_with_margin, record_delivered, PushHandler};

/// Time one dead-letter object is allowed: a new one is not started with less left.
const PER_OBJECT: Duration = Duration::from_secs(5);

/// `{"replay": {...}}`: which dead letters to re-send.
#[derive(Debug, Default, Deserialize)]
pub struct ReplayRequest {
    /// Key prefix, `dead-letter/` (all) by default, e.g. `dead-letter/push/2026/11/22/`.
    pub prefix: Option<String>,
    /// Only objects written at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only objects written before this time (RFC 3339).
    pub until: Option<String>,
    /// Overrides `MAX_EVENT_AGE_SECONDS` for this replay (0 = send however old).
    pub max_event_age_seconds: Option<u64>,
}

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// Dead-letter objects matching the request.
    pub objects: usize,
    /// Objects fully re-sent and deleted.
    pub objects_deleted: usize,
    /// Objects re-sent in part and rewritten with what is left.
    pub objects_rewritten: usize,
    /// Objects not reached before the deadline: invoke again.
    pub objects_remaining: usize,
    /// Events the destination accepted.
    pub sent: usize,
    /// Events the ledger showed as delivered already (by push, pull or an earlier replay).
    pub already_delivered: usize,
    /// Events still kept: not accepted, or older than the age limit.
    pub still_kept: usize,
    /// Kept items that are not Okta events (malformed input), left as they are.
    pub not_events: usize,
    /// Events older than the age limit, left kept.
    pub too_old: usize,
    /// Requests to the destination.
    pub requests: u32,
    /// Ledger reads or writes that failed.
    pub ledger_errors: usize,
    /// Wall time.
    pub ms: u64,
}

/// A replay that could not run.
#[derive(Debug, thiserror::Error)]
#[error("replay request: {0}")]
pub struct ReplayError(pub String);

/// One line of a dead-letter object, with the event kept byte for byte.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    raw: Option<String>,
}

impl PushHandler {
    /// Re-sends kept events matching `request`; deletes what is sent (or found delivered),
    /// rewrites objects with what is left, and stops before `deadline`.
    pub async fn replay(
        &self,
        request: &ReplayRequest,
        deadline: Instant,
    ) -> Result<ReplaySummary, ReplayError> {
        let started = Instant::now();
        let prefix = request
            .prefix
            .clone()
            .unwrap_or_else(|| DEAD_LETTER_PREFIX.to_owned());
        if !prefix.starts_with(DEAD_LETTER_PREFIX) {
            return Err(ReplayError(format!(
                "prefix must start with {DEAD_LETTER_PREFIX} (got {prefix:?})"
            )));
        }
        let time = |name: &str,
                    v: &Option<String>|
         -> Result<Option<OffsetDateTime>, ReplayError> {
            v.as_deref()
                .map(|v| {
                    OffsetDateTime::parse(v, &Rfc3339)
                        .map_err(|_| ReplayError(format!("{name} {v:?} is not an RFC 3339 time")))
                })
                .transpose()
        };
        let (since, until) = (
            time("since", &request.since)?,
            time("until", &request.until)?,
        );
        let max_age = match request.max_event_age_seconds {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => self.config.max_event_age,
        };
        let objects: Vec<StoredObject> = self
            .dead_letters
            .list(&prefix)
            .await
            .map_err(|e| ReplayError(e.to_string()))?
            .into_iter()
            .filter(|o| {
                since.is_none_or(|s| o.last_modified >= s)
                    && until.is_none_or(|u| o.last_modified < u)
            })
            .collect();
        let mut summary = ReplaySummary {
            objects: objects.len(),
            ..ReplaySummary::default()
        };
        let stop_at = deadline_with_margin(deadline);
        for (n, object) in objects.iter().enumerate() {
            if Instant::now() + PER_OBJECT > stop_at {
                summary.objects_remaining = objects.len() - n;
                tracing::warn!(
                    remaining = summary.objects_remaining,
                    "replay stopped before the deadline: invoke again to continue"
                );
                break;
            }
            if let Err(e) = self
                .replay_object(object, max_age, stop_at, &mut summary)
                .await
            {
                tracing::error!(key = %object.key, error = %e, "could not replay this dead-letter object; it is left as it was");
                summary.objects_remaining += 1;
            }
        }
        summary.ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            objects = summary.objects,
            objects_deleted = summary.objects_deleted,
            objects_rewritten = summary.objects_rewritten,
            objects_remaining = summary.objects_remaining,
            sent = summary.sent,
            already_delivered = summary.already_delivered,
            still_kept = summary.still_kept,
            not_events = summary.not_events,
            too_old = summary.too_old,
            requests = summary.requests,
            ledger_errors = summary.ledger_errors,
            ms = summary.ms,
            "replay summary"
        );
        Ok(summary)
    }

    async fn replay_object(
        &self,
        object: &StoredObject,
        max_age: Option<Duration>,
        stop_at: Instant,
        summary: &mut ReplaySummary,
    ) -> Result<(), String> {
        let gz = self
            .dead_letters
            .get(&object.key)
            .await
            .map_err(|e| e.to_string())?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .map_err(|e| format!("not gzipped NDJSON: {e}"))?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let now = (self.clock)();
        // Per line: the event to send, or None to keep the line as it is.
        let mut candidates: Vec<(usize, OktaEvent)> = Vec::new();
        let mut keep: Vec<bool> = vec![true; lines.len()];
        let mut seen: HashSet<String> = HashSet::new();
        let parsed: Vec<Option<Line>> =
            lines.iter().map(|l| serde_json::from_str(l).ok()).collect();
        for (i, line) in parsed.iter().enumerate() {
            let Some(line) = line else {
                summary.not_events += 1;
                continue;
            };
            let event = match (line.event, line.raw.as_deref()) {
                (Some(raw), _) => OktaEvent::from_raw(raw).ok(),
                // Input once malformed is tried again as an envelope (a fix may have shipped since).
                (None, Some(raw)) => OktaEvent::from_envelope(raw).ok(),
                (None, None) => None,
            };
            let Some(event) = event else {
                summary.not_events += 1;
                continue;
            };
            if max_age.is_some_and(|m| event.age(now) > m) {
                summary.too_old += 1;
                continue;
            }
            if !seen.insert(event.uuid.to_string()) {
                keep[i] = false; // the same event twice in one object: one copy is enough
                continue;
            }
            candidates.push((i, event));
        }
        let keys: Vec<(&str, OffsetDateTime)> = candidates
            .iter()
            .map(|(_, e)| (e.uuid.as_ref(), e.published))
            .collect();
        let delivered = match self.ledger.delivered(&keys).await {
            Ok(d) => d,
            Err(e) => {
                summary.ledger_errors += 1;
                tracing::warn!(error = %e, "delivery ledger unreadable: replaying without the duplicate check");
                HashSet::new()
            }
        };
        let mut to_send: Vec<(usize, &OktaEvent)> = Vec::new();
        for (i, e) in &candidates {
            if delivered.contains(e.uuid.as_ref()) {
                summary.already_delivered += 1;
                keep[*i] = false;
            } else {
                to_send.push((*i, e));
            }
        }
        let refs: Vec<&OktaEvent> = to_send.iter().map(|(_, e)| *e).collect();
        let forwarded = self.forwarder.forward(&refs, stop_at).await;
        summary.requests += forwarded.requests;
        summary.sent += forwarded.delivered.len();
        let sent: Vec<(&str, OffsetDateTime)> = forwarded
            .delivered
            .iter()
            .map(|&j| (to_send[j].1.uuid.as_ref(), to_send[j].1.published))
            .collect();
        record_delivered(&self.ledger, &sent, &mut summary.ledger_errors).await;
        for &j in &forwarded.delivered {
            keep[to_send[j].0] = false;
        }
        let left: Vec<&str> = lines
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(l, _)| *l)
            .collect();
        summary.still_kept += left.len();
        if left.is_empty() {
            self.dead_letters
                .delete(&object.key)
                .await
                .map_err(|e| e.to_string())?;
            summary.objects_deleted += 1;
        } else if left.len() < lines.len() {
            let mut body = left.join("\n");
            body.push('\n');
            self.dead_letters
                .put(&object.key, gzip_bytes(body.as_bytes()))
                .await
                .map_err(|e| e.to_string())?;
            summary.objects_rewritten += 1;
        }
        Ok(())
    }
}
