//! The lists a full snapshot reads, in order, and the checkpoint that says how far it got:
//! which list, which parent (group, app, admin), which page.

use serde::{Deserialize, Serialize};
use url::Url;

use super::kind::Kind;
use crate::okta::OktaOrg;
use crate::state::{Condition, Lease, ObjectStore, StoreError};

/// The checkpoint's format version.
pub(super) const FULL_VERSION: u32 = 1;

/// One list of a snapshot (or the comparison at its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Step {
    /// Every user, `DEPROVISIONED` ones included.
    Users,
    /// Every group, with `stats` (which ones hold admin roles).
    Groups,
    /// Each group's members.
    GroupMembers,
    /// Every app.
    Apps,
    /// Each app's users.
    AppUsers,
    /// Each app's groups.
    AppGroups,
    /// The users holding admin roles.
    RoleAssignees,
    /// Each of those users' role assignments.
    UserRoles,
    /// Each admin group's role assignments.
    GroupRoles,
    /// Comparing with the last snapshot: deletions, then the new state.
    Compare,
    /// Complete.
    Done,
}

impl Step {
    /// The step after this one.
    pub fn next(self) -> Step {
        match self {
            Step::Users => Step::Groups,
            Step::Groups => Step::GroupMembers,
            Step::GroupMembers => Step::Apps,
            Step::Apps => Step::AppUsers,
            Step::AppUsers => Step::AppGroups,
            Step::AppGroups => Step::RoleAssignees,
            Step::RoleAssignees => Step::UserRoles,
            Step::UserRoles => Step::GroupRoles,
            Step::GroupRoles => Step::Compare,
            Step::Compare | Step::Done => Step::Done,
        }
    }

    /// The kind of record each item becomes (`None`: the items only name parents).
    pub fn kind(self) -> Option<Kind> {
        match self {
            Step::Users => Some(Kind::User),
            Step::Groups => Some(Kind::Group),
            Step::GroupMembers => Some(Kind::GroupMember),
            Step::Apps => Some(Kind::App),
            Step::AppUsers => Some(Kind::AppUser),
            Step::AppGroups => Some(Kind::AppGroup),
            Step::UserRoles | Step::GroupRoles => Some(Kind::AdminRole),
            Step::RoleAssignees | Step::Compare | Step::Done => None,
        }
    }

    /// Whether the admin role lists: a 403 there skips them, not the snapshot.
    pub fn is_roles(self) -> bool {
        matches!(
            self,
            Step::RoleAssignees | Step::UserRoles | Step::GroupRoles
        )
    }
}

/// An object whose children a step lists, with the version its children are seen at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Parent {
    /// Its id.
    pub id: String,
    /// For a group, its `lastMembershipUpdated`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// Where a snapshot stands, kept in `<prefix>full.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FullCheckpoint {
    /// Format version.
    pub version: u32,
    /// The org it reads.
    pub org: String,
    /// The snapshot's id.
    pub run: String,
    /// When it started (unix seconds).
    pub started: i64,
    /// The same in milliseconds: what a changes run saw after it is kept, not deleted.
    #[serde(default)]
    pub started_ms: i64,
    /// When it completed (unix seconds), once it has.
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// The list being read.
    pub step: Step,
    /// Which parent of a per-parent step.
    #[serde(default)]
    pub index: usize,
    /// The next page of the list being read; `None` starts it.
    #[serde(default)]
    pub next: Option<String>,
    /// Times the list being read was started again after Okta refused its cursor.
    #[serde(default)]
    pub restarts: u32,
    /// Pages read of the list being read.
    #[serde(default)]
    pub list_pages: u32,
    /// When each kind's listing began (unix seconds): a changes run leaves versions older
    /// than this to the snapshot.
    #[serde(default)]
    pub listed_from: Vec<(Kind, i64)>,
    /// The groups, apps, admin groups and admin users read so far.
    #[serde(default)]
    pub groups: Vec<Parent>,
    #[serde(default)]
    pub apps: Vec<Parent>,
    #[serde(default)]
    pub admin_groups: Vec<Parent>,
    #[serde(default)]
    pub admin_users: Vec<Parent>,
    /// Chunks of what was seen written so far.
    #[serde(default)]
    pub chunks: u32,
    /// Kinds not read whole (a refused list, a list that looped): no deletions are
    /// reported for them, and the completed record names them, with why.
    #[serde(default)]
    pub partial: Vec<(Kind, String)>,
    /// Records delivered so far, per kind.
    #[serde(default)]
    pub sent: [usize; 7],
    /// The run holding the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

impl FullCheckpoint {
    /// A snapshot starting now.
    pub fn start(org: String, run: String, now_ms: i64) -> Self {
        FullCheckpoint {
            version: FULL_VERSION,
            org,
            run,
            started: now_ms.div_euclid(1000),
            started_ms: now_ms,
            completed_at: None,
            step: Step::Users,
            index: 0,
            next: None,
            restarts: 0,
            list_pages: 0,
            listed_from: Vec::new(),
            groups: Vec::new(),
            apps: Vec::new(),
            admin_groups: Vec::new(),
            admin_users: Vec::new(),
            chunks: 0,
            partial: Vec::new(),
            sent: [0; 7],
            lease: None,
        }
    }

    /// The parents of a per-parent step; `None` for a step that reads one list.
    pub fn parents(&self, step: Step) -> Option<&[Parent]> {
        match step {
            Step::GroupMembers => Some(&self.groups),
            Step::AppUsers | Step::AppGroups => Some(&self.apps),
            Step::UserRoles => Some(&self.admin_users),
            Step::GroupRoles => Some(&self.admin_groups),
            _ => None,
        }
    }

    /// When `kind`'s listing began in this snapshot.
    pub fn listed_from(&self, kind: Kind) -> Option<i64> {
        self.listed_from
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| *t)
    }

    /// Notes that `kind`'s listing begins at `now` (once).
    pub fn begin(&mut self, kind: Kind, now: i64) {
        if self.listed_from(kind).is_none() {
            self.listed_from.push((kind, now));
        }
    }

    /// Whether `kind` was read whole.
    pub fn is_whole(&self, kind: Kind) -> bool {
        !self.partial.iter().any(|(k, _)| *k == kind)
    }

    /// Notes that `kind` is not read whole, and why.
    pub fn mark_partial(&mut self, kind: Kind, why: String) {
        if self.is_whole(kind) {
            self.partial.push((kind, why));
        }
    }

    /// Moves to the next parent, or the next step after the last one.
    pub fn advance(&mut self) {
        self.next = None;
        self.restarts = 0;
        self.list_pages = 0;
        match self.parents(self.step) {
            Some(parents) if self.index.saturating_add(1) < parents.len() => self.index += 1,
            _ => {
                self.step = self.step.next();
                self.index = 0;
            }
        }
    }

    /// Skips the parents of per-parent steps that have none.
    pub fn skip_empty(&mut self) {
        while self.parents(self.step).is_some_and(<[Parent]>::is_empty) {
            self.step = self.step.next();
            self.index = 0;
        }
    }

    /// `users 3/5 pages`-like words for operators.
    pub fn progress(&self) -> String {
        match self.parents(self.step) {
            Some(p) => format!("{:?} {}/{}", self.step, self.index, p.len()),
            None => format!("{:?}", self.step),
        }
    }
}

/// The first page of `step` for the parent at `index`.
pub(super) fn first_url(org: &OktaOrg, step: Step, parent: Option<&Parent>) -> Option<Url> {
    let id = parent.map(|p| p.id.as_str()).unwrap_or_default();
    let url = match step {
        Step::Users => org.api_url(
            "/api/v1/users",
            &[("search", "status pr"), ("limit", "200")],
        ),
        Step::Groups => org.api_url("/api/v1/groups", &[("expand", "stats"), ("limit", "200")]),
        Step::GroupMembers => {
            org.api_url(&format!("/api/v1/groups/{id}/users"), &[("limit", "200")])
        }
        Step::Apps => org.api_url("/api/v1/apps", &[("limit", "200")]),
        Step::AppUsers => org.api_url(&format!("/api/v1/apps/{id}/users"), &[("limit", "500")]),
        Step::AppGroups => org.api_url(&format!("/api/v1/apps/{id}/groups"), &[("limit", "200")]),
        Step::RoleAssignees => org.api_url("/api/v1/iam/assignees/users", &[("limit", "100")]),
        Step::UserRoles => org.api_url(&format!("/api/v1/users/{id}/roles"), &[]),
        Step::GroupRoles => org.api_url(&format!("/api/v1/groups/{id}/roles"), &[]),
        Step::Compare | Step::Done => return None,
    };
    Some(url)
}

/// A URL for logs: path only (ids in paths are Okta's, queries may hold cursors).
pub(super) fn redacted(url: &Url) -> String {
    url.path().to_owned()
}

/// Reads a JSON object with its version (ETag).
pub(super) async fn load_json<T: serde::de::DeserializeOwned>(
    store: &dyn ObjectStore,
    key: &str,
) -> Result<Option<(T, String)>, StoreError> {
    let Some(o) = store.get(key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&o.body)
        .map(|v| Some((v, o.etag)))
        .map_err(|e| StoreError::Failed {
            location: store.location(key),
            message: format!("unreadable ({e}): delete it to start the directory run afresh"),
        })
}

/// Writes a JSON object under `condition`; returns its new version.
pub(super) async fn save_json<T: Serialize>(
    store: &dyn ObjectStore,
    key: &str,
    value: &T,
    condition: Condition<'_>,
) -> Result<String, StoreError> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    store.put(key, body, "application/json", condition).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_go_through_every_list_once_and_skip_empty_parents() {
        let mut c = FullCheckpoint::start("acme.okta.com".into(), "r".into(), 0);
        let mut seen = vec![c.step];
        c.groups = vec![
            Parent {
                id: "00g1".into(),
                version: String::new(),
            },
            Parent {
                id: "00g2".into(),
                version: String::new(),
            },
        ];
        while c.step != Step::Done {
            c.advance();
            c.skip_empty();
            seen.push(c.step);
        }
        // Two group member lists; the per-app and per-admin lists have no parents.
        assert_eq!(
            seen,
            [
                Step::Users,
                Step::Groups,
                Step::GroupMembers,
                Step::GroupMembers,
                Step::Apps,
                Step::RoleAssignees,
                Step::Compare,
                Step::Done
            ]
        );
    }

    #[test]
    fn a_list_marked_partial_stays_so_with_its_first_reason() {
        let mut c = FullCheckpoint::start("o".into(), "r".into(), 0);
        c.mark_partial(Kind::AdminRole, "403".into());
        c.mark_partial(Kind::AdminRole, "again".into());
        assert!(!c.is_whole(Kind::AdminRole) && c.is_whole(Kind::User));
        assert_eq!(c.partial, vec![(Kind::AdminRole, "403".to_string())]);
        let back: FullCheckpoint =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
