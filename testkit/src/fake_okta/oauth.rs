//! The fake's OAuth 2.0 authorization server for API service apps: `POST /oauth2/v1/token` (client credentials, `private_key_jwt`, DPoP) and the Bearer and DPoP tokens it issues at `/api/v1/logs`.

mod assertion; // the registered apps and their client assertions
mod dpop; // the checks on one DPoP proof
mod jose; // compact JWS, JWK signatures, thumbprints

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

/// The token endpoint of Okta's org authorization server, the one that issues tokens for Okta's own APIs.
pub(crate) const TOKEN_PATH: &str = "/oauth2/v1/token";
/// The one scope an app can be granted here.
const LOGS_SCOPE: &str = "okta.logs.read";
const GRANT_TYPE: &str = "client_credentials";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const FORM_TYPE: &str = "application/x-www-form-urlencoded";
/// Okta's default access token lifetime.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

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

/// The authentication scheme of an `Authorization` header carrying an OAuth token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

impl Scheme {
    /// As written in `Authorization` and `WWW-Authenticate`.
    fn name(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Dpop => "DPoP",
        }
    }
}

/// A token request as the endpoint reads it.
pub(crate) struct TokenCall<'a> {
    /// `Content-Type`, if any.
    pub(crate) content_type: Option<&'a str>,
    /// The form body.
    pub(crate) body: &'a [u8],
    /// Every `DPoP` header value.
    pub(crate) dpop: &'a [String],
}

/// A request to a protected resource with an OAuth access token.
pub(crate) struct ResourceCall<'a> {
    pub(crate) scheme: Scheme,
    pub(crate) token: &'a str,
    /// The request's method, for `htm`.
    pub(crate) method: &'a str,
    /// The request URL without query and fragment, for `htu`.
    pub(crate) url: &'a str,
    /// Every `DPoP` header value.
    pub(crate) dpop: &'a [String],
}

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

/// A refused token request (RFC 6749 section 5.2, RFC 9449 section 8).
struct Refusal {
    status: u16,
    error: &'static str,
    description: String,
    /// A `DPoP-Nonce` to send along.
    nonce: Option<String>,
}

impl Refusal {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Refusal {
        Refusal {
            status,
            error,
            description: description.into(),
            nonce: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Refusal {
        Refusal::new(400, "invalid_request", description)
    }

    fn into_reply(self) -> Reply {
        let body = json!({"error": self.error, "error_description": self.description});
        let reply = token_reply(self.status, &body);
        match self.nonce {
            Some(nonce) => reply.with_header(HeaderName::from_static("dpop-nonce"), nonce),
            None => reply,
        }
    }
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

    /// A `use_dpop_nonce` challenge at `/api/v1/logs` with a fresh nonce, which the next
    /// proofs must carry when `nonce_on_logs` is on: Okta rotated its resource nonce.
    pub(crate) fn new_resource_nonce(&mut self) -> Reply {
        let nonce = random_value();
        self.resource_nonce = Some(nonce.clone());
        resource_nonce_challenge(nonce)
    }

    /// Answers one `POST` to `token_url` at `now` on the fake clock, and records it.
    pub(crate) fn token(
        &mut self,
        token_url: &str,
        call: &TokenCall<'_>,
        now: OffsetDateTime,
    ) -> Reply {
        let answer = match self.scripted.pop_front() {
            Some(TokenFailure::Status(status)) => Err(Refusal::new(
                status,
                "server_error",
                "The authorization server is temporarily unavailable.",
            )),
            Some(TokenFailure::NewNonce) => Err(self.token_nonce_challenge()),
            None => self.grant(token_url, call, now),
        };
        let (reply, error) = match answer {
            Ok(body) => (token_reply(200, &body), None),
            Err(refusal) => {
                let error = refusal.error.to_string();
                (refusal.into_reply(), Some(error))
            }
        };
        self.requests.push(TokenRequest {
            status: reply.status,
            error,
            dpop: !call.dpop.is_empty(),
        });
        reply
    }

    /// The checks in Okta's order (form, client, DPoP, scope), then a new token.
    fn grant(
        &mut self,
        token_url: &str,
        call: &TokenCall<'_>,
        now: OffsetDateTime,
    ) -> Result<Value, Refusal> {
        let form = Form::parse(call)?;
        self.clients
            .authenticate(
                &form.assertion,
                form.client_id.as_deref(),
                token_url,
                seconds(now),
            )
            .map_err(|why| Refusal::new(401, "invalid_client", why))?;
        let binding = if self.settings.dpop_required {
            Binding::Dpop(self.token_proof(call.dpop, token_url, now)?)
        } else {
            Binding::Bearer
        };
        let refused: Vec<&str> = form
            .scopes
            .iter()
            .map(String::as_str)
            .filter(|s| !(self.settings.scope_granted && *s == LOGS_SCOPE))
            .collect();
        if !refused.is_empty() {
            return Err(Refusal::new(
                400,
                "invalid_scope",
                format!(
                    "The following scopes are not allowed: [{}]",
                    refused.join(", ")
                ),
            ));
        }
        let token_type = match binding {
            Binding::Bearer => "Bearer",
            Binding::Dpop(_) => "DPoP",
        };
        let access_token = random_value();
        let lifetime = self.settings.token_lifetime;
        let expires = time::Duration::try_from(lifetime)
            .ok()
            .and_then(|d| now.checked_add(d));
        self.tokens.insert(
            access_token.clone(),
            Issued {
                binding,
                expires,
                revoked: false,
            },
        );
        Ok(json!({
            "token_type": token_type,
            "expires_in": lifetime.as_secs(),
            "access_token": access_token,
            "scope": form.scopes.join(" "),
        }))
    }

    /// The thumbprint of the token request's DPoP key, once its proof (and nonce) pass.
    fn token_proof(
        &mut self,
        headers: &[String],
        token_url: &str,
        now: OffsetDateTime,
    ) -> Result<String, Refusal> {
        let expected = Expected {
            htm: "POST",
            htu: token_url,
            access_token: None,
            jkt: None,
        };
        let proof = self
            .proofs
            .check(headers, &expected, seconds(now))
            .map_err(|why| Refusal::new(400, "invalid_dpop_proof", why))?;
        if self.settings.refuse_dpop_proofs {
            return Err(Refusal::new(
                400,
                "invalid_dpop_proof",
                "The DPoP proof JWT is not accepted for this client.",
            ));
        }
        if self.settings.nonce_every_time
            || (self.settings.nonce_on_token
                && (self.token_nonce.is_none() || proof.nonce != self.token_nonce))
        {
            return Err(self.token_nonce_challenge());
        }
        Ok(proof.jkt)
    }

    /// `use_dpop_nonce` with a new nonce, which the token endpoint expects from now on.
    fn token_nonce_challenge(&mut self) -> Refusal {
        let nonce = random_value();
        self.token_nonce = Some(nonce.clone());
        Refusal {
            nonce: Some(nonce),
            ..Refusal::new(
                400,
                "use_dpop_nonce",
                "Authorization server requires nonce in DPoP proof.",
            )
        }
    }

    /// Whether a resource request's token (and proof) let it through at `now`: 401 with a
    /// `WWW-Authenticate` challenge when not, 403 when the app lacks the role.
    pub(crate) fn authorize(
        &mut self,
        call: &ResourceCall<'_>,
        now: OffsetDateTime,
    ) -> Result<(), Reply> {
        let refuse = |why: &str| challenge(call.scheme, "invalid_token", why);
        let issued = self
            .tokens
            .get(call.token)
            .ok_or_else(|| refuse("The access token is invalid."))?;
        if issued.revoked {
            return Err(refuse("The access token has been revoked."));
        }
        if issued.expires.is_some_and(|e| now >= e) {
            return Err(refuse("The access token is expired."));
        }
        match (&issued.binding, call.scheme) {
            (Binding::Bearer, Scheme::Bearer) => {}
            (Binding::Dpop(jkt), Scheme::Dpop) => {
                let expected = Expected {
                    htm: call.method,
                    htu: call.url,
                    access_token: Some(call.token),
                    jkt: Some(jkt),
                };
                let proof = self
                    .proofs
                    .check(call.dpop, &expected, seconds(now))
                    .map_err(refuse)?;
                if self.settings.nonce_on_logs {
                    let current = self.resource_nonce.get_or_insert_with(random_value);
                    if proof.nonce.as_deref() != Some(current.as_str()) {
                        return Err(resource_nonce_challenge(current.clone()));
                    }
                }
            }
            (Binding::Bearer, Scheme::Dpop) => {
                return Err(refuse(
                    "The access token is a Bearer token, not DPoP-bound.",
                ));
            }
            (Binding::Dpop(_), Scheme::Bearer) => {
                return Err(refuse(
                    "The access token is DPoP-bound: it needs the DPoP scheme and a DPoP proof.",
                ));
            }
        }
        if !self.settings.role_assigned {
            return Err(Reply::forbidden());
        }
        Ok(())
    }
}

/// The token request's form, once it is complete and well formed.
struct Form {
    /// The requested scopes, each once, in order.
    scopes: Vec<String>,
    assertion: String,
    client_id: Option<String>,
}

impl Form {
    /// Step 1: a form body with each field once, the grant and assertion types right.
    fn parse(call: &TokenCall<'_>) -> Result<Form, Refusal> {
        let is_form = call.content_type.is_some_and(|c| {
            c.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(FORM_TYPE))
        });
        if !is_form {
            return Err(Refusal::invalid_request(format!(
                "The request must have Content-Type {FORM_TYPE}."
            )));
        }
        let body = std::str::from_utf8(call.body)
            .map_err(|_| Refusal::invalid_request("The request body is not valid form data."))?;
        let pairs = parse_query(body);
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(Refusal::invalid_request(format!(
                    "The '{name}' parameter must not be repeated."
                )));
            }
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str| {
            get(name).ok_or_else(|| {
                Refusal::invalid_request(format!("The '{name}' parameter is required."))
            })
        };
        let grant_type = required("grant_type")?;
        if grant_type != GRANT_TYPE {
            return Err(Refusal::new(
                400,
                "unsupported_grant_type",
                format!(
                    "The authorization grant type is not supported by the authorization server. \
                     Configured grant types: [{GRANT_TYPE}]."
                ),
            ));
        }
        let mut scopes: Vec<String> = Vec::new();
        for scope in required("scope")?.split(' ').filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_string());
            }
        }
        if scopes.is_empty() {
            return Err(Refusal::invalid_request(
                "The 'scope' parameter is required.",
            ));
        }
        if required("client_assertion_type")? != ASSERTION_TYPE {
            return Err(Refusal::invalid_request(format!(
                "The 'client_assertion_type' parameter must be {ASSERTION_TYPE}."
            )));
        }
        Ok(Form {
            scopes,
            assertion: required("client_assertion")?.to_string(),
            client_id: get("client_id").map(str::to_string),
        })
    }
}

/// A token endpoint answer: JSON that no cache may keep.
fn token_reply(status: u16, body: &Value) -> Reply {
    Reply::new(status, body.to_string().into_bytes())
        .with_header(header::CACHE_CONTROL, "no-store".to_string())
        .with_header(header::PRAGMA, "no-cache".to_string())
}

/// 401 with Okta's invalid token body and a `WWW-Authenticate` challenge for `scheme`.
fn challenge(scheme: Scheme, error: &str, description: &str) -> Reply {
    Reply::invalid_token().with_header(
        header::WWW_AUTHENTICATE,
        format!(
            r#"{} error="{error}", error_description="{description}""#,
            scheme.name()
        ),
    )
}

/// 401 `use_dpop_nonce` at a resource, carrying `nonce`.
fn resource_nonce_challenge(nonce: String) -> Reply {
    challenge(
        Scheme::Dpop,
        "use_dpop_nonce",
        "Resource server requires nonce in DPoP proof",
    )
    .with_header(HeaderName::from_static("dpop-nonce"), nonce)
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
