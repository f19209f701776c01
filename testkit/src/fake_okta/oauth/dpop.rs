//! DPoP proofs (RFC 9449): the checks one proof passes, at the token endpoint and at `/api/v1/logs` alike.

use std::collections::HashSet;

use serde_json::Value;

use super::jose::{has_private_members, sha256_b64url, thumbprint, Jws};

/// How far a proof's `iat` may be from the fake clock, either way.
const IAT_WINDOW_SECS: f64 = 300.0;

/// What a proof must be bound to.
pub(crate) struct Expected<'a> {
    /// The request's method.
    pub(crate) htm: &'a str,
    /// The request URL without query and fragment.
    pub(crate) htu: &'a str,
    /// At a resource: the access token, whose hash `ath` must carry.
    pub(crate) access_token: Option<&'a str>,
    /// At a resource: the thumbprint the access token is bound to.
    pub(crate) jkt: Option<&'a str>,
}

/// A proof that passed every check but the nonce, which the caller judges.
pub(crate) struct Proof {
    /// The RFC 7638 thumbprint of the proof's key.
    pub(crate) jkt: String,
    /// The `nonce` claim, if any.
    pub(crate) nonce: Option<String>,
}

/// The `jti`s of every proof accepted so far: a proof is good for one request.
#[derive(Default)]
pub(crate) struct Proofs {
    seen: HashSet<String>,
}

impl Proofs {
    /// Checks the `DPoP` header values of one request against `expected` at `now` (epoch
    /// seconds on the fake clock); the error is the `error_description`.
    ///
    /// A proof that passes is spent here, before the nonce is judged: a retry with the
    /// nonce needs a new proof, as it would anyway, since the nonce is signed.
    pub(crate) fn check(
        &mut self,
        headers: &[String],
        expected: &Expected<'_>,
        now: f64,
    ) -> Result<Proof, &'static str> {
        let proof = match headers {
            [] => return Err("The DPoP proof JWT header is missing."),
            [one] => one,
            _ => return Err("Only one DPoP proof JWT header is allowed."),
        };
        let jws = Jws::parse(proof).ok_or("The DPoP proof JWT is malformed.")?;
        if jws.header_str("typ") != Some("dpop+jwt") {
            return Err("The DPoP proof JWT header 'typ' must be 'dpop+jwt'.");
        }
        if jws.alg().is_none() {
            return Err("The DPoP proof JWT header 'alg' is not supported.");
        }
        let jwk = match jws.header.get("jwk") {
            Some(jwk @ Value::Object(_)) => jwk,
            _ => return Err("The DPoP proof JWT header 'jwk' is missing."),
        };
        if has_private_members(jwk) {
            return Err("The DPoP proof JWT header 'jwk' must not contain a private key.");
        }
        let jkt = thumbprint(jwk).ok_or("The DPoP proof JWT header 'jwk' is not a valid key.")?;
        if !jws.verifies_with(jwk) {
            return Err("The DPoP proof JWT signature is invalid.");
        }
        if jws.claim_str("htm") != Some(expected.htm) {
            return Err("The DPoP proof JWT 'htm' claim does not match the request method.");
        }
        if jws.claim_str("htu") != Some(expected.htu) {
            return Err("The DPoP proof JWT 'htu' claim does not match the request URL.");
        }
        let fresh = jws
            .claim_time("iat")
            .is_some_and(|iat| (iat - now).abs() <= IAT_WINDOW_SECS);
        if !fresh {
            return Err(
                "The DPoP proof JWT 'iat' claim is missing or not within 300 seconds of now.",
            );
        }
        if let Some(token) = expected.access_token {
            if jws.claim_str("ath") != Some(sha256_b64url(token.as_bytes()).as_str()) {
                return Err("The DPoP proof JWT 'ath' claim does not match the access token.");
            }
        }
        if expected.jkt.is_some_and(|bound| bound != jkt) {
            return Err("The DPoP proof JWT key is not the key the access token is bound to.");
        }
        let jti = jws
            .claim_str("jti")
            .filter(|j| !j.is_empty())
            .ok_or("The DPoP proof JWT 'jti' claim is missing.")?;
        if !self.seen.insert(jti.to_string()) {
            return Err("The DPoP proof JWT has already been used.");
        }
        Ok(Proof {
            jkt,
            nonce: jws.claim_str("nonce").map(str::to_string),
        })
    }
}
