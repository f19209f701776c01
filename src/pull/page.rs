//! One System Log page through the delivery pipeline: up to the first event that is still
//! settling, skipping what the resume point already handled.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::{PullHandler, Tally};
use crate::delivery::{Fate, Input, Outcome, Redelivery, Run, Unreadable};
use crate::event::{format_rfc3339, OktaEvent};
use crate::okta::Page;
use crate::state::{DeadLetterError, Kept, MAX_REMEMBERED_UUIDS};

/// An event stamped more than this after Okta's clock is taken as settled.
const FUTURE_TOLERANCE: time::Duration = time::Duration::minutes(5);

/// How a page's events are chosen.
#[derive(Clone, Copy)]
pub(super) struct PageRules {
    /// Skip events older than this.
    pub max_age: Option<Duration>,
    /// Stop at the first event younger than this.
    pub settle: Option<Duration>,
    /// When delivery must stop so that what is left can still be kept.
    pub stop_at: Instant,
    /// The Lambda deadline.
    pub deadline: Instant,
}

/// What handling one page achieved.
pub(super) struct PageOutcome {
    /// uuids now handled (forwarded, kept, skipped), in page order.
    pub handled: Vec<String>,
    /// Set when some events were neither delivered nor kept.
    pub incomplete: Option<Incomplete>,
    /// The oldest `published` of the page's events left for a later run (not delivered, not
    /// kept, undecided): where a backfill must resume. Events are sent in concurrent batches,
    /// so one that failed can be older than one delivered.
    pub oldest_left: Option<OffsetDateTime>,
}

/// Why part of a page is left for the next run.
pub(super) enum Incomplete {
    /// The next event is younger than the settle delay: push may still be delivering it.
    Settling,
    /// Another invocation holds a live ledger claim on an event of the page: it is sending
    /// it. Read again next run, when the ledger shows it delivered or the claim ran out.
    InFlight,
    /// The ledger could not decide events of the page (throttled, failing, misconfigured):
    /// read again next run, never sent without the check.
    Ledger(String),
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
        rules: PageRules,
        tally: &mut Tally,
    ) -> PageOutcome {
        let now = (self.clock)();
        let (inputs, settling, repeats) = read_page(page, handled, now, &rules, tally);
        let run = Run {
            origin: "pull",
            request_id,
            now,
            stop_at: rules.stop_at,
            deadline: rules.deadline,
            max_age: rules.max_age,
            redelivery: Redelivery::OutOfTime,
            known: &|uuid| handled.contains(uuid),
            unchecked: &|_| false,
            repeats_likely: true,
        };
        let outcome = self.lanes.deliver(&inputs, &run).await;
        tally.add(&outcome);
        tally.counts.duplicates += repeats;
        page_outcome(&inputs, outcome, settling)
    }
}

/// The page's events as pipeline inputs, up to the first one still settling (judged on
/// Okta's clock: the Lambda's may be off). Malformed events already kept at this resume point
/// are left out (counted in the third value), so a page read again keeps them only once.
fn read_page<'p>(
    page: &'p Page,
    handled: &Handled,
    now: OffsetDateTime,
    rules: &PageRules,
    tally: &mut Tally,
) -> (Vec<Input<'p>>, bool, usize) {
    let okta_now = page.okta_time.unwrap_or(now);
    let mut inputs: Vec<Input> = Vec::with_capacity(page.events.len() + 1);
    let mut repeats = 0;
    let mut unreadable: Vec<Unreadable> = Vec::new();
    if let Some(body) = &page.unreadable {
        unreadable.push(Unreadable {
            reason: "System Log page body is not a JSON array of events".into(),
            content: Kept::Raw(body),
        });
    }
    let mut settling = false;
    for raw in &page.events {
        match OktaEvent::from_raw(raw) {
            Ok(e)
                if okta_now
                    .checked_add(FUTURE_TOLERANCE)
                    .is_some_and(|limit| e.published > limit) =>
            {
                // Stamped in the future (a skewed clock, a bogus year): it will never be
                // older than the settle delay, so waiting for it would stop pull for good.
                tally.future_stamped += 1;
                tracing::warn!(uuid = %e.uuid, published = %format_rfc3339(e.published), okta_time = %format_rfc3339(okta_now), "event stamped in the future: delivered without waiting for it to settle");
                inputs.push(event_input(Ok(e)));
            }
            Ok(e) if rules.settle.is_some_and(|s| e.age(okta_now) < s) => {
                // Push may still be carrying this event, and the events after it were
                // stored later still: leave the rest of the page to a later run.
                settling = true;
                break;
            }
            Ok(e) => {
                tally.newest_seen = tally.newest_seen.max(Some(e.published));
                inputs.push(event_input(Ok(e)));
            }
            Err(m) => unreadable.push(Unreadable {
                reason: m.to_string(),
                content: Kept::Event(raw.get()),
            }),
        }
    }
    for u in unreadable {
        if handled.contains(&kept_key(&u.content)) {
            repeats += 1;
        } else {
            inputs.push(event_input(Err(u)));
        }
    }
    (inputs, settling, repeats)
}

fn event_input<'p>(event: Result<OktaEvent<'p>, Unreadable<'p>>) -> Input<'p> {
    Input {
        message_id: None,
        event,
    }
}

/// What the page achieved, from the fate of each input.
fn page_outcome(inputs: &[Input<'_>], outcome: Outcome, settling: bool) -> PageOutcome {
    let mut done = Vec::with_capacity(inputs.len());
    let mut incomplete = settling.then_some(Incomplete::Settling);
    let mut oldest_left: Option<OffsetDateTime> = None;
    for (input, fate) in inputs.iter().zip(&outcome.fates) {
        if let (Fate::Undecided(_) | Fate::Left(_) | Fate::NotKept, Ok(e)) = (fate, &input.event) {
            oldest_left = Some(oldest_left.map_or(e.published, |o| o.min(e.published)));
        }
        match (fate, &input.event) {
            (
                Fate::Delivered
                | Fate::AlreadyDelivered
                | Fate::Stale
                | Fate::Filtered
                | Fate::Kept,
                Ok(e),
            ) => done.push(e.uuid.to_string()),
            (Fate::Kept, Err(u)) => done.push(kept_key(&u.content)),
            // Another invocation (push) is sending it: read it again next run.
            (Fate::InFlight, _) if matches!(incomplete, None | Some(Incomplete::Settling)) => {
                incomplete = Some(Incomplete::InFlight);
            }
            // The ledger could not say whether it went out: read it again next run.
            (Fate::Undecided(reason), _)
                if matches!(
                    incomplete,
                    None | Some(Incomplete::Settling | Incomplete::InFlight)
                ) =>
            {
                incomplete = Some(Incomplete::Ledger(reason.clone()));
            }
            // Left for the next run, which reads this page again from the checkpoint.
            // An outage outranks settling: the run should say the destination is down.
            (Fate::Left(reason), _) if !matches!(incomplete, Some(Incomplete::Destination(_))) => {
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
        oldest_left,
    }
}

/// The resume-point key of a kept malformed event (it has no usable uuid): a stable hash of
/// its bytes (FNV-1a, the same in every build).
fn kept_key(kept: &Kept<'_>) -> String {
    let text = match kept {
        Kept::Event(raw) => raw,
        Kept::Raw(text) => text,
    };
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("malformed:{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_okta_clock_at_the_end_of_time_neither_panics_nor_stalls() {
        let raw = serde_json::value::RawValue::from_string(
            r#"{"uuid":"u1","published":"9999-12-31T23:00:00.000Z"}"#.into(),
        )
        .unwrap();
        let page = Page {
            url: url::Url::parse("https://acme.okta.com/api/v1/logs").unwrap(),
            events: vec![raw],
            next: None,
            unreadable: None,
            okta_time: Some(time::macros::datetime!(9999-12-31 23:59:59 UTC)),
        };
        let rules = PageRules {
            max_age: None,
            settle: Some(Duration::from_secs(600)),
            stop_at: Instant::now(),
            deadline: Instant::now(),
        };
        let mut tally = Tally::default();
        let now = time::OffsetDateTime::now_utc();
        let (inputs, settling, _) = read_page(&page, &Handled::default(), now, &rules, &mut tally);
        // 59 minutes before Okta's "now": settled, and nothing overflowed on the way.
        assert_eq!((inputs.len(), settling), (1, false));
    }

    #[test]
    fn a_backfill_resumes_at_the_oldest_event_left_not_the_newest_delivered() {
        // Batches go out concurrently: the one holding the oldest event can fail while a
        // later one is delivered.
        let raws: Vec<Box<serde_json::value::RawValue>> = [
            ("u1", "2026-11-22T09:00:00.000Z"),
            ("u2", "2026-11-22T09:01:00.000Z"),
            ("u3", "2026-11-22T09:02:00.000Z"),
        ]
        .iter()
        .map(|(u, p)| {
            serde_json::value::RawValue::from_string(format!(
                r#"{{"uuid":"{u}","published":"{p}"}}"#
            ))
            .unwrap()
        })
        .collect();
        let inputs: Vec<Input> = raws
            .iter()
            .map(|r| event_input(OktaEvent::from_raw(r).map_err(|_| unreachable!())))
            .collect();
        let outcome = Outcome {
            fates: vec![
                Fate::Delivered,
                Fate::Left("destination: HTTP 503".into()),
                Fate::Delivered,
            ],
            counts: Default::default(),
            lake: None,
            newest_delivered: Some(time::macros::datetime!(2026-11-22 09:02 UTC)),
            dead_letter_error: None,
        };
        let page = page_outcome(&inputs, outcome, false);
        assert_eq!(
            page.oldest_left,
            Some(time::macros::datetime!(2026-11-22 09:01 UTC))
        );
        assert!(matches!(page.incomplete, Some(Incomplete::Destination(_))));
        assert_eq!(page.handled, ["u1", "u3"]);
    }

    #[test]
    fn a_malformed_event_has_one_key_whatever_run_reads_it() {
        let a: &serde_json::value::RawValue = serde_json::from_str(r#"{"uuid":7}"#).unwrap();
        let b: &serde_json::value::RawValue = serde_json::from_str(r#"{"uuid":8}"#).unwrap();
        assert_eq!(
            kept_key(&Kept::Event(a.get())),
            kept_key(&Kept::Event(a.get()))
        );
        assert_ne!(
            kept_key(&Kept::Event(a.get())),
            kept_key(&Kept::Event(b.get()))
        );
        assert_eq!(kept_key(&Kept::Raw("")), "malformed:cbf29ce484222325");
    }

    #[test]
    fn handled_uuids_are_bounded_and_forget_the_oldest() {
        let mut h = Handled::from_vec((0..MAX_REMEMBERED_UUIDS).map(|i| i.to_string()).collect());
        h.extend(["new".to_string(), "0".to_string()]);
        assert_eq!(h.to_vec().len(), MAX_REMEMBERED_UUIDS);
        // "0" was already known, so re-adding it changes nothing; "new" pushes it out.
        assert!(h.contains("new") && h.contains("1") && !h.contains("0"));
    }
}
