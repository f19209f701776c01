//! What a changes run compares with the state: the members of groups whose membership
//! moved, and the apps (Okta has no change filter for them).

use std::collections::BTreeSet;

use serde_json::value::RawValue;

use super::deletions::{deletion, LogNews};
use super::{Stop, Window};
use crate::directory::deliver::Outgoing;
use crate::directory::head::Head;
use crate::directory::kind::{Action, Kind};
use crate::directory::record::{changed_key, filtered, object_record};
use crate::directory::run::{Ctx, DirectoryError, DirectoryReport};
use crate::directory::state::{self, KindState};
use crate::okta::FetchError;
use crate::state::Condition;

impl Ctx<'_> {
    /// Members of the groups whose membership moved, compared with the state: additions
    /// `changed`, removals (and members of deleted groups) `deleted`.
    pub(super) async fn memberships(
        &self,
        w: &Window,
        moved: &[(String, String)],
        deleted: &BTreeSet<(Kind, String)>,
        report: &mut DirectoryReport,
    ) -> Result<(), Stop> {
        let gone_groups: Vec<&str> = deleted
            .iter()
            .filter(|(k, _)| *k == Kind::Group)
            .map(|(_, id)| id.as_str())
            .collect();
        if moved.is_empty() && gone_groups.is_empty() {
            return Ok(());
        }
        let key = state::state_key(self.prefix(), Kind::GroupMember);
        let Some((mut st, etag)) = state::load(self.store(), &key)
            .await
            .map_err(DirectoryError::from)?
        else {
            tracing::info!("no membership state yet: the first snapshot reports the memberships");
            return Ok(());
        };
        let kind = Kind::GroupMember;
        for (group, version) in moved {
            let url = self.dir.lists.org().api_url(
                &format!("/api/v1/groups/{group}/users"),
                &[("limit", "200")],
            );
            let members = match self.read_list(url, report).await {
                Err(Stop::Failed(DirectoryError::Okta(FetchError::Rejected {
                    status: 404,
                    ..
                }))) => Vec::new(),
                other => other?,
            };
            let fields = self.dir.config.user_fields.as_deref();
            let mut now_in: BTreeSet<String> = BTreeSet::new();
            let mut out = Vec::new();
            for item in &members {
                let Ok(h) = Head::of(item) else { continue };
                let id = format!("{group}/{}", h.id());
                if !st.entries.0.contains_key(id.as_str()) {
                    let object = filtered(item, kind, fields);
                    out.push(Outgoing {
                        key: changed_key(kind, &id, version),
                        json: object_record(
                            &w.stamp,
                            (kind, Action::Changed),
                            &id,
                            version,
                            &object,
                        ),
                        kind: Some(kind),
                        deleted: false,
                        malformed: None,
                    });
                }
                now_in.insert(id);
            }
            let removed: Vec<(String, String)> = st
                .entries
                .children(group)
                .filter(|(id, _)| !now_in.contains(*id))
                .map(|(id, e)| (id.to_owned(), e.version.to_string()))
                .collect();
            out.extend(
                removed
                    .iter()
                    .map(|(id, v)| deletion(&w.stamp, kind, id, v)),
            );
            self.send(&out, report).await?;
            for (id, _) in &removed {
                st.entries.0.remove(id.as_str());
            }
            for id in now_in {
                st.entries.see(kind, &id, version, w.now_ms);
            }
        }
        for group in gone_groups {
            let members: Vec<(String, String)> = st
                .entries
                .children(group)
                .map(|(id, e)| (id.to_owned(), e.version.to_string()))
                .collect();
            let out: Vec<Outgoing> = members
                .iter()
                .map(|(id, v)| deletion(&w.stamp, kind, id, v))
                .collect();
            self.send(&out, report).await?;
            for (id, _) in &members {
                st.entries.0.remove(id.as_str());
            }
        }
        self.keep_state(&key, &st, &etag).await;
        Ok(())
    }

    /// The apps, when the System Log says one changed: the whole list (Okta has no change
    /// filter for apps) compared with the state: new or changed ones `changed`, missing ones
    /// `deleted`.
    pub(super) async fn apps(
        &self,
        w: &Window,
        news: &LogNews,
        report: &mut DirectoryReport,
    ) -> Result<(), Stop> {
        let deleted = &news.deleted;
        let gone_apps = deleted.iter().filter(|(k, _)| *k == Kind::App).count();
        if !news.apps_changed && gone_apps == 0 {
            // The System Log names every change of an app: nothing to read.
            return Ok(());
        }
        let key = state::state_key(self.prefix(), Kind::App);
        let Some((mut st, etag)) = state::load(self.store(), &key)
            .await
            .map_err(DirectoryError::from)?
        else {
            tracing::info!("no app state yet: the first snapshot reports the apps");
            return Ok(());
        };
        if !news.apps_changed {
            // Only deletions, already sent: the state forgets them.
            for (_, id) in deleted.iter().filter(|(k, _)| *k == Kind::App) {
                st.entries.0.remove(id.as_str());
            }
            self.keep_state(&key, &st, &etag).await;
            return Ok(());
        }
        let url = self
            .dir
            .lists
            .org()
            .api_url("/api/v1/apps", &[("limit", "200")]);
        let apps = self.read_list(url, report).await?;
        let mut listed: BTreeSet<String> = BTreeSet::new();
        let mut changed: Vec<&RawValue> = Vec::new();
        for item in &apps {
            let Ok(h) = Head::of(item) else { continue };
            if st
                .entries
                .0
                .get(h.id())
                .is_none_or(|e| *e.version != *h.version())
            {
                changed.push(item);
            }
            listed.insert(h.id().to_owned());
        }
        let mut out = self.changed_from(w, Kind::App, &changed);
        let gone: Vec<(String, String)> = st
            .entries
            .0
            .iter()
            .filter(|(id, e)| {
                !listed.contains(id.as_ref())
                    && e.observed < w.now_ms
                    && !deleted.contains(&(Kind::App, id.to_string()))
            })
            .map(|(id, e)| (id.to_string(), e.version.to_string()))
            .collect();
        out.extend(
            gone.iter()
                .map(|(id, v)| deletion(&w.stamp, Kind::App, id, v)),
        );
        self.send(&out, report).await?;
        for (id, _) in &gone {
            st.entries.0.remove(id.as_str());
        }
        for item in &changed {
            if let Ok(h) = Head::of(item) {
                st.entries.see(Kind::App, h.id(), h.version(), w.now_ms);
            }
        }
        self.keep_state(&key, &st, &etag).await;
        Ok(())
    }

    /// Writes a state this run changed, unless a snapshot replaced it meanwhile (its
    /// comparison then reports the same deletions under the same ledger keys: nothing twice).
    async fn keep_state(&self, key: &str, st: &KindState, etag: &str) {
        match state::save(self.store(), key, st, Condition::IfMatch(etag)).await {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not save the directory state: the next snapshot compares with the older one")
            }
        }
    }
}
