//! A full snapshot: every list in turn, page by page, each object sent once per snapshot,
//! resumed across invocations from its checkpoint (held by a lease, so never two at once),
//! and compared with the last snapshot at the end to report what is gone.

mod compare;
mod page;

use super::deliver::{Left, Outgoing};
use super::kind::Kind;
use super::record::{run_key, run_record};
use super::run::{Ctx, DirectoryError, DirectoryReport};
use super::state::{self, Entries};
use super::times::{rfc3339 as at, unix, unix_ms};
use super::walk::{load_json, save_json, FullCheckpoint, Step};
use crate::event::format_rfc3339;
use crate::state::{Condition, StoreError};
/// Pages between two saves of the checkpoint (and of what was seen).
const PAGES_PER_SAVE: usize = 50;

/// What a snapshot saw in this invocation, per kind, until the next save.
#[derive(Default)]
pub(super) struct Seen(pub [Entries; 7]);

impl Seen {
    fn is_empty(&self) -> bool {
        self.0.iter().all(|e| e.0.is_empty())
    }
}

impl Ctx<'_> {
    fn full_key(&self) -> String {
        format!("{}full.json", self.prefix())
    }

    /// Continues the snapshot in progress, or starts one when due.
    pub(super) async fn full(&self, report: &mut DirectoryReport) -> Result<(), DirectoryError> {
        let key = self.full_key();
        let now = unix((self.clock)());
        let org = self.dir.lists.org().authority();
        let interval = i64::try_from(self.dir.config.full_interval.as_secs()).unwrap_or(i64::MAX);
        let loaded: Option<(FullCheckpoint, String)> = load_json(self.store(), &key).await?;
        let (mut cp, etag) = match loaded {
            Some((cp, _)) if cp.org != org => return Err(self.wrong_org(&key, &cp.org)),
            Some((cp, etag)) if cp.step == Step::Done => {
                let completed = cp.completed_at.unwrap_or(cp.started);
                if completed.saturating_add(interval) > now {
                    report.run_id = cp.run;
                    report.completed = true;
                    report.stopped = format!(
                        "not due: the last snapshot completed at {}; the next starts after {}",
                        at(completed),
                        at(completed.saturating_add(interval))
                    );
                    return Ok(());
                }
                (self.new_snapshot(&org), Some(etag))
            }
            Some((cp, etag)) => {
                if let Some(held) = cp.lease.as_ref().filter(|l| l.until_unix > now) {
                    report.run_id = cp.run.clone();
                    report.stopped = format!(
                        "another invocation ({}) holds the snapshot until {}",
                        held.owner,
                        at(held.until_unix)
                    );
                    return Ok(());
                }
                (cp, Some(etag))
            }
            None => (self.new_snapshot(&org), None),
        };
        report.run_id = cp.run.clone();
        cp.lease = Some(self.lease(now));
        let condition = etag
            .as_deref()
            .map_or(Condition::IfAbsent, Condition::IfMatch);
        let mut etag = match save_json(self.store(), &key, &cp, condition).await {
            Ok(etag) => etag,
            Err(StoreError::Conflict { .. }) => {
                report.stopped = "another invocation claimed the snapshot first".into();
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let result = self.walk(&mut cp, &mut etag, report).await;
        cp.lease = None;
        if let Err(e) = save_json(self.store(), &key, &cp, Condition::IfMatch(&etag)).await {
            tracing::warn!(error = %e, "could not release the snapshot's lease; it lapses at the deadline");
        }
        report.progress = cp.progress();
        result
    }

    fn new_snapshot(&self, org: &str) -> FullCheckpoint {
        let run = format!(
            "full-{}-{:04x}",
            format_rfc3339((self.clock)()).replace([':', '-'], ""),
            fastrand::u16(..)
        );
        tracing::info!(run = %run, "starting a directory snapshot");
        FullCheckpoint::start(org.to_owned(), run, unix_ms((self.clock)()))
    }

    /// Reads from the checkpoint on, saving it every [`PAGES_PER_SAVE`] pages and before
    /// returning.
    async fn walk(
        &self,
        cp: &mut FullCheckpoint,
        etag: &mut String,
        report: &mut DirectoryReport,
    ) -> Result<(), DirectoryError> {
        let mut seen = Seen::default();
        let mut unsaved = 0usize;
        // The longest a page took to read and send: one is not started without that much
        // time left, or it would be read and not sent, and read again next invocation.
        let mut longest = std::time::Duration::ZERO;
        if cp.step == Step::Users && cp.next.is_none() && cp.listed_from.is_empty() {
            let stamp = self.stamp(&cp.run);
            let started = Outgoing {
                key: run_key(&cp.run, "started"),
                json: run_record(&stamp, "started", None),
                kind: None,
                deleted: false,
                malformed: None,
            };
            if let Err(Left(why)) = self.send(&[started], report).await {
                report.stopped = format!("the snapshot's start could not be sent ({why}); it starts again next invocation");
                return self.save(cp, etag, &mut seen).await;
            }
        }
        loop {
            cp.skip_empty();
            match cp.step {
                Step::Done => {
                    report.completed = true;
                    return Ok(());
                }
                Step::Compare => {
                    self.save(cp, etag, &mut seen).await?;
                    return self.finish(cp, etag, report).await;
                }
                step => {
                    if !self.has_time_for(longest) {
                        report.stopped = format!(
                            "out of time: the snapshot goes on from {} at the next invocation",
                            cp.progress()
                        );
                        return self.save(cp, etag, &mut seen).await;
                    }
                    let started = tokio::time::Instant::now();
                    let result = self.page(cp, step, &mut seen, report).await;
                    longest = longest.max(started.elapsed());
                    match result {
                        Ok(()) => {}
                        Err(Stop::Left(why)) => {
                            report.stopped = format!(
                                "{why}: the snapshot goes on from {} at the next invocation",
                                cp.progress()
                            );
                            return self.save(cp, etag, &mut seen).await;
                        }
                        Err(Stop::Failed(e)) => {
                            self.save(cp, etag, &mut seen).await?;
                            return Err(e);
                        }
                    }
                    unsaved += 1;
                    if unsaved >= PAGES_PER_SAVE {
                        unsaved = 0;
                        self.save(cp, etag, &mut seen).await?;
                    }
                }
            }
        }
    }

    /// Writes what was seen since the last save as chunks, then the checkpoint.
    pub(super) async fn save(
        &self,
        cp: &mut FullCheckpoint,
        etag: &mut String,
        seen: &mut Seen,
    ) -> Result<(), DirectoryError> {
        if !seen.is_empty() {
            for kind in Kind::ALL {
                let entries = &seen.0[kind as usize];
                if !entries.0.is_empty() {
                    state::save_chunk(
                        self.store(),
                        self.prefix(),
                        &cp.run,
                        kind,
                        cp.chunks,
                        entries,
                    )
                    .await?;
                }
            }
            cp.chunks = cp.chunks.saturating_add(1);
            *seen = Seen::default();
        }
        *etag = save_json(self.store(), &self.full_key(), cp, Condition::IfMatch(etag)).await?;
        Ok(())
    }
}

/// Why a page stopped the walk.
enum Stop {
    /// Not sent or not read now; the next invocation goes on from here.
    Left(String),
    /// The run failed.
    Failed(DirectoryError),
}
