//! Tests of the authorization server over real HTTP: private_key_jwt and DPoP at the token endpoint, Bearer and DPoP tokens at the logs; the shared steps here, the tests by concern below.

mod flows; // whole token flows: DPoP with nonces, Bearer, the clock
mod logs; // tokens at /api/v1/logs: refusals, expiry, the role, failures and rate limits
mod token_refusals; // what the token endpoint refuses: assertions, forms, proofs, scopes

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::*;
use crate::fake_okta::{Failure, OAuthSettings};
use crate::oauth_keys::{ec_key, rsa_key, TestKey};

const CLIENT: &str = "0oa-test-service-app";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_PATH: &str = "/oauth2/v1/token";
const LOGS: &str = "/api/v1/logs";

static NEXT_JTI: AtomicU64 = AtomicU64::new(1);

/// RSA key generation is the slow part; one app key serves every test.
fn app_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(rsa_key)
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn jti() -> String {
    format!("jti-{}", NEXT_JTI.fetch_add(1, Ordering::Relaxed))
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base` with each member of `changes` set, or removed where it is null.
fn merged(mut base: Value, changes: &Value) -> Value {
    for (name, value) in changes.as_object().expect("an object of changes") {
        if value.is_null() {
            base.as_object_mut().unwrap().remove(name);
        } else {
            base[name] = value.clone();
        }
    }
    base
}

/// A fake with the app registered under [`app_key`].
async fn org(settings: OAuthSettings) -> FakeOkta {
    let okta = FakeOkta::start().await;
    okta.register_client(CLIENT, &app_key().public_jwk);
    okta.set_oauth(settings);
    okta
}

/// A client assertion for [`CLIENT`] signed by `key`, with `changes` to the claims.
fn assertion_by(okta: &FakeOkta, key: &TestKey, changes: Value) -> String {
    let claims = json!({
        "iss": CLIENT, "sub": CLIENT, "aud": okta.token_url(),
        "iat": now(), "exp": now() + 300, "jti": jti(),
    });
    key.jws(
        &json!({"alg": key.alg, "kid": key.kid}),
        &merged(claims, &changes),
    )
}

fn assertion(okta: &FakeOkta, changes: Value) -> String {
    assertion_by(okta, app_key(), changes)
}

/// A DPoP proof by `key` for `htm` and `htu`, with `changes` to the claims.
fn proof(key: &TestKey, htm: &str, htu: &str, changes: Value) -> String {
    let claims = json!({"jti": jti(), "htm": htm, "htu": htu, "iat": now()});
    key.jws(
        &json!({"typ": "dpop+jwt", "alg": key.alg, "jwk": key.public_jwk}),
        &merged(claims, &changes),
    )
}

fn token_proof(okta: &FakeOkta, key: &TestKey, changes: Value) -> String {
    proof(key, "POST", &okta.token_url(), changes)
}

/// A proof for `GET /api/v1/logs` with `token`, with `changes` to the claims.
fn logs_proof(okta: &FakeOkta, key: &TestKey, token: &str, changes: Value) -> String {
    let ath = b64url(digest(&SHA256, token.as_bytes()).as_ref());
    let htu = format!("{}{LOGS}", okta.base_url());
    proof(key, "GET", &htu, merged(json!({"ath": ath}), &changes))
}

/// `POST /oauth2/v1/token` with the form `fields`, and a `DPoP` header if given.
async fn post_form(okta: &FakeOkta, fields: &[(&str, &str)], dpop: Option<&str>) -> RawResponse {
    let body: Vec<String> = fields
        .iter()
        .map(|(n, v)| format!("{n}={}", encode_component(v)))
        .collect();
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend(dpop.map(|p| ("DPoP", p)));
    request(
        okta.addr(),
        "POST",
        TOKEN_PATH,
        &headers,
        body.join("&").as_bytes(),
    )
    .await
    .expect("POST to the token endpoint")
}

/// A complete client-credentials token request.
async fn post_token(okta: &FakeOkta, assertion: &str, dpop: Option<&str>) -> RawResponse {
    let fields = [
        ("grant_type", "client_credentials"),
        ("scope", "okta.logs.read"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    post_form(okta, &fields, dpop).await
}

fn body(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON body")
}

/// `(status, error, error_description)` of a token endpoint answer.
fn refusal(r: &RawResponse) -> (u16, String, String) {
    let v = body(r);
    (
        r.status,
        v["error"].as_str().expect("error").to_string(),
        v["error_description"]
            .as_str()
            .expect("error_description")
            .to_string(),
    )
}

/// A DPoP token for `dpop_key`, through the nonce the token endpoint asks for.
async fn dpop_token(okta: &FakeOkta, dpop_key: &TestKey) -> String {
    let first = post_token(
        okta,
        &assertion(okta, json!({})),
        Some(&token_proof(okta, dpop_key, json!({}))),
    )
    .await;
    let nonce = first.header("dpop-nonce").expect("a nonce").to_string();
    let r = post_token(
        okta,
        &assertion(okta, json!({})),
        Some(&token_proof(okta, dpop_key, json!({"nonce": nonce}))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    body(&r)["access_token"].as_str().unwrap().to_string()
}

async fn get_logs(okta: &FakeOkta, authorization: &str, dpop: Option<&str>) -> RawResponse {
    let mut headers = vec![("Authorization", authorization)];
    headers.extend(dpop.map(|p| ("DPoP", p)));
    request(okta.addr(), "GET", LOGS, &headers, b"")
        .await
        .expect("GET from fake Okta")
}

/// `GET /api/v1/logs` with `token` and a proof by `key` with `changes`.
async fn get_logs_dpop(okta: &FakeOkta, token: &str, key: &TestKey, changes: Value) -> RawResponse {
    let proof = logs_proof(okta, key, token, changes);
    get_logs(okta, &format!("DPoP {token}"), Some(&proof)).await
}

fn www_authenticate(r: &RawResponse) -> &str {
    r.header("www-authenticate")
        .expect("a WWW-Authenticate challenge")
}
