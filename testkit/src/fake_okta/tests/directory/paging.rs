//! Tests of directory paging: each object once, no `next` on the last page, limits capped per endpoint, cursors refused when unknown, a 100,000-user org.

use super::*;

#[tokio::test]
async fn paging_1000_users_at_200_gives_each_once_and_ends_without_next() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(1000, 0, 0, 0, 0);
    let (seen, pages) = page_all(&okta, "/api/v1/users?limit=200").await;
    assert_eq!(seen, org.users);
    assert_eq!(pages, 5);
}

#[tokio::test]
async fn an_org_of_100k_users_is_cheap_to_page_through() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(100_000, 10, 2, 1000, 100);
    let (seen, pages) = page_all(&okta, "/api/v1/users?limit=200").await;
    assert_eq!(seen.len(), 100_000);
    assert_eq!(seen.first(), org.users.first());
    assert_eq!(seen.last(), org.users.last());
    assert_eq!(pages, 500);
    let (members, _) = page_all(&okta, &format!("/api/v1/groups/{}/users", org.groups[3])).await;
    assert_eq!(members, org.users[3000..4000]);
}

#[tokio::test]
async fn limits_are_defaulted_and_capped_per_endpoint() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(1200, 30, 1, 1200, 600);
    for g in &org.groups {
        okta.assign_group(&org.apps[0], g);
    }
    let app = &org.apps[0];
    let cases = [
        ("/api/v1/users?limit=500".to_string(), 200),
        ("/api/v1/users".to_string(), 200),
        (
            format!("/api/v1/groups/{}/users?limit=5000", org.groups[0]),
            1000,
        ),
        (format!("/api/v1/groups/{}/users", org.groups[0]), 1000),
        (format!("/api/v1/apps/{app}/users"), 50),
        (format!("/api/v1/apps/{app}/users?limit=900"), 500),
        (format!("/api/v1/apps/{app}/groups?limit=1"), 20),
        (format!("/api/v1/apps/{app}/groups?limit=300"), 30),
        ("/api/v1/groups?limit=0".to_string(), 1),
    ];
    for (path, expected) in cases {
        let r = get(&okta, &path).await;
        assert_eq!(ids(&r).len(), expected, "{path}");
    }
    let r = get(&okta, "/api/v1/users?limit=many").await;
    assert_eq!((r.status, error_code(&r)), (400, "E0000001".to_string()));
}

#[tokio::test]
async fn an_unknown_or_expired_cursor_is_refused() {
    let okta = FakeOkta::start().await;
    okta.populate(5, 0, 0, 0, 0);
    let r = get(&okta, "/api/v1/users?limit=2").await;
    let next = next_path(&okta, &r);
    assert_eq!(get(&okta, &next).await.status, 200);

    let r = get(&okta, "/api/v1/users?limit=2&after=00u1234").await;
    assert_eq!((r.status, error_code(&r)), (400, "E0000031".to_string()));
    // A users cursor means nothing to the groups list.
    let cursor = next.split("after=").nth(1).expect("after");
    let r = get(&okta, &format!("/api/v1/groups?after={cursor}")).await;
    assert_eq!(r.status, 400);

    okta.expire_directory_cursors();
    let r = get(&okta, &next).await;
    assert_eq!((r.status, error_code(&r)), (400, "E0000031".to_string()));
}

#[tokio::test]
async fn unknown_ids_are_404_with_okta_error_body() {
    let okta = FakeOkta::start().await;
    let user = okta.add_user("a@example.com");
    for path in [
        "/api/v1/groups/00g00000000000000000/users".to_string(),
        "/api/v1/apps/0oanope/users".to_string(),
        "/api/v1/apps/0oanope/groups".to_string(),
        "/api/v1/users/00unope/roles".to_string(),
        format!("/api/v1/groups/{}/roles", user.replace("00u", "00g")),
        "/api/v1/users/x/y/z".to_string(),
    ] {
        let r = get(&okta, &path).await;
        assert_eq!(
            (r.status, error_code(&r)),
            (404, "E0000007".to_string()),
            "{path}"
        );
    }
    assert_eq!(
        get(&okta, &format!("/api/v1/users/{user}/roles"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn role_assignees_come_as_value_with_next_href_and_link() {
    let okta = FakeOkta::start().await;
    let users: Vec<String> = (0..3)
        .map(|i| okta.add_user(&format!("a{i}@example.com")))
        .collect();
    okta.add_user("not-admin@example.com");
    let group = okta.add_group("admins");
    let ra = okta.grant_user_role(&users[0], "SUPER_ADMIN");
    okta.grant_user_role(&users[1], "READ_ONLY_ADMIN");
    okta.grant_user_role(&users[2], "CUSTOM");
    okta.grant_group_role(&group, "APP_ADMIN");

    let r = get(&okta, "/api/v1/iam/assignees/users?limit=2").await;
    assert_eq!(r.status, 200);
    let v = body(&r);
    let page: Vec<&str> = v["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|a| a["id"].as_str().expect("id"))
        .collect();
    assert_eq!(page, [users[0].as_str(), users[1].as_str()]);
    assert!(v["value"][0]["orn"]
        .as_str()
        .expect("orn")
        .ends_with(&format!(":users:{}", users[0])));
    let href = v["_links"]["next"]["href"].as_str().expect("next href");
    assert_eq!(Some(href.to_string()), link(&r, "next"));
    let r = get(&okta, &next_path(&okta, &r)).await;
    assert_eq!(body(&r)["value"].as_array().map(Vec::len), Some(1));
    assert!(body(&r)["_links"].get("next").is_none() && link(&r, "next").is_none());

    let roles = body(&get(&okta, &format!("/api/v1/users/{}/roles", users[0])).await);
    assert_eq!(roles[0]["id"], ra.as_str());
    assert_eq!(
        (roles[0]["type"].as_str(), roles[0]["label"].as_str()),
        (Some("SUPER_ADMIN"), Some("Super Administrator"))
    );
    assert_eq!(
        (
            roles[0]["status"].as_str(),
            roles[0]["assignmentType"].as_str()
        ),
        (Some("ACTIVE"), Some("USER"))
    );
    let roles = body(&get(&okta, &format!("/api/v1/groups/{group}/roles")).await);
    assert_eq!(roles[0]["assignmentType"], "GROUP");
    okta.revoke_role(&ra);
    assert_eq!(
        body(&get(&okta, &format!("/api/v1/users/{}/roles", users[0])).await),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn apps_list_filters_on_status_only_and_app_users_carry_their_scope() {
    let okta = FakeOkta::start().await;
    let (direct, via) = (
        okta.add_user("d@example.com"),
        okta.add_user("g@example.com"),
    );
    let group = okta.add_group("g");
    okta.add_member(&group, &via);
    let (app, off) = (okta.add_app("Wiki"), okta.add_app("Old"));
    okta.set_app_active(&off, false);
    okta.assign_user(&app, &direct);
    okta.assign_group(&app, &group);

    assert_eq!(
        ids(&get(&okta, "/api/v1/apps").await),
        [app.clone(), off.clone()]
    );
    let active = format!("/api/v1/apps?{}", query("filter", "status eq \"ACTIVE\""));
    assert_eq!(ids(&get(&okta, &active).await), std::slice::from_ref(&app));
    let changed = format!(
        "/api/v1/apps?{}",
        query("filter", "lastUpdated gt \"2020-01-01T00:00:00.000Z\"")
    );
    let r = get(&okta, &changed).await;
    assert_eq!((r.status, error_code(&r)), (400, "E0000031".to_string()));

    let r = get(&okta, &format!("/api/v1/apps/{app}/users")).await;
    let users = body(&r);
    assert_eq!(ids(&r), [direct, via]);
    assert_eq!(
        (users[0]["scope"].as_str(), users[1]["scope"].as_str()),
        (Some("USER"), Some("GROUP"))
    );
    assert_eq!(
        ids(&get(&okta, &format!("/api/v1/apps/{app}/groups")).await),
        [group]
    );
    okta.delete_app(&off);
    assert_eq!(ids(&get(&okta, "/api/v1/apps").await), [app]);
}
