//! Whole token flows over real HTTP: DPoP with nonces at the token endpoint and the logs, Bearer when DPoP is off, clock skew.

use super::*;

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
