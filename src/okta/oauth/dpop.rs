//! This container's DPoP key and the proofs it signs (RFC 9449).

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use url::Url;

use super::{epoch_now, jws, random_id};

/// This container's DPoP key (ES256), made once; only its public part is ever sent.
pub struct DpopKey {
    pair: EcdsaKeyPair,
    jwk: Value,
}

impl DpopKey {
    /// A new P-256 key.
    pub fn generate() -> Result<DpopKey, String> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| "cannot make a DPoP key".to_owned())?;
        let point = pair.public_key().as_ref();
        if point.len() != 65 {
            return Err("unexpected P-256 public key encoding".into());
        }
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Ok(DpopKey { pair, jwk })
    }

    /// A proof for `method` on `url` (query and fragment left out), with Okta's `nonce`
    /// and, on resource requests, the hash of the `access_token` it goes with.
    pub(super) fn proof(
        &self,
        method: &str,
        url: &Url,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<String, String> {
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut claims = json!({
            "htm": method,
            "htu": htu.as_str(),
            "iat": epoch_now(),
            "jti": random_id()?,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(token) = access_token {
            let hash = digest::digest(&digest::SHA256, token.as_bytes());
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(hash.as_ref()));
        }
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        let rng = SystemRandom::new();
        jws(&header, &claims, |m| {
            self.pair
                .sign(&rng, m)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "DPoP signing failed".to_owned())
        })
    }
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DpopKey(ES256)")
    }
}
