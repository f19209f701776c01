//! What a directory record is about, and what happened to it.

use serde::{Deserialize, Serialize};

/// The kinds of directory objects, in the order a snapshot reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A user (`/api/v1/users`), `DEPROVISIONED` ones included.
    User,
    /// A group (`/api/v1/groups`).
    Group,
    /// A user in a group (`/api/v1/groups/{id}/users`): id `<groupId>/<userId>`.
    GroupMember,
    /// An app instance (`/api/v1/apps`).
    App,
    /// A user assigned to an app (`/api/v1/apps/{id}/users`): id `<appId>/<userId>`.
    AppUser,
    /// A group assigned to an app (`/api/v1/apps/{id}/groups`): id `<appId>/<groupId>`.
    AppGroup,
    /// An admin role assigned to a user or group: id `<assigneeId>/<assignmentId>`.
    AdminRole,
}

impl Kind {
    /// Every kind, in snapshot order.
    pub const ALL: [Kind; 7] = [
        Kind::User,
        Kind::Group,
        Kind::GroupMember,
        Kind::App,
        Kind::AppUser,
        Kind::AppGroup,
        Kind::AdminRole,
    ];

    /// The name in records, state keys and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
            Kind::GroupMember => "group_member",
            Kind::App => "app",
            Kind::AppUser => "app_user",
            Kind::AppGroup => "app_group",
            Kind::AdminRole => "admin_role",
        }
    }

    /// Whether the record's id names a pair (`<parent>/<child>`).
    pub fn is_pair(self) -> bool {
        !matches!(self, Kind::User | Kind::Group | Kind::App)
    }

    /// Its place in [`Kind::ALL`].
    pub(super) fn index(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Seen by a full snapshot.
    Snapshot,
    /// Seen changed by a changes run.
    Changed,
    /// Gone since it was last seen.
    Deleted,
}

impl Action {
    /// The name in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Snapshot => "snapshot",
            Action::Changed => "changed",
            Action::Deleted => "deleted",
        }
    }
}

/// Counts per kind, for the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PerKind(pub [usize; 7]);

impl PerKind {
    /// Adds `n` to `kind`.
    pub fn add(&mut self, kind: Kind, n: usize) {
        let slot = &mut self.0[kind.index()];
        *slot = slot.saturating_add(n);
    }

    /// `{"user": 3, ...}`, only kinds with a count.
    pub fn to_json(self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for k in Kind::ALL {
            let n = self.0[k.index()];
            if n > 0 {
                m.insert(k.as_str().into(), n.into());
            }
        }
        serde_json::Value::Object(m)
    }
}
