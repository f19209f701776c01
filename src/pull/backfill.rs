//! A backfill: one explicit `[since, until)` window read with a bounded request, without the
//! checkpoint and without waiting for push.

use time::OffsetDateTime;
use tokio::time::Instant;

use super::invocation::Backfill;
use super::page::{Handled, Incomplete, PageRules};
use super::{PullError, PullHandler, Stopped, Tally};
use crate::event::format_rfc3339;
use crate::lambda;
use crate::okta::FetchError;

impl PullHandler {
    pub(super) async fn run_backfill(
        &self,
        window: &Backfill,
        request_id: &str,
        deadline: Instant,
        tally: &mut Tally,
    ) -> Result<(), PullError> {
        let now = (self.clock)();
        let max_age = window.max_age.unwrap_or(self.config.max_event_age);
        if max_age.is_some_and(|m| now - window.since > m) {
            tracing::warn!("the backfill window starts before MAX_EVENT_AGE_SECONDS: older events will be skipped (pass \"max_event_age_seconds\": 0 to keep them)");
        }
        // A backfill window is explicit: it never waits for push.
        let stop_at = lambda::deadline_with_margin(deadline);
        let rules = PageRules {
            max_age,
            settle: None,
            stop_at,
            deadline,
        };
        // Where the window still to do starts: the oldest event left on the page that
        // stopped, else the newest of the pages handled whole (a repeat there is skipped by
        // the ledger), else the window's start.
        let incomplete = |reason: String, tally: &Tally, left: Option<OffsetDateTime>| {
            PullError::BackfillIncomplete {
                reason,
                resume_from: format_rfc3339(left.or(tally.newest_done).unwrap_or(window.since)),
                until: format_rfc3339(window.until),
            }
        };
        let url = self.config.org.bounded_url(window.since, window.until);
        let mut handled = Handled::default();
        let mut page = self.log.fetch(&url, stop_at).await.map_err(|e| match e {
            FetchError::OutOfTime { reason } => incomplete(reason, tally, None),
            e => e.into(),
        })?;
        loop {
            let next = page
                .next
                .clone()
                .filter(|n| n != &page.url && !page.events.is_empty());
            let (outcome, prefetched) = tokio::join!(
                self.handle_page(&page, &handled, request_id, rules, tally),
                async {
                    match &next {
                        Some(n) => Some(self.log.fetch(n, stop_at).await),
                        None => None,
                    }
                }
            );
            handled.extend(outcome.handled);
            let left = outcome.oldest_left;
            match outcome.incomplete {
                Some(Incomplete::Destination(reason)) => {
                    return Err(incomplete(format!("destination: {reason}"), tally, left))
                }
                Some(Incomplete::Ledger(reason)) => {
                    return Err(incomplete(
                        format!("delivery ledger: {reason}"),
                        tally,
                        left,
                    ))
                }
                Some(Incomplete::DeadLetters(e)) => {
                    return Err(incomplete(e.to_string(), tally, left))
                }
                // An event another invocation is sending is that one's to deliver (and its
                // source's to give again if it fails): counted as in_flight, not read again.
                Some(Incomplete::Settling | Incomplete::InFlight) | None => {}
            }
            tally.newest_done = tally.newest_done.max(tally.newest_seen);
            match prefetched {
                None => {
                    tally.stop(Stopped::BackfillDone);
                    return Ok(());
                }
                Some(Ok(p)) => page = p,
                Some(Err(FetchError::OutOfTime { reason })) => {
                    return Err(incomplete(reason, tally, None))
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }
}
