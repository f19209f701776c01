//! The directory's stored objects, kept compact (no JSON held) so an org of 100,000 users stays cheap: users, groups and their members, apps and their assignments, admin role assignments.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

/// A user's lifecycle status, as Okta names it in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Staged,
    Provisioned,
    Active,
    Recovery,
    PasswordExpired,
    LockedOut,
    Suspended,
    /// What Okta's "deactivate" leaves: omitted from a plain `GET /api/v1/users`.
    Deprovisioned,
}

impl UserStatus {
    /// The `status` value.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Staged => "STAGED",
            UserStatus::Provisioned => "PROVISIONED",
            UserStatus::Active => "ACTIVE",
            UserStatus::Recovery => "RECOVERY",
            UserStatus::PasswordExpired => "PASSWORD_EXPIRED",
            UserStatus::LockedOut => "LOCKED_OUT",
            UserStatus::Suspended => "SUSPENDED",
            UserStatus::Deprovisioned => "DEPROVISIONED",
        }
    }
}

/// What kind of object an id names: its three-letter prefix and Okta's name in a 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    User,
    Group,
    App,
    Role,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::User => "00u",
            Kind::Group => "00g",
            Kind::App => "0oa",
            Kind::Role => "ra1",
        }
    }

    /// The resource name in Okta's `E0000007` summary.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "UserGroup",
            Kind::App => "AppInstance",
            Kind::Role => "RoleAssignment",
        }
    }
}

/// Mixed into ids so they read as opaque 20-character Okta ids, not counters.
const ID_MASK: u64 = 0x1d3a_5c7e_9b0f_2468;

/// The 20-character id of the object with sequence number `seq`.
pub(crate) fn id_of(kind: Kind, seq: u64) -> String {
    format!("{}{:017x}", kind.prefix(), seq ^ ID_MASK)
}

/// The sequence number an id of `kind` holds; `None` for anything else.
pub(crate) fn seq_of(kind: Kind, id: &str) -> Option<u64> {
    let hex = id.strip_prefix(kind.prefix())?;
    if hex.len() != 17 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|v| v ^ ID_MASK)
}

pub(crate) struct User {
    pub(crate) login: Box<str>,
    pub(crate) first_name: Box<str>,
    pub(crate) last_name: Box<str>,
    /// Profile attributes beyond the four base ones, set by `update_user`.
    pub(crate) extra: Vec<(Box<str>, Box<str>)>,
    pub(crate) status: UserStatus,
    pub(crate) created: OffsetDateTime,
    pub(crate) status_changed: OffsetDateTime,
    pub(crate) last_updated: OffsetDateTime,
    pub(crate) roles: Vec<RoleAssignment>,
}

pub(crate) struct Group {
    pub(crate) name: Box<str>,
    pub(crate) description: Box<str>,
    pub(crate) created: OffsetDateTime,
    /// Profile changes only.
    pub(crate) last_updated: OffsetDateTime,
    /// Membership changes only: the one place they show.
    pub(crate) last_membership_updated: OffsetDateTime,
    pub(crate) members: BTreeSet<u64>,
    pub(crate) roles: Vec<RoleAssignment>,
}

pub(crate) struct App {
    pub(crate) label: Box<str>,
    pub(crate) active: bool,
    pub(crate) created: OffsetDateTime,
    pub(crate) last_updated: OffsetDateTime,
    /// Direct assignments (`scope` USER): user seq to when assigned.
    pub(crate) users: BTreeMap<u64, OffsetDateTime>,
    /// Group assignments: group seq to when assigned; their members are app users with `scope` GROUP.
    pub(crate) groups: BTreeMap<u64, OffsetDateTime>,
}

/// One admin role given to a user or a group.
pub(crate) struct RoleAssignment {
    pub(crate) seq: u64,
    pub(crate) role_type: Box<str>,
    pub(crate) created: OffsetDateTime,
}

/// Every object of the fake org, keyed by sequence number, so paging follows creation order.
#[derive(Default)]
pub(crate) struct Store {
    pub(crate) users: BTreeMap<u64, User>,
    pub(crate) groups: BTreeMap<u64, Group>,
    pub(crate) apps: BTreeMap<u64, App>,
    next_seq: u64,
}

impl Store {
    /// A sequence number never used before in this org (shared by every kind).
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(crate) fn user(&self, id: &str) -> Option<(u64, &User)> {
        let seq = seq_of(Kind::User, id)?;
        self.users.get(&seq).map(|u| (seq, u))
    }

    pub(crate) fn group(&self, id: &str) -> Option<(u64, &Group)> {
        let seq = seq_of(Kind::Group, id)?;
        self.groups.get(&seq).map(|g| (seq, g))
    }

    pub(crate) fn app(&self, id: &str) -> Option<(u64, &App)> {
        let seq = seq_of(Kind::App, id)?;
        self.apps.get(&seq).map(|a| (seq, a))
    }

    /// The app's users in user order, each with whether it is assigned directly (`scope`
    /// USER) rather than only through a group (`scope` GROUP).
    pub(crate) fn app_users(&self, app: &App) -> BTreeMap<u64, bool> {
        let mut users: BTreeMap<u64, bool> = app.users.keys().map(|&u| (u, true)).collect();
        for group in app.groups.keys().filter_map(|g| self.groups.get(g)) {
            for &member in &group.members {
                users.entry(member).or_insert(false);
            }
        }
        users
    }
}
