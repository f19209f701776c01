//! Signing keys for OAuth tests: fresh RSA and P-256 pairs in every form an Okta API service app's key reaches a client (PKCS#8, PKCS#1 or SEC1 PEM, JWK).

mod der;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{self, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use der::{BIT_STRING, CONTEXT_0, CONTEXT_1, INTEGER, OCTET_STRING, OID, SEQUENCE};

/// Key ids are unique across every key made in the process.
static NEXT_KID: AtomicU64 = AtomicU64::new(1);

/// The content octets of the `prime256v1` (P-256) object identifier, 1.2.840.10045.3.1.7.
const P256_OID: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// Bytes in one P-256 coordinate or private scalar.
const P256_BYTES: usize = 32;

/// One signing key pair, as the Okta Admin Console hands out a generated key.
///
/// Every form holds the same key; [`TestKey::sign`] and [`TestKey::jws`] sign with it.
#[derive(Clone)]
pub struct TestKey {
    /// `"RS256"` or `"ES256"`.
    pub alg: &'static str,
    /// `test-rsa-N` or `test-ec-N`, unique per key; also the JWKs' `kid`.
    pub kid: String,
    /// PKCS#8, `-----BEGIN PRIVATE KEY-----`.
    pub pkcs8_pem: String,
    /// RSA: PKCS#1 `-----BEGIN RSA PRIVATE KEY-----`; EC: SEC1 `-----BEGIN EC PRIVATE KEY-----`.
    pub legacy_pem: String,
    /// The private JWK with `kid`, `alg` and `use: "sig"`: RSA `e n d p q dp dq qi`, EC `crv x y d`.
    pub private_jwk: Value,
    /// The same without the private members: what the app registers with Okta.
    pub public_jwk: Value,
}

impl fmt::Debug for TestKey {
    /// Names the key; the private parts stay out of test output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A fresh RSA 2048 key for RS256.
///
/// # Panics
/// If aws-lc cannot generate or encode a key.
pub fn rsa_key() -> TestKey {
    let pair = rsa::KeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key");
    let pkcs8 = pair.as_der().expect("RSA key as PKCS#8").as_ref().to_vec();
    let pkcs1 = pkcs8_private_key(&pkcs8).expect("RSAPrivateKey inside PKCS#8");
    let fields = der::only(SEQUENCE, pkcs1)
        .and_then(der::elements)
        .expect("RSAPrivateKey is a SEQUENCE");
    // version, n, e, d, p, q, dp, dq, qi
    let numbers: Vec<String> = fields
        .iter()
        .filter(|(tag, _)| *tag == INTEGER)
        .map(|(_, content)| b64url(der::unsigned(content)))
        .collect();
    let [_, n, e, d, p, q, dp, dq, qi] = numbers.as_slice() else {
        panic!("RSAPrivateKey has {} integers, not 9", numbers.len());
    };
    let kid = next_kid("rsa");
    let public_jwk =
        json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "e": e, "n": n});
    let mut private_jwk = public_jwk.clone();
    for (name, value) in [
        ("d", d),
        ("p", p),
        ("q", q),
        ("dp", dp),
        ("dq", dq),
        ("qi", qi),
    ] {
        private_jwk[name] = json!(value);
    }
    TestKey {
        alg: "RS256",
        pkcs8_pem: pem("PRIVATE KEY", &pkcs8),
        legacy_pem: pem("RSA PRIVATE KEY", pkcs1),
        kid,
        private_jwk,
        public_jwk,
    }
}

/// A fresh P-256 key for ES256.
///
/// # Panics
/// If aws-lc cannot generate or encode a key.
pub fn ec_key() -> TestKey {
    let pair =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("generate a P-256 key");
    let pkcs8 = pair
        .to_pkcs8v1()
        .expect("P-256 key as PKCS#8")
        .as_ref()
        .to_vec();
    let scalar = pkcs8_private_key(&pkcs8)
        .and_then(|sec1| der::only(SEQUENCE, sec1))
        .and_then(der::elements)
        .and_then(|fields| {
            fields
                .iter()
                .find(|(tag, _)| *tag == OCTET_STRING)
                .map(|(_, d)| left_pad(d, P256_BYTES))
        })
        .expect("ECPrivateKey with its private scalar inside PKCS#8");
    // 0x04 || x || y
    let point = pair.public_key().as_ref().to_vec();
    assert_eq!(
        point.len(),
        1 + 2 * P256_BYTES,
        "an uncompressed P-256 point"
    );
    let (x, y) = point[1..].split_at(P256_BYTES);
    let sec1 = der::sequence(&[
        der::integer(&[1]),
        der::tlv(OCTET_STRING, &scalar),
        der::tlv(CONTEXT_0, &der::tlv(OID, P256_OID)),
        der::tlv(
            CONTEXT_1,
            &der::tlv(BIT_STRING, &[&[0][..], &point].concat()),
        ),
    ]);
    let kid = next_kid("ec");
    let public_jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": b64url(x), "y": b64url(y),
    });
    let mut private_jwk = public_jwk.clone();
    private_jwk["d"] = json!(b64url(&scalar));
    TestKey {
        alg: "ES256",
        pkcs8_pem: pem("PRIVATE KEY", &pkcs8),
        legacy_pem: pem("EC PRIVATE KEY", &sec1),
        kid,
        private_jwk,
        public_jwk,
    }
}

impl TestKey {
    /// The JWS signature of `message` under [`TestKey::alg`]: PKCS#1 v1.5 for RS256, the
    /// 64-byte `r || s` for ES256.
    ///
    /// # Panics
    /// If [`TestKey::pkcs8_pem`] no longer holds a key of that kind.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let pkcs8 = pem_der(&self.pkcs8_pem).expect("pkcs8_pem is PEM");
        let rng = SystemRandom::new();
        if self.alg == "ES256" {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .expect("pkcs8_pem is a P-256 key");
            let signature = pair.sign(&rng, message).expect("ES256 signature");
            signature.as_ref().to_vec()
        } else {
            let pair = rsa::KeyPair::from_pkcs8(&pkcs8).expect("pkcs8_pem is an RSA key");
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                .expect("RS256 signature");
            signature
        }
    }

    /// A compact JWS (`header.claims.signature`, base64url without padding) signed by this key.
    ///
    /// `header` goes out as given, so a test can also sign one with a wrong `alg` or `kid`.
    pub fn jws(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature = self.sign(input.as_bytes());
        format!("{input}.{}", b64url(&signature))
    }
}

/// `test-KIND-N` with a process-wide counter.
fn next_kid(kind: &str) -> String {
    format!("test-{kind}-{}", NEXT_KID.fetch_add(1, Ordering::Relaxed))
}

/// The `privateKey` octets of a PKCS#8 `PrivateKeyInfo` (version, algorithm, privateKey, ...).
fn pkcs8_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let fields = der::elements(der::only(SEQUENCE, pkcs8)?)?;
    match fields.get(2) {
        Some(&(OCTET_STRING, key)) => Some(key),
        _ => None,
    }
}

/// `bytes` left-padded with zeros to `len` (fixed-width EC members).
fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len.saturating_sub(bytes.len())];
    out.extend_from_slice(bytes);
    out
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `der` as a PEM block with the `label`, 64 characters a line.
fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside a one-block PEM text.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
    use aws_lc_rs::signature::{
        UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
    };

    fn member(jwk: &Value, name: &str) -> Vec<u8> {
        let text = jwk[name].as_str().unwrap_or_else(|| panic!("no {name}"));
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    #[test]
    fn rsa_key_reads_the_same_in_every_form() {
        let key = rsa_key();
        assert!(key.pkcs8_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(key
            .legacy_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(key.legacy_pem.ends_with("-----END RSA PRIVATE KEY-----\n"));
        let pkcs1 = pem_der(&key.legacy_pem).unwrap();
        // PKCS#1, not PKCS#8: version then the modulus, no algorithm identifier.
        let fields = der::elements(der::only(SEQUENCE, &pkcs1).unwrap()).unwrap();
        assert!(fields.iter().all(|(tag, _)| *tag == INTEGER));
        let from_pkcs1 = rsa::KeyPair::from_der(&pkcs1).unwrap();
        let from_pkcs8 = rsa::KeyPair::from_pkcs8(&pem_der(&key.pkcs8_pem).unwrap()).unwrap();
        assert_eq!(
            from_pkcs1.public_key().as_ref(),
            from_pkcs8.public_key().as_ref()
        );

        let jwk = &key.private_jwk;
        let from_jwk = rsa::KeyPair::from_components(&KeyPairComponents {
            public_key: PublicKeyComponents {
                n: member(jwk, "n"),
                e: member(jwk, "e"),
            },
            d: member(jwk, "d"),
            p: member(jwk, "p"),
            q: member(jwk, "q"),
            dP: member(jwk, "dp"),
            dQ: member(jwk, "dq"),
            qInv: member(jwk, "qi"),
        })
        .unwrap();
        assert_eq!(
            from_jwk.public_key().as_ref(),
            from_pkcs8.public_key().as_ref()
        );
        assert_eq!(member(jwk, "e"), [1, 0, 1]);
        assert_eq!(member(jwk, "n").len(), 256, "no leading zero");
        assert_eq!(
            (
                jwk["kty"].as_str(),
                jwk["alg"].as_str(),
                jwk["use"].as_str()
            ),
            (Some("RSA"), Some("RS256"), Some("sig"))
        );

        let public = PublicKeyComponents {
            n: member(&key.public_jwk, "n"),
            e: member(&key.public_jwk, "e"),
        };
        let signature = key.sign(b"message");
        public
            .verify(&RSA_PKCS1_2048_8192_SHA256, b"message", &signature)
            .unwrap();
        assert!(public
            .verify(&RSA_PKCS1_2048_8192_SHA256, b"other", &signature)
            .is_err());
        let public_members: Vec<&String> = key.public_jwk.as_object().unwrap().keys().collect();
        assert_eq!(public_members.len(), 6, "{public_members:?}");
        assert_eq!(key.public_jwk["kid"], json!(key.kid));
    }

    #[test]
    fn ec_key_reads_the_same_in_every_form() {
        let key = ec_key();
        assert!(key.pkcs8_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(key
            .legacy_pem
            .starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let sec1 = pem_der(&key.legacy_pem).unwrap();
        let fields = der::elements(der::only(SEQUENCE, &sec1).unwrap()).unwrap();
        let tags: Vec<u8> = fields.iter().map(|(tag, _)| *tag).collect();
        assert_eq!(tags, [INTEGER, OCTET_STRING, CONTEXT_0, CONTEXT_1]);
        let from_sec1 =
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &sec1).unwrap();
        let from_pkcs8 = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pem_der(&key.pkcs8_pem).unwrap(),
        )
        .unwrap();
        assert_eq!(
            from_sec1.public_key().as_ref(),
            from_pkcs8.public_key().as_ref()
        );

        let jwk = &key.private_jwk;
        let point = [&[4][..], &member(jwk, "x"), &member(jwk, "y")].concat();
        assert_eq!(point, from_pkcs8.public_key().as_ref());
        EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &member(jwk, "d"),
            &point,
        )
        .unwrap();
        assert_eq!(
            (
                jwk["crv"].as_str(),
                jwk["alg"].as_str(),
                jwk["use"].as_str()
            ),
            (Some("P-256"), Some("ES256"), Some("sig"))
        );

        let public = &key.public_jwk;
        assert!(public.get("d").is_none());
        let point = [&[4][..], &member(public, "x"), &member(public, "y")].concat();
        let signature = key.sign(b"message");
        assert_eq!(signature.len(), 64);
        let verifier = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point);
        verifier.verify(b"message", &signature).unwrap();
        assert!(verifier.verify(b"other", &signature).is_err());
    }

    #[test]
    fn jws_is_three_base64url_parts_signed_over_the_first_two() {
        let key = ec_key();
        let jws = key.jws(&json!({"alg": "ES256"}), &json!({"sub": "x"}));
        let parts: Vec<&str> = jws.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "ES256"}));
        let point = [
            &[4][..],
            &member(&key.public_jwk, "x"),
            &member(&key.public_jwk, "y"),
        ]
        .concat();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .unwrap();
    }

    #[test]
    fn kids_are_unique() {
        let (a, b) = (ec_key(), ec_key());
        assert_ne!(a.kid, b.kid);
        assert!(a.kid.starts_with("test-ec-"));
    }
}
