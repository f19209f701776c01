//! Security Lake beside an HTTP destination: the same inputs through two pipelines (lanes),
//! each with its own destination, its own keys in the one ledger ([`LaneLedger`]) and its own
//! dead-letter folder (`dead-letter/lake/`), so each event reaches each destination exactly
//! once. The lanes run side by side; an input's fate is the one that asks most of its source
//! (handed back if either lane could not finish it), and what one lane delivered is found
//! delivered when the source gives the input again.

use std::sync::Arc;

use crate::state::{LaneLedger, Ledger, DEAD_LETTER_PREFIX};
use crate::telemetry::Counts;

use super::{Fate, Forwarder, Input, Outcome, Pipeline, Run};

/// The name of the Security Lake lane: its ledger keys' and dead-letter folder's prefix.
pub const LAKE_LANE: &str = "lake";

/// The destinations one call delivers to: the configured one, and the lake beside it.
pub struct Lanes {
    main: Pipeline,
    lake: Option<Pipeline>,
}

impl Lanes {
    /// One destination.
    pub fn one(main: Pipeline) -> Self {
        Lanes { main, lake: None }
    }

    /// Adds Security Lake through `lake`, sharing the main lane's ledger (under its own keys)
    /// and state bucket (under `dead-letter/lake/`).
    pub fn with_lake(self, lake: Forwarder) -> Self {
        let ledger: Arc<dyn Ledger> =
            Arc::new(LaneLedger::new(self.main.ledger.clone(), LAKE_LANE));
        let dead_letters = self.main.dead_letters.clone().in_lane(LAKE_LANE);
        Lanes {
            lake: Some(Pipeline::new(lake, ledger, dead_letters)),
            main: self.main,
        }
    }

    /// The configured destination's lane (the directory's records go there only).
    pub fn main(&self) -> &Pipeline {
        &self.main
    }

    /// The Security Lake lane beside it, if any.
    pub fn lake(&self) -> Option<&Pipeline> {
        self.lake.as_ref()
    }

    /// The lane whose dead letters `key` is: `dead-letter/lake/...` the lake's, the rest the
    /// main lane's. An error when that lane is not configured here.
    pub fn of_dead_letter(&self, key: &str) -> Result<&Pipeline, String> {
        let lake_folder = format!("{DEAD_LETTER_PREFIX}{LAKE_LANE}/");
        if !key.starts_with(&lake_folder) {
            return Ok(&self.main);
        }
        self.lake.as_ref().ok_or_else(|| {
            format!("{key} holds events kept for Security Lake beside the HTTP destination, but SECURITY_LAKE_SOURCES is not set here: set it again to replay them")
        })
    }

    /// Takes `inputs` through every lane at once ([`Pipeline::deliver`]).
    pub async fn deliver<'a>(&self, inputs: &[Input<'a>], run: &Run<'_>) -> Outcome {
        match &self.lake {
            None => self.main.deliver(inputs, run).await,
            Some(lake) => {
                let (main, lake) =
                    tokio::join!(self.main.deliver(inputs, run), lake.deliver(inputs, run));
                merge(main, lake)
            }
        }
    }
}

/// How much a fate asks of the source: the higher, the more (to give the input again, or to
/// fail the invocation). Two lanes' fates for one input resolve to the higher.
fn demand(fate: &Fate) -> u8 {
    match fate {
        Fate::Repeat | Fate::Stale | Fate::Filtered => 0,
        Fate::AlreadyDelivered => 1,
        Fate::Delivered => 2,
        Fate::Kept => 3,
        Fate::Left(_) => 4,
        Fate::InFlight => 5,
        Fate::Undecided(_) => 6,
        Fate::NotKept => 7,
    }
}

/// One outcome from the main lane's and the lake's: each input's more demanding fate, the
/// main lane's counts with the lake's beside them, the older of the newest delivered.
fn merge(main: Outcome, lake: Outcome) -> Outcome {
    let fates = main
        .fates
        .into_iter()
        .zip(lake.fates)
        .map(|(m, l)| if demand(&l) > demand(&m) { l } else { m })
        .collect();
    let newest_delivered = match (main.newest_delivered, lake.newest_delivered) {
        (Some(m), Some(l)) => Some(m.min(l)),
        (m, l) => m.or(l),
    };
    Outcome {
        fates,
        counts: main.counts,
        lake: Some(lake.counts),
        newest_delivered,
        dead_letter_error: main.dead_letter_error.or(lake.dead_letter_error),
    }
}

/// Adds a lake lane's `counts` to a running total.
pub(crate) fn add_lake(total: &mut Option<Counts>, counts: Option<&Counts>) {
    if let Some(counts) = counts {
        total.get_or_insert_with(Counts::default).add(counts);
    }
}

#[cfg(test)]
mod tests;
