//! A backfill: one explicit `[since, until)` window read with a bounded request, without the
//! checkpoint and without waiting for push.

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
        let incomplete = |reason: String, tally: &Tally| PullError::BackfillIncomplete {
            reason,
            delivered_until: tally
                .newest_published()
                .unwrap_or_else(|| format_rfc3339(window.since)),
        };
        let url = self.config.org.bounded_url(window.since, window.until);
        let mut handled = Handled::default();
        let mut page = self.log.fetch(&url, stop_at).await.map_err(|e| match e {
            FetchError::OutOfTime { reason } => incomplete(reason, tally),
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
            match outcome.incomplete {
                Some(Incomplete::Destination(reason)) => {
                    return Err(incomplete(format!("destination: {reason}"), tally))
                }
                Some(Incomplete::DeadLetters(e)) => return Err(incomplete(e.to_string(), tally)),
                // An event another invocation is sending is that one's to deliver (and its
                // source's to give again if it fails): counted as in_flight, not read again.
                Some(Incomplete::Settling | Incomplete::InFlight) | None => {}
            }
            match prefetched {
                None => {
                    tally.stop(Stopped::BackfillDone);
                    return Ok(());
                }
                Some(Ok(p)) => page = p,
                Some(Err(FetchError::OutOfTime { reason })) => {
                    return Err(incomplete(reason, tally))
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }
}
