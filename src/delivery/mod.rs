//! Delivery, shared by push, pull and replay: one [`Pipeline`] takes the events of one
//! invocation (or one System Log page, or one dead-letter object) from admission to the
//! destination and decides the fate of each, top to bottom:
//!
//! 1. admit ([`admission`]): malformed inputs set aside to keep, left-out types and stale
//!    events dropped, repeats skipped;
//! 2. claim the rest in the delivery ledger, skipping what it shows as delivered already or
//!    as being sent by another invocation right now; new events (push) are encoded into
//!    request bodies while the claim is on its way, and nothing is sent before it answers;
//! 3. forward what was claimed ([`forward`]: platform items, batches, concurrency, [`retry`]);
//! 4. settle the claims: each batch the destination accepted is marked delivered in the
//!    ledger table as soon as it was (while later batches are still being sent); the rest
//!    is released;
//! 5. keep what was not delivered in the dead letters, unless the source can give it again
//!    ([`Redelivery`], the one way push, pull and replay differ here).

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::event::OktaEvent;
use crate::state::{DeadLetter, DeadLetterError, DeadLetters, Kept, Ledger};
use crate::telemetry::Counts;
use keep::Aside;

mod admission;
mod batch;
mod claim;
mod destination;
mod forward;
mod framing;
mod http;
mod keep;
pub mod lake;
mod lanes;
mod memory;
mod platform;
mod retry;

pub use destination::{Destination, Rejected, SendError};
pub use forward::{Forwarder, Prepared};
pub use framing::Body;
#[cfg(test)]
pub(crate) use http::parse_retry_after;
pub use http::HttpDestination;
pub use lake::LakeDestination;
pub(crate) use lanes::add_lake;
pub use lanes::Lanes;
pub use memory::MemoryDestination;

/// The destination `config` names: Security Lake's custom sources, or an HTTP endpoint whose
/// credential (`DESTINATION_SECRET_ARN`) is read from Secrets Manager.
pub async fn destination_for(
    config: &crate::config::DestinationConfig,
    aws: &aws_config::SdkConfig,
) -> Result<Arc<dyn Destination>, String> {
    Ok(match &config.platform {
        crate::config::Platform::SecurityLake(lake) => {
            Arc::new(LakeDestination::new(lake, aws).await?)
        }
        _ => Arc::new(HttpDestination::with_secrets_manager(
            config,
            &crate::aws::secrets_client(aws),
        )?),
    })
}
/// Security Lake beside the HTTP destination, when `lake` asks for it: its configuration and
/// destination ([`destination_for`]).
pub async fn lake_beside_for(
    lake: Option<&crate::config::DestinationConfig>,
    aws: &aws_config::SdkConfig,
) -> Result<Option<(crate::config::DestinationConfig, Arc<dyn Destination>)>, String> {
    Ok(match lake {
        None => None,
        Some(lake) => Some((lake.clone(), destination_for(lake, aws).await?)),
    })
}
pub(crate) use retry::MIN_ATTEMPT;

/// Kept before the Lambda deadline for answering once the dead letters are written.
const ANSWER_TIME: Duration = Duration::from_millis(500);

/// By when the ledger record and the dead-letter write must be done.
fn keep_by(run: &Run<'_>) -> Instant {
    run.deadline
        .checked_sub(ANSWER_TIME)
        .unwrap_or(run.deadline)
        .max(run.stop_at)
}

/// What the source of the events can give again, which decides what the pipeline must keep
/// itself. This is the one place where push, pull and replay deliver differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// Nothing comes back: once push answers, SQS deletes the messages, so every event not
    /// delivered (refused, oversized, or out of time) is kept in the dead letters. (push)
    Never,
    /// What ran out of time comes back: pull's checkpoint stays before it and the next run
    /// reads it again from Okta. Only what can never be delivered (refused for good,
    /// oversized, malformed) is kept in the dead letters. (pull)
    OutOfTime,
    /// Everything comes back: the source is the dead letters themselves, so nothing new is
    /// written and what is not delivered stays where it is. (replay)
    Always,
}

/// One item handed to the pipeline.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The SQS message or EventBridge event it came in, if known (named in dead letters).
    pub message_id: Option<&'a str>,
    /// The event, or why it is not one and what to keep instead.
    pub event: Result<OktaEvent<'a>, Unreadable<'a>>,
}

/// An input that is not a readable Okta event.
#[derive(Debug, Clone)]
pub struct Unreadable<'a> {
    /// What is wrong, naming the field (kept as the dead letter's reason).
    pub reason: String,
    /// What to keep: the input as received.
    pub content: Kept<'a>,
}

/// How one call is run.
pub struct Run<'r> {
    /// `push` or `pull`: names the dead-letter folder.
    pub origin: &'static str,
    /// The Lambda request id, named in dead-letter keys.
    pub request_id: &'r str,
    /// The wall clock now, for ages.
    pub now: OffsetDateTime,
    /// When delivery must stop so that what is left can still be kept.
    pub stop_at: Instant,
    /// The Lambda deadline: the ledger and the dead letters get no time past it.
    pub deadline: Instant,
    /// Events older than this are dropped (counted and logged); `None` keeps all.
    pub max_age: Option<Duration>,
    /// What the source can give again.
    pub redelivery: Redelivery,
    /// uuids already handled before this call (pull's resume point): counted as repeats.
    pub known: &'r dyn Fn(&str) -> bool,
    /// Whether the input at this index may be sent when the ledger cannot decide it (counted
    /// as `ledger_unchecked`): push, on a message's last receive, so that a ledger outage
    /// never sends messages to the queue's dead-letter queue. Otherwise such an event is
    /// not sent ([`Fate::Undecided`]) and its source gives it again.
    pub unchecked: &'r dyn Fn(usize) -> bool,
    /// Whether many of the events were likely delivered before (pull reads overlapping
    /// windows, replay re-sends): the ledger table is then read before claiming, since a
    /// read costs a quarter of a failed claim. Push's events are nearly always new: it
    /// claims at once, one round trip fewer.
    pub repeats_likely: bool,
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The destination accepted it now.
    Delivered,
    /// The ledger shows it was delivered before (by push, pull or replay).
    AlreadyDelivered,
    /// Another invocation holds a live ledger claim on it and is sending it; if that one
    /// dies its claim runs out and the source gives the event again (SQS, pull, replay).
    InFlight,
    /// The ledger could not decide whether it was delivered (throttled, failing,
    /// misconfigured, too slow): not sent, so as not to send it twice; its source gives it
    /// again (push: SQS; pull: the next run; replay: it stays kept). Why.
    Undecided(String),
    /// Its uuid came earlier in this call, or before it ([`Run::known`]).
    Repeat,
    /// Older than [`Run::max_age`]: dropped.
    Stale,
    /// Its `eventType` is not sent (`EVENT_TYPES_INCLUDE` / `EVENT_TYPES_EXCLUDE`): dropped.
    Filtered,
    /// Not delivered, and now in the dead letters.
    Kept,
    /// Not delivered, and the source still has it ([`Redelivery`]): why.
    Left(String),
    /// Not delivered, and the dead-letter write failed: neither delivered nor kept.
    NotKept,
}

/// What one call did.
#[derive(Debug)]
pub struct Outcome {
    /// The fate of each input, by index.
    pub fates: Vec<Fate>,
    /// The counts (of the configured destination's lane).
    pub counts: Counts,
    /// The counts of Security Lake's lane beside it ([`Lanes`]), if there is one.
    pub lake: Option<Counts>,
    /// Newest `published` among the events delivered now.
    pub newest_delivered: Option<OffsetDateTime>,
    /// Set when dead letters could not be written ([`Fate::NotKept`]).
    pub dead_letter_error: Option<DeadLetterError>,
}

/// The destination, the ledger and the dead letters, used the same way by every path.
pub struct Pipeline {
    forwarder: Forwarder,
    ledger: Arc<dyn Ledger>,
    dead_letters: DeadLetters,
}

impl Pipeline {
    /// A pipeline into `forwarder`'s destination.
    pub fn new(forwarder: Forwarder, ledger: Arc<dyn Ledger>, dead_letters: DeadLetters) -> Self {
        Pipeline {
            forwarder,
            ledger,
            dead_letters,
        }
    }

    /// The destination and its settings.
    pub fn forwarder(&self) -> &Forwarder {
        &self.forwarder
    }

    /// The delivery ledger.
    pub fn ledger(&self) -> &dyn Ledger {
        self.ledger.as_ref()
    }

    /// The dead letters.
    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Takes `inputs` through admission, the ledger, the destination and the dead letters.
    pub async fn deliver<'a>(&self, inputs: &[Input<'a>], run: &Run<'_>) -> Outcome {
        let mut fates: Vec<Option<Fate>> = vec![None; inputs.len()];
        let mut counts = Counts {
            received: inputs.len(),
            ..Counts::default()
        };
        let mut keep: Vec<(usize, DeadLetter<'a>)> = Vec::new();
        let filter = &self.forwarder.config().filter;
        let mut candidates =
            admission::admit(inputs, run, filter, &mut fates, &mut counts, &mut keep);
        // New events (push) are encoded while the ledger claims them: the claim nearly
        // always gives them all, and if it does not, they are encoded again without the
        // ones it kept back. Nothing is sent before the claim has answered.
        // Undecided because no answer came (a timeout, a 5xx): the claim may have landed
        // anyway, and is given up at the end with the others this call did not deliver.
        let maybe_claimed: Vec<String>;
        let prepared = if run.repeats_likely {
            let claim = self.ask_ledger(&candidates, run).await;
            maybe_claimed = claim.outcome_unknown();
            self.apply_claim(claim, &mut candidates, &mut fates, &mut counts, run);
            None
        } else {
            let events: Vec<&OktaEvent> = candidates.iter().map(|(_, e)| *e).collect();
            let (claim, prepared) = tokio::join!(
                self.ask_ledger(&candidates, run),
                self.forwarder.prepare(&events)
            );
            maybe_claimed = claim.outcome_unknown();
            let dropped = self.apply_claim(claim, &mut candidates, &mut fates, &mut counts, run);
            (!dropped).then_some(prepared)
        };
        let candidates = candidates;
        // The ledger table's delivered marks are written batch by batch while sending, and
        // may still be on their way while the dead letters are written; the objects ledger
        // records the invocation's deliveries in one object, once sending is done.
        let table = self.ledger.claims();
        let (accepted, batches) = tokio::sync::mpsc::unbounded_channel();
        let accepted = table.then_some(accepted);
        let (marked, (newest_delivered, recorded, dead_letter_error)) =
            tokio::join!(self.mark_as_sent(batches, &candidates, run), async {
                let (newest, delivered) = self
                    .forward(
                        &candidates,
                        Sending { prepared, accepted },
                        &mut counts,
                        Aside {
                            inputs,
                            run,
                            fates: &mut fates,
                            keep: &mut keep,
                        },
                    )
                    .await;
                let delivered = if table { Vec::new() } else { delivered };
                // Claims this call may hold and did not deliver are given up for a later
                // copy. Even when the claim call failed (it may have landed after we stopped
                // waiting): only this container's own claims are released.
                let released: Vec<&str> = if table {
                    candidates
                        .iter()
                        .filter(|(i, _)| fates[*i] != Some(Fate::Delivered))
                        .map(|(_, e)| e.uuid.as_ref())
                        .chain(maybe_claimed.iter().map(String::as_str))
                        .collect()
                } else {
                    Vec::new()
                };
                // Settling the ledger and keeping what was not delivered wait side by side.
                let (recorded, dead_letter_error) = tokio::join!(
                    self.settle(&delivered, &released, run),
                    self.keep(run, keep, &mut fates, &mut counts)
                );
                (newest, recorded, dead_letter_error)
            });
        let mut ledger = marked;
        ledger.add(recorded);
        counts.ledger_errors += ledger.failures;
        counts.ledger_pending += ledger.pending;
        Outcome {
            fates: fates
                .into_iter()
                .map(|f| f.unwrap_or_else(|| Fate::Left("not reached".into())))
                .collect(),
            counts,
            lake: None,
            newest_delivered,
            dead_letter_error,
        }
    }

    /// Sends `candidates` (the bodies `sending` has prepared, if any), passing each batch's
    /// delivered positions to `sending.accepted` as soon as the destination took it (for
    /// [`Pipeline::mark_as_sent`]), and sets what was not delivered `aside` for
    /// [`Pipeline::keep`] as [`Redelivery`] says. Returns the newest
    /// `published` delivered, and what was delivered.
    async fn forward<'i, 'a>(
        &self,
        candidates: &[(usize, &'i OktaEvent<'a>)],
        sending: Sending,
        counts: &mut Counts,
        mut aside: Aside<'_, 'a, '_>,
    ) -> (Option<OffsetDateTime>, Vec<(&'i str, OffsetDateTime)>) {
        let events: Vec<&OktaEvent> = candidates.iter().map(|(_, e)| *e).collect();
        let Sending { prepared, accepted } = sending;
        let sent = self
            .forwarder
            .forward_reporting(&events, prepared, aside.run.stop_at, |delivered| {
                if let Some(accepted) = &accepted {
                    let _ = accepted.send(delivered.to_vec());
                }
            })
            .await;
        // The channel closes here: marking ends once the last mark is written.
        drop(accepted);
        counts.forwarded = sent.delivered.len();
        counts.oversized = sent.oversized.len();
        counts.destination_requests = sent.requests;
        counts.destination_errors = sent.errors;
        counts.bytes = sent.bytes;
        counts.bytes_uncompressed = sent.bytes_uncompressed;
        counts.latencies_ms = sent.latencies_ms;
        let mut newest: Option<OffsetDateTime> = None;
        let mut delivered: Vec<(&'i str, OffsetDateTime)> =
            Vec::with_capacity(sent.delivered.len());
        for &j in &sent.delivered {
            let (i, e) = candidates[j];
            aside.fates[i] = Some(Fate::Delivered);
            newest = newest.max(Some(e.published));
            delivered.push((e.uuid.as_ref(), e.published));
        }
        let max_bytes = self.forwarder.config().batch_max_bytes;
        for &j in &sent.oversized {
            let (i, e) = candidates[j];
            let bytes = e.json().len();
            tracing::warn!(uuid = %e.uuid, bytes, "event larger than BATCH_MAX_BYTES: it can never be sent");
            let reason = format!("event is {bytes} bytes, more than BATCH_MAX_BYTES ({max_bytes})");
            aside.put(i, e, reason.clone(), reason, true);
        }
        for (j, failure) in sent.failed {
            let (i, e) = candidates[j];
            let kept = format!("not delivered: {}", failure.reason);
            aside.put(i, e, failure.reason, kept, failure.permanent);
        }
        (newest, delivered)
    }
}

/// How [`Pipeline::forward`] sends: the bodies encoded while the ledger was claiming, when
/// the claim kept none of their events back, and where each batch's delivered positions go
/// (to be marked in the ledger table; none with the objects ledger).
struct Sending {
    prepared: Option<Prepared>,
    accepted: Option<UnboundedSender<Vec<usize>>>,
}

#[cfg(test)]
mod ledger_tests;
#[cfg(test)]
mod tests;
