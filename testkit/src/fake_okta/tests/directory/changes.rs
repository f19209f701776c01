//! Tests of changes between runs as the lists show them: DEPROVISIONED users, `lastUpdated` filters, membership changes on `lastMembershipUpdated` only, deletions, `omitCredentials`, `expand=stats`.

use super::*;
use crate::fake_okta::UserStatus;

#[tokio::test]
async fn a_plain_list_omits_deprovisioned_users_but_search_status_pr_includes_them() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(4, 0, 0, 0, 0);
    okta.deactivate_user(&org.users[1]);
    let staged = okta.add_user_with_status("s@example.com", UserStatus::Staged);

    let plain = ids(&get(&okta, "/api/v1/users").await);
    assert_eq!(
        plain,
        [
            org.users[0].clone(),
            org.users[2].clone(),
            org.users[3].clone(),
            staged
        ]
    );
    let all = ids(&get(
        &okta,
        &format!("/api/v1/users?{}", query("search", "status pr")),
    )
    .await);
    assert_eq!(all.len(), 5);
    assert!(all.contains(&org.users[1]));
    let gone = format!(
        "/api/v1/users?{}",
        query("filter", "status eq \"DEPROVISIONED\"")
    );
    assert_eq!(ids(&get(&okta, &gone).await), [org.users[1].clone()]);
}

#[tokio::test]
async fn filter_last_updated_gt_returns_exactly_the_users_changed_after_a_time() {
    let okta = FakeOkta::start().await;
    let t0 = OffsetDateTime::now_utc() - time::Duration::days(1);
    okta.set_directory_clock(t0);
    let org = okta.populate(10, 0, 0, 0, 0);
    let checkpoint = okta.advance_directory_clock(time::Duration::minutes(5));
    okta.advance_directory_clock(time::Duration::seconds(1));
    okta.update_user(&org.users[7], "department", "Sales");
    okta.deactivate_user(&org.users[2]);
    okta.update_user(&org.users[4], "firstName", "Ada");

    let since = format!("lastUpdated gt \"{}\"", at(checkpoint));
    let changed = ids(&get(&okta, &format!("/api/v1/users?{}", query("filter", &since))).await);
    assert_eq!(
        changed,
        [
            org.users[2].clone(),
            org.users[4].clone(),
            org.users[7].clone()
        ]
    );
    // The same through search, and with a status filter joined by `and`.
    let r = get(&okta, &format!("/api/v1/users?{}", query("search", &since))).await;
    assert_eq!(ids(&r).len(), 3);
    let active = format!("{since} and status eq \"ACTIVE\"");
    assert_eq!(
        ids(&get(
            &okta,
            &format!("/api/v1/users?{}", query("filter", &active))
        )
        .await)
        .len(),
        2
    );
    // `ge`, `lt` and `le` at the boundary: the untouched users were stamped at t0.
    let t0 = at(crate::fake_okta::millis(t0));
    let le = format!("lastUpdated ge \"{t0}\" and lastUpdated le \"{t0}\"");
    assert_eq!(
        ids(&get(&okta, &format!("/api/v1/users?{}", query("filter", &le))).await).len(),
        7
    );
    let lt = format!("lastUpdated lt \"{}\"", at(checkpoint));
    assert_eq!(
        ids(&get(&okta, &format!("/api/v1/users?{}", query("filter", &lt))).await).len(),
        7
    );
    let r = get(
        &okta,
        &format!(
            "/api/v1/users?{}",
            query("filter", "lastUpdated gt \"yesterday\"")
        ),
    )
    .await;
    assert_eq!((r.status, error_code(&r)), (400, "E0000031".to_string()));
}

#[tokio::test]
async fn a_membership_change_shows_only_on_the_groups_last_membership_updated() {
    let okta = FakeOkta::start().await;
    okta.set_directory_clock(OffsetDateTime::now_utc() - time::Duration::hours(2));
    let org = okta.populate(3, 2, 0, 1, 0);
    let before = okta.advance_directory_clock(time::Duration::minutes(1));
    okta.advance_directory_clock(time::Duration::minutes(1));
    okta.add_member(&org.groups[1], &org.users[2]);

    let by = |attr: &str| {
        format!(
            "/api/v1/groups?{}",
            query("filter", &format!("{attr} gt \"{}\"", at(before)))
        )
    };
    assert_eq!(
        ids(&get(&okta, &by("lastMembershipUpdated")).await),
        [org.groups[1].clone()]
    );
    assert!(ids(&get(&okta, &by("lastUpdated")).await).is_empty());
    let users = format!(
        "/api/v1/users?{}",
        query("filter", &format!("lastUpdated gt \"{}\"", at(before)))
    );
    assert!(
        ids(&get(&okta, &users).await).is_empty(),
        "a user's lastUpdated must not move"
    );

    okta.advance_directory_clock(time::Duration::minutes(1));
    okta.update_group(&org.groups[0], "renamed", "a profile change");
    let either = format!(
        "/api/v1/groups?{}",
        query(
            "search",
            &format!(
                "lastUpdated gt \"{b}\" or lastMembershipUpdated gt \"{b}\"",
                b = at(before)
            )
        )
    );
    assert_eq!(ids(&get(&okta, &either).await), org.groups);
    let group = &body(&get(&okta, "/api/v1/groups").await)[0];
    assert_eq!(group["profile"]["name"], "renamed");
    assert!(
        group["lastMembershipUpdated"].is_string() && group["_links"]["users"]["href"].is_string()
    );
}

#[tokio::test]
async fn a_deleted_user_vanishes_from_every_list_and_membership() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(3, 1, 1, 3, 3);
    let before = okta.directory_now();
    okta.advance_directory_clock(time::Duration::seconds(1));
    okta.grant_user_role(&org.users[1], "READ_ONLY_ADMIN");
    okta.delete_user(&org.users[1]);

    let group = &org.groups[0];
    let members = ids(&get(&okta, &format!("/api/v1/groups/{group}/users")).await);
    assert_eq!(members, [org.users[0].clone(), org.users[2].clone()]);
    let all = format!("/api/v1/users?{}", query("search", "status pr"));
    assert!(!ids(&get(&okta, &all).await).contains(&org.users[1]));
    let app_users = ids(&get(&okta, &format!("/api/v1/apps/{}/users", org.apps[0])).await);
    assert!(!app_users.contains(&org.users[1]));
    let assignees = body(&get(&okta, "/api/v1/iam/assignees/users").await);
    assert_eq!(assignees["value"].as_array().map(Vec::len), Some(1));
    let r = get(&okta, &format!("/api/v1/users/{}/roles", org.users[1])).await;
    assert_eq!(r.status, 404);
    let moved = format!(
        "/api/v1/groups?{}",
        query(
            "filter",
            &format!("lastMembershipUpdated gt \"{}\"", at(before))
        )
    );
    assert_eq!(ids(&get(&okta, &moved).await), std::slice::from_ref(group));

    okta.delete_group(group);
    assert!(ids(&get(&okta, "/api/v1/groups").await).is_empty());
    assert_eq!(
        get(&okta, &format!("/api/v1/groups/{group}/users"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn omit_credentials_drops_the_credentials_object() {
    let okta = FakeOkta::start().await;
    let user = okta.add_user("a@example.com");
    let app = okta.add_app("Wiki");
    okta.assign_user(&app, &user);

    let r = get(&okta, "/api/v1/users").await;
    assert_eq!(body(&r)[0]["credentials"]["provider"]["type"], "OKTA");
    let omit = "application/json; okta-response=omitCredentials,omitCredentialsLinks";
    for header in ["Content-Type", "Accept"] {
        let r = get_headers(&okta, "/api/v1/users", &[(header, omit)]).await;
        let v = body(&r);
        assert!(v[0].get("credentials").is_none(), "{header}");
        assert_eq!(v[0]["profile"]["login"], "a@example.com");
    }
    let path = format!("/api/v1/apps/{app}/users");
    assert!(body(&get(&okta, &path).await)[0]
        .get("credentials")
        .is_some());
    let r = get_headers(&okta, &path, &[("Content-Type", omit)]).await;
    assert!(body(&r)[0].get("credentials").is_none());
}

#[tokio::test]
async fn expand_stats_adds_the_users_count() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(10, 2, 1, 4, 0);
    okta.remove_member(&org.groups[1], &org.users[4]);
    let v = body(&get(&okta, "/api/v1/groups?expand=stats").await);
    assert_eq!(v[0]["_embedded"]["stats"]["usersCount"], 4);
    assert_eq!(v[0]["_embedded"]["stats"]["appsCount"], 1);
    assert_eq!(v[1]["_embedded"]["stats"]["usersCount"], 3);
    assert!(body(&get(&okta, "/api/v1/groups").await)[0]
        .get("_embedded")
        .is_none());
}
