//! The directory's per-minute rate-limit buckets (users, groups, apps and the rest), each a share of the org's, and the org-wide concurrency limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::HeaderName;
use time::OffsetDateTime;

use crate::fake_okta::rate_limit::RateLimit;

/// Okta's Workforce defaults per minute, from OKTA.md.
const USERS_PER_MINUTE: u32 = 600;
const GROUPS_PER_MINUTE: u32 = 500;
const APPS_PER_MINUTE: u32 = 100;
/// Okta's default for requests in flight at once in a Workforce org.
const ORG_CONCURRENCY: usize = 75;

/// One rate-limit bucket of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// `/api/v1/users`
    Users,
    /// `/api/v1/groups` and everything under it but roles
    Groups,
    /// `/api/v1/apps` and everything under it, roles and `/api/v1/iam`
    Apps,
}

/// The directory's budgets (see [`FakeOkta::set_directory_rate_limits`](crate::fake_okta::FakeOkta::set_directory_rate_limits)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRateLimits {
    /// The org's requests per window to `/api/v1/users`.
    pub users: u32,
    /// The org's requests per window to `/api/v1/groups`.
    pub groups: u32,
    /// The org's requests per window to `/api/v1/apps` (and roles, `iam`).
    pub apps: u32,
    /// The percentage of each bucket this client may use (Okta gives an app or token 50%
    /// by default); 100 here so only a test that asks for a share sees one.
    pub share_percent: u32,
    /// The window's length (Okta's is a minute).
    pub window: Duration,
    /// Requests in flight at once, org-wide (the System Log's included), before a 429.
    pub concurrency: usize,
}

impl Default for DirectoryRateLimits {
    /// Okta's Workforce defaults, the whole bucket, a minute, 75 in flight.
    fn default() -> DirectoryRateLimits {
        DirectoryRateLimits {
            users: USERS_PER_MINUTE,
            groups: GROUPS_PER_MINUTE,
            apps: APPS_PER_MINUTE,
            share_percent: 100,
            window: Duration::from_secs(60),
            concurrency: ORG_CONCURRENCY,
        }
    }
}

impl DirectoryRateLimits {
    /// What this client may spend of an org bucket of `limit`: at least one request.
    fn share(&self, limit: u32) -> u32 {
        let share = u64::from(limit) * u64::from(self.share_percent.min(100)) / 100;
        u32::try_from(share).unwrap_or(u32::MAX).max(1)
    }
}

/// The three buckets, each a fixed window like the System Log's.
pub(crate) struct Buckets {
    users: RateLimit,
    groups: RateLimit,
    apps: RateLimit,
}

impl Buckets {
    pub(crate) fn new(limits: &DirectoryRateLimits) -> Buckets {
        let bucket = |limit| RateLimit::new(limits.share(limit), limits.window);
        Buckets {
            users: bucket(limits.users),
            groups: bucket(limits.groups),
            apps: bucket(limits.apps),
        }
    }

    pub(crate) fn get(&mut self, bucket: Bucket) -> &mut RateLimit {
        match bucket {
            Bucket::Users => &mut self.users,
            Bucket::Groups => &mut self.groups,
            Bucket::Apps => &mut self.apps,
        }
    }
}

impl super::Directory {
    /// Replaces the budgets; every bucket starts a fresh window at its next request.
    pub(crate) fn set_limits(&mut self, limits: DirectoryRateLimits) {
        self.buckets = Buckets::new(&limits);
        self.limits = limits;
    }

    pub(crate) fn bucket(&mut self, bucket: Bucket) -> &mut RateLimit {
        self.buckets.get(bucket)
    }

    pub(crate) fn concurrency(&self) -> usize {
        self.limits.concurrency
    }
}

/// One request in flight; leaving (answered, or dropped when the client went away) ends it.
pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl InFlight<'_> {
    /// Counts one more request in flight; returns it with how many are in flight with it.
    pub(crate) fn enter(counter: &AtomicUsize) -> (InFlight<'_>, usize) {
        let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
        (InFlight(counter), now)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The headers of a concurrency 429, as Okta reports it: the concurrency ceiling, nothing
/// remaining, and a reset one second on (only a hint: requests in flight end when they end).
pub(crate) fn concurrency_headers(
    limit: usize,
    fake_now: OffsetDateTime,
) -> Vec<(HeaderName, String)> {
    vec![
        (
            HeaderName::from_static("x-rate-limit-limit"),
            limit.to_string(),
        ),
        (
            HeaderName::from_static("x-rate-limit-remaining"),
            "0".to_owned(),
        ),
        (
            HeaderName::from_static("x-rate-limit-reset"),
            (fake_now.unix_timestamp() + 1).to_string(),
        ),
    ]
}
