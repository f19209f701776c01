//! The pipeline's two steps in the delivery ledger: claim the candidates before sending,
//! settle the claims after (see [`crate::state::Ledger`]).

use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use time::OffsetDateTime;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use super::{keep_by, Fate, Pipeline, Run};
use crate::event::OktaEvent;
use crate::state::Claim;
use crate::telemetry::Counts;

/// Longest a ledger lookup may take (and never more than a quarter of the time left) before
/// delivery goes on without it: a stalled store must not keep events from the destination.
const LEDGER_LOOKUP_BUDGET: Duration = Duration::from_secs(5);
/// How long a ledger claim outlives the Lambda deadline of the invocation that made it: past
/// that, the claimer is gone for certain and a copy of the event may be sent by another.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);

impl Pipeline {
    /// Claims `candidates` in the ledger. An unavailable ledger (an error, or no answer
    /// within its budget) is logged and counted, and comes back as `None`: it never blocks
    /// delivery, and a duplicate becomes possible.
    pub(super) async fn ask_ledger(
        &self,
        candidates: &[(usize, &OktaEvent<'_>)],
        run: &Run<'_>,
        counts: &mut Counts,
    ) -> Option<Claim> {
        if candidates.is_empty() {
            return None;
        }
        let keys: Vec<(&str, OffsetDateTime)> = candidates
            .iter()
            .map(|(_, e)| (e.uuid.as_ref(), e.published))
            .collect();
        let left = run.deadline.saturating_duration_since(Instant::now());
        let lease_until = run.now + left + CLAIM_MARGIN;
        let budget =
            LEDGER_LOOKUP_BUDGET.min(run.stop_at.saturating_duration_since(Instant::now()) / 4);
        let lookup = tokio::time::timeout(
            budget,
            self.ledger
                .claim(&keys, lease_until, run.now, run.repeats_likely),
        )
        .await;
        match lookup.unwrap_or_else(|_| Err(self.ledger.timed_out(budget))) {
            Ok(claim) => Some(claim),
            Err(e) => {
                counts.ledger_errors += 1;
                tracing::warn!(error = %e, "delivery ledger unavailable: forwarding without the duplicate check");
                None
            }
        }
    }

    /// Drops from `candidates` what `claim` shows as delivered before or being sent by
    /// another invocation, setting their fates. Returns whether any was dropped.
    pub(super) fn apply_claim(
        claim: Option<Claim>,
        candidates: &mut Vec<(usize, &OktaEvent<'_>)>,
        fates: &mut [Option<Fate>],
        counts: &mut Counts,
    ) -> bool {
        let Some(claim) = claim else { return false };
        if claim.delivered.is_empty() && claim.in_flight.is_empty() {
            return false;
        }
        candidates.retain(|(i, e)| {
            let uuid = e.uuid.as_ref();
            let fate = if claim.delivered.contains(uuid) {
                Fate::AlreadyDelivered
            } else if claim.in_flight.contains(uuid) {
                Fate::InFlight
            } else {
                return true;
            };
            fates[*i] = Some(fate);
            false
        });
        counts.already_delivered = claim.delivered.len();
        counts.in_flight = claim.in_flight.len();
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
        true
    }

    /// Marks the events of each batch `batches` names (positions in `candidates`) delivered,
    /// each as soon as it comes, until the channel closes. Returns whether every mark was
    /// recorded.
    pub(super) async fn mark_as_sent(
        &self,
        mut batches: UnboundedReceiver<Vec<usize>>,
        candidates: &[(usize, &OktaEvent<'_>)],
        run: &Run<'_>,
    ) -> bool {
        let mark = |positions: Vec<usize>| async move {
            let delivered: Vec<(&str, OffsetDateTime)> = positions
                .iter()
                .filter_map(|&j| candidates.get(j))
                .map(|(_, e)| (e.uuid.as_ref(), e.published))
                .collect();
            self.settle(&delivered, &[], run).await
        };
        let mut marking = FuturesUnordered::new();
        let mut recorded = true;
        loop {
            tokio::select! {
                batch = batches.recv() => match batch {
                    Some(positions) => marking.push(mark(positions)),
                    None => break,
                },
                Some(done) = marking.next(), if !marking.is_empty() => recorded &= done,
            }
        }
        while let Some(done) = marking.next().await {
            recorded &= done;
        }
        recorded
    }

    /// Records `delivered` in the ledger and releases `released`; a failure is logged, never
    /// fatal: the events did reach the destination. Returns whether it worked.
    pub(super) async fn settle(
        &self,
        delivered: &[(&str, OffsetDateTime)],
        released: &[&str],
        run: &Run<'_>,
    ) -> bool {
        if delivered.is_empty() && released.is_empty() {
            return true;
        }
        let budget = keep_by(run).saturating_duration_since(Instant::now());
        let settled =
            tokio::time::timeout(budget, self.ledger.settle(delivered, released, run.now)).await;
        match settled.unwrap_or_else(|_| Err(self.ledger.timed_out(budget))) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, count = delivered.len(), released = released.len(), "delivered, but could not record it in the delivery ledger: a later duplicate is possible");
                false
            }
        }
    }
}
