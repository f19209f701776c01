//! Tests of the authorization server over real HTTP: private_key_jwt and DPoP at the token endpoint, Bearer and DPoP tokens at the logs.

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

#[tokio::test]
async fn dpop_flow_with_nonces_at_the_token_endpoint_and_the_logs() {
    // GIVEN an app that needs DPoP, with nonces at both servers
    let okta = org(OAuthSettings {
        nonce_on_logs: true,
        ..OAuthSettings::default()
    })
    .await;
    // Within the 15 minutes a request without `since` reads.
    let recent = millis(OffsetDateTime::now_utc() - time::Duration::minutes(1));
    let ids = okta.add_events(2, recent, time::Duration::seconds(1));
    let dpop_key = ec_key();

    // WHEN the first token request has no nonce THEN it is asked for one
    let r = post_token(
        &okta,
        &assertion(&okta, json!({})),
        Some(&token_proof(&okta, &dpop_key, json!({}))),
    )
    .await;
    let (status, error, description) = refusal(&r);
    assert_eq!((status, error.as_str()), (400, "use_dpop_nonce"));
    assert_eq!(
        description,
        "Authorization server requires nonce in DPoP proof."
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let nonce = r.header("dpop-nonce").expect("DPoP-Nonce").to_string();

    // WHEN it comes back with the nonce (and a fresh assertion) THEN it gets a DPoP token
    let r = post_token(
        &okta,
        &assertion(&okta, json!({})),
        Some(&token_proof(&okta, &dpop_key, json!({"nonce": nonce}))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let answer = body(&r);
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["expires_in"], 3600);
    assert_eq!(answer["scope"], "okta.logs.read");
    let token = answer["access_token"].as_str().unwrap().to_string();

    // WHEN the logs see a proof without their nonce THEN they ask for it
    let r = get_logs_dpop(&okta, &token, &dpop_key, json!({})).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        www_authenticate(&r),
        r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#
    );
    assert_eq!(error_code(&r), "E0000011");
    let logs_nonce = r.header("dpop-nonce").expect("DPoP-Nonce").to_string();
    assert_ne!(logs_nonce, nonce);

    // THEN proofs with it pass, and the nonce stays the same
    for _ in 0..2 {
        let r = get_logs_dpop(&okta, &token, &dpop_key, json!({"nonce": logs_nonce})).await;
        assert_eq!(r.status, 200);
        assert_eq!(uuids(&r), ids);
        assert!(r.header("x-rate-limit-remaining").is_some());
    }

    let tokens: Vec<(u16, Option<String>, bool)> = okta
        .token_requests()
        .into_iter()
        .map(|t| (t.status, t.error, t.dpop))
        .collect();
    assert_eq!(
        tokens,
        [
            (400, Some("use_dpop_nonce".to_string()), true),
            (200, None, true)
        ]
    );
    assert_eq!(okta.issued_tokens(), 1);
    let logs: Vec<u16> = okta.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        logs,
        [401, 200, 200],
        "token requests are not in requests()"
    );
}

#[tokio::test]
async fn bearer_token_when_dpop_is_off() {
    let okta = org(OAuthSettings {
        dpop_required: false,
        ..OAuthSettings::default()
    })
    .await;
    let r = post_token(&okta, &assertion(&okta, json!({})), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["token_type"], "Bearer");
    let token = body(&r)["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        get_logs(&okta, &format!("Bearer {token}"), None)
            .await
            .status,
        200
    );

    // A DPoP header is ignored: still a Bearer token, and no nonce asked for.
    let key = ec_key();
    let proof = token_proof(&okta, &key, json!({}));
    let r = post_token(&okta, &assertion(&okta, json!({})), Some(&proof)).await;
    assert_eq!(
        (r.status, body(&r)["token_type"].clone()),
        (200, json!("Bearer"))
    );

    // A Bearer token is not a DPoP token.
    let r = get_logs_dpop(&okta, &token, &key, json!({})).await;
    assert_eq!(r.status, 401);
    assert!(www_authenticate(&r).starts_with(r#"DPoP error="invalid_token""#));
    let r = get_logs(&okta, "Bearer not-issued", None).await;
    assert_eq!((r.status, error_code(&r)), (401, "E0000011".to_string()));
    assert!(www_authenticate(&r).starts_with(r#"Bearer error="invalid_token""#));
    // API tokens keep working beside OAuth.
    assert_eq!(get(&okta, LOGS).await.status, 200);
}

#[tokio::test]
async fn client_assertion_refusals() {
    let okta = org(OAuthSettings::default()).await;
    let other = ec_key();
    let cases = [
        ("bad signature", assertion_by(&okta, &rsa_key_with_app_kid(), json!({})), "The client_assertion signature is invalid."),
        ("wrong aud", assertion(&okta, json!({"aud": format!("{}/oauth2/default/v1/token", okta.base_url())})), "The audience claim for client_assertion must be the endpoint invoked for the request."),
        ("expired", assertion(&okta, json!({"exp": now() - 1})), "The client_assertion token is expired."),
        ("exp too far", assertion(&okta, json!({"exp": now() + 7200})), "The client_assertion token has an expiration too far in the future."),
        ("no exp", assertion(&okta, json!({"exp": null})), "The client_assertion token must have an 'exp' claim."),
        ("iat ahead", assertion(&okta, json!({"iat": now() + 120})), "The client_assertion token has an iat in the future."),
        ("no jti", assertion(&okta, json!({"jti": null})), "The client_assertion token must have a 'jti' claim."),
        ("unknown kid", assertion_by(&okta, &other, json!({})), "The client_assertion token has a kid which does not identify a key registered for the client."),
        ("unknown client", assertion(&okta, json!({"iss": "0oa-nobody", "sub": "0oa-nobody"})), "Client authentication failed. Either the client or the client credentials are invalid."),
        ("no sub", assertion(&okta, json!({"sub": null})), "A client_id must be provided in the request."),
        ("not a JWT", "not.a-jwt".to_string(), "The client_assertion token is malformed."),
    ];
    let dpop = ec_key();
    for (case, assertion, expected) in cases {
        let r = post_token(
            &okta,
            &assertion,
            Some(&token_proof(&okta, &dpop, json!({}))),
        )
        .await;
        assert_eq!(
            refusal(&r),
            (401, "invalid_client".to_string(), expected.to_string()),
            "{case}"
        );
    }

    // A replayed assertion: the first use spent it, even though DPoP then asked for a nonce.
    let once = assertion(&okta, json!({}));
    let r = post_token(&okta, &once, Some(&token_proof(&okta, &dpop, json!({})))).await;
    assert_eq!(refusal(&r).1, "use_dpop_nonce");
    let nonce = r.header("dpop-nonce").unwrap().to_string();
    let r = post_token(
        &okta,
        &once,
        Some(&token_proof(&okta, &dpop, json!({"nonce": nonce}))),
    )
    .await;
    assert_eq!(
        refusal(&r),
        (
            401,
            "invalid_client".to_string(),
            "The 'jti' claim has already been used.".to_string()
        )
    );

    // Without a kid, the app's only key is tried.
    let key = app_key();
    let claims = json!({"iss": CLIENT, "sub": CLIENT, "aud": okta.token_url(), "iat": now(), "exp": now() + 60, "jti": jti()});
    let no_kid = key.jws(&json!({"alg": "RS256"}), &claims);
    let r = post_token(&okta, &no_kid, Some(&token_proof(&okta, &dpop, json!({})))).await;
    assert_eq!(
        refusal(&r).1,
        "use_dpop_nonce",
        "past client authentication"
    );
    assert_eq!(okta.issued_tokens(), 0);
}

/// A new RSA key that claims the app key's `kid`: its signatures must not verify.
fn rsa_key_with_app_kid() -> TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    let mut key = KEY.get_or_init(rsa_key).clone();
    key.kid = app_key().kid.clone();
    key
}

#[tokio::test]
async fn malformed_token_requests() {
    let okta = org(OAuthSettings::default()).await;
    let a = assertion(&okta, json!({}));
    let complete = [
        ("grant_type", "client_credentials"),
        ("scope", "okta.logs.read"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", a.as_str()),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        complete
            .iter()
            .filter(|(n, _)| *n != name)
            .copied()
            .collect()
    };
    let with = |name: &str, value: &'static str| -> Vec<(&str, &str)> {
        complete
            .iter()
            .map(|&(n, v)| (n, if n == name { value } else { v }))
            .collect()
    };
    let cases = [
        (without("grant_type"), "invalid_request", "The 'grant_type' parameter is required."),
        (with("grant_type", "password"), "unsupported_grant_type", "The authorization grant type is not supported by the authorization server. Configured grant types: [client_credentials]."),
        (without("scope"), "invalid_request", "The 'scope' parameter is required."),
        (with("client_assertion_type", "jwt"), "invalid_request", "The 'client_assertion_type' parameter must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer."),
        (without("client_assertion"), "invalid_request", "The 'client_assertion' parameter is required."),
        ([&complete[..1], &complete[..]].concat(), "invalid_request", "The 'grant_type' parameter must not be repeated."),
    ];
    for (fields, error, description) in cases {
        let r = post_form(&okta, &fields, None).await;
        assert_eq!(
            refusal(&r),
            (400, error.to_string(), description.to_string())
        );
    }
    let r = request(
        okta.addr(),
        "POST",
        TOKEN_PATH,
        &[],
        b"grant_type=client_credentials",
    )
    .await
    .unwrap();
    assert_eq!(refusal(&r).1, "invalid_request", "no form content type");
    let r = request(okta.addr(), "GET", TOKEN_PATH, &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(okta.token_requests().len(), 7, "every POST, not the GET");
    assert!(okta.token_requests().iter().all(|t| !t.dpop));
    assert!(okta.requests().is_empty());
}

#[tokio::test]
async fn dpop_proof_refusals_at_the_token_endpoint() {
    let okta = org(OAuthSettings::default()).await;
    let key = ec_key();
    let mut private = key.clone();
    private.public_jwk = key.private_jwk.clone();
    let other = ec_key();
    let replayed = token_proof(&okta, &key, json!({}));
    let r = post_token(&okta, &assertion(&okta, json!({})), Some(&replayed)).await;
    assert_eq!(refusal(&r).1, "use_dpop_nonce");

    let typ = key.jws(
        &json!({"typ": "JWT", "alg": "ES256", "jwk": key.public_jwk}),
        &json!({"jti": jti(), "htm": "POST", "htu": okta.token_url(), "iat": now()}),
    );
    let foreign = other.jws(
        &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk}),
        &json!({"jti": jti(), "htm": "POST", "htu": okta.token_url(), "iat": now()}),
    );
    let cases = [
        ("missing", None, "The DPoP proof JWT header is missing."),
        (
            "private jwk",
            Some(token_proof(&okta, &private, json!({}))),
            "The DPoP proof JWT header 'jwk' must not contain a private key.",
        ),
        (
            "wrong htu",
            Some(token_proof(
                &okta,
                &key,
                json!({"htu": format!("{}?x=1", okta.token_url())}),
            )),
            "The DPoP proof JWT 'htu' claim does not match the request URL.",
        ),
        (
            "wrong htm",
            Some(token_proof(&okta, &key, json!({"htm": "GET"}))),
            "The DPoP proof JWT 'htm' claim does not match the request method.",
        ),
        (
            "old iat",
            Some(token_proof(&okta, &key, json!({"iat": now() - 400}))),
            "The DPoP proof JWT 'iat' claim is missing or not within 300 seconds of now.",
        ),
        (
            "typ",
            Some(typ),
            "The DPoP proof JWT header 'typ' must be 'dpop+jwt'.",
        ),
        (
            "signed by another key",
            Some(foreign),
            "The DPoP proof JWT signature is invalid.",
        ),
        (
            "replayed",
            Some(replayed),
            "The DPoP proof JWT has already been used.",
        ),
    ];
    for (case, proof, expected) in cases {
        let r = post_token(&okta, &assertion(&okta, json!({})), proof.as_deref()).await;
        assert_eq!(
            refusal(&r),
            (400, "invalid_dpop_proof".to_string(), expected.to_string()),
            "{case}"
        );
    }
    assert_eq!(okta.issued_tokens(), 0);
}

#[tokio::test]
async fn scope_not_granted_is_invalid_scope() {
    let okta = org(OAuthSettings {
        scope_granted: false,
        dpop_required: false,
        ..OAuthSettings::default()
    })
    .await;
    let r = post_token(&okta, &assertion(&okta, json!({})), None).await;
    assert_eq!(
        refusal(&r),
        (
            400,
            "invalid_scope".to_string(),
            "The following scopes are not allowed: [okta.logs.read]".to_string()
        )
    );
    okta.set_oauth(OAuthSettings {
        dpop_required: false,
        ..OAuthSettings::default()
    });
    let a = assertion(&okta, json!({}));
    let fields = [
        ("grant_type", "client_credentials"),
        ("scope", "okta.logs.read okta.users.read"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", a.as_str()),
    ];
    let r = post_form(&okta, &fields, None).await;
    assert_eq!(
        refusal(&r).2,
        "The following scopes are not allowed: [okta.users.read]"
    );
}

#[tokio::test]
async fn dpop_token_refusals_at_the_logs() {
    let okta = org(OAuthSettings::default()).await;
    let key = ec_key();
    let token = dpop_token(&okta, &key).await;
    let other = ec_key();
    let auth = format!("DPoP {token}");
    let cases = [
        (
            "wrong ath",
            get_logs_dpop(&okta, &token, &key, json!({"ath": b64url(b"x")})).await,
            "The DPoP proof JWT 'ath' claim does not match the access token.",
        ),
        (
            "other key",
            get_logs_dpop(&okta, &token, &other, json!({})).await,
            "The DPoP proof JWT key is not the key the access token is bound to.",
        ),
        (
            "wrong htu",
            get_logs_dpop(&okta, &token, &key, json!({"htu": okta.token_url()})).await,
            "The DPoP proof JWT 'htu' claim does not match the request URL.",
        ),
        (
            "no proof",
            get_logs(&okta, &auth, None).await,
            "The DPoP proof JWT header is missing.",
        ),
        (
            "unknown token",
            get_logs_dpop(&okta, "forged", &key, json!({})).await,
            "The access token is invalid.",
        ),
    ];
    for (case, r, description) in cases {
        assert_eq!(r.status, 401, "{case}");
        assert_eq!(error_code(&r), "E0000011", "{case}");
        assert_eq!(
            www_authenticate(&r),
            format!(r#"DPoP error="invalid_token", error_description="{description}""#),
            "{case}"
        );
    }
    let r = get_logs(&okta, &format!("Bearer {token}"), None).await;
    assert_eq!(r.status, 401, "a DPoP token is not a Bearer token");
    assert!(www_authenticate(&r).starts_with(r#"Bearer error="invalid_token""#));

    assert_eq!(
        get_logs_dpop(&okta, &token, &key, json!({})).await.status,
        200
    );
    okta.revoke_tokens();
    let r = get_logs_dpop(&okta, &token, &key, json!({})).await;
    assert_eq!(r.status, 401);
    assert!(www_authenticate(&r).contains("The access token has been revoked."));
    // A new token works after a revocation.
    let token = dpop_token(&okta, &key).await;
    assert_eq!(
        get_logs_dpop(&okta, &token, &key, json!({})).await.status,
        200
    );
}

#[tokio::test]
async fn expired_token_is_invalid() {
    let okta = org(OAuthSettings {
        dpop_required: false,
        token_lifetime: Duration::from_secs(60),
        ..OAuthSettings::default()
    })
    .await;
    let r = post_token(&okta, &assertion(&okta, json!({})), None).await;
    assert_eq!(body(&r)["expires_in"], 60);
    let auth = format!("Bearer {}", body(&r)["access_token"].as_str().unwrap());
    assert_eq!(get_logs(&okta, &auth, None).await.status, 200);
    // A minute later on the fake's clock.
    okta.set_clock_skew(time::Duration::seconds(61));
    let r = get_logs(&okta, &auth, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        www_authenticate(&r),
        r#"Bearer error="invalid_token", error_description="The access token is expired.""#
    );
}

#[tokio::test]
async fn app_without_the_role_gets_403() {
    let okta = org(OAuthSettings {
        role_assigned: false,
        ..OAuthSettings::default()
    })
    .await;
    let key = ec_key();
    let token = dpop_token(&okta, &key).await;
    let r = get_logs_dpop(&okta, &token, &key, json!({})).await;
    assert_eq!((r.status, error_code(&r)), (403, "E0000006".to_string()));
    okta.set_oauth(OAuthSettings::default());
    assert_eq!(
        get_logs_dpop(&okta, &token, &key, json!({})).await.status,
        200
    );
    okta.set_forbidden(true);
    assert_eq!(
        get_logs_dpop(&okta, &token, &key, json!({})).await.status,
        403
    );
}

#[tokio::test]
async fn clock_skew_moves_the_assertion_checks() {
    let okta = org(OAuthSettings::default()).await;
    // The fake runs 10 minutes behind the client, so the client's iat is in its future.
    okta.set_clock_skew(time::Duration::minutes(-10));
    let key = ec_key();
    let r = post_token(
        &okta,
        &assertion(&okta, json!({})),
        Some(&token_proof(&okta, &key, json!({}))),
    )
    .await;
    assert_eq!(
        refusal(&r).2,
        "The client_assertion token has an iat in the future."
    );
    // Ahead by 10 minutes, an assertion for 5 minutes is already expired.
    okta.set_clock_skew(time::Duration::minutes(10));
    let r = post_token(
        &okta,
        &assertion(&okta, json!({})),
        Some(&token_proof(&okta, &key, json!({}))),
    )
    .await;
    assert_eq!(refusal(&r).2, "The client_assertion token is expired.");
}

#[tokio::test]
async fn failures_and_rate_limits_apply_to_oauth_requests_but_not_to_token_requests() {
    let okta = org(OAuthSettings::default()).await;
    okta.push_failure(Failure::Status(503));
    okta.set_rate_limit(2, Duration::from_secs(60));
    let key = ec_key();
    // Two token requests: neither takes the failure nor the budget.
    let token = dpop_token(&okta, &key).await;
    assert_eq!(
        get_logs_dpop(&okta, &token, &key, json!({})).await.status,
        503
    );
    let r = get_logs_dpop(&okta, &token, &key, json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-rate-limit-remaining"), Some("0"));
    let r = get_logs_dpop(&okta, &token, &key, json!({})).await;
    assert_eq!(r.status, 429);
    assert_eq!(okta.requests().len(), 3);
    assert!(okta.requests()[0]
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("DPoP ")));
}
