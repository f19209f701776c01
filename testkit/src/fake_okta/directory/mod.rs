//! The fake org's directory (Okta's Management API): users, groups and their members, apps and their assignments, admin role assignments, served beside the System Log by the same `FakeOkta`.

// This file holds the public types and the directory's state; the rest is split by concern.
mod audit; // the System Log events of deletions
mod changes; // `FakeOkta`'s methods that build an org and change it between runs
mod controls; // `FakeOkta`'s methods that script budgets, failures, refusals and cursors
mod limits;
mod listing; // one page of each list, cursors and the `next` link
mod populate; // a whole org in one call // the per-endpoint rate-limit buckets and the org-wide concurrency limit
mod query; // `filter=` and `search=` expressions, `limit`
mod render; // each object's JSON, rendered on demand
pub(crate) mod serve; // one directory request from arrival to answer
mod store; // the stored objects, kept compact

use std::collections::VecDeque;
use std::time::Duration;

use time::OffsetDateTime;

pub use changes::PopulatedOrg;
pub use limits::{Bucket, DirectoryRateLimits};
pub use store::UserStatus;

pub(crate) use limits::InFlight;

use limits::Buckets;
use store::Store;

/// One list the directory serves: what a scripted failure targets and what
/// [`FakeOkta::count_directory_requests`](super::FakeOkta::count_directory_requests) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryEndpoint {
    /// `GET /api/v1/users`
    Users,
    /// `GET /api/v1/groups`
    Groups,
    /// `GET /api/v1/groups/{id}/users`
    GroupUsers,
    /// `GET /api/v1/apps`
    Apps,
    /// `GET /api/v1/apps/{id}/users`
    AppUsers,
    /// `GET /api/v1/apps/{id}/groups`
    AppGroups,
    /// `GET /api/v1/iam/assignees/users`
    RoleAssignees,
    /// `GET /api/v1/users/{id}/roles`
    UserRoles,
    /// `GET /api/v1/groups/{id}/roles`
    GroupRoles,
}

impl DirectoryEndpoint {
    /// The endpoint a path names, with the id in it; `None` for any other path.
    pub(crate) fn of_path(path: &str) -> Option<(DirectoryEndpoint, Option<&str>)> {
        let rest = path.strip_prefix("/api/v1/")?;
        let parts: Vec<&str> = rest.split('/').collect();
        let found = match parts.as_slice() {
            ["users"] => (DirectoryEndpoint::Users, None),
            ["users", id, "roles"] => (DirectoryEndpoint::UserRoles, Some(*id)),
            ["groups"] => (DirectoryEndpoint::Groups, None),
            ["groups", id, "users"] => (DirectoryEndpoint::GroupUsers, Some(*id)),
            ["groups", id, "roles"] => (DirectoryEndpoint::GroupRoles, Some(*id)),
            ["apps"] => (DirectoryEndpoint::Apps, None),
            ["apps", id, "users"] => (DirectoryEndpoint::AppUsers, Some(*id)),
            ["apps", id, "groups"] => (DirectoryEndpoint::AppGroups, Some(*id)),
            ["iam", "assignees", "users"] => (DirectoryEndpoint::RoleAssignees, None),
            _ => return None,
        };
        Some(found)
    }

    /// The rate-limit bucket this endpoint spends: roles and `iam` go with the apps, the
    /// small bucket, as everything but users and groups does.
    pub fn bucket(self) -> Bucket {
        match self {
            DirectoryEndpoint::Users => Bucket::Users,
            DirectoryEndpoint::Groups | DirectoryEndpoint::GroupUsers => Bucket::Groups,
            _ => Bucket::Apps,
        }
    }
}

/// Whether a request to `path` is the directory's to answer (any path under its prefixes,
/// so an unknown one gets the directory's 404 and spends a directory bucket).
pub(crate) fn is_directory_path(path: &str) -> bool {
    [
        "/api/v1/users",
        "/api/v1/groups",
        "/api/v1/apps",
        "/api/v1/iam",
    ]
    .iter()
    .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// A scripted answer for one upcoming request to one endpoint
/// (see [`FakeOkta::push_directory_failure`](super::FakeOkta::push_directory_failure)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryFailure {
    /// 403 `E0000006` with a cause naming the permission the caller lacks (as for an admin
    /// without `okta.roles.read` at the roles endpoints).
    Forbidden,
    /// 429 `E0000047` without any `X-Rate-Limit-*` header.
    TooManyRequestsBare,
    /// The normal page, but `next` is the request URL itself: following it loops.
    NextSelf,
    /// The normal page, but its first user carries ~1 MB of profile attributes (on the
    /// lists of users: users, group members; elsewhere spent without effect).
    HugeProfile,
    /// Sleep this long, then answer normally (the request stays in flight meanwhile).
    Hang(Duration),
    /// This status with an Okta-shaped error body.
    Status(u16),
}

/// Everything the directory's answers depend on, inside the fake's one lock.
pub(crate) struct Directory {
    store: Store,
    /// Pinned by the test; `None` follows the fake clock.
    clock: Option<OffsetDateTime>,
    limits: DirectoryRateLimits,
    buckets: Buckets,
    failures: VecDeque<(DirectoryEndpoint, DirectoryFailure)>,
    /// Endpoints that answer 403 until told otherwise.
    forbidden: Vec<DirectoryEndpoint>,
    /// Bumped to make every cursor issued so far unknown.
    cursor_generation: u64,
}

impl Default for Directory {
    fn default() -> Directory {
        let limits = DirectoryRateLimits::default();
        Directory {
            store: Store::default(),
            clock: None,
            buckets: Buckets::new(&limits),
            limits,
            failures: VecDeque::new(),
            forbidden: Vec::new(),
            cursor_generation: 0,
        }
    }
}

impl Directory {
    /// The directory clock: pinned, or the fake clock.
    pub(crate) fn now(&self, fake_now: OffsetDateTime) -> OffsetDateTime {
        self.clock.unwrap_or(fake_now)
    }

    /// Takes the first failure queued for `endpoint`, leaving the others queued.
    pub(crate) fn take_failure(&mut self, endpoint: DirectoryEndpoint) -> Option<DirectoryFailure> {
        let at = self.failures.iter().position(|(e, _)| *e == endpoint)?;
        self.failures.remove(at).map(|(_, f)| f)
    }
}

impl Directory {
    /// Whether `endpoint` answers 403 until told otherwise.
    pub(crate) fn is_forbidden(&self, endpoint: DirectoryEndpoint) -> bool {
        self.forbidden.contains(&endpoint)
    }
}
