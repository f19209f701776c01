//! The pipeline's two steps in the delivery ledger: claim the candidates before sending,
//! settle the claims after (see [`crate::state::Ledger`]). What the ledger could not decide
//! (throttled, conflicting, failing, misconfigured, too slow) is not sent: it goes back to
//! its source, except where the run allows sending it without the check
//! ([`Run::unchecked`]: push, on a message's last receive).

use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use time::OffsetDateTime;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::{keep_by, Fate, Pipeline, Run};
use crate::event::OktaEvent;
use crate::state::{Claim, Key, Terms, Trouble, TroubleKind};
use crate::telemetry::Counts;

/// Longest a ledger claim may take, its retries included (and never more than a third of
/// the time left): a ledger that cannot decide by then leaves the events undecided. A
/// healthy table answers in milliseconds; the budget is what a moment of throttling (or a
/// slow local emulator) gets to pass before the events go back to their source.
const LEDGER_LOOKUP_BUDGET: Duration = Duration::from_secs(15);
/// Past the budget, how long an adapter that overruns it is waited for before its answer is
/// given up for all (each request is bounded by the budget already).
const LEDGER_GRACE: Duration = Duration::from_millis(500);
/// How long a ledger claim outlives the Lambda deadline of the invocation that made it: past
/// that, the claimer is gone for certain and a copy of the event may be sent by another.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);

/// What settling (or marking a batch) achieved.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Recorded {
    /// Settle calls that failed (marks neither written nor kept).
    pub failures: usize,
    /// Marks kept as pending marks instead of written.
    pub pending: usize,
}

impl Recorded {
    pub(super) fn add(&mut self, other: Recorded) {
        self.failures += other.failures;
        self.pending += other.pending;
    }
}

impl Pipeline {
    /// Claims `candidates` in the ledger, retrying what it cannot decide while the budget
    /// lasts. Whatever happens, every candidate is answered: claimed, delivered before, in
    /// flight elsewhere, or undecided.
    pub(super) async fn ask_ledger(
        &self,
        candidates: &[(usize, &OktaEvent<'_>)],
        run: &Run<'_>,
    ) -> Claim {
        if candidates.is_empty() {
            return Claim::default();
        }
        let keys: Vec<Key> = candidates
            .iter()
            .map(|(_, e)| (e.uuid.as_ref(), e.published))
            .collect();
        let left = run.deadline.saturating_duration_since(Instant::now());
        let budget =
            LEDGER_LOOKUP_BUDGET.min(run.stop_at.saturating_duration_since(Instant::now()) / 3);
        let terms = Terms {
            now: run.now,
            lease_until: run.now + left + CLAIM_MARGIN,
            give_up_at: Instant::now() + budget,
            read_first: run.repeats_likely,
        };
        let claim =
            tokio::time::timeout(budget + LEDGER_GRACE, self.ledger.claim(&keys, terms)).await;
        claim.unwrap_or_else(|_| {
            Claim::undecided(
                keys.iter().map(|(u, _)| *u),
                Trouble {
                    kind: TroubleKind::TimedOut,
                    detail: format!(
                        "{}: no answer within {} ms",
                        self.ledger.describe(),
                        budget.as_millis()
                    ),
                },
            )
        })
    }

    /// Drops from `candidates` what `claim` shows as delivered before, being sent by another
    /// invocation, or undecided (unless `run` lets that one go unchecked), setting their
    /// fates. Returns whether any was dropped.
    pub(super) fn apply_claim(
        &self,
        claim: Claim,
        candidates: &mut Vec<(usize, &OktaEvent<'_>)>,
        fates: &mut [Option<Fate>],
        counts: &mut Counts,
        run: &Run<'_>,
    ) -> bool {
        if claim.delivered.is_empty() && claim.in_flight.is_empty() && claim.undecided.is_empty() {
            return false;
        }
        let before = candidates.len();
        let mut unchecked = 0;
        candidates.retain(|(i, e)| {
            let uuid = e.uuid.as_ref();
            let fate = if claim.delivered.contains(uuid) {
                Fate::AlreadyDelivered
            } else if claim.in_flight.contains(uuid) {
                Fate::InFlight
            } else if let Some(kind) = claim.undecided.get(uuid) {
                if (run.unchecked)(*i) {
                    unchecked += 1;
                    return true;
                }
                Fate::Undecided(format!(
                    "the delivery ledger could not decide whether it was delivered ({})",
                    kind.as_str()
                ))
            } else {
                return true;
            };
            fates[*i] = Some(fate);
            false
        });
        counts.already_delivered += claim.delivered.len();
        counts.in_flight += claim.in_flight.len();
        counts.ledger_undecided += claim.undecided.len();
        counts.ledger_throttled += claim.throttled();
        counts.ledger_unchecked += unchecked;
        if !claim.delivered.is_empty() {
            tracing::info!(
                count = claim.delivered.len(),
                "skipped events the delivery ledger shows as delivered"
            );
        }
        if !claim.in_flight.is_empty() {
            tracing::info!(
                count = claim.in_flight.len(),
                "skipped events another invocation is sending (live ledger claim); their source gives them again if it fails"
            );
        }
        match claim.worst() {
            Some(worst) if !claim.undecided.is_empty() => {
                counts.ledger_errors += 1;
                self.log_undecided(worst, claim.undecided.len(), unchecked);
            }
            // Busy for a moment, and every event decided on a later try.
            Some(worst) => tracing::info!(
                ledger = %self.ledger.describe(),
                cause = worst.kind.as_str(),
                "the delivery ledger was busy; claims were tried again and all decided"
            ),
            None => {}
        }
        candidates.len() < before
    }

    /// One line for what the ledger could not decide: an ERROR naming the table and the
    /// cause when an operator must act, a WARN when it was busy or failing.
    fn log_undecided(&self, worst: &Trouble, undecided: usize, unchecked: usize) {
        let ledger = self.ledger.describe();
        let held_back = undecided.saturating_sub(unchecked);
        // One line, its level by who must act; tracing takes the level as a macro name.
        macro_rules! line {
            ($level:ident, $message:literal) => {
                tracing::$level!(
                    ledger = %ledger,
                    cause = worst.kind.as_str(),
                    error = %worst.detail,
                    undecided,
                    held_back,
                    unchecked,
                    $message
                )
            };
        }
        match worst.kind {
            TroubleKind::Misconfigured | TroubleKind::Rejected => line!(
                error,
                "the delivery ledger refused its requests: events it could not decide are handed back to their source (or sent without the duplicate check on their last try) until this is fixed"
            ),
            _ => line!(
                warn,
                "the delivery ledger could not decide some events in time: they are handed back to their source (or sent without the duplicate check on their last try)"
            ),
        }
    }

    /// Marks the events of each batch `batches` names (positions in `candidates`) delivered,
    /// each as soon as it comes, until the channel closes.
    pub(super) async fn mark_as_sent(
        &self,
        mut batches: UnboundedReceiver<Vec<usize>>,
        candidates: &[(usize, &OktaEvent<'_>)],
        run: &Run<'_>,
    ) -> Recorded {
        let mark = |positions: Vec<usize>| async move {
            let delivered: Vec<(&str, OffsetDateTime)> = positions
                .iter()
                .filter_map(|&j| candidates.get(j))
                .map(|(_, e)| (e.uuid.as_ref(), e.published))
                .collect();
            self.settle(&delivered, &[], run).await
        };
        let mut marking = FuturesUnordered::new();
        let mut recorded = Recorded::default();
        loop {
            tokio::select! {
                batch = batches.recv() => match batch {
                    Some(positions) => marking.push(mark(positions)),
                    None => break,
                },
                Some(done) = marking.next(), if !marking.is_empty() => recorded.add(done),
            }
        }
        while let Some(done) = marking.next().await {
            recorded.add(done);
        }
        recorded
    }

    /// Records `delivered` in the ledger and releases `released`; a failure is logged, never
    /// fatal: the events did reach the destination.
    pub(super) async fn settle(
        &self,
        delivered: &[(&str, OffsetDateTime)],
        released: &[&str],
        run: &Run<'_>,
    ) -> Recorded {
        if delivered.is_empty() && released.is_empty() {
            return Recorded::default();
        }
        let give_up_at = keep_by(run);
        let budget = give_up_at.saturating_duration_since(Instant::now());
        // The adapters stop by `give_up_at` themselves; this only bounds one that does not.
        let settled = tokio::time::timeout(
            budget.max(LEDGER_GRACE),
            self.ledger.settle(delivered, released, run.now, give_up_at),
        )
        .await;
        match settled {
            Ok(Ok(settled)) => Recorded {
                failures: 0,
                pending: settled.pending,
            },
            Ok(Err(e)) => {
                tracing::error!(error = %e, count = delivered.len(), released = released.len(), "delivered, but could not record it in the delivery ledger: a later duplicate is possible");
                Recorded {
                    failures: 1,
                    pending: 0,
                }
            }
            Err(_) => {
                tracing::error!(ledger = %self.ledger.describe(), budget_ms = budget.as_millis() as u64, count = delivered.len(), "delivered, but the delivery ledger did not record it in time: a later duplicate is possible");
                Recorded {
                    failures: 1,
                    pending: 0,
                }
            }
        }
    }
}
