//! The connection check's directory line: which of the directory's lists the Okta credential
//! can read, one request (`limit=1`) to each, every refusal named with what it needs.

use futures::future::join_all;
use tokio::time::Instant;

use super::Check;
use crate::okta::{FetchError, OktaLists};
use crate::pull::PullHandler;

/// The check's name in the report.
const NAME: &str = "okta directory";

/// The lists a snapshot starts from, with what they hold: reading these is what the
/// credential needs (the member and assignment lists under them need the same scopes).
const LISTS: [(&str, &str); 4] = [
    ("/api/v1/users", "users"),
    ("/api/v1/groups", "groups"),
    ("/api/v1/apps", "apps"),
    ("/api/v1/iam/assignees/users", "admin role assignments"),
];

impl PullHandler {
    /// Asks each of the directory's lists for one object, all of them whatever any answers,
    /// so one report names every missing scope or role.
    ///
    /// A refusal fails this line, and so the whole check (`"ok": false`, `okta-pull check`
    /// exits 1), even on the admin role assignments, which a snapshot goes on without: a
    /// check that passes while a kind of record is never sent would hide it. The other
    /// checks still run and report. A handler without the directory says so and passes.
    pub(super) async fn check_directory(&self, deadline: Instant) -> Check {
        let Some(directory) = &self.directory else {
            return Check {
                name: NAME,
                ok: true,
                detail: "not configured: this okta-pull reads no directory".into(),
            };
        };
        let lists = directory.lists();
        // A hanging Okta must leave the checks after this one their time.
        let deadline = Instant::now() + deadline.saturating_duration_since(Instant::now()) / 4;
        let answers = join_all(
            LISTS
                .iter()
                .map(|(path, _)| read_one(lists, path, deadline)),
        )
        .await;
        // The check's requests are not a run's: keep them out of the next run's summary.
        let _ = lists.take_stats();
        let (read, refused): (Vec<_>, Vec<_>) = LISTS
            .iter()
            .zip(answers)
            .partition(|(_, answer)| answer.is_ok());
        let read: Vec<String> = read
            .iter()
            .map(|((path, what), _)| format!("{what} ({path})"))
            .collect();
        let org = lists.org().authority();
        if refused.is_empty() {
            return Check {
                name: NAME,
                ok: true,
                detail: format!(
                    "the credential reads the directory of {org}: {}",
                    read.join(", ")
                ),
            };
        }
        // One reason per cause: an expired token or an unreachable org is said once.
        let mut reasons: Vec<(Vec<&str>, String)> = Vec::new();
        for ((_, what), answer) in refused {
            let Err(e) = answer else { continue };
            let why = refusal(&e);
            match reasons.iter_mut().find(|(_, w)| *w == why) {
                Some((whats, _)) => whats.push(what),
                None => reasons.push((vec![what], why)),
            }
        }
        let reasons: Vec<String> = reasons
            .iter()
            .map(|(whats, why)| format!("not {}: {why}", whats.join(", ")))
            .collect();
        let reads = if read.is_empty() {
            "the credential reads none of the directory".to_owned()
        } else {
            format!("the credential reads {}", read.join(", "))
        };
        Check {
            name: NAME,
            ok: false,
            detail: format!("{reads} of {org}; {}", reasons.join("; ")),
        }
    }
}

/// One object of the list at `path`, to see whether the credential may read it.
async fn read_one(lists: &dyn OktaLists, path: &str, deadline: Instant) -> Result<(), FetchError> {
    let url = lists.org().api_url(path, &[("limit", "1")]);
    lists.list(&url, deadline).await.map(|_| ())
}

/// Why a list could not be read, and what that costs the directory runs.
fn refusal(e: &FetchError) -> String {
    match e {
        FetchError::ForbiddenList { endpoint, .. } if endpoint.starts_with("/api/v1/iam/") => {
            format!("{e} (until then snapshots go on without admin_role records)")
        }
        FetchError::ForbiddenList { .. } => format!("{e} (until then directory runs fail)"),
        _ => e.to_string(),
    }
}
