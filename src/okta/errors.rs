//! What Okta answers when it refuses: its error body, and why a page could not be read.

use crate::secret::SecretError;

/// An Okta error body: `{"errorCode":"E0000047","errorSummary":"…",…}`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaErrorBody {
    /// `E00000xx`.
    #[serde(default)]
    pub error_code: String,
    /// Okta's one-line description.
    #[serde(default)]
    pub error_summary: String,
}

impl OktaErrorBody {
    /// Reads an error body; anything unreadable gives empty fields.
    pub fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// `E0000047 (API call exceeded rate limit…)`, or a placeholder.
    pub fn describe(&self) -> String {
        match (self.error_code.is_empty(), self.error_summary.is_empty()) {
            (true, true) => "no Okta error body".into(),
            (false, true) => self.error_code.clone(),
            (true, false) => self.error_summary.clone(),
            (false, false) => format!("{} ({})", self.error_code, self.error_summary),
        }
    }
}

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// 401 even after re-reading the secret.
    #[error("Okta rejected the API token (HTTP 401, {detail}). The token has expired (Okta expires tokens unused for 30 days), was revoked, or the admin who created it was deactivated. Create a new token in the Okta Admin Console (Security > API > Tokens) and store it in the secret {secret}")]
    Unauthorized {
        /// Okta's error code and summary.
        detail: String,
        /// The secret's ARN, to tell the operator where the token goes.
        secret: String,
    },
    /// 403.
    #[error("Okta refused the System Log to this token (HTTP 403, {detail}). The admin who created the token lacks permission to read the System Log: create the token as an admin with the Read-Only Administrator role (or higher)")]
    Forbidden {
        /// Okta's error code and summary.
        detail: String,
    },
    /// A `next` link pointing off the org.
    #[error("refused a next link to {host}: the API token is only ever sent to {org}")]
    ForeignLink {
        /// The foreign scheme and host.
        host: String,
        /// The configured org.
        org: String,
    },
    /// Okta kept failing (5xx, connection errors) through every attempt.
    #[error("Okta System Log unavailable after {attempts} attempts: {reason}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// Waiting (rate limit or backoff) would pass the Lambda deadline.
    #[error("stopped before the Lambda deadline: {reason}")]
    OutOfTime {
        /// What we were waiting for.
        reason: String,
    },
    /// Okta refused the request itself (400 and other 4xx).
    #[error("Okta refused the request (HTTP {status}, {detail})")]
    Rejected {
        /// The status.
        status: u16,
        /// Okta's error code and summary.
        detail: String,
    },
    /// A page whose body went on past the cap: reading it whole would exhaust the memory,
    /// and a cut page cannot be read. Nothing of it is handled.
    #[error("Okta answered the {what} at {url} with more than {} MiB, the most a page may take: nothing of it was handled, and the run stops here so the page is read again next time", cap / (1024 * 1024))]
    PageTooLarge {
        /// The cap, in bytes.
        cap: usize,
        /// The page's URL without its query.
        url: String,
        /// What the page was, and why it may not be that large.
        what: &'static str,
    },
    /// 403 on a directory (Management API) list: the credential lacks a scope or admin role.
    #[error(
        "Okta refused {endpoint} to this credential (HTTP 403, {detail}): reading it needs {needs}"
    )]
    ForbiddenList {
        /// The endpoint's path, ids replaced by `{id}`, without query.
        endpoint: String,
        /// Okta's error code and summary.
        detail: String,
        /// The OAuth scope (and admin role) the endpoint needs.
        needs: &'static str,
    },
    /// A directory list answered 200 with a body that is not a list, through every attempt.
    #[error("Okta answered the list at {url} with a body that is not a list of objects after every attempt: {detail}")]
    NotAList {
        /// The list's URL without its query.
        url: String,
        /// What the body was instead (its shape, never its content).
        detail: String,
    },
    /// The Okta secret could not be read or used.
    #[error("Okta credential: {0}")]
    Token(#[from] SecretError),
    /// OAuth: Okta refused the service app, its key, its scope, its DPoP proof or its token.
    #[error("{message}")]
    Auth {
        /// What was refused and what to do, naming the client id and key id (never a key).
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_okta_error_bodies() {
        let e = OktaErrorBody::parse(br#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit","errorCauses":[]}"#);
        assert_eq!(e.describe(), "E0000047 (API call exceeded rate limit)");
        assert_eq!(
            OktaErrorBody::parse(b"<html>").describe(),
            "no Okta error body"
        );
    }
}
