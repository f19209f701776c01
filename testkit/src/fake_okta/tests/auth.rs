//! Tests of token checks: 401 for missing or unknown tokens, 403 when forbidden.

use super::*;

#[tokio::test]
async fn auth_failures() {
    let okta = FakeOkta::start().await;
    for auth in [None, Some("SSWS wrong"), Some("Bearer okta-test-token")] {
        let r = get_with(&okta, "/api/v1/logs", auth).await;
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(error_code(&r), "E0000011");
        assert!(r.header("x-rate-limit-reset").is_some() && r.header("date").is_some());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(links(&r).is_empty());
    }
    okta.set_tokens(&["t1", "t2"]);
    assert_eq!(
        get_with(&okta, "/api/v1/logs", Some("SSWS t2"))
            .await
            .status,
        200
    );
    assert_eq!(get(&okta, "/api/v1/logs").await.status, 401);
    okta.set_forbidden(true);
    let r = get_with(&okta, "/api/v1/logs", Some("SSWS t1")).await;
    assert_eq!(r.status, 403);
    assert_eq!(error_code(&r), "E0000006");
    assert_eq!(okta.count_status(401), 4);
}
