//! One page of a snapshot's list: its records, the parents it names for later lists, and
//! what a refusal means.

use url::Url;

use super::{Seen, Stop};
use crate::directory::deliver::{Left, Outgoing};
use crate::directory::head::Head;
use crate::directory::kind::{Action, Kind};
use crate::directory::record::{filtered, object_record, snapshot_key};
use crate::directory::run::{Ctx, DirectoryReport};
use crate::directory::times::{unix, unix_ms};
use crate::directory::walk::{first_url, redacted, FullCheckpoint, Parent, Step};
use crate::okta::{FetchError, ListPage};

/// Pages of one list after which it is taken as endless.
const MAX_PAGES_PER_LIST: u32 = 100_000;
/// Times a list is started again after Okta refused its cursor.
const MAX_RESTARTS: u32 = 2;

impl Ctx<'_> {
    /// Reads and sends one page of `step`, moving the checkpoint past it.
    pub(super) async fn page(
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
            let head = match Head::of(item) {
                Ok(head) => head,
                Err(reason) => {
                    tracing::warn!(url = %redacted(&page.url), reason = %reason, "an item Okta listed is unreadable: kept in the dead letters");
                    out.push(Outgoing::malformed(item, reason));
                    continue;
                }
            };
            let id = head.id();
            match step {
                // `Everyone` (BUILT_IN) holds every user: its members are the user list.
                Step::Groups if head.is_built_in() => {}
                Step::Groups => {
                    let version = head.membership_version();
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
                json: object_record(&stamp, (kind, Action::Snapshot), &id, &version, &object),
                kind: Some(kind),
                deleted: false,
                malformed: None,
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
                // The list is read again from its start: what it named is named again.
                match step {
                    Step::Groups => {
                        cp.groups.clear();
                        cp.admin_groups.clear();
                    }
                    Step::Apps => cp.apps.clear(),
                    Step::RoleAssignees => cp.admin_users.clear(),
                    _ => {}
                }
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
}
