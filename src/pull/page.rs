//! One System Log page through the delivery pipeline: up to the first event that is still
//! settling, skipping what the resume point already handled.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::{PullHandler, Tally};
use crate::delivery::{Fate, Input, Redelivery, Run, Unreadable};
use crate::event::OktaEvent;
use crate::okta::Page;
use crate::state::{DeadLetterError, Kept, MAX_REMEMBERED_UUIDS};

/// How a page's events are chosen.
#[derive(Clone, Copy)]
pub(super) struct PageRules {
    /// Skip events older than this.
    pub max_age: Option<Duration>,
    /// Stop at the first event younger than this.
    pub settle: Option<Duration>,
}

/// What handling one page achieved.
pub(super) struct PageOutcome {
    /// uuids now handled (forwarded, kept, skipped), in page order.
    pub handled: Vec<String>,
    /// Set when some events were neither delivered nor kept.
    pub incomplete: Option<Incomplete>,
}

/// Why part of a page is left for the next run.
pub(super) enum Incomplete {
    /// The next event is younger than the settle delay: push may still be delivering it.
    Settling,
    /// The destination stayed unavailable until the deadline: not an error, the next run resends.
    Destination(String),
    /// What the destination refused could not be written to the dead letters: an error.
    DeadLetters(DeadLetterError),
}

/// The uuids already handled at the resume point, oldest first, bounded.
#[derive(Default)]
pub(super) struct Handled {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Handled {
    pub(super) fn from_vec(uuids: Vec<String>) -> Self {
        let mut h = Handled::default();
        h.extend(uuids);
        h
    }

    pub(super) fn extend(&mut self, uuids: impl IntoIterator<Item = String>) {
        for u in uuids {
            if self.set.insert(u.clone()) {
                self.order.push_back(u);
            }
        }
        while self.order.len() > MAX_REMEMBERED_UUIDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    pub(super) fn contains(&self, uuid: &str) -> bool {
        self.set.contains(uuid)
    }

    pub(super) fn to_vec(&self) -> Vec<String> {
        self.order.iter().cloned().collect()
    }
}

impl PullHandler {
    /// Forwards one page's new events and keeps what can never be delivered. With
    /// `rules.settle`, the page is read only up to the first event younger than that.
    pub(super) async fn handle_page(
        &self,
        page: &Page,
        handled: &Handled,
        request_id: &str,
        stop_at: Instant,
        rules: PageRules,
        tally: &mut Tally,
    ) -> PageOutcome {
        let now = (self.clock)();
        let mut inputs: Vec<Input> = Vec::with_capacity(page.events.len() + 1);
        if let Some(body) = &page.unreadable {
            inputs.push(Input {
                message_id: None,
                event: Err(Unreadable {
                    reason: "System Log page body is not a JSON array of events".into(),
                    content: Kept::Raw(body),
                }),
            });
        }
        let mut settling = false;
        for raw in &page.events {
            let event = OktaEvent::from_raw(raw);
            if let Ok(e) = &event {
                if rules.settle.is_some_and(|s| e.age(now) < s) {
                    // Push may still be carrying this event, and the events after it were
                    // stored later still: leave the rest of the page to a later run.
                    settling = true;
                    break;
                }
                tally.newest_seen = tally.newest_seen.max(Some(e.published));
            }
            inputs.push(Input {
                message_id: None,
                event: event.map_err(|m| Unreadable {
                    reason: m.to_string(),
                    content: Kept::Event(raw),
                }),
            });
        }
        let run = Run {
            origin: "pull",
            request_id,
            now,
            stop_at,
            max_age: rules.max_age,
            redelivery: Redelivery::OutOfTime,
            known: &|uuid| handled.contains(uuid),
        };
        let outcome = self.pipeline.deliver(&inputs, &run).await;
        tally.add(&outcome);
        let mut done = Vec::with_capacity(inputs.len());
        let mut incomplete = settling.then_some(Incomplete::Settling);
        for (input, fate) in inputs.iter().zip(&outcome.fates) {
            match (fate, &input.event) {
                (Fate::Delivered | Fate::AlreadyDelivered | Fate::Stale | Fate::Kept, Ok(e)) => {
                    done.push(e.uuid.to_string())
                }
                // Left for the next run, which reads this page again from the checkpoint.
                // An outage outranks settling: the run should say the destination is down.
                (Fate::Left(reason), _)
                    if !matches!(incomplete, Some(Incomplete::Destination(_))) =>
                {
                    incomplete = Some(Incomplete::Destination(reason.clone()));
                }
                _ => {}
            }
        }
        // What was delivered stays recorded as handled; the rest is read again next run.
        if let Some(e) = outcome.dead_letter_error {
            incomplete = Some(Incomplete::DeadLetters(e));
        }
        PageOutcome {
            handled: done,
            incomplete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handled_uuids_are_bounded_and_forget_the_oldest() {
        let mut h = Handled::from_vec((0..MAX_REMEMBERED_UUIDS).map(|i| i.to_string()).collect());
        h.extend(["new".to_string(), "0".to_string()]);
        assert_eq!(h.to_vec().len(), MAX_REMEMBERED_UUIDS);
        // "0" was already known, so re-adding it changes nothing; "new" pushes it out.
        assert!(h.contains("new") && h.contains("1") && !h.contains("0"));
    }
}
