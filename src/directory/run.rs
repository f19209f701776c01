//! A directory run: what it is asked, what it needs, what it answers.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::time::Instant;

use super::kind::PerKind;
use super::record::Stamp;
use super::state::StateError;
use crate::config::DirectoryConfig;
use crate::delivery::Pipeline;
use crate::event::format_rfc3339;
use crate::lambda::{self, BadRequest};
use crate::okta::{FetchError, OktaLists};
use crate::state::{CheckpointError, Lease, ObjectStore, StoreError};
use crate::telemetry::{Counts, DirectoryRunSummary};

/// Which directory run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryRun {
    /// A full snapshot: continue the one in progress, or start one when due.
    Full,
    /// What changed since the last changes run.
    Changes,
}

impl DirectoryRun {
    /// `"full"` or `"changes"`; anything else is refused naming both.
    pub fn parse(value: &str) -> Result<Self, BadRequest> {
        match value {
            "full" => Ok(DirectoryRun::Full),
            "changes" => Ok(DirectoryRun::Changes),
            other => Err(BadRequest::field(
                "directory",
                format!("{other:?} is not a directory run; expected \"full\" (a snapshot) or \"changes\""),
            )),
        }
    }

    /// The name in summaries and run ids.
    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryRun::Full => "full",
            DirectoryRun::Changes => "changes",
        }
    }
}

/// Why a directory run failed outright (what it delivered before stays delivered; the
/// checkpoint holds where the next run goes on).
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Okta could not be read.
    #[error(transparent)]
    Okta(#[from] FetchError),
    /// The state bucket failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The run's checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        DirectoryError::State(StateError::Store(e))
    }
}

/// What a run did, for the summary.
#[derive(Debug, Default)]
pub struct DirectoryReport {
    /// The delivery counts.
    pub counts: Counts,
    /// Records delivered, per kind.
    pub sent: PerKind,
    /// Of those, deletions.
    pub deleted: usize,
    /// Okta pages read.
    pub pages: usize,
    /// The run's id.
    pub run_id: String,
    /// Whether nothing is left to do: the snapshot is whole (or not due), the changes are read up to now.
    pub completed: bool,
    /// Whether this invocation completed a snapshot.
    pub snapshot_completed: bool,
    /// Why it ended.
    pub stopped: String,
    /// Where a snapshot stands.
    pub progress: String,
}

impl DirectoryReport {
    /// The summary's directory part, with the Okta client's counters.
    pub fn summary(&self, run: DirectoryRun, lists: &dyn OktaLists) -> DirectoryRunSummary {
        let stats = lists.take_stats();
        DirectoryRunSummary {
            run: run.as_str(),
            run_id: self.run_id.clone(),
            kind_counts: self.sent.to_json(),
            deleted: self.deleted,
            pages: self.pages,
            okta_requests: stats.requests,
            okta_429: stats.http_429,
            rate_limit_waits: stats.rate_limit_waits,
            waited_ms: stats.waited_ms,
            completed: self.completed,
            snapshot_completed: self.snapshot_completed,
            stopped: self.stopped.clone(),
            progress: self.progress.clone(),
        }
    }
}

/// The directory side of okta-pull: its Okta lists, state bucket and settings.
pub struct Directory {
    pub(super) lists: Arc<dyn OktaLists>,
    /// The org as the events name it (`OKTA_ORG_LABEL`, or the subdomain).
    pub(super) org_label: String,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) config: DirectoryConfig,
}

impl Directory {
    /// The directory over `lists` (the same Okta client as the System Log), keeping its
    /// state in `store`; its records name the org `org_label`, as the events do.
    pub fn new(
        lists: Arc<dyn OktaLists>,
        store: Arc<dyn ObjectStore>,
        config: DirectoryConfig,
        org_label: String,
    ) -> Self {
        Directory {
            lists,
            org_label,
            store,
            config,
        }
    }

    /// The Okta client (for its counters).
    pub fn lists(&self) -> &dyn OktaLists {
        self.lists.as_ref()
    }

    /// Runs `run` through `pipeline` until done or `deadline`; `report` holds what was done
    /// whether it succeeds or not.
    pub async fn run(
        &self,
        run: DirectoryRun,
        pipeline: &Pipeline,
        request_id: &str,
        now: fn() -> OffsetDateTime,
        deadline: Instant,
        report: &mut DirectoryReport,
    ) -> Result<(), DirectoryError> {
        let ctx = Ctx {
            dir: self,
            pipeline,
            request_id,
            clock: now,
            deadline,
            stop_at: lambda::deadline_with_margin(deadline),
        };
        match run {
            DirectoryRun::Full => ctx.full(report).await,
            DirectoryRun::Changes => ctx.changes(report).await,
        }
    }
}

/// One invocation's run: the directory, the pipeline, and the time it has.
pub(super) struct Ctx<'a> {
    pub dir: &'a Directory,
    pub pipeline: &'a Pipeline,
    pub request_id: &'a str,
    pub clock: fn() -> OffsetDateTime,
    /// The Lambda deadline.
    pub deadline: Instant,
    /// When reading must stop so that the checkpoint and chunks can still be written.
    pub stop_at: Instant,
}

impl Ctx<'_> {
    /// The stamp of records observed now in `run`.
    pub fn stamp(&self, run: &str) -> Stamp {
        Stamp {
            org: self.dir.org_label.clone(),
            observed: format_rfc3339((self.clock)()),
            run: run.to_owned(),
        }
    }

    /// Whether there is time for another page.
    /// (At least what one destination attempt needs.)
    pub fn has_time(&self) -> bool {
        self.has_time_for(std::time::Duration::ZERO)
    }

    /// Whether there is time for work taking `work`, then one destination attempt.
    pub fn has_time_for(&self, work: std::time::Duration) -> bool {
        Instant::now()
            .checked_add(work.saturating_add(crate::delivery::MIN_ATTEMPT))
            .is_some_and(|t| t < self.stop_at)
    }

    /// This invocation's claim on a run's checkpoint, at `now` (unix seconds): until its
    /// deadline, so a crashed run blocks the next one no longer than that.
    pub fn lease(&self, now: i64) -> Lease {
        let left = self.deadline.saturating_duration_since(Instant::now());
        Lease {
            owner: self.request_id.to_owned(),
            until_unix: now
                .saturating_add(i64::try_from(left.as_secs()).unwrap_or(i64::MAX / 2))
                .saturating_add(1),
        }
    }

    /// The refusal of a checkpoint at `key` written for the org `found`, not this one.
    pub fn wrong_org(&self, key: &str, found: &str) -> DirectoryError {
        StoreError::Failed {
            location: self.store().location(key),
            message: format!(
                "belongs to {found}, not {}: set DIRECTORY_STATE_PREFIX to a prefix of its own",
                self.dir.lists.org().authority()
            ),
        }
        .into()
    }

    pub fn prefix(&self) -> &str {
        &self.dir.config.prefix
    }

    pub fn store(&self) -> &dyn ObjectStore {
        self.dir.store.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_and_changes_are_runs() {
        assert_eq!(DirectoryRun::parse("full"), Ok(DirectoryRun::Full));
        assert_eq!(DirectoryRun::parse("changes"), Ok(DirectoryRun::Changes));
        for bad in ["Full", "delta", ""] {
            let e = DirectoryRun::parse(bad).unwrap_err();
            assert!(
                e.0.contains("\"full\"") && e.0.contains("\"changes\""),
                "{e}"
            );
        }
    }
}
