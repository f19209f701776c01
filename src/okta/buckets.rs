//! Okta's rate-limit buckets: which one a request path spends, so that waiting on one
//! bucket never holds up the others.

/// One of Okta's rate-limit buckets, as okta-ingest reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// `/api/v1/logs`
    Logs,
    /// `/api/v1/users` and `/api/v1/users/{id}`
    Users,
    /// `/api/v1/groups`, `/api/v1/groups/{id}` and `/api/v1/groups/{id}/users`
    Groups,
    /// Everything else: `/api/v1/apps` and under it, `/api/v1/iam/...`, the role lists of
    /// users and groups (Okta's small bucket; the testkit's fake Okta counts them alike).
    Apps,
}

impl Bucket {
    /// Every bucket, in [`Bucket::index`] order.
    pub const ALL: [Bucket; 4] = [Bucket::Logs, Bucket::Users, Bucket::Groups, Bucket::Apps];

    /// The bucket a request to `path` (without query) spends.
    pub fn of(path: &str) -> Bucket {
        let Some(rest) = path.strip_prefix("/api/v1/") else {
            return Bucket::Apps;
        };
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match parts.as_slice() {
            ["logs"] => Bucket::Logs,
            ["users"] | ["users", _] => Bucket::Users,
            ["groups"] | ["groups", _] | ["groups", _, "users"] => Bucket::Groups,
            _ => Bucket::Apps,
        }
    }

    /// A dense index, for per-bucket state.
    pub(super) fn index(self) -> usize {
        match self {
            Bucket::Logs => 0,
            Bucket::Users => 1,
            Bucket::Groups => 2,
            Bucket::Apps => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_spends_its_own_bucket() {
        for (path, bucket) in [
            ("/api/v1/logs", Bucket::Logs),
            ("/api/v1/users", Bucket::Users),
            ("/api/v1/users/", Bucket::Users),
            ("/api/v1/users/00u1", Bucket::Users),
            ("/api/v1/groups", Bucket::Groups),
            ("/api/v1/groups/00g1", Bucket::Groups),
            ("/api/v1/groups/00g1/users", Bucket::Groups),
            ("/api/v1/apps", Bucket::Apps),
            ("/api/v1/apps/0oa1/users", Bucket::Apps),
            ("/api/v1/apps/0oa1/groups", Bucket::Apps),
            ("/api/v1/iam/assignees/users", Bucket::Apps),
            ("/api/v1/users/00u1/roles", Bucket::Apps),
            ("/api/v1/groups/00g1/roles", Bucket::Apps),
            ("/oauth2/v1/token", Bucket::Apps),
        ] {
            assert_eq!(Bucket::of(path), bucket, "{path}");
        }
        for (i, b) in Bucket::ALL.iter().enumerate() {
            assert_eq!(b.index(), i);
        }
    }
}
