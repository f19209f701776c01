//! How okta-pull proves who it is to Okta: an API token (`SSWS`), or an OAuth 2.0 API service
//! app (client credentials with `private_key_jwt`, the token bound to a DPoP key when the app
//! requires it, RFC 7523 and RFC 9449). The Okta secret's shape decides which.
//!
//! Access tokens are kept per container and reused until shortly before they expire, so a
//! steady container asks for one an hour. DPoP nonces are remembered (one for the token
//! endpoint, one for the System Log) and sent until Okta asks for another. No key, assertion,
//! proof or token ever reaches a log line, an error or `Debug` output.

use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::secret::{Secret, SecretError};
use keys::ClientKey;

mod dpop;
#[cfg(test)]
mod key_proptests;
mod keys;
#[cfg(test)]
mod tests;
mod token;

pub use dpop::DpopKey;
pub(crate) use token::{
    challenge_error, dpop_nonce, sensitive, OAuthState, Presented, TokenClient,
};

/// Scopes asked for when the secret names none.
pub const DEFAULT_SCOPES: &str = "okta.logs.read";
/// How long a client assertion is valid (Okta accepts at most an hour).
const ASSERTION_LIFETIME: i64 = 300;
/// A token is renewed this long before Okta says it expires (or at a tenth of its life).
const RENEW_BEFORE: Duration = Duration::from_secs(120);
/// Longest a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes of a token answer read.
const TOKEN_BODY_CAP: usize = 64 * 1024;

/// What the Okta secret holds.
pub enum Credential {
    /// An API token, sent as `Authorization: SSWS <token>`.
    ApiToken(Secret),
    /// An OAuth 2.0 API service app.
    ServiceApp(ServiceApp),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiToken(_) => f.write_str("ApiToken([redacted])"),
            Credential::ServiceApp(app) => write!(f, "ServiceApp({app:?})"),
        }
    }
}

impl Credential {
    /// Reads a secret string: `{"client_id": ..., "private_key": ...}` is a service app;
    /// anything else is an API token (plain, or `{"token": ...}`).
    pub fn parse(text: &str) -> Result<Credential, SecretError> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            let value: Value = serde_json::from_str(trimmed).map_err(|_| {
                SecretError::Format("the secret looks like JSON but does not parse".into())
            })?;
            if value.get("client_id").is_some() {
                return ServiceApp::from_json(&value)
                    .map(Credential::ServiceApp)
                    .map_err(SecretError::Format);
            }
        }
        Secret::from_secret_string(trimmed).map(Credential::ApiToken)
    }

    /// `api-token`, or `oauth` (a service app).
    pub fn mode(&self) -> &'static str {
        match self {
            Credential::ApiToken(_) => "api-token",
            Credential::ServiceApp(_) => "oauth",
        }
    }
}

/// An Okta API service app with public/private key client authentication.
pub struct ServiceApp {
    /// The app's Client ID (`0oa...`).
    pub client_id: String,
    /// The `kid` of its key as registered on the app, if known.
    pub key_id: Option<String>,
    /// Space-separated scopes.
    pub scopes: String,
    key: ClientKey,
}

impl std::fmt::Debug for ServiceApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceApp")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("alg", &self.key.alg())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ServiceApp {
    /// From the secret's JSON: `client_id`, `private_key` (PEM or a JWK object), optional
    /// `key_id` and `scopes`. Errors name the field, never its value.
    fn from_json(value: &Value) -> Result<ServiceApp, String> {
        let client_id = value["client_id"]
            .as_str()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or("\"client_id\" must be the app's Client ID, a non-empty string")?
            .to_owned();
        let (key, jwk_kid) = match &value["private_key"] {
            Value::String(text) if text.trim_start().starts_with('{') => {
                let jwk: Value = serde_json::from_str(text)
                    .map_err(|_| "\"private_key\" looks like a JWK but does not parse")?;
                ClientKey::from_jwk(&jwk)?
            }
            Value::String(pem) => (ClientKey::from_pem(pem)?, None),
            Value::Object(_) => ClientKey::from_jwk(&value["private_key"])?,
            Value::Null => return Err("\"private_key\" is missing: give the app's private key as PEM or as the JWK the Admin Console shows".into()),
            _ => return Err("\"private_key\" must be a PEM string or a JWK object".into()),
        };
        let key_id = match &value["key_id"] {
            Value::String(k) if !k.trim().is_empty() => Some(k.trim().to_owned()),
            Value::Null => jwk_kid,
            Value::String(_) => jwk_kid,
            _ => return Err("\"key_id\" must be a string (the key's kid on the app)".into()),
        };
        let scopes = match &value["scopes"] {
            Value::Null => DEFAULT_SCOPES.to_owned(),
            Value::String(s) if !s.trim().is_empty() => {
                s.split_whitespace().collect::<Vec<_>>().join(" ")
            }
            Value::Array(list) => {
                let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                if names.is_empty() || names.len() != list.len() {
                    return Err("\"scopes\" must be a list of scope names".into());
                }
                names.join(" ")
            }
            _ => return Err("\"scopes\" must be a string or a list of scope names".into()),
        };
        Ok(ServiceApp {
            client_id,
            key_id,
            scopes,
            key,
        })
    }

    /// A client assertion for `token_url`, valid for a few minutes from `now` (epoch seconds).
    fn assertion(&self, token_url: &str, now: i64) -> Result<String, String> {
        let mut header = json!({ "alg": self.key.alg(), "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "aud": token_url,
            "iss": self.client_id,
            "sub": self.client_id,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": random_id()?,
        });
        jws(&header, &claims, |m| self.key.sign(m))
    }
}

/// A JWS in compact serialisation.
fn jws(
    header: &Value,
    claims: &Value,
    sign: impl Fn(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<String, String> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

fn random_id() -> Result<String, String> {
    let mut bytes = [0u8; 18];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness".to_owned())?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn epoch_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
