//! Replay: re-sending what the dead letters kept, through the same pipeline, so the ledger
//! stops anything already delivered. What is still not delivered stays in its object.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::PushHandler;
use crate::delivery::{Fate, Input, Redelivery, Run};
use crate::event::OktaEvent;
use crate::lambda::{self, BadRequest};
use crate::state::{Listed, DEAD_LETTER_PREFIX};
use crate::telemetry::{elapsed_ms, Counts, ReplayRun, Summary};

/// Time one dead-letter object is allowed: a new one is not started with less left.
const PER_OBJECT: Duration = Duration::from_secs(5);

/// `{"replay": {...}}`: which dead letters to re-send.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// A replay request, checked.
struct Selection {
    prefix: String,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
}

impl ReplayRequest {
    fn selection(&self) -> Result<Selection, BadRequest> {
        let prefix = self
            .prefix
            .clone()
            .unwrap_or_else(|| DEAD_LETTER_PREFIX.to_owned());
        if !prefix.starts_with(DEAD_LETTER_PREFIX) {
            return Err(BadRequest::field(
                "replay.prefix",
                format!("must start with {DEAD_LETTER_PREFIX} (got {prefix:?})"),
            ));
        }
        let since = time_field("replay.since", self.since.as_deref())?;
        let until = time_field("replay.until", self.until.as_deref())?;
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                return Err(BadRequest::field(
                    "replay.since",
                    "must be before replay.until",
                ));
            }
        }
        Ok(Selection {
            prefix,
            since,
            until,
        })
    }
}

fn time_field(name: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, BadRequest> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                BadRequest::field(
                    name,
                    format!("{v:?} is not an RFC 3339 time like 2026-11-21T00:00:00Z"),
                )
            })
        })
        .transpose()
}

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
    pub(crate) async fn replay(
        &self,
        request: &ReplayRequest,
        deadline: Instant,
    ) -> Result<Summary, BadRequest> {
        let started = Instant::now();
        let selection = request.selection()?;
        let max_age = match request.max_event_age_seconds {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => self.config.max_event_age,
        };
        let dead_letters = self.lanes.main().dead_letters();
        let objects: Vec<Listed> = dead_letters
            .list(&selection.prefix)
            .await
            .map_err(|e| BadRequest(format!("replay: cannot list the dead letters: {e}")))?
            .into_iter()
            .filter(|o| {
                selection.since.is_none_or(|s| o.last_modified >= s)
                    && selection.until.is_none_or(|u| o.last_modified < u)
            })
            .collect();
        let mut run = ReplayRun {
            objects: objects.len(),
            ..ReplayRun::default()
        };
        let mut counts = Counts::default();
        let mut lake: Option<Counts> = None;
        let stop_at = lambda::deadline_with_margin(deadline);
        for (n, object) in objects.iter().enumerate() {
            if Instant::now() + PER_OBJECT > stop_at {
                run.objects_remaining += objects.len() - n;
                tracing::warn!(
                    remaining = run.objects_remaining,
                    "replay stopped before the deadline: invoke again to continue"
                );
                break;
            }
            if let Err(e) = self
                .replay_object(object, max_age, stop_at, &mut run, (&mut counts, &mut lake))
                .await
            {
                tracing::error!(key = %object.key, error = %e, "could not replay this dead-letter object; it is left as it was");
                run.objects_remaining += 1;
            }
        }
        let summary = Summary {
            counts,
            lake,
            replay: Some(run),
            ms: elapsed_ms(started),
            ..Summary::default()
        };
        summary.log(self.emit_metrics);
        Ok(summary)
    }

    async fn replay_object(
        &self,
        object: &Listed,
        max_age: Option<Duration>,
        stop_at: Instant,
        run: &mut ReplayRun,
        (counts, lake): (&mut Counts, &mut Option<Counts>),
    ) -> Result<(), String> {
        // Each lane replays its own dead letters, into its own destination.
        let pipeline = self.lanes.of_dead_letter(&object.key)?;
        let dead_letters = pipeline.dead_letters();
        let text = dead_letters.read(&object.key).await?;
        let lines = records(&text);
        let parsed: Vec<Option<Line>> =
            lines.iter().map(|l| serde_json::from_str(l).ok()).collect();
        let now = (self.clock)();
        let (inputs, line_of) = replayable(&parsed, max_age, now, run);
        let outcome = pipeline
            .deliver(
                &inputs,
                &Run {
                    origin: "push",
                    request_id: "replay",
                    now,
                    stop_at,
                    deadline: stop_at,
                    max_age: None,
                    redelivery: Redelivery::Always,
                    known: &|_| false,
                    unchecked: &|_| false,
                    repeats_likely: true,
                },
            )
            .await;
        // Each line either went through the pipeline or stays kept as it is.
        let mut keep: Vec<bool> = vec![true; lines.len()];
        for (fate, &i) in outcome.fates.iter().zip(&line_of) {
            // Sent now, sent before, or a second copy in this object: the line is done.
            keep[i] = !matches!(
                fate,
                Fate::Delivered | Fate::AlreadyDelivered | Fate::Repeat
            );
        }
        if std::ptr::eq(pipeline, self.lanes.main()) {
            counts.add(&outcome.counts);
        } else {
            crate::delivery::add_lake(lake, Some(&outcome.counts));
        }
        // Records are written back one per line, whatever they were before.
        let left: Vec<std::borrow::Cow<str>> = lines
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(l, _)| crate::event::compact_json(l))
            .collect();
        run.still_kept += left.len();
        if left.is_empty() {
            dead_letters
                .delete(&object.key)
                .await
                .map_err(|e| e.to_string())?;
            run.objects_deleted += 1;
        } else if left.len() < lines.len() {
            let left: Vec<&str> = left.iter().map(|l| l.as_ref()).collect();
            dead_letters
                .rewrite(&object.key, &left)
                .await
                .map_err(|e| e.to_string())?;
            run.objects_rewritten += 1;
        }
        Ok(())
    }
}

/// The lines of one object that can be sent again, as pipeline inputs with their line
/// numbers. Lines that are not events, or too old, stay kept and are counted in `run`.
fn replayable<'a>(
    parsed: &'a [Option<Line<'a>>],
    max_age: Option<Duration>,
    now: OffsetDateTime,
    run: &mut ReplayRun,
) -> (Vec<Input<'a>>, Vec<usize>) {
    let mut inputs = Vec::new();
    let mut line_of = Vec::new();
    for (i, line) in parsed.iter().enumerate() {
        let event = line
            .as_ref()
            .and_then(|line| match (line.event, &line.raw) {
                // A System Log event, or a directory record (sent under its ledger key).
                (Some(raw), _) => OktaEvent::from_raw(raw)
                    .ok()
                    .or_else(|| crate::directory::replayed(raw)),
                // Input once malformed is tried again as an envelope (a fix may have shipped since).
                (None, Some(raw)) => OktaEvent::from_envelope(raw).ok(),
                (None, None) => None,
            });
        let Some(event) = event else {
            run.not_events += 1;
            continue;
        };
        // Replay never drops: what is too old stays kept, for a replay with a larger limit.
        if max_age.is_some_and(|m| event.age(now) > m) {
            run.too_old += 1;
            continue;
        }
        inputs.push(Input {
            message_id: None,
            event: Ok(event),
        });
        line_of.push(i);
    }
    (inputs, line_of)
}

/// The records of a dead-letter object: one JSON document each, also when an older version
/// wrote one across several lines. Text that does not parse is kept line by line.
fn records(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    let mut parsed_to = 0;
    loop {
        match stream.next() {
            Some(Ok(record)) => {
                out.push(record.get());
                parsed_to = stream.byte_offset();
            }
            Some(Err(_)) => {
                // Everything after the last whole record is kept, line by line, as it is.
                out.extend(text[parsed_to..].lines().filter(|l| !l.trim().is_empty()));
                return out;
            }
            None => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_written_across_lines_are_read_whole_and_broken_text_is_kept() {
        let text = "{\"reason\":\"a\",\"event\":{\n  \"uuid\": \"u1\"\n}}\n{\"reason\":\"b\"}\nnot json\n{\"x\":1}\n";
        assert_eq!(
            records(text),
            [
                "{\"reason\":\"a\",\"event\":{\n  \"uuid\": \"u1\"\n}}",
                "{\"reason\":\"b\"}",
                "not json",
                "{\"x\":1}"
            ]
        );
    }
}
