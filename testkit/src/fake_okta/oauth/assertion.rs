//! Client authentication by `private_key_jwt` (RFC 7523): the registered apps, their public keys, and the checks on one client assertion.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::jose::Jws;

/// The longest an assertion may live, as Okta allows: `exp` at most an hour after now.
const MAX_LIFETIME_SECS: f64 = 3600.0;
/// Leeway for the client's clock on `exp`'s upper bound, `iat` and `nbf`.
const LEEWAY_SECS: f64 = 60.0;

/// The registered service apps and the assertion `jti`s each has used.
#[derive(Default)]
pub(crate) struct Clients {
    /// client_id to its public JWKs.
    keys: HashMap<String, Vec<Value>>,
    /// `(client_id, jti)` of every assertion accepted.
    seen: HashSet<(String, String)>,
}

impl Clients {
    /// Adds `jwk` to the app's keys, replacing a key with the same `kid`.
    pub(crate) fn register(&mut self, client_id: &str, jwk: &Value) {
        let keys = self.keys.entry(client_id.to_string()).or_default();
        keys.retain(|k| k.get("kid") != jwk.get("kid"));
        keys.push(jwk.clone());
    }

    /// The client the assertion authenticates, at `now` (epoch seconds on the fake clock),
    /// for a request to `token_url`; the error is the `error_description` of an
    /// `invalid_client`.
    ///
    /// `form_client_id` is the optional `client_id` form field, which must then agree.
    /// An accepted assertion's `jti` is spent.
    pub(crate) fn authenticate(
        &mut self,
        assertion: &str,
        form_client_id: Option<&str>,
        token_url: &str,
        now: f64,
    ) -> Result<String, &'static str> {
        let jws = Jws::parse(assertion).ok_or("The client_assertion token is malformed.")?;
        if jws.alg().is_none() {
            return Err("The client_assertion token has an unsupported signing algorithm.");
        }
        let (Some(iss), Some(sub)) = (jws.claim_str("iss"), jws.claim_str("sub")) else {
            return Err("A client_id must be provided in the request.");
        };
        if iss != sub {
            return Err(
                "The client_assertion token must have the client_id as both 'iss' and 'sub'.",
            );
        }
        if form_client_id.is_some_and(|id| id != iss) {
            return Err("The client_id does not match the client_assertion token.");
        }
        let keys = self.keys.get(iss).ok_or(
            "Client authentication failed. Either the client or the client credentials are invalid.",
        )?;
        let key = key_for(keys, jws.header_str("kid")).ok_or(
            "The client_assertion token has a kid which does not identify a key registered for the client.",
        )?;
        if !jws.verifies_with(key) {
            return Err("The client_assertion signature is invalid.");
        }
        let audience_ok = match jws.claims.get("aud") {
            Some(Value::String(aud)) => aud == token_url,
            Some(Value::Array(auds)) => auds.iter().any(|a| a == token_url),
            _ => false,
        };
        if !audience_ok {
            return Err(
                "The audience claim for client_assertion must be the endpoint invoked for the request.",
            );
        }
        let exp = jws
            .claim_time("exp")
            .ok_or("The client_assertion token must have an 'exp' claim.")?;
        if exp <= now {
            return Err("The client_assertion token is expired.");
        }
        if exp > now + MAX_LIFETIME_SECS + LEEWAY_SECS {
            return Err("The client_assertion token has an expiration too far in the future.");
        }
        let iat = jws
            .claim_time("iat")
            .ok_or("The client_assertion token must have an 'iat' claim.")?;
        if iat > now + LEEWAY_SECS {
            return Err("The client_assertion token has an iat in the future.");
        }
        if jws
            .claim_time("nbf")
            .is_some_and(|nbf| nbf > now + LEEWAY_SECS)
        {
            return Err("The client_assertion token is not valid yet.");
        }
        let jti = jws
            .claim_str("jti")
            .filter(|j| !j.is_empty())
            .ok_or("The client_assertion token must have a 'jti' claim.")?;
        if !self.seen.insert((iss.to_string(), jti.to_string())) {
            return Err("The 'jti' claim has already been used.");
        }
        Ok(iss.to_string())
    }
}

/// The key named `kid`, or without a `kid` the app's only key.
fn key_for<'a>(keys: &'a [Value], kid: Option<&str>) -> Option<&'a Value> {
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}
