//! okta-pull with an OAuth 2.0 API service app instead of an API token, through the real
//! binary against the fake Okta's authorization server: `private_key_jwt` client assertions
//! (RS256 and ES256, PEM and JWK keys), DPoP-bound tokens with Okta's nonce dance on the token
//! endpoint and on `/api/v1/logs`, Bearer tokens when the app does not require DPoP, one token
//! per container across invocations, renewal, and each refusal an operator can meet, in
//! words, with no checkpoint moved and nothing delivered.

mod support;

use okta_ingest_testkit::fake_okta::OAuthSettings;
use okta_ingest_testkit::oauth_keys::{ec_key, rsa_key, TestKey};
use okta_ingest_testkit::runtime_api::Invocation;
use serde_json::{json, Value};
use support::pull::{Container, Org, T};
use time::OffsetDateTime;

const CLIENT: &str = "0oa1testserviceapp";

fn minutes_ago(m: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(m)
}

/// An org whose Okta secret holds a service app with `key` given as `private_key`.
async fn org_with_app(
    key: &TestKey,
    private_key: Value,
    key_id: bool,
    settings: OAuthSettings,
) -> Org {
    let org = Org::start(&[]).await;
    org.okta.register_client(CLIENT, &key.public_jwk);
    org.okta.set_oauth(settings);
    let mut secret = json!({ "client_id": CLIENT, "private_key": private_key });
    if key_id {
        secret["key_id"] = json!(key.kid);
    }
    org.moto
        .put_secret_value(&org.secret_arn, &secret.to_string())
        .await;
    org
}

fn defaults() -> OAuthSettings {
    OAuthSettings::default()
}

/// Nothing of the key, any assertion, proof or token in the function's output.
fn assert_no_key_material(c: &Container, key: &TestKey) {
    let out = c.function.output();
    // Any JWS (assertion, proof) starts with a base64url JSON header.
    assert!(!out.contains("eyJ"), "a JWT leaked:\n{out}");
    for line in key.pkcs8_pem.lines().filter(|l| l.len() > 40).take(3) {
        assert!(!out.contains(line), "private key leaked:\n{out}");
    }
    if let Some(d) = key.private_jwk["d"].as_str() {
        assert!(!out.contains(d), "private JWK leaked:\n{out}");
    }
    assert!(
        !out.contains("DPoP ey") && !out.contains("Bearer "),
        "{out}"
    );
}

/// Every System Log request carried `Authorization: <scheme>...`.
fn logs_read_with(org: &Org, scheme: &str) -> bool {
    org.okta
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/logs"))
        .all(|r| {
            r.authorization
                .as_deref()
                .is_some_and(|a| a.starts_with(scheme))
        })
}

fn error_of(outcome: Invocation) -> (String, String) {
    match outcome {
        Invocation::Error {
            error_type,
            error_message,
        } => (error_type, error_message),
        other => panic!("expected an invocation error, got {other:?}"),
    }
}

#[tokio::test]
async fn rs256_with_dpop_and_nonces_reads_the_log_with_one_token_across_invocations() {
    let key = rsa_key();
    let org = org_with_app(
        &key,
        json!(key.pkcs8_pem),
        true,
        OAuthSettings {
            nonce_on_logs: true,
            ..defaults()
        },
    )
    .await;
    org.okta
        .add_events(30, minutes_ago(50), time::Duration::seconds(60));
    let c = org.container().await;
    let first = c.scheduled(T).await;
    assert_eq!(first["forwarded"], 30, "{first}");
    assert_eq!(first["okta_auth"], "oauth", "{first}");
    // The token endpoint asked for a nonce once: two requests, one token.
    assert_eq!(first["okta_token_requests"], 2, "{first}");
    assert_eq!(org.okta.issued_tokens(), 1);
    let requests = org.okta.token_requests();
    assert_eq!(requests[0].error.as_deref(), Some("use_dpop_nonce"));
    assert_eq!(requests[1].status, 200);
    assert!(
        requests.iter().all(|r| r.dpop),
        "every token request carries a proof"
    );

    for round in 0..3 {
        org.okta
            .add_event(&format!("later-{round}"), minutes_ago(40));
        let next = c.scheduled(T).await;
        assert_eq!(next["okta_token_requests"], 0, "{next}");
        assert!(
            !next["stopped"].as_str().unwrap().starts_with("error"),
            "{next}"
        );
    }
    assert_eq!(org.okta.issued_tokens(), 1, "one token per container");
    org.assert_exactly_once();
    // The System Log saw DPoP tokens, never an API token.
    assert!(logs_read_with(&org, "DPoP "));
    assert_no_key_material(&c, &key);
}

#[tokio::test]
async fn es256_from_the_consoles_jwk_with_dpop_off_uses_bearer_tokens() {
    let key = ec_key();
    // No key_id: the JWK's kid is used.
    let org = org_with_app(
        &key,
        key.private_jwk.clone(),
        false,
        OAuthSettings {
            dpop_required: false,
            ..defaults()
        },
    )
    .await;
    org.okta
        .add_events(5, minutes_ago(30), time::Duration::seconds(60));
    let c = org.container().await;
    let run = c.scheduled(T).await;
    assert_eq!(run["forwarded"], 5, "{run}");
    assert!(logs_read_with(&org, "Bearer "));
    assert_no_key_material(&c, &key);
}

#[tokio::test]
async fn pkcs1_and_sec1_pem_keys_work_too() {
    for key in [rsa_key(), ec_key()] {
        let org = org_with_app(&key, json!(key.legacy_pem), true, defaults()).await;
        org.okta
            .add_events(3, minutes_ago(30), time::Duration::seconds(60));
        let c = org.container().await;
        let run = c.scheduled(T).await;
        assert_eq!(run["forwarded"], 3, "{} {run}", key.alg);
        assert_no_key_material(&c, &key);
    }
}

#[tokio::test]
async fn an_expired_or_revoked_token_is_renewed_once() {
    let key = ec_key();
    let org = org_with_app(
        &key,
        json!(key.pkcs8_pem),
        true,
        OAuthSettings {
            token_lifetime: std::time::Duration::from_secs(2),
            nonce_on_token: false,
            ..defaults()
        },
    )
    .await;
    org.okta
        .add_events(3, minutes_ago(30), time::Duration::seconds(60));
    let c = org.container().await;
    assert_eq!(c.scheduled(T).await["forwarded"], 3);
    assert_eq!(org.okta.issued_tokens(), 1);
    // The token's life runs out between runs: the next run asks for one before using it.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    org.okta.add_event("after-expiry", minutes_ago(20));
    let run = c.scheduled(T).await;
    assert_eq!(run["forwarded"], 1, "{run}");
    assert_eq!(org.okta.issued_tokens(), 2);
    // Revoked while the container still holds it: one 401, one new token, the run goes on.
    org.okta.set_oauth(OAuthSettings {
        nonce_on_token: false,
        ..defaults()
    });
    org.okta.add_event("after-revoke", minutes_ago(10));
    let _ = c.scheduled(T).await;
    org.okta.revoke_tokens();
    org.okta.add_event("after-revoke-2", minutes_ago(9));
    let run = c.scheduled(T).await;
    assert_eq!(run["forwarded"], 1, "{run}");
    assert_eq!(run["okta_token_requests"], 1, "renewed once: {run}");
    org.assert_exactly_once();
}

/// A refused run: its error, and neither a delivery nor a checkpoint past where the first
/// run would start (a run may record its lease and its start, never progress).
async fn refused(org: &Org, c: &Container) -> (String, String) {
    let before = org.checkpoint().await.map(|c| c["next"].clone());
    let outcome = c.run(include_str!("../events/schedule.json"), T).await;
    let (kind, message) = error_of(outcome);
    if let Some(checkpoint) = org.checkpoint().await {
        let handled = checkpoint["handled_at_next"].as_array().map_or(0, Vec::len);
        assert_eq!(handled, 0, "no progress recorded: {checkpoint}");
        if let Some(before) = before {
            assert_eq!(checkpoint["next"], before, "the checkpoint did not move");
        }
    }
    assert!(org.destination.accepted().is_empty(), "nothing delivered");
    (kind, message)
}

#[tokio::test]
async fn each_operator_error_says_what_to_fix_and_moves_nothing() {
    // A key that is not the one registered on the app.
    let registered = rsa_key();
    let other = rsa_key();
    let org = org_with_app(&registered, json!(other.pkcs8_pem), false, defaults()).await;
    org.okta
        .add_events(3, minutes_ago(30), time::Duration::seconds(60));
    let mut secret =
        json!({ "client_id": CLIENT, "private_key": other.pkcs8_pem, "key_id": "not-on-the-app" });
    org.moto
        .put_secret_value(&org.secret_arn, &secret.to_string())
        .await;
    let c = org.container().await;
    let (kind, message) = refused(&org, &c).await;
    assert_eq!(kind, "OktaIngest.OAuth");
    assert!(
        message.contains(CLIENT) && message.contains("not-on-the-app"),
        "{message}"
    );
    assert!(
        message.contains("invalid_client") && message.contains("Public keys"),
        "{message}"
    );
    assert_no_key_material(&c, &other);

    // The scope not granted.
    secret = json!({ "client_id": CLIENT, "private_key": registered.pkcs8_pem, "key_id": registered.kid });
    org.moto
        .put_secret_value(&org.secret_arn, &secret.to_string())
        .await;
    org.okta.set_oauth(OAuthSettings {
        scope_granted: false,
        ..defaults()
    });
    let c = org.container().await;
    let (kind, message) = refused(&org, &c).await;
    assert_eq!(kind, "OktaIngest.OAuth");
    assert!(
        message.contains("okta.logs.read") && message.contains("Okta API Scopes"),
        "{message}"
    );

    // No admin role on the app: a token, then 403 on the System Log.
    org.okta.set_oauth(OAuthSettings {
        role_assigned: false,
        ..defaults()
    });
    let c = org.container().await;
    let (kind, message) = refused(&org, &c).await;
    assert_eq!(kind, "OktaIngest.OAuth");
    assert!(
        message.contains("Read-only Administrator") && message.contains(CLIENT),
        "{message}"
    );

    // The function's clock two hours behind Okta's: the assertion has expired on arrival.
    org.okta.set_oauth(defaults());
    org.okta.set_clock_skew(time::Duration::hours(2));
    let c = org.container().await;
    let (kind, message) = refused(&org, &c).await;
    assert_eq!(kind, "OktaIngest.OAuth");
    assert!(message.contains("clock"), "{message}");
    assert_no_key_material(&c, &registered);

    // DPoP required, and the proof refused.
    org.okta.set_clock_skew(time::Duration::ZERO);
    org.okta.set_oauth(OAuthSettings {
        refuse_dpop_proofs: true,
        ..defaults()
    });
    let c = org.container().await;
    let (kind, message) = refused(&org, &c).await;
    assert_eq!(kind, "OktaIngest.OAuth");
    assert!(
        message.contains("invalid_dpop_proof") && message.contains("requires DPoP"),
        "{message}"
    );

    // A token endpoint that asks for a new nonce every time: two tries, then a clear stop.
    org.okta.set_oauth(OAuthSettings {
        nonce_every_time: true,
        ..defaults()
    });
    let before = org.okta.token_requests().len();
    let c = org.container().await;
    let (kind, message) = refused(&org, &c).await;
    assert_eq!(kind, "OktaIngest.OAuth");
    assert!(message.contains("nonce twice"), "{message}");
    assert_eq!(org.okta.token_requests().len() - before, 2, "never a loop");

    // A secret that holds no usable key.
    org.okta.set_clock_skew(time::Duration::ZERO);
    let broken = json!({ "client_id": CLIENT, "private_key": "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----" });
    org.moto
        .put_secret_value(&org.secret_arn, &broken.to_string())
        .await;
    let c = org.container().await;
    let (kind, message) = refused(&org, &c).await;
    assert_eq!(kind, "OktaIngest.OktaCredential");
    assert!(message.contains("private_key"), "{message}");
}

#[tokio::test]
async fn the_connection_check_names_the_mode_and_the_missing_role() {
    let key = ec_key();
    let org = org_with_app(&key, json!(key.pkcs8_pem), true, defaults()).await;
    org.okta
        .add_events(2, minutes_ago(1), time::Duration::seconds(1));
    let c = org.container().await;
    let report = c.run(r#"{"check":true}"#, T).await.response();
    assert_eq!(report["ok"], true, "{report}");
    let okta = report["checks"][0]["detail"].as_str().unwrap().to_owned();
    assert!(
        okta.contains("OAuth service app") && okta.contains("reads the System Log"),
        "{okta}"
    );

    org.okta.set_oauth(OAuthSettings {
        role_assigned: false,
        ..defaults()
    });
    let c = org.container().await;
    let report = c.run(r#"{"check":true}"#, T).await.response();
    let okta = report["checks"][0]["detail"].as_str().unwrap().to_owned();
    assert_eq!(report["checks"][0]["ok"], false);
    assert!(okta.contains("Read-only Administrator"), "{okta}");
    assert_no_key_material(&c, &key);
}
