//! A scheduled run: claim the checkpoint with a lease, follow Okta's `next` links from it
//! page by page, save it after every page, and release it.

use tokio::time::Instant;

use super::page::{Handled, Incomplete, PageRules};
use super::{PullError, PullHandler, Stopped, Tally};
use crate::event::format_rfc3339;
use crate::lambda;
use crate::okta::{FetchError, PAGE_LIMIT};
use crate::state::{Checkpoint, CheckpointError, Lease, CHECKPOINT_VERSION};

impl PullHandler {
    fn scheduled_rules(&self, deadline: Instant) -> PageRules {
        PageRules {
            max_age: self.config.max_event_age,
            settle: (!self.config.settle_delay.is_zero()).then_some(self.config.settle_delay),
            stop_at: lambda::deadline_with_margin(deadline),
            deadline,
        }
    }

    /// Applies the ledger's pending marks, within a tenth of the time left; a failure is
    /// logged and left for the next run.
    async fn catch_up(&self, deadline: Instant) {
        let ledger = self.lanes.main().ledger();
        let until = Instant::now() + deadline.saturating_duration_since(Instant::now()) / 10;
        match tokio::time::timeout_at(until, ledger.catch_up(until)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not apply the pending delivered marks: the next run tries again")
            }
            Err(_) => tracing::warn!(
                "applying the pending delivered marks took too long: the next run goes on"
            ),
        }
    }

    pub(super) async fn run_scheduled(
        &self,
        request_id: &str,
        deadline: Instant,
        tally: &mut Tally,
    ) -> Result<(), PullError> {
        let now = (self.clock)();
        let org = self.config.org.authority();
        let lease = Lease {
            owner: request_id.to_owned(),
            until_unix: now.unix_timestamp()
                + i64::try_from(deadline.saturating_duration_since(Instant::now()).as_secs())
                    .unwrap_or(i64::MAX / 2)
                + 1,
        };
        // Delivered marks earlier runs could not write go into the ledger first.
        let (loaded, ()) = tokio::join!(self.checkpoints.load(), self.catch_up(deadline));
        let (mut checkpoint, expected) = match loaded? {
            None => {
                let since = now - self.config.initial_lookback;
                tracing::info!(since = %format_rfc3339(since), "no checkpoint yet: starting INITIAL_LOOKBACK_SECONDS back");
                let fresh = Checkpoint {
                    version: CHECKPOINT_VERSION,
                    org: org.clone(),
                    next: self.config.org.polling_url(since).to_string(),
                    handled_at_next: Vec::new(),
                    updated_at: format_rfc3339(now),
                    lease: None,
                };
                (fresh, None)
            }
            Some(stored) => {
                if stored.checkpoint.org != org {
                    return Err(PullError::WrongOrg {
                        location: self.checkpoints.location(),
                        found: stored.checkpoint.org,
                        expected: org,
                    });
                }
                if let Some(held) = stored
                    .checkpoint
                    .lease
                    .as_ref()
                    .filter(|l| l.until_unix > now.unix_timestamp())
                {
                    tally.stop(Stopped::LeaseHeld(held.owner.clone()));
                    tracing::warn!(holder = %held.owner, "another run holds the checkpoint: stopping without reading");
                    return Ok(());
                }
                (stored.checkpoint, Some(stored.etag))
            }
        };
        checkpoint.lease = Some(lease);
        let mut etag = match self
            .checkpoints
            .save(&checkpoint, expected.as_deref())
            .await
        {
            Ok(etag) => etag,
            Err(CheckpointError::Conflict) => {
                tally.stop(Stopped::LeaseTaken);
                tracing::warn!(
                    "another run claimed the checkpoint first: stopping without reading"
                );
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };

        let result = self
            .follow(&mut checkpoint, &mut etag, request_id, deadline, tally)
            .await;
        // Release the claim whatever happened, so the next run need not wait for it to lapse.
        checkpoint.lease = None;
        checkpoint.updated_at = format_rfc3339((self.clock)());
        if let Err(e) = self.checkpoints.save(&checkpoint, Some(&etag)).await {
            tracing::warn!(error = %e, "could not release the checkpoint claim; it lapses at the deadline");
        }
        result
    }

    /// Reads from the checkpoint onwards, saving it after every handled page. Whatever
    /// happens, `checkpoint` ends up holding the uuids handled at its `next` link.
    async fn follow(
        &self,
        checkpoint: &mut Checkpoint,
        etag: &mut String,
        request_id: &str,
        deadline: Instant,
        tally: &mut Tally,
    ) -> Result<(), PullError> {
        let mut cursor = Cursor {
            url: self.log.check_link(&checkpoint.next)?,
            handled: Handled::from_vec(std::mem::take(&mut checkpoint.handled_at_next)),
        };
        let result = self
            .follow_pages(&mut cursor, checkpoint, etag, request_id, deadline, tally)
            .await;
        checkpoint.handled_at_next = cursor.handled.to_vec();
        result
    }

    async fn follow_pages(
        &self,
        cursor: &mut Cursor,
        checkpoint: &mut Checkpoint,
        etag: &mut String,
        request_id: &str,
        deadline: Instant,
        tally: &mut Tally,
    ) -> Result<(), PullError> {
        let rules = self.scheduled_rules(deadline);
        let stop_at = rules.stop_at;
        let mut page = match self.log.fetch(&cursor.url, stop_at).await {
            Ok(p) => p,
            Err(FetchError::OutOfTime { reason }) => {
                tally.stop(Stopped::OutOfTime(reason));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        loop {
            let full = page.events.len() >= PAGE_LIMIT;
            if full && page.next.as_ref() == Some(&cursor.url) {
                return Err(PullError::Loop {
                    url: cursor.url.to_string(),
                });
            }
            // The next page is read while this one is delivered.
            let prefetch = page.next.clone().filter(|_| full);
            let (outcome, prefetched) = tokio::join!(
                self.handle_page(&page, &cursor.handled, request_id, rules, tally),
                async {
                    match &prefetch {
                        Some(next) => Some(self.log.fetch(next, stop_at).await),
                        None => None,
                    }
                }
            );
            cursor.advance(&page, outcome.handled, outcome.incomplete.is_none());
            checkpoint.next = cursor.url.to_string();
            checkpoint.handled_at_next = cursor.handled.to_vec();
            checkpoint.updated_at = format_rfc3339((self.clock)());
            match self.checkpoints.save(checkpoint, Some(etag)).await {
                Ok(new) => *etag = new,
                Err(CheckpointError::Conflict) => {
                    tally.stop(Stopped::LeaseLost);
                    tracing::error!("the checkpoint changed under this run: stopping");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            let stopped = match (outcome.incomplete, prefetched) {
                (Some(Incomplete::DeadLetters(e)), _) => return Err(e.into()),
                (Some(Incomplete::Settling), _) => Stopped::Settling,
                (Some(Incomplete::InFlight), _) => Stopped::InFlight,
                (Some(Incomplete::Ledger(reason)), _) => Stopped::Ledger(reason),
                (Some(Incomplete::Destination(reason)), _) => Stopped::Destination(reason),
                _ if !full => Stopped::CaughtUp,
                (None, Some(Ok(next_page))) => {
                    page = next_page;
                    continue;
                }
                (None, Some(Err(FetchError::OutOfTime { reason }))) => Stopped::OutOfTime(reason),
                (None, Some(Err(e))) => return Err(e.into()),
                (None, None) => Stopped::NoNextLink,
            };
            tally.stop(stopped);
            return Ok(());
        }
    }
}

/// Where a scheduled run is: the link to read, and what was handled there.
struct Cursor {
    url: url::Url,
    handled: Handled,
}

impl Cursor {
    /// After a page: a new cursor when the page was handled completely and Okta issued a
    /// different `next`; otherwise the same link, remembering more of what it returns.
    fn advance(&mut self, page: &crate::okta::Page, handled: Vec<String>, complete: bool) {
        match page.next.as_ref().filter(|n| complete && *n != &self.url) {
            Some(next) => {
                // Only this page's events can come back from the new cursor (kept defensively).
                self.handled = Handled::from_vec(handled);
                self.url = next.clone();
            }
            None => self.handled.extend(handled),
        }
    }
}
