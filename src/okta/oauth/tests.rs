//! Keys in every form, assertions and proofs checked against the public key.

use super::keys::der_sequence;
use super::*;
use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
};
use okta_ingest_testkit::oauth_keys::{ec_key, rsa_key};
use url::Url;

fn app(secret: Value) -> ServiceApp {
    match Credential::parse(&secret.to_string()).unwrap() {
        Credential::ServiceApp(app) => app,
        other => panic!("not a service app: {other:?}"),
    }
}

fn parts(jwt: &str) -> (Value, Value, Vec<u8>, String) {
    let mut it = jwt.split('.');
    let (h, c, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let decode = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    (
        decode(h),
        decode(c),
        URL_SAFE_NO_PAD.decode(s).unwrap(),
        format!("{h}.{c}"),
    )
}

#[test]
fn the_secrets_shape_decides_the_mode() {
    assert_eq!(Credential::parse("00aToken").unwrap().mode(), "api-token");
    assert_eq!(
        Credential::parse(r#"{"token":"00a"}"#).unwrap().mode(),
        "api-token"
    );
    let key = rsa_key();
    let secret = json!({"client_id": "0oa1", "private_key": key.pkcs8_pem});
    assert_eq!(
        Credential::parse(&secret.to_string()).unwrap().mode(),
        "oauth"
    );
}

#[test]
fn every_key_form_the_console_or_openssl_gives_is_read() {
    let rsa = rsa_key();
    let ec = ec_key();
    for (private_key, alg) in [
        (json!(rsa.pkcs8_pem), "RS256"),
        (json!(rsa.legacy_pem), "RS256"),
        (rsa.private_jwk.clone(), "RS256"),
        (json!(rsa.private_jwk.to_string()), "RS256"),
        (json!(ec.pkcs8_pem), "ES256"),
        (json!(ec.legacy_pem), "ES256"),
        (ec.private_jwk.clone(), "ES256"),
        // Pasted into JSON with the newlines as two characters.
        (json!(ec.pkcs8_pem.replace('\n', "\\n")), "ES256"),
    ] {
        let a = app(json!({"client_id": "0oa1", "private_key": private_key}));
        assert_eq!(a.key.alg(), alg);
    }
    // The JWK's kid is used when key_id is absent; key_id wins when given.
    let a = app(json!({"client_id": "0oa1", "private_key": ec.private_jwk}));
    assert_eq!(a.key_id.as_deref(), Some(ec.kid.as_str()));
    let a = app(json!({"client_id": "0oa1", "private_key": ec.private_jwk, "key_id": "k2"}));
    assert_eq!(a.key_id.as_deref(), Some("k2"));
    assert_eq!(a.scopes, DEFAULT_SCOPES);
    let a = app(
        json!({"client_id": "0oa1", "private_key": ec.pkcs8_pem, "scopes": ["okta.logs.read", "okta.users.read"]}),
    );
    assert_eq!(a.scopes, "okta.logs.read okta.users.read");
}

#[test]
fn a_bad_secret_names_the_field_and_never_the_key() {
    let ec = ec_key();
    let cases = [
        (
            json!({"client_id": "", "private_key": ec.pkcs8_pem}),
            "client_id",
        ),
        (json!({"client_id": "0oa1"}), "private_key"),
        (
            json!({"client_id": "0oa1", "private_key": 7}),
            "private_key",
        ),
        (
            json!({"client_id": "0oa1", "private_key": "hello"}),
            "neither PEM",
        ),
        (
            json!({"client_id": "0oa1", "private_key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"}),
            "encrypted",
        ),
        (
            json!({"client_id": "0oa1", "private_key": {"kty": "oct", "k": "abc"}}),
            "kty",
        ),
        (
            json!({"client_id": "0oa1", "private_key": ec.public_jwk}),
            "\"d\"",
        ),
        (
            json!({"client_id": "0oa1", "private_key": ec.pkcs8_pem, "scopes": 3}),
            "scopes",
        ),
    ];
    for (secret, expected) in cases {
        let err = Credential::parse(&secret.to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err} (wanted {expected})");
        assert!(
            !err.contains("MII") && !err.contains(ec.private_jwk["d"].as_str().unwrap()),
            "{err}"
        );
    }
}

#[test]
fn debug_output_never_shows_key_material() {
    let rsa = rsa_key();
    let secret = json!({"client_id": "0oa1", "private_key": rsa.pkcs8_pem, "key_id": "k1"});
    let shown = format!("{:?}", Credential::parse(&secret.to_string()).unwrap());
    assert!(shown.contains("0oa1") && shown.contains("RS256"), "{shown}");
    assert!(
        !shown.contains("MII") && !shown.contains("PRIVATE"),
        "{shown}"
    );
    assert_eq!(
        format!("{:?}", DpopKey::generate().unwrap()),
        "DpopKey(ES256)"
    );
}

#[test]
fn the_client_assertion_carries_what_okta_checks_and_verifies() {
    for key in [rsa_key(), ec_key()] {
        let a = app(json!({"client_id": "0oa1", "private_key": key.pkcs8_pem, "key_id": key.kid}));
        let url = "https://acme.okta.com/oauth2/v1/token";
        let jwt = a.assertion(url, 1_000_000).unwrap();
        let (header, claims, signature, signed) = parts(&jwt);
        assert_eq!(header["alg"], key.alg);
        assert_eq!(header["kid"], key.kid.as_str());
        assert_eq!(claims["aud"], url);
        assert_eq!(
            (&claims["iss"], &claims["sub"]),
            (&json!("0oa1"), &json!("0oa1"))
        );
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            ASSERTION_LIFETIME
        );
        assert!(claims["jti"].as_str().unwrap().len() >= 20);
        assert_ne!(
            parts(&a.assertion(url, 1_000_000).unwrap()).1["jti"],
            claims["jti"],
            "a fresh jti each time"
        );
        let ok = match key.alg {
            "RS256" => {
                let member = |m: &str| {
                    URL_SAFE_NO_PAD
                        .decode(key.public_jwk[m].as_str().unwrap())
                        .unwrap()
                };
                aws_lc_rs::signature::RsaPublicKeyComponents {
                    n: member("n"),
                    e: member("e"),
                }
                .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
            }
            _ => {
                let mut point = vec![4u8];
                point.extend(
                    URL_SAFE_NO_PAD
                        .decode(key.public_jwk["x"].as_str().unwrap())
                        .unwrap(),
                );
                point.extend(
                    URL_SAFE_NO_PAD
                        .decode(key.public_jwk["y"].as_str().unwrap())
                        .unwrap(),
                );
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(signed.as_bytes(), &signature)
            }
        };
        assert!(ok.is_ok(), "{} signature verifies", key.alg);
    }
}

#[test]
fn a_dpop_proof_is_public_bound_to_the_url_and_the_token() {
    let key = DpopKey::generate().unwrap();
    let url = Url::parse("https://acme.okta.com/api/v1/logs?since=x&limit=1000#f").unwrap();
    let proof = key.proof("GET", &url, Some("n-1"), Some("tok")).unwrap();
    let (header, claims, signature, signed) = parts(&proof);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert!(header["jwk"].get("d").is_none(), "only the public key");
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], "https://acme.okta.com/api/v1/logs");
    assert_eq!(claims["nonce"], "n-1");
    let ath = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, b"tok").as_ref());
    assert_eq!(claims["ath"], ath.as_str());
    let mut point = vec![4u8];
    point.extend(
        URL_SAFE_NO_PAD
            .decode(header["jwk"]["x"].as_str().unwrap())
            .unwrap(),
    );
    point.extend(
        URL_SAFE_NO_PAD
            .decode(header["jwk"]["y"].as_str().unwrap())
            .unwrap(),
    );
    assert!(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(signed.as_bytes(), &signature)
        .is_ok());
    let token_proof = key.proof("POST", &url, None, None).unwrap();
    let (_, claims, _, _) = parts(&token_proof);
    assert!(claims.get("ath").is_none() && claims.get("nonce").is_none());
}

#[test]
fn der_integers_are_minimal_and_positive() {
    assert_eq!(
        der_sequence(&[vec![0], vec![0x80], vec![0, 0, 5]]),
        [0x30, 0x0a, 2, 1, 0, 2, 2, 0, 0x80, 2, 1, 5][..]
    );
    let long = der_sequence(&[vec![1; 300]]);
    assert_eq!(&long[..4], &[0x30, 0x82, 0x01, 0x30]);
}

/// The token endpoint played by a hostile-but-real server (the testkit's destination on
/// 127.0.0.1): every answer ends in a clear refusal, in time, with nothing signed in it.
#[tokio::test]
async fn a_hostile_token_endpoint_gets_a_clear_refusal_in_time() {
    use okta_ingest_testkit::{Behaviour, RecordingDestination};
    use std::time::Duration;
    let endpoint = RecordingDestination::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = TokenClient::new(http, Url::parse(&endpoint.url()).unwrap());
    let key = ec_key();
    let app = app(json!({"client_id": "0oa1", "private_key": key.pkcs8_pem}));
    let logs = Url::parse("https://acme.okta.com/api/v1/logs").unwrap();
    let cases = [
        (Behaviour::Echo(400), "no OAuth error body"),
        (
            Behaviour::Huge(200, 40 * 1024 * 1024),
            "with more than 64 KiB",
        ),
        (
            Behaviour::Redirect(302, "https://elsewhere.example/token".into()),
            "HTTP 302",
        ),
        (
            Behaviour::Respond(
                200,
                r#"{"access_token":"t","token_type":"Bearer","expires_in":-5}"#.into(),
            ),
            "without a readable access_token",
        ),
        (
            Behaviour::Respond(200, r#"{"access_token":"t","token_type":"Mac"}"#.into()),
            "unknown token_type",
        ),
        (
            Behaviour::Respond(
                401,
                r#"{"error":"invalid_client","error_description":"bad"}"#.into(),
            ),
            "invalid_client",
        ),
        (
            Behaviour::Hang(Duration::from_secs(30)),
            "token request failed",
        ),
    ];
    for (behaviour, expected) in cases {
        endpoint.set_default(behaviour.clone());
        let mut state = OAuthState::default();
        let started = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let err = client
            .present(&app, &mut state, &logs, deadline)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{behaviour:?} gave a token"));
        assert!(err.contains(expected), "{behaviour:?}: {err}");
        assert!(
            !err.contains("eyJ"),
            "a signed assertion or proof leaked: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{behaviour:?} took {:?}",
            started.elapsed()
        );
        assert!(state.token.is_none());
    }
    // Absurd lifetimes are bounded, not trusted.
    endpoint.set_default(Behaviour::Respond(
        200,
        r#"{"access_token":"t","token_type":"DPoP","expires_in":18446744073709551615}"#.into(),
    ));
    let mut state = OAuthState::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let presented = client
        .present(&app, &mut state, &logs, deadline)
        .await
        .unwrap();
    assert!(presented.dpop.is_some());
    let renew_in = state.token.as_ref().unwrap().renew_at - tokio::time::Instant::now();
    assert!(renew_in <= Duration::from_secs(86_400), "{renew_in:?}");
}
