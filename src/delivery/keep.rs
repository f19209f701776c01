//! Step 5, keeping: what was not delivered goes to the dead letters, or is left to its source
//! when that can give it again ([`Redelivery`]).

use tokio::time::Instant;

use super::{keep_by, Fate, Input, Pipeline, Redelivery, Run};
use crate::event::OktaEvent;
use crate::state::{DeadLetter, DeadLetterError, Kept};
use crate::telemetry::Counts;

impl Pipeline {
    /// Writes `keep` as one dead-letter object. Returns the error when that failed.
    pub(super) async fn keep(
        &self,
        run: &Run<'_>,
        keep: Vec<(usize, DeadLetter<'_>)>,
        fates: &mut [Option<Fate>],
        counts: &mut Counts,
    ) -> Option<DeadLetterError> {
        if keep.is_empty() {
            return None;
        }
        let (indices, records): (Vec<usize>, Vec<DeadLetter>) = keep.into_iter().unzip();
        let budget = keep_by(run).saturating_duration_since(Instant::now());
        let written = tokio::time::timeout(
            budget,
            self.dead_letters
                .keep(run.origin, run.request_id, &records, run.now),
        )
        .await;
        match written.unwrap_or_else(|_| Err(DeadLetterError::timed_out(budget))) {
            Ok(key) => {
                counts.dead_lettered = records.len();
                tracing::warn!(count = records.len(), key = %key, "kept undeliverable items in the dead letters");
                for i in indices {
                    fates[i] = Some(Fate::Kept);
                }
                None
            }
            Err(e) => {
                counts.not_kept = records.len();
                tracing::error!(count = records.len(), error = %e, "could not keep undeliverable items in the dead letters: they are neither delivered nor kept");
                for i in indices {
                    fates[i] = Some(Fate::NotKept);
                }
                Some(e)
            }
        }
    }
}

/// Where events that were not delivered go: the dead letters, or back to their source
/// when that can give them again.
pub(super) struct Aside<'s, 'a, 'r> {
    pub(super) inputs: &'s [Input<'a>],
    pub(super) run: &'s Run<'r>,
    pub(super) fates: &'s mut [Option<Fate>],
    pub(super) keep: &'s mut Vec<(usize, DeadLetter<'a>)>,
}

impl<'a> Aside<'_, 'a, '_> {
    /// Sets input `i` aside: `why` is what the source is told, `kept` the dead letter's
    /// reason; `permanent` when no later attempt can deliver it.
    pub(super) fn put(
        &mut self,
        i: usize,
        event: &OktaEvent<'a>,
        why: String,
        kept: String,
        permanent: bool,
    ) {
        let source_has_it = match self.run.redelivery {
            Redelivery::Never => false,
            Redelivery::OutOfTime => !permanent,
            Redelivery::Always => true,
        };
        if source_has_it {
            self.fates[i] = Some(Fate::Left(why));
        } else {
            self.keep.push((
                i,
                DeadLetter {
                    reason: kept,
                    message_id: self.inputs[i].message_id,
                    content: Kept::Event(event.raw),
                },
            ));
        }
    }
}
