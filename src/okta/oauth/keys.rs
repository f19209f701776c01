//! The service app's private key: PEM (PKCS#8, PKCS#1, SEC1) or a JWK, and signing with it.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

/// The app's private key.
pub(super) enum ClientKey {
    Rsa(rsa::KeyPair),
    Ec(EcdsaKeyPair, &'static str),
}

impl ClientKey {
    pub(super) fn alg(&self) -> &'static str {
        match self {
            ClientKey::Rsa(_) => "RS256",
            ClientKey::Ec(_, alg) => alg,
        }
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match self {
            ClientKey::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| "RSA signing failed".to_owned())?;
                Ok(signature)
            }
            ClientKey::Ec(pair, _) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_owned()),
        }
    }

    /// PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub(super) fn from_pem(text: &str) -> Result<ClientKey, String> {
        let (label, der) = pem_block(text)?;
        let rejected = |what: &str| {
            format!("\"private_key\" is a {what} that does not parse as an RSA (2048 bits or more) or P-256/P-384 key")
        };
        match label.as_str() {
            "PRIVATE KEY" => {
                if let Ok(pair) = rsa::KeyPair::from_pkcs8(&der) {
                    return Ok(ClientKey::Rsa(pair));
                }
                for (alg, name) in EC_ALGS {
                    if let Ok(pair) = EcdsaKeyPair::from_pkcs8(alg, &der) {
                        return Ok(ClientKey::Ec(pair, name));
                    }
                }
                Err(rejected("PKCS#8 key"))
            }
            "RSA PRIVATE KEY" => rsa::KeyPair::from_der(&der)
                .map(ClientKey::Rsa)
                .map_err(|_| rejected("PKCS#1 key")),
            "EC PRIVATE KEY" => EC_ALGS
                .iter()
                .find_map(|(alg, name)| {
                    EcdsaKeyPair::from_private_key_der(alg, &der)
                        .ok()
                        .map(|p| ClientKey::Ec(p, name))
                })
                .ok_or_else(|| rejected("SEC1 key")),
            "ENCRYPTED PRIVATE KEY" => Err("\"private_key\" is encrypted: store it unencrypted (openssl pkcs8 -topk8 -nocrypt) in the secret, which Secrets Manager encrypts".into()),
            other => Err(format!("\"private_key\" is a PEM \"{other}\", not a private key")),
        }
    }

    /// A private JWK as the Admin Console shows it; also returns its `kid`.
    pub(super) fn from_jwk(jwk: &Value) -> Result<(ClientKey, Option<String>), String> {
        let kid = jwk["kid"].as_str().map(str::to_owned);
        let part = |name: &str| -> Result<Vec<u8>, String> {
            let text = jwk[name]
                .as_str()
                .ok_or_else(|| format!("the private JWK has no \"{name}\""))?;
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| format!("the private JWK's \"{name}\" is not base64url"))
        };
        match jwk["kty"].as_str() {
            Some("RSA") => {
                let names = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];
                let mut ints = vec![vec![0u8]];
                for name in names {
                    ints.push(part(name)?);
                }
                let der = der_sequence(&ints);
                rsa::KeyPair::from_der(&der)
                    .map(|k| (ClientKey::Rsa(k), kid))
                    .map_err(|_| {
                        "the private JWK is not a usable RSA key (2048 bits or more)".into()
                    })
            }
            Some("EC") => {
                let (alg, name) = match jwk["crv"].as_str() {
                    Some("P-256") => (&ECDSA_P256_SHA256_FIXED_SIGNING, "ES256"),
                    Some("P-384") => (&ECDSA_P384_SHA384_FIXED_SIGNING, "ES384"),
                    _ => return Err("the private JWK's \"crv\" must be P-256 or P-384".into()),
                };
                let mut point = vec![4u8];
                point.extend(part("x")?);
                point.extend(part("y")?);
                EcdsaKeyPair::from_private_key_and_public_key(alg, &part("d")?, &point)
                    .map(|k| (ClientKey::Ec(k, name), kid))
                    .map_err(|_| "the private JWK is not a usable EC key".into())
            }
            _ => Err("the private JWK's \"kty\" must be RSA or EC".into()),
        }
    }
}

const EC_ALGS: [(&EcdsaSigningAlgorithm, &str); 2] = [
    (&ECDSA_P256_SHA256_FIXED_SIGNING, "ES256"),
    (&ECDSA_P384_SHA384_FIXED_SIGNING, "ES384"),
];

/// The first PEM block: its label and its bytes.
fn pem_block(text: &str) -> Result<(String, Vec<u8>), String> {
    // Secrets pasted into JSON often carry "\n" as two characters.
    let text = text.replace("\\n", "\n");
    let begin = text
        .find("-----BEGIN ")
        .ok_or("\"private_key\" is neither PEM (-----BEGIN ...) nor a JWK object")?;
    let rest = &text[begin + 11..];
    let label_end = rest
        .find("-----")
        .ok_or("\"private_key\": broken PEM header")?;
    let label = rest[..label_end].to_owned();
    // The END line is looked for after the BEGIN line only: found anywhere, it may come
    // before the body starts (`-----BEGIN X-----END X-----`), and slicing would panic.
    let after_header = &rest[label_end + "-----".len()..];
    let end_marker = format!("-----END {label}-----");
    let body_end = after_header
        .find(&end_marker)
        .ok_or_else(|| format!("\"private_key\": no {end_marker} line after its BEGIN line"))?;
    let body: String = after_header[..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| "\"private_key\": the PEM body is not base64".to_owned())?;
    Ok((label, der))
}

/// DER `SEQUENCE` of unsigned `INTEGER`s (big-endian magnitudes).
pub(super) fn der_sequence(ints: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for int in ints {
        let trimmed: &[u8] = {
            let first = int
                .iter()
                .position(|b| *b != 0)
                .unwrap_or(int.len().saturating_sub(1));
            &int[first.min(int.len())..]
        };
        let mut value = Vec::with_capacity(trimmed.len() + 1);
        if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
            value.push(0);
        }
        value.extend_from_slice(trimmed);
        body.push(0x02);
        der_length(&mut body, value.len());
        body.extend(value);
    }
    let mut out = vec![0x30];
    der_length(&mut out, body.len());
    out.extend(body);
    out
}

fn der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_and_end_markers_sharing_their_dashes_are_refused_in_words() {
        let text = "-----BEGIN PRIVATE KEY-----END PRIVATE KEY-----";
        let err = ClientKey::from_pem(text).err().unwrap_or_default();
        assert!(
            err.contains("no -----END PRIVATE KEY----- line after its BEGIN line"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_body_between_whole_lines_is_refused_as_no_key() {
        let text = "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----";
        let err = ClientKey::from_pem(text).err().unwrap_or_default();
        assert!(err.contains("PKCS#8 key that does not parse"), "{err}");
    }
}
