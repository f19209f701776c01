//! How the fake authorization server behaves, the answers a test can script for its token endpoint, and the record of each token request.

use super::*;

/// How the fake's authorization server behaves (see [`FakeOkta::set_oauth`](super::FakeOkta::set_oauth)).
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    /// "Require Demonstrating Proof of Possession (DPoP) header in token requests", on by
    /// default for new apps: tokens are DPoP-bound. When off, a `DPoP` header is ignored and
    /// tokens are Bearer tokens.
    pub dpop_required: bool,
    /// The token endpoint answers a proof without its current nonce with `use_dpop_nonce`.
    pub nonce_on_token: bool,
    /// `/api/v1/logs` answers a proof without its current nonce with `use_dpop_nonce`.
    pub nonce_on_logs: bool,
    /// `okta.logs.read` is granted to the app; when not, asking for it is `invalid_scope`.
    pub scope_granted: bool,
    /// The app has the Read-only Administrator role; when not, its tokens get 403 at `/api/v1/logs`.
    pub role_assigned: bool,
    /// How long an access token lives (`expires_in`).
    pub token_lifetime: Duration,
    /// The token endpoint refuses every DPoP proof (`invalid_dpop_proof`), as it does when
    /// something between the client and Okta alters the proof.
    pub refuse_dpop_proofs: bool,
    /// The token endpoint demands a new nonce on every proof, even one carrying the nonce it
    /// just gave (a misbehaving server): a client must not loop.
    pub nonce_every_time: bool,
}

impl Default for OAuthSettings {
    /// A new app as Okta sets it up, with the scope granted and the role assigned: DPoP
    /// with a nonce at the token endpoint, none at the logs, tokens for an hour.
    fn default() -> OAuthSettings {
        OAuthSettings {
            dpop_required: true,
            nonce_on_token: true,
            nonce_on_logs: false,
            scope_granted: true,
            role_assigned: true,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            refuse_dpop_proofs: false,
            nonce_every_time: false,
        }
    }
}

/// A scripted answer for one upcoming token request (see
/// [`FakeOkta::push_token_failure`](super::FakeOkta::push_token_failure)); it replaces the
/// answer before any check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenFailure {
    /// This status with an OAuth `server_error` body (503: Okta briefly unavailable).
    Status(u16),
    /// `use_dpop_nonce` with a fresh nonce, whatever the proof carries: Okta rotated it.
    NewNonce,
}

/// One `POST /oauth2/v1/token` as the fake answered it.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The status answered.
    pub status: u16,
    /// The OAuth `error` code, for a refusal (`invalid_client`, `use_dpop_nonce`, ...).
    pub error: Option<String>,
    /// Whether the request had a `DPoP` header.
    pub dpop: bool,
}
