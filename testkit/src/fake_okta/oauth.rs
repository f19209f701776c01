//! The fake's OAuth 2.0 authorization server for API service apps: `POST /oauth2/v1/token` (client credentials, `private_key_jwt`, DPoP) and the Bearer and DPoP tokens it issues at `/api/v1/logs`.

mod assertion; // the registered apps and their client assertions
mod dpop; // the checks on one DPoP proof
mod jose; // compact JWS, JWK signatures, thumbprints
mod resource; // tokens at `/api/v1/logs`: Bearer and DPoP checks, challenges, nonces
mod settings; // `OAuthSettings`, the scripted `TokenFailure`s and the `TokenRequest` record
mod token; // `POST /oauth2/v1/token`: the form, the checks in Okta's order, refusals

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::http::{header, HeaderName};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::paging::parse_query;
use super::reply::Reply;
use assertion::Clients;
use dpop::{Expected, Proofs};
use jose::random_value;
pub(crate) use resource::{ResourceCall, Scheme};
pub use settings::{OAuthSettings, TokenFailure, TokenRequest};
pub(crate) use token::TokenCall;

/// The token endpoint of Okta's org authorization server, the one that issues tokens for Okta's own APIs.
pub(crate) const TOKEN_PATH: &str = "/oauth2/v1/token";
/// The one scope an app can be granted here.
const LOGS_SCOPE: &str = "okta.logs.read";
const GRANT_TYPE: &str = "client_credentials";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const FORM_TYPE: &str = "application/x-www-form-urlencoded";
/// Okta's default access token lifetime.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// What an issued token may be used with.
enum Binding {
    Bearer,
    /// Only with proofs signed by the key of this RFC 7638 thumbprint (`cnf.jkt`).
    Dpop(String),
}

/// One issued access token.
struct Issued {
    binding: Binding,
    /// On the fake clock; `None` for a lifetime past the calendar's end.
    expires: Option<OffsetDateTime>,
    revoked: bool,
}

/// The authorization server's state, behind the fake's lock.
#[derive(Default)]
pub(crate) struct OAuth {
    settings: OAuthSettings,
    clients: Clients,
    proofs: Proofs,
    tokens: HashMap<String, Issued>,
    /// The nonce the token endpoint asked for last.
    token_nonce: Option<String>,
    /// The nonce `/api/v1/logs` asks for, made when first needed.
    resource_nonce: Option<String>,
    requests: Vec<TokenRequest>,
    /// Scripted answers for the next token requests, in order.
    scripted: VecDeque<TokenFailure>,
}

impl OAuth {
    /// Adds `jwk` to the app's keys (a key with the same `kid` is replaced).
    pub(crate) fn register_client(&mut self, client_id: &str, jwk: &Value) {
        self.clients.register(client_id, jwk);
    }

    /// Replaces the settings and forgets both nonces.
    pub(crate) fn set_settings(&mut self, settings: OAuthSettings) {
        self.settings = settings;
        self.token_nonce = None;
        self.resource_nonce = None;
    }

    /// Every token issued so far stops working.
    pub(crate) fn revoke_all(&mut self) {
        for issued in self.tokens.values_mut() {
            issued.revoked = true;
        }
    }

    /// Every token request so far, in order.
    pub(crate) fn requests(&self) -> &[TokenRequest] {
        &self.requests
    }

    /// Queues `f` as the answer to one upcoming token request (FIFO).
    pub(crate) fn push_failure(&mut self, f: TokenFailure) {
        self.scripted.push_back(f);
    }
}

/// `t` in epoch seconds, as JWT NumericDates are compared.
fn seconds(t: OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const URL: &str = "http://127.0.0.1:1/oauth2/v1/token";

    fn server() -> OAuth {
        let mut oauth = OAuth::default();
        let jwk =
            serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "k", "x": "AA", "y": "AA"});
        oauth.register_client("app", &jwk);
        oauth
    }

    proptest! {
        #[test]
        fn token_endpoint_refuses_any_made_up_request(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            form in "(grant_type|scope|client_assertion_type|client_assertion|client_id|[a-z%+=&.]{0,20})[=&a-zA-Z0-9%+._-]{0,200}",
            dpop in ".{0,200}",
        ) {
            let mut oauth = server();
            let now = OffsetDateTime::now_utc();
            for body in [&body[..], form.as_bytes()] {
                let call = TokenCall {
                    content_type: Some(FORM_TYPE),
                    body,
                    dpop: std::slice::from_ref(&dpop),
                };
                let reply = oauth.token(URL, &call, now);
                prop_assert!(reply.status == 400 || reply.status == 401, "{}", reply.status);
            }
            prop_assert_eq!(oauth.requests().len(), 2);
        }

        #[test]
        fn resources_refuse_any_made_up_token(token in ".{0,100}", dpop in ".{0,200}") {
            let mut oauth = server();
            for scheme in [Scheme::Bearer, Scheme::Dpop] {
                let call = ResourceCall {
                    scheme,
                    token: &token,
                    method: "GET",
                    url: "http://127.0.0.1:1/api/v1/logs",
                    dpop: std::slice::from_ref(&dpop),
                };
                let refused = oauth.authorize(&call, OffsetDateTime::now_utc());
                prop_assert!(refused.is_err_and(|reply| reply.status == 401));
            }
        }
    }
}
