//! A changes run: users and groups changed since the last one (Okta's `search` on
//! `lastUpdated` and `lastMembershipUpdated`), the members of groups whose membership moved,
//! the apps (no change filter: compared with the state), and users, groups and apps the
//! System Log says were deleted. Each version is sent once (its ledger key); a version a
//! snapshot already sent or is sending is left to it.

mod deletions;
mod diff;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use url::Url;

pub(super) use deletions::deletion;

use super::deliver::{Left, Outgoing};
use super::head::Head;
use super::kind::{Action, Kind};
use super::record::{changed_key, filtered, object_record, Stamp};
use super::run::{Ctx, DirectoryError, DirectoryReport};
use super::times::{parse_time, rfc3339, unix_ms};
use super::walk::{load_json, redacted, save_json, FullCheckpoint};
use crate::event::format_rfc3339;
use crate::okta::{FetchError, ListPage};
use crate::state::{Condition, Lease, StoreError};

/// Okta's search is eventually consistent: each run reads this far back past the last one.
const OVERLAP: time::Duration = time::Duration::minutes(5);
/// How far back the very first changes run reads.
const FIRST_LOOKBACK: time::Duration = time::Duration::minutes(15);
/// Pages of one list after which it is taken as endless.
const MAX_PAGES: usize = 10_000;
/// Where changes runs stand, kept in `<prefix>changes.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChangesCheckpoint {
    org: String,
    /// The next run reads changes after this (unix seconds).
    since: i64,
    /// The last run's id.
    run: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<Lease>,
}

/// Why the run stopped early.
enum Stop {
    Left(String),
    Failed(DirectoryError),
}

impl From<DirectoryError> for Stop {
    fn from(e: DirectoryError) -> Self {
        Stop::Failed(e)
    }
}

impl From<Left> for Stop {
    fn from(Left(why): Left) -> Self {
        Stop::Left(why)
    }
}

/// What one changes run works with.
struct Window {
    since: i64,
    now: i64,
    /// `now` in milliseconds, for what is seen.
    now_ms: i64,
    stamp: Stamp,
    /// The latest snapshot's listing start per kind: versions older than it are its to send.
    snapshot: Option<FullCheckpoint>,
}

impl Window {
    /// Whether the latest snapshot sends this version: it began listing the kind in a later
    /// second (a version of the same second may be sent by both, as `snapshot` and `changed`).
    fn snapshot_sends(&self, kind: Kind, version: &str) -> bool {
        let Some(from) = self.snapshot.as_ref().and_then(|s| s.listed_from(kind)) else {
            return false;
        };
        parse_time(version).is_some_and(|v| v < from)
    }
}

impl Ctx<'_> {
    fn changes_key(&self) -> String {
        format!("{}changes.json", self.prefix())
    }

    /// Everything changed since the last changes run.
    pub(super) async fn changes(&self, report: &mut DirectoryReport) -> Result<(), DirectoryError> {
        let key = self.changes_key();
        let now_t = (self.clock)();
        let now = now_t.unix_timestamp();
        let org = self.dir.lists.org().authority();
        let loaded: Option<(ChangesCheckpoint, String)> = load_json(self.store(), &key).await?;
        if let Some((cp, _)) = &loaded {
            if cp.org != org {
                return Err(self.wrong_org(&key, &cp.org));
            }
            if let Some(held) = cp.lease.as_ref().filter(|l| l.until_unix > now) {
                report.stopped =
                    format!("another invocation ({}) is reading the changes", held.owner);
                return Ok(());
            }
        }
        let run = format!(
            "changes-{}-{:04x}",
            format_rfc3339(now_t).replace([':', '-'], ""),
            fastrand::u16(..)
        );
        report.run_id = run.clone();
        let since = loaded
            .as_ref()
            .map_or(now_t - FIRST_LOOKBACK, |(cp, _)| {
                OffsetDateTime::from_unix_timestamp(cp.since).unwrap_or(now_t - FIRST_LOOKBACK)
            })
            .unix_timestamp();
        let mut cp = ChangesCheckpoint {
            org,
            since,
            run: run.clone(),
            lease: Some(self.lease(now)),
        };
        let condition = loaded
            .as_ref()
            .map_or(Condition::IfAbsent, |(_, e)| Condition::IfMatch(e));
        let etag = match save_json(self.store(), &key, &cp, condition).await {
            Ok(e) => e,
            Err(StoreError::Conflict { .. }) => {
                report.stopped = "another invocation started reading the changes first".into();
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let snapshot =
            load_json::<FullCheckpoint>(self.store(), &format!("{}full.json", self.prefix()))
                .await?
                .map(|(s, _)| s);
        let window = Window {
            since,
            now,
            now_ms: unix_ms(now_t),
            stamp: self.stamp(&run),
            snapshot,
        };
        let result = self.read_changes(&window, report).await;
        cp.lease = None;
        let outcome = match result {
            Ok(()) => {
                cp.since = now.saturating_sub(OVERLAP.whole_seconds());
                report.completed = true;
                report.stopped = format!(
                    "read the changes from {} to {}",
                    rfc3339(since),
                    rfc3339(now)
                );
                Ok(())
            }
            Err(Stop::Left(why)) => {
                report.stopped = format!(
                    "{why}: the changes since {} are read again next run",
                    rfc3339(since)
                );
                Ok(())
            }
            Err(Stop::Failed(e)) => Err(e),
        };
        if let Err(e) = save_json(self.store(), &key, &cp, Condition::IfMatch(&etag)).await {
            tracing::warn!(error = %e, "could not save the changes checkpoint: the next run reads the same changes again (the ledger drops the repeats)");
        }
        outcome
    }

    async fn read_changes(&self, w: &Window, report: &mut DirectoryReport) -> Result<(), Stop> {
        let since = rfc3339(w.since);
        let org = self.dir.lists.org();
        // Users, DEPROVISIONED ones included (search returns them).
        let users = org.api_url(
            "/api/v1/users",
            &[
                ("search", &format!("lastUpdated gt \"{since}\"")),
                ("limit", "200"),
            ],
        );
        self.each_page(users, report, |ctx, page| {
            ctx.changed_objects(w, Kind::User, page)
        })
        .await?;
        // Groups whose profile or membership changed.
        let groups = org.api_url(
            "/api/v1/groups",
            &[
                (
                    "search",
                    &format!("lastUpdated gt \"{since}\" or lastMembershipUpdated gt \"{since}\""),
                ),
                ("limit", "200"),
            ],
        );
        let mut moved: Vec<(String, String)> = Vec::new();
        self.each_page(groups, report, |ctx, page| {
            for item in &page.items {
                if let Some(h) = Head::of(item).ok().filter(|h| !h.is_built_in()) {
                    let membership = h.membership_version();
                    if parse_time(membership).is_some_and(|t| t > w.since) {
                        moved.push((h.id().to_owned(), membership.to_owned()));
                    }
                }
            }
            let changed: Vec<&RawValue> = page
                .items
                .iter()
                .map(AsRef::as_ref)
                .filter(|item| {
                    Head::of(item)
                        .ok()
                        .is_some_and(|h| parse_time(h.version()).is_none_or(|t| t > w.since))
                })
                .collect();
            ctx.changed_from(w, Kind::Group, &changed)
        })
        .await?;
        let news = self.read_log(w, report).await?;
        self.memberships(w, &moved, &news.deleted, report).await?;
        self.apps(w, &news, report).await
    }

    /// Reads every page from `url`, handing each to `handle` and sending what it returns.
    async fn each_page(
        &self,
        url: Url,
        report: &mut DirectoryReport,
        mut handle: impl FnMut(&Self, &ListPage) -> Vec<Outgoing>,
    ) -> Result<(), Stop> {
        let mut next = Some(url);
        let mut pages = 0usize;
        while let Some(url) = next.take() {
            if !self.has_time() {
                return Err(Stop::Left("out of time".into()));
            }
            let page = self.fetch(&url).await?;
            report.pages = report.pages.saturating_add(1);
            pages += 1;
            let records = handle(self, &page);
            self.send(&records, report).await?;
            next = match page.next {
                Some(n) if n == page.url || pages >= MAX_PAGES => {
                    return Err(Stop::Failed(DirectoryError::Okta(FetchError::Rejected {
                        status: 200,
                        detail: format!("the list at {} does not end (its next link is the page itself, or it passed {MAX_PAGES} pages)", redacted(&page.url)),
                    })));
                }
                n => n,
            };
        }
        Ok(())
    }

    /// Every page from `url`, for lists read whole before deciding (members, apps).
    async fn read_list(
        &self,
        url: Url,
        report: &mut DirectoryReport,
    ) -> Result<Vec<Box<RawValue>>, Stop> {
        let mut items = Vec::new();
        self.each_page(url, report, |_, page| {
            items.extend(page.items.iter().cloned());
            Vec::new()
        })
        .await?;
        Ok(items)
    }

    async fn fetch(&self, url: &Url) -> Result<ListPage, Stop> {
        match self.dir.lists.list(url, self.stop_at).await {
            Ok(page) => Ok(page),
            Err(FetchError::OutOfTime { reason }) => {
                Err(Stop::Left(format!("out of time ({reason})")))
            }
            Err(e) => Err(Stop::Failed(e.into())),
        }
    }

    fn changed_objects(&self, w: &Window, kind: Kind, page: &ListPage) -> Vec<Outgoing> {
        let items: Vec<&RawValue> = page.items.iter().map(AsRef::as_ref).collect();
        self.changed_from(w, kind, &items)
    }

    /// `changed` records of `items`, but not versions the latest snapshot sends.
    fn changed_from(&self, w: &Window, kind: Kind, items: &[&RawValue]) -> Vec<Outgoing> {
        let fields = self.dir.config.user_fields.as_deref();
        items
            .iter()
            .filter_map(|item| {
                // Unreadable: the snapshot keeps it in the dead letters, once a snapshot.
                let h = Head::of(item).ok()?;
                if w.snapshot_sends(kind, h.version()) {
                    return None;
                }
                let object = filtered(item, kind, fields);
                Some(Outgoing {
                    key: changed_key(kind, h.id(), h.version()),
                    json: object_record(
                        &w.stamp,
                        (kind, Action::Changed),
                        h.id(),
                        h.version(),
                        &object,
                    ),
                    kind: Some(kind),
                    deleted: false,
                    malformed: None,
                })
            })
            .collect()
    }
}
