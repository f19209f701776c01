//! Tokens at `/api/v1/logs`: DPoP refusals, expiry, the missing role, and the failures and rate limits that apply there but not at the token endpoint.

use super::*;

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
