//! Property tests of the key readers: any PEM-like text and any JWK-like JSON gets a key or a
//! refusal in words, never a panic.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use okta_ingest_testkit::oauth_keys::{ec_key, rsa_key};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::keys::ClientKey;
use super::Credential;

/// The real keys' DER (PKCS#8 and the legacy forms), to cut and spoil.
fn real_ders() -> Vec<Vec<u8>> {
    let (rsa, ec) = (rsa_key(), ec_key());
    [rsa.pkcs8_pem, rsa.legacy_pem, ec.pkcs8_pem, ec.legacy_pem]
        .iter()
        .filter_map(|pem| {
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            STANDARD.decode(body).ok()
        })
        .collect()
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("PRIVATE KEY".to_owned()),
        Just("RSA PRIVATE KEY".to_owned()),
        Just("EC PRIVATE KEY".to_owned()),
        Just("ENCRYPTED PRIVATE KEY".to_owned()),
        Just("PUBLIC KEY".to_owned()),
        "[A-Z -]{0,16}",
        "\\PC{0,6}",
    ]
}

/// Base64 of garbage: random bytes, or a real key's DER cut short or with bytes flipped.
fn base64_body() -> impl Strategy<Value = String> {
    let ders = real_ders();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| STANDARD.encode(b)),
        (
            0..ders.len(),
            any::<prop::sample::Index>(),
            any::<u8>(),
            any::<bool>()
        )
            .prop_map(move |(which, at, flip, cut)| {
                let mut der = ders[which].clone();
                let i = at.index(der.len().max(1));
                if cut {
                    der.truncate(i);
                } else if let Some(b) = der.get_mut(i) {
                    *b ^= flip | 1;
                }
                STANDARD.encode(der)
            }),
        "[A-Za-z0-9+/=\\n ]{0,120}",
    ]
    .prop_flat_map(|b| {
        // Sometimes cut mid-character of base64, or with the padding lost.
        let len = b.len();
        (Just(b), 0..=len).prop_map(|(b, cut)| b[..cut].to_owned())
    })
}

/// One piece of PEM-like text; pieces are joined in any order.
fn pem_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        label().prop_map(|l| format!("-----BEGIN {l}-----")),
        label().prop_map(|l| format!("-----END {l}-----")),
        Just("-----".to_owned()),
        Just("-----BEGIN ".to_owned()),
        Just("-----END ".to_owned()),
        Just("\n".to_owned()),
        Just("\\n".to_owned()),
        base64_body(),
        "\\PC{0,12}",
    ]
}

/// Whole PEM blocks with a spoilt body, and loose pieces in any order.
fn pem_like() -> impl Strategy<Value = String> {
    prop_oneof![
        (label(), base64_body(), label()).prop_map(|(begin, body, end)| format!(
            "-----BEGIN {begin}-----\n{body}\n-----END {end}-----"
        )),
        (label(), base64_body())
            .prop_map(|(l, body)| format!("-----BEGIN {l}-----\n{body}\n-----END {l}-----")),
        proptest::collection::vec(pem_piece(), 0..10).prop_map(|pieces| pieces.concat()),
    ]
}

/// Any JSON value, numbers of every size included.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        Just(json!(1e308)),
        "[A-Za-z0-9_-]{0,60}".prop_map(Value::String),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JWK-like object: the real members with odd values, some missing, some extra.
fn jwk_like() -> impl Strategy<Value = Value> {
    let (rsa, ec) = (rsa_key().private_jwk, ec_key().private_jwk);
    let member = prop_oneof![
        json_value(),
        "[A-Za-z0-9_-]{0,400}".prop_map(Value::String),
        Just(json!("RSA")),
        Just(json!("EC")),
        Just(json!("P-256")),
        Just(json!("P-384")),
    ];
    let names = prop::sample::subsequence(
        vec![
            "kty", "crv", "kid", "n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y",
        ],
        0..=13,
    );
    (
        any::<bool>(),
        names,
        proptest::collection::vec(member, 13),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(from_rsa, names, values, drop)| {
            // A real key with some members replaced and one removed, so the readers get past
            // the first checks as often as not.
            let mut jwk = if from_rsa { rsa.clone() } else { ec.clone() };
            if let Some(object) = jwk.as_object_mut() {
                for (name, value) in names.iter().zip(values) {
                    object.insert((*name).to_owned(), value);
                }
                let keys: Vec<String> = object.keys().cloned().collect();
                if !keys.is_empty() {
                    object.remove(&keys[drop.index(keys.len())]);
                }
            }
            jwk
        })
}

proptest! {
    #[test]
    fn pem_like_text_gets_a_key_or_a_refusal_never_a_panic(text in pem_like()) {
        if let Err(why) = ClientKey::from_pem(&text) {
            prop_assert!(why.contains("private_key"), "{}", why);
        }
        let secret = json!({"client_id": "0oa1", "private_key": text}).to_string();
        let _ = Credential::parse(&secret);
    }

    #[test]
    fn jwk_like_json_gets_a_key_or_a_refusal_never_a_panic(
        jwk in prop_oneof![jwk_like(), json_value()],
    ) {
        if let Err(why) = ClientKey::from_jwk(&jwk) {
            prop_assert!(why.contains("JWK"), "{}", why);
        }
        for private_key in [jwk.clone(), Value::String(jwk.to_string())] {
            let secret = json!({"client_id": "0oa1", "private_key": private_key}).to_string();
            let _ = Credential::parse(&secret);
        }
    }
}
