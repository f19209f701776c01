//! Tests of the directory's scripted failures per endpoint, and of its 401 and 403.

use super::*;
use crate::fake_okta::{DirectoryEndpoint, DirectoryFailure};

#[tokio::test]
async fn a_forbidden_endpoint_answers_403_naming_the_missing_permission() {
    let okta = FakeOkta::start().await;
    let user = okta.add_user("a@example.com");
    let roles = format!("/api/v1/users/{user}/roles");
    okta.push_directory_failure(DirectoryEndpoint::UserRoles, DirectoryFailure::Forbidden);
    // The failure waits for its endpoint: the users list is not affected.
    assert_eq!(get(&okta, "/api/v1/users").await.status, 200);
    let r = get(&okta, &roles).await;
    assert_eq!((r.status, error_code(&r)), (403, "E0000006".to_string()));
    assert!(body(&r)["errorCauses"][0]["errorSummary"]
        .as_str()
        .expect("a cause")
        .contains("okta.roles.read"));
    assert_eq!(get(&okta, &roles).await.status, 200);

    okta.set_directory_forbidden(DirectoryEndpoint::RoleAssignees, true);
    for _ in 0..2 {
        let r = get(&okta, "/api/v1/iam/assignees/users").await;
        assert_eq!(r.status, 403);
        assert!(String::from_utf8_lossy(&r.body).contains("okta.iam.read"));
    }
    okta.set_directory_forbidden(DirectoryEndpoint::RoleAssignees, false);
    assert_eq!(get(&okta, "/api/v1/iam/assignees/users").await.status, 200);
}

#[tokio::test]
async fn a_bare_429_carries_no_rate_limit_headers() {
    let okta = FakeOkta::start().await;
    okta.push_directory_failure(
        DirectoryEndpoint::Groups,
        DirectoryFailure::TooManyRequestsBare,
    );
    let r = get(&okta, "/api/v1/groups").await;
    assert_eq!((r.status, error_code(&r)), (429, "E0000047".to_string()));
    assert!(
        r.header("x-rate-limit-remaining").is_none() && r.header("x-rate-limit-reset").is_none()
    );
    let r = get(&okta, "/api/v1/groups").await;
    assert_eq!(r.status, 200);
    // The bare 429 still spent a request of the bucket.
    assert_eq!(num(&r, "x-rate-limit-remaining"), 498);
}

#[tokio::test]
async fn a_next_link_back_to_the_same_url() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(3, 1, 0, 3, 0);
    let path = format!("/api/v1/groups/{}/users?limit=2", org.groups[0]);
    okta.push_directory_failure(DirectoryEndpoint::GroupUsers, DirectoryFailure::NextSelf);
    let r = get(&okta, &path).await;
    assert_eq!(ids(&r), org.users[..2]);
    assert_eq!(next_path(&okta, &r), path);
    assert_eq!(link(&r, "next"), link(&r, "self"));
}

#[tokio::test]
async fn a_page_with_one_user_whose_profile_holds_a_megabyte() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(3, 0, 0, 0, 0);
    okta.push_directory_failure(DirectoryEndpoint::Users, DirectoryFailure::HugeProfile);
    let r = get(&okta, "/api/v1/users").await;
    assert_eq!(ids(&r), org.users);
    let v = body(&r);
    let size = |i: usize| v[i]["profile"].to_string().len();
    assert!(size(0) > 1_000_000, "{} bytes", size(0));
    assert!(size(1) < 1_000 && size(2) < 1_000);
    assert!(get(&okta, "/api/v1/users").await.body.len() < 10_000);
}

#[tokio::test]
async fn bad_credentials_get_401_and_a_holder_without_permission_403() {
    let okta = FakeOkta::start().await;
    okta.push_directory_failure(DirectoryEndpoint::Apps, DirectoryFailure::Status(503));
    let r = get(&okta, "/api/v1/apps").await;
    assert_eq!(r.status, 503);
    let r = get_with(&okta, "/api/v1/users", Some("SSWS wrong")).await;
    assert_eq!((r.status, error_code(&r)), (401, "E0000011".to_string()));
    assert_eq!(get_with(&okta, "/api/v1/groups", None).await.status, 401);
    okta.set_forbidden(true);
    let r = get(&okta, "/api/v1/apps").await;
    assert_eq!((r.status, error_code(&r)), (403, "E0000006".to_string()));
    let r = request(
        okta.addr(),
        "POST",
        "/api/v1/users",
        &[("Authorization", AUTH)],
        b"{}",
    )
    .await
    .expect("POST");
    assert_eq!(r.status, 403);
    okta.set_forbidden(false);
    let r = request(
        okta.addr(),
        "POST",
        "/api/v1/users",
        &[("Authorization", AUTH)],
        b"{}",
    )
    .await
    .expect("POST");
    assert_eq!(r.status, 405);

    let statuses: Vec<u16> = okta.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 401, 401, 403, 403, 405]);
    assert_eq!(okta.count_directory_requests(DirectoryEndpoint::Users), 3);
    assert_eq!(okta.count_directory_requests(DirectoryEndpoint::Apps), 2);
}
