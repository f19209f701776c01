//! Who may read the logs: an `SSWS` API token, or an OAuth `Bearer` or `DPoP` access token; 401 for anything else, 403 for a holder without the permission.

use time::OffsetDateTime;

use super::oauth::{ResourceCall, Scheme};
use super::reply::Reply;
use super::Inner;

/// The API token accepted until [`FakeOkta::set_tokens`](super::FakeOkta::set_tokens)
/// says otherwise (sent as `Authorization: SSWS okta-test-token`).
pub const DEFAULT_TOKEN: &str = "okta-test-token";

/// The accepted API tokens and whether their holder lacks the permission.
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
}

/// The parts of a request that decide who sent it.
pub(crate) struct Credentials<'a> {
    /// The `Authorization` header, if any.
    pub(crate) authorization: Option<&'a str>,
    /// The request's method and URL without query, for a DPoP proof.
    pub(crate) method: &'a str,
    pub(crate) url: &'a str,
    /// Every `DPoP` header value.
    pub(crate) dpop: &'a [String],
}

impl Inner {
    /// 401 unless the request carries an accepted credential, then 403 when forbidden.
    pub(crate) fn authorize(
        &mut self,
        credentials: &Credentials<'_>,
        now: OffsetDateTime,
    ) -> Result<(), Reply> {
        let (scheme, token) = credentials
            .authorization
            .and_then(|a| a.split_once(' '))
            .ok_or_else(Reply::invalid_token)?;
        // Okta's own scheme is case-sensitive; RFC 9110 makes the OAuth ones case-insensitive.
        let oauth = if scheme.eq_ignore_ascii_case("Bearer") {
            Some(Scheme::Bearer)
        } else if scheme.eq_ignore_ascii_case("DPoP") {
            Some(Scheme::Dpop)
        } else {
            None
        };
        match oauth {
            Some(scheme) => self.oauth.authorize(
                &ResourceCall {
                    scheme,
                    token,
                    method: credentials.method,
                    url: credentials.url,
                    dpop: credentials.dpop,
                },
                now,
            )?,
            None if scheme == "SSWS" && self.auth.tokens.iter().any(|t| t == token) => {}
            None => return Err(Reply::invalid_token()),
        }
        if self.auth.forbidden {
            return Err(Reply::forbidden());
        }
        Ok(())
    }
}
