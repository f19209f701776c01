//! The JOSE the authorization server reads: compact JWS, signatures checked against a public JWK, RFC 7638 thumbprints.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{
    EcdsaVerificationAlgorithm, RsaParameters, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P384_SHA384_FIXED, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384,
    RSA_PKCS1_2048_8192_SHA512,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// The signing algorithms accepted for client assertions and DPoP proofs.
pub(crate) const ALGS: [&str; 5] = ["RS256", "RS384", "RS512", "ES256", "ES384"];

/// JWK members that only a private key has (RFC 7518 section 6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A compact JWS taken apart; the signature is not checked yet.
pub(crate) struct Jws {
    /// The protected header.
    pub(crate) header: Map<String, Value>,
    /// The payload as a JSON object (the JWT claims set).
    pub(crate) claims: Map<String, Value>,
    /// `BASE64URL(header) '.' BASE64URL(payload)`, what the signature covers.
    signing_input: String,
    signature: Vec<u8>,
}

/// How one `alg` checks a signature.
enum Verifier {
    Rsa(&'static RsaParameters),
    /// The algorithm, the JWK `crv` it needs and the bytes of one coordinate.
    Ec(&'static EcdsaVerificationAlgorithm, &'static str, usize),
}

impl Verifier {
    fn for_alg(alg: &str) -> Option<Verifier> {
        Some(match alg {
            "RS256" => Verifier::Rsa(&RSA_PKCS1_2048_8192_SHA256),
            "RS384" => Verifier::Rsa(&RSA_PKCS1_2048_8192_SHA384),
            "RS512" => Verifier::Rsa(&RSA_PKCS1_2048_8192_SHA512),
            "ES256" => Verifier::Ec(&ECDSA_P256_SHA256_FIXED, "P-256", 32),
            "ES384" => Verifier::Ec(&ECDSA_P384_SHA384_FIXED, "P-384", 48),
            _ => return None,
        })
    }
}

impl Jws {
    /// `header.payload.signature`, each base64url without padding, header and payload JSON
    /// objects; `None` for anything else.
    pub(crate) fn parse(compact: &str) -> Option<Jws> {
        let mut parts = compact.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let object = |part: &str| match serde_json::from_slice(&b64url_decode(part)?) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        };
        Some(Jws {
            header: object(header)?,
            claims: object(payload)?,
            signing_input: format!("{header}.{payload}"),
            signature: b64url_decode(signature)?,
        })
    }

    /// The header's `alg` if it is one of [`ALGS`].
    pub(crate) fn alg(&self) -> Option<&str> {
        self.header_str("alg").filter(|alg| ALGS.contains(alg))
    }

    /// A string member of the header.
    pub(crate) fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A string claim.
    pub(crate) fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A NumericDate claim, in seconds (fractions allowed, as RFC 7519 does).
    pub(crate) fn claim_time(&self, name: &str) -> Option<f64> {
        self.claims.get(name).and_then(Value::as_f64)
    }

    /// Whether the signature verifies under the header's `alg` with the public key `jwk`.
    ///
    /// The key must be of the algorithm's kind (and curve), and a key that names its own
    /// `alg` or `use` must name this one and `sig`.
    pub(crate) fn verifies_with(&self, jwk: &Value) -> bool {
        let Some(alg) = self.alg() else {
            return false;
        };
        let member = |name: &str| jwk.get(name).and_then(Value::as_str);
        if jwk.get("alg").is_some_and(|a| a != alg) || jwk.get("use").is_some_and(|u| u != "sig") {
            return false;
        }
        let message = self.signing_input.as_bytes();
        match Verifier::for_alg(alg) {
            Some(Verifier::Rsa(params)) => {
                let (Some("RSA"), Some(n), Some(e)) = (member("kty"), member("n"), member("e"))
                else {
                    return false;
                };
                let (Some(n), Some(e)) = (b64url_decode(n), b64url_decode(e)) else {
                    return false;
                };
                PublicKeyComponents { n, e }
                    .verify(params, message, &self.signature)
                    .is_ok()
            }
            Some(Verifier::Ec(algorithm, crv, size)) => {
                if member("kty") != Some("EC") || member("crv") != Some(crv) {
                    return false;
                }
                let coordinate = |name| member(name).and_then(b64url_decode);
                let (Some(x), Some(y)) = (coordinate("x"), coordinate("y")) else {
                    return false;
                };
                if x.len() != size || y.len() != size {
                    return false;
                }
                let point = [&[0x04][..], &x, &y].concat();
                UnparsedPublicKey::new(algorithm, point)
                    .verify(message, &self.signature)
                    .is_ok()
            }
            None => false,
        }
    }
}

/// Whether `jwk` carries any private key member.
pub(crate) fn has_private_members(jwk: &Value) -> bool {
    PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some())
}

/// The RFC 7638 SHA-256 thumbprint of a public EC or RSA `jwk`, base64url.
///
/// Only the required members, in lexicographic order, without whitespace.
pub(crate) fn thumbprint(jwk: &Value) -> Option<String> {
    // A JSON string of the member, escaped as JSON wants: the value came from outside.
    let member = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .map(|v| Value::from(v).to_string())
    };
    let canonical = match jwk.get("kty").and_then(Value::as_str)? {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        ),
        _ => return None,
    };
    Some(sha256_b64url(canonical.as_bytes()))
}

/// base64url(SHA-256(`data`)), as `ath` and `jkt` are written.
pub(crate) fn sha256_b64url(data: &[u8]) -> String {
    b64url(digest(&SHA256, data).as_ref())
}

/// base64url without padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url without padding; `None` for anything else.
fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// 32 random bytes as base64url: access tokens and nonces.
pub(crate) fn random_value() -> String {
    let mut bytes = [0u8; 32];
    // Not request input: aws-lc's system RNG only fails when the OS has none at all.
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator");
    b64url(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_keys::{ec_key, rsa_key};
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn thumbprint_of_the_rfc_7638_example_key() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn ec_thumbprint_hashes_the_required_members_in_order() {
        let jwk =
            json!({"y": "Y", "x": "X", "kid": "k", "crv": "P-256", "kty": "EC", "use": "sig"});
        assert_eq!(
            thumbprint(&jwk),
            Some(sha256_b64url(
                br#"{"crv":"P-256","kty":"EC","x":"X","y":"Y"}"#
            ))
        );
        assert_eq!(thumbprint(&json!({"kty": "oct", "k": "AA"})), None);
        assert_eq!(
            thumbprint(&json!({"kty": "EC", "crv": "P-256", "x": "X"})),
            None
        );
    }

    #[test]
    fn signatures_verify_only_with_the_matching_key_and_alg() {
        let (ec, rsa) = (ec_key(), rsa_key());
        for key in [&ec, &rsa] {
            let jws = Jws::parse(&key.jws(&json!({"alg": key.alg}), &json!({"a": 1}))).unwrap();
            assert!(jws.verifies_with(&key.public_jwk), "{}", key.alg);
            assert!(!jws.verifies_with(&ec_key().public_jwk), "{}", key.alg);
        }
        // An RS256 signature presented as RS384, or under a key that names another alg.
        let signed = rsa.jws(&json!({"alg": "RS256"}), &json!({}));
        let (_, rest) = signed.split_once('.').unwrap();
        let relabelled = format!("{}.{rest}", b64url(br#"{"alg":"RS384"}"#));
        let jws = Jws::parse(&relabelled).unwrap();
        let mut unnamed = rsa.public_jwk.clone();
        unnamed.as_object_mut().unwrap().remove("alg");
        assert!(!jws.verifies_with(&unnamed));
        let jws = Jws::parse(&signed).unwrap();
        let mut other_alg = rsa.public_jwk.clone();
        other_alg["alg"] = json!("RS512");
        assert!(!jws.verifies_with(&other_alg));
        // `none` is not an algorithm.
        let none = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(b"{}"));
        let jws = Jws::parse(&none).unwrap();
        assert!(jws.alg().is_none() && !jws.verifies_with(&rsa.public_jwk));
    }

    #[test]
    fn only_three_unpadded_json_object_parts_parse() {
        let header = b64url(br#"{"alg":"ES256"}"#);
        let claims = b64url(b"{}");
        assert!(Jws::parse(&format!("{header}.{claims}.AA")).is_some());
        for bad in [
            format!("{header}.{claims}"),
            format!("{header}.{claims}.AA.AA"),
            format!("{header}.{claims}.AA=="),
            format!("{header}.{}.AA", b64url(b"[]")),
            format!("{header}.{claims}.A+/A"),
        ] {
            assert!(Jws::parse(&bad).is_none(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parse_takes_any_text(text in ".{0,200}") {
            if let Some(jws) = Jws::parse(&text) {
                let key = json!({"kty": "EC", "crv": "P-256", "x": "", "y": ""});
                prop_assert!(!jws.verifies_with(&key));
            }
        }

        #[test]
        fn parse_takes_any_three_base64url_parts(
            header in proptest::collection::vec(any::<u8>(), 0..64),
            claims in proptest::collection::vec(any::<u8>(), 0..64),
            signature in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let compact = format!("{}.{}.{}", b64url(&header), b64url(&claims), b64url(&signature));
            let _ = Jws::parse(&compact).map(|jws| jws.alg().map(str::len));
        }
    }
}
