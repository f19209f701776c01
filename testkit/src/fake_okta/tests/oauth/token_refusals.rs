//! What the token endpoint refuses, and with which OAuth error: client assertions, malformed forms, DPoP proofs, scopes.

use super::*;

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
