//! A full snapshot: every list in turn, page by page, each object sent once per snapshot,
//! resumed across invocations from its checkpoint (held by a lease, so never two at once),
//! and compared with the last snapshot at the end to report what is gone.

use url::Url;

use super::deliver::{Left, Outgoing};
use super::kind::{Action, Kind};
use super::record::{filtered, object_record, run_key, run_record, snapshot_key, Head, Stamp};
use super::run::{Ctx, DirectoryError, DirectoryReport};
use super::state::{self, Entries};
use super::walk::{first_url, load_json, save_json, FullCheckpoint, Parent, Step};
use crate::event::format_rfc3339;
use crate::okta::{FetchError, ListPage};
use crate::state::{Condition, Lease, StoreError};

/// Pages between two saves of the checkpoint (and of what was seen).
const PAGES_PER_SAVE: usize = 50;
/// Pages of one list after which it is taken as endless.
const MAX_PAGES_PER_LIST: u32 = 100_000;
/// Times a list is started again after Okta refused its cursor.
const MAX_RESTARTS: u32 = 2;

/// What a snapshot saw in this invocation, per kind, until the next save.
#[derive(Default)]
pub(super) struct Seen(pub [Entries; 7]);

impl Seen {
    fn is_empty(&self) -> bool {
        self.0.iter().all(|e| e.0.is_empty())
    }
}

fn unix(t: time::OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Unix milliseconds: when an entry was seen.
pub(super) fn unix_ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn at(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(format_rfc3339)
        .unwrap_or_default()
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
            Some((cp, _)) if cp.org != org => return Err(StoreError::Failed {
                location: self.store().location(&key),
                message: format!(
                    "belongs to {}, not {org}: set DIRECTORY_STATE_PREFIX to a prefix of its own",
                    cp.org
                ),
            }
            .into()),
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
        let left = self
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        cp.lease = Some(Lease {
            owner: self.request_id.to_owned(),
            until_unix: now
                .saturating_add(i64::try_from(left.as_secs()).unwrap_or(i64::MAX / 2))
                .saturating_add(1),
        });
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
        if cp.step == Step::Users && cp.next.is_none() && cp.listed_from.is_empty() {
            let stamp = self.stamp(&cp.run);
            let started = Outgoing {
                key: run_key(&cp.run, "started"),
                json: run_record(&stamp, "started", None),
                kind: None,
                deleted: false,
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
                    if !self.has_time() {
                        report.stopped = format!(
                            "out of time: the snapshot goes on from {} at the next invocation",
                            cp.progress()
                        );
                        return self.save(cp, etag, &mut seen).await;
                    }
                    match self.page(cp, step, &mut seen, report).await {
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

    /// Reads and sends one page of `step`, moving the checkpoint past it.
    async fn page(
        &self,
        cp: &mut FullCheckpoint,
        step: Step,
        seen: &mut Seen,
        report: &mut DirectoryReport,
    ) -> Result<(), Stop> {
        let org = self.dir.lists.org();
        let parent = cp.parents(step).and_then(|p| p.get(cp.index)).cloned();
        let url = match cp.next.as_deref().map(Url::parse) {
            Some(Ok(url)) => url,
            Some(Err(_)) | None => match first_url(org, step, parent.as_ref()) {
                Some(url) => url,
                None => {
                    cp.advance();
                    return Ok(());
                }
            },
        };
        let now = unix((self.clock)());
        let now_ms = unix_ms((self.clock)());
        if let Some(kind) = step.kind() {
            cp.begin(kind, now);
        }
        let page = match self.dir.lists.list(&url, self.stop_at).await {
            Ok(page) => page,
            Err(e) => return self.refused(cp, step, parent.as_ref(), e),
        };
        report.pages = report.pages.saturating_add(1);
        cp.list_pages = cp.list_pages.saturating_add(1);
        let (records, parents) = self.records(cp, step, parent.as_ref(), &page, seen, now_ms);
        let sent_before = report.sent;
        self.send(&records, report)
            .await
            .map_err(|Left(why)| Stop::Left(why))?;
        for k in Kind::ALL {
            let i = k as usize;
            cp.sent[i] =
                cp.sent[i].saturating_add(report.sent.0[i].saturating_sub(sent_before.0[i]));
        }
        match step {
            Step::Groups => cp.groups.extend(parents.0),
            Step::Apps => cp.apps.extend(parents.0),
            Step::RoleAssignees => cp.admin_users.extend(parents.0),
            _ => {}
        }
        cp.admin_groups.extend(parents.1);
        match page.next {
            Some(next) if next == page.url || cp.list_pages >= MAX_PAGES_PER_LIST => {
                tracing::warn!(url = %redacted(&page.url), pages = cp.list_pages, "Okta's list does not end (its next link is the page itself, or it went past every cap): ending it here");
                if let Some(kind) = step.kind() {
                    cp.mark_partial(kind, format!("Okta's list did not end (its next link pointed back at the same page, or it passed {MAX_PAGES_PER_LIST} pages)"));
                }
                cp.advance();
            }
            Some(next) => cp.next = Some(next.to_string()),
            None => cp.advance(),
        }
        Ok(())
    }

    /// The records of one page, what it names as parents of later steps, and what was seen.
    fn records(
        &self,
        cp: &FullCheckpoint,
        step: Step,
        parent: Option<&Parent>,
        page: &ListPage,
        seen: &mut Seen,
        now_ms: i64,
    ) -> (Vec<Outgoing>, (Vec<Parent>, Vec<Parent>)) {
        let stamp = self.stamp(&cp.run);
        let fields = self.dir.config.user_fields.as_deref();
        let mut out = Vec::with_capacity(page.items.len());
        let mut parents = (Vec::new(), Vec::new());
        for item in &page.items {
            let Some(head) = Head::of(item) else {
                tracing::warn!(url = %redacted(&page.url), "an item without an id: skipped");
                continue;
            };
            let id = head.id();
            match step {
                Step::Groups => {
                    let version = head.last_membership_updated.as_deref().unwrap_or_default();
                    parents.0.push(Parent {
                        id: id.into(),
                        version: version.into(),
                    });
                    if head.has_admin_privilege() {
                        parents.1.push(Parent {
                            id: id.into(),
                            version: String::new(),
                        });
                    }
                }
                Step::Apps | Step::RoleAssignees => parents.0.push(Parent {
                    id: id.into(),
                    version: String::new(),
                }),
                _ => {}
            }
            let Some(kind) = step.kind() else { continue };
            let (id, version) = match parent {
                Some(p) if kind.is_pair() => (
                    format!("{}/{id}", p.id),
                    if step == Step::GroupMembers {
                        p.version.clone()
                    } else {
                        head.version().to_owned()
                    },
                ),
                _ => (id.to_owned(), head.version().to_owned()),
            };
            let object = filtered(item, kind, fields);
            out.push(Outgoing {
                key: snapshot_key(&cp.run, kind, &id),
                json: object_record(&stamp, kind, Action::Snapshot, &id, &object),
                kind: Some(kind),
                deleted: false,
            });
            seen.0[kind as usize].see(kind, &id, &version, now_ms);
        }
        (out, parents)
    }

    /// What a refused page means for the snapshot.
    fn refused(
        &self,
        cp: &mut FullCheckpoint,
        step: Step,
        parent: Option<&Parent>,
        e: FetchError,
    ) -> Result<(), Stop> {
        match e {
            FetchError::ForbiddenList { .. } if step.is_roles() => {
                tracing::warn!(error = %e, "admin role assignments are not readable with this credential: the snapshot goes on without them");
                cp.mark_partial(Kind::AdminRole, e.to_string());
                cp.step = Step::Compare;
                cp.index = 0;
                cp.next = None;
                Ok(())
            }
            FetchError::Rejected { status: 400, .. }
                if cp.next.is_some() && cp.restarts < MAX_RESTARTS =>
            {
                tracing::warn!(error = %e, list = %cp.progress(), "Okta refused the list's cursor: reading the list again from its start");
                cp.next = None;
                cp.restarts += 1;
                Ok(())
            }
            FetchError::Rejected { status: 404, .. } if parent.is_some() => {
                tracing::info!(list = %cp.progress(), "the object was deleted since it was listed: going on with the next");
                cp.advance();
                Ok(())
            }
            FetchError::OutOfTime { reason } => Err(Stop::Left(format!("out of time ({reason})"))),
            e => Err(Stop::Failed(e.into())),
        }
    }

    /// Writes what was seen since the last save as chunks, then the checkpoint.
    async fn save(
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

    /// The comparison, the new state, the completed record; then the snapshot is done.
    async fn finish(
        &self,
        cp: &mut FullCheckpoint,
        etag: &mut String,
        report: &mut DirectoryReport,
    ) -> Result<(), DirectoryError> {
        let stamp = self.stamp(&cp.run);
        for kind in Kind::ALL {
            if !cp.is_whole(kind) {
                continue;
            }
            if let Err(Left(why)) = self.compare(cp, kind, &stamp, report).await? {
                report.stopped = format!(
                    "{why}: the comparison with the last snapshot goes on at the next invocation"
                );
                return Ok(());
            }
        }
        let sent: serde_json::Map<String, serde_json::Value> = Kind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), cp.sent[*k as usize].into()))
            .collect();
        let partial: Vec<serde_json::Value> = cp
            .partial
            .iter()
            .map(|(k, why)| serde_json::json!({ "kind": k.as_str(), "reason": why }))
            .collect();
        let detail = serde_json::json!({
            "started": at(cp.started),
            "objects": sent,
            "partial": partial,
        });
        let completed = Outgoing {
            key: run_key(&cp.run, "completed"),
            json: run_record(&stamp, "completed", Some(&detail)),
            kind: None,
            deleted: false,
        };
        if let Err(Left(why)) = self.send(&[completed], report).await {
            report.stopped =
                format!("{why}: the snapshot's completion is sent at the next invocation");
            return Ok(());
        }
        cp.step = Step::Done;
        cp.completed_at = Some(unix((self.clock)()));
        *etag = save_json(self.store(), &self.full_key(), cp, Condition::IfMatch(etag)).await?;
        state::delete_chunks(self.store(), self.prefix(), &cp.run).await;
        report.completed = true;
        report.snapshot_completed = true;
        report.stopped = match cp.partial.is_empty() {
            true => "snapshot completed".into(),
            false => format!(
                "snapshot completed without {} (see the completed record)",
                cp.partial
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Ok(())
    }

    /// Sends `kind`'s deletions and replaces its state with what the snapshot saw (plus what
    /// changes runs saw after the snapshot began). Done once per snapshot: a state already
    /// replaced by it is left alone.
    async fn compare(
        &self,
        cp: &FullCheckpoint,
        kind: Kind,
        stamp: &Stamp,
        report: &mut DirectoryReport,
    ) -> Result<Result<(), Left>, DirectoryError> {
        let key = state::state_key(self.prefix(), kind);
        for _ in 0..3 {
            let (prev, prev_etag) = match state::load(self.store(), &key).await? {
                Some((s, e)) => (s, Some(e)),
                None => (state::KindState::default(), None),
            };
            if prev.run == cp.run {
                return Ok(Ok(()));
            }
            let seen = state::load_chunks(self.store(), self.prefix(), &cp.run, kind).await?;
            let gone: Vec<(&str, &str)> = prev
                .entries
                .0
                .iter()
                .filter(|(id, e)| e.observed < cp.started_ms && !seen.0.contains_key(*id))
                .map(|(id, e)| (id.as_ref(), e.version.as_ref()))
                .collect();
            for batch in gone.chunks(500) {
                if !self.has_time() {
                    return Ok(Err(Left("out of time".into())));
                }
                let records: Vec<Outgoing> = batch
                    .iter()
                    .map(|(id, version)| super::changes::deletion(stamp, kind, id, version))
                    .collect();
                if let Err(left) = self.send(&records, report).await {
                    return Ok(Err(left));
                }
            }
            let mut next = seen;
            for (id, e) in &prev.entries.0 {
                match next.0.get_mut(id) {
                    Some(n) if kind.is_pair() => n.version = e.version.clone(),
                    Some(_) => {}
                    None if e.observed >= cp.started_ms => {
                        next.0.insert(id.clone(), e.clone());
                    }
                    None => {}
                }
            }
            let new = state::KindState {
                run: cp.run.clone(),
                entries: next,
            };
            let condition = prev_etag
                .as_deref()
                .map_or(Condition::IfAbsent, Condition::IfMatch);
            match state::save(self.store(), &key, &new, condition).await {
                Ok(_) => return Ok(Ok(())),
                Err(state::StateError::Store(StoreError::Conflict { .. })) => {
                    tracing::info!(
                        kind = kind.as_str(),
                        "a changes run wrote the state meanwhile: comparing again"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Err(Left(format!(
            "the {} state kept changing under the comparison",
            kind.as_str()
        ))))
    }
}

/// Why a page stopped the walk.
enum Stop {
    /// Not sent or not read now; the next invocation goes on from here.
    Left(String),
    /// The run failed.
    Failed(DirectoryError),
}

/// A URL for logs: path only (ids in paths are Okta's, queries may hold cursors).
pub(super) fn redacted(url: &Url) -> String {
    url.path().to_owned()
}
