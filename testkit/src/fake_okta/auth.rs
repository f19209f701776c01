//! The fake's API tokens: who gets 401 (no or unknown `SSWS` token) and when a valid one gets 403.

use super::reply::Reply;

/// The API token accepted until [`FakeOkta::set_tokens`](super::FakeOkta::set_tokens)
/// says otherwise (sent as `Authorization: SSWS okta-test-token`).
pub const DEFAULT_TOKEN: &str = "okta-test-token";

/// The accepted tokens and whether their holder lacks the permission.
pub(crate) struct Auth {
    tokens: Vec<String>,
    forbidden: bool,
}

impl Default for Auth {
    /// Only [`DEFAULT_TOKEN`], with the permission.
    fn default() -> Auth {
        Auth {
            tokens: vec![DEFAULT_TOKEN.to_string()],
            forbidden: false,
        }
    }
}

impl Auth {
    /// Replaces the accepted tokens.
    pub(crate) fn set_tokens(&mut self, valid: &[&str]) {
        self.tokens = valid.iter().map(|t| t.to_string()).collect();
    }

    /// When on, a valid token gets 403.
    pub(crate) fn set_forbidden(&mut self, on: bool) {
        self.forbidden = on;
    }

    /// 401 unless `authorization` is `SSWS <an accepted token>`, then 403 if forbidden.
    pub(crate) fn check(&self, authorization: Option<&str>) -> Result<(), Reply> {
        let token = authorization.and_then(|a| a.strip_prefix("SSWS "));
        if !token.is_some_and(|t| self.tokens.iter().any(|v| v == t)) {
            return Err(Reply::error(401, "E0000011", "Invalid token provided", &[]));
        }
        if self.forbidden {
            return Err(Reply::error(
                403,
                "E0000006",
                "You do not have permission to perform the requested action",
                &[],
            ));
        }
        Ok(())
    }
}
