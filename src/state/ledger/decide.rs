//! The one retry rule of every ledger adapter: what a store did not decide (throttled,
//! conflicting, failing) is tried again after a jittered pause while time remains; what is
//! still undecided then, or cannot be helped by trying again, is answered as undecided.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::{Claim, Trouble, TroubleKind};

/// The first pause's ceiling before trying again.
const FIRST_PAUSE: Duration = Duration::from_millis(40);
/// The largest pause's ceiling.
const LONGEST_PAUSE: Duration = Duration::from_millis(1_500);
/// The least time a retry starts with: one started closer to the end would be cut off
/// mid-request, and its events reported as timed out instead of for what kept them
/// undecided (throttled, conflicting).
const LEAST_ATTEMPT: Duration = Duration::from_millis(250);

/// What one attempt decided for the uuids it was given.
#[derive(Debug, Default)]
pub(super) struct Attempt<'u> {
    pub delivered: Vec<String>,
    pub in_flight: Vec<String>,
    pub undecided: Vec<(&'u str, TroubleKind)>,
    pub trouble: Vec<Trouble>,
}

impl<'u> Attempt<'u> {
    /// Every one of `uuids` undecided for `trouble`.
    pub(super) fn failed(uuids: &[&'u str], trouble: Trouble) -> Self {
        Attempt {
            undecided: uuids.iter().map(|u| (*u, trouble.kind)).collect(),
            trouble: vec![trouble],
            ..Attempt::default()
        }
    }

    /// Adds `other`'s answers to these.
    pub(super) fn merge(&mut self, other: Attempt<'u>) {
        self.delivered.extend(other.delivered);
        self.in_flight.extend(other.in_flight);
        self.undecided.extend(other.undecided);
        self.trouble.extend(other.trouble);
    }
}

/// The pause before try `n` (0 for the first retry): [`crate::backoff`]'s full jitter with
/// the ledger's own, shorter ceilings, so that containers throttled together do not come
/// back together.
pub(crate) fn pause(n: u32) -> Duration {
    crate::backoff::backoff_within(n, FIRST_PAUSE, LONGEST_PAUSE)
}

/// Whether a retry after a pause of `wait` still starts with [`LEAST_ATTEMPT`] before
/// `give_up_at`: the one rule for every retry loop of the ledger.
pub(super) fn room_for(wait: Duration, give_up_at: Instant) -> bool {
    Instant::now() + wait + LEAST_ATTEMPT < give_up_at
}

/// Runs `attempt` on `uuids`, then again on what came back undecided for a reason a retry
/// can help, after [`pause`], until all is decided or the next pause would leave less than
/// [`LEAST_ATTEMPT`] before `give_up_at`.
pub(super) async fn until_decided<'u, F, Fut>(
    uuids: Vec<&'u str>,
    give_up_at: Instant,
    mut attempt: F,
) -> Claim
where
    F: FnMut(Vec<&'u str>) -> Fut,
    Fut: Future<Output = Attempt<'u>>,
{
    let mut claim = Claim::default();
    let mut todo = uuids;
    let mut tries = 0u32;
    loop {
        let answer = attempt(std::mem::take(&mut todo)).await;
        claim.delivered.extend(answer.delivered);
        claim.in_flight.extend(answer.in_flight);
        for t in answer.trouble {
            claim.note(t);
        }
        let mut again = Vec::new();
        for (uuid, kind) in answer.undecided {
            if kind.retryable() {
                again.push((uuid, kind));
            } else {
                claim.undecided.insert(uuid.to_owned(), kind);
            }
        }
        if again.is_empty() {
            return claim;
        }
        let wait = pause(tries);
        tries = tries.saturating_add(1);
        if !room_for(wait, give_up_at) {
            // Still undecided when time ran out, each for the reason it had last.
            claim
                .undecided
                .extend(again.into_iter().map(|(u, k)| (u.to_owned(), k)));
            return claim;
        }
        tokio::time::sleep(wait).await;
        todo = again.into_iter().map(|(u, _)| u).collect();
    }
}
