//! The Okta client reading Management API lists (`OktaLists`) from the fake Okta on
//! loopback: paging, the `{"value":[...]}` shape, asking without credentials, per-bucket
//! pacing, 429s, refusals, huge pages, timeouts and expired cursors.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::{FetchError, HttpSystemLog, OktaLists, OktaOrg, Secret, StaticSecret};
use okta_ingest_testkit::fake_okta::{
    Bucket, DirectoryEndpoint, DirectoryFailure, DirectoryRateLimits,
};
use okta_ingest_testkit::FakeOkta;
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

const TOKEN: &str = "t0ken";

/// GIVEN a fake org that takes [`TOKEN`].
async fn fake() -> FakeOkta {
    let okta = FakeOkta::start().await;
    okta.set_tokens(&[TOKEN]);
    okta
}

/// The real client on `okta` with an API token, no headroom, requests timing out after
/// `timeout`.
fn client_with_timeout(okta: &FakeOkta, timeout: Duration) -> HttpSystemLog {
    let org = OktaOrg::parse(&okta.base_url(), true).unwrap();
    HttpSystemLog::new(
        org,
        Arc::new(StaticSecret(Secret::new(TOKEN))),
        "test secret",
        0.0,
        timeout,
    )
    .unwrap()
}

fn client(okta: &FakeOkta) -> HttpSystemLog {
    client_with_timeout(okta, Duration::from_secs(20))
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn url(lists: &dyn OktaLists, path: &str, query: &[(&str, &str)]) -> Url {
    lists.org().api_url(path, query)
}

/// Every item of the list at `first`, following `next` to the end, and the pages read.
async fn read_all(lists: &dyn OktaLists, first: Url) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut at) = (Vec::new(), 0, Some(first));
    while let Some(url) = at {
        let page = lists.list(&url, deadline()).await.unwrap();
        pages += 1;
        assert!(pages < 100, "paging does not end");
        items.extend(
            page.items
                .iter()
                .map(|i| serde_json::from_str::<Value>(i.get()).unwrap()),
        );
        at = page.next;
    }
    (items, pages)
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Each id of `got` once, and the same set as `expected`.
fn assert_each_once(got: &[String], expected: &[String]) {
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "repeats in {got:?}");
    assert_eq!(unique, expected.iter().collect::<HashSet<_>>());
}

#[tokio::test]
async fn paging_with_after_cursors_collects_every_user_group_and_app_once() {
    // GIVEN an org of 25 users, 7 groups and 9 apps
    let okta = fake().await;
    let org = okta.populate(25, 7, 9, 3, 2);
    let lists = client(&okta);

    // WHEN each list is read in small pages
    let (users, user_pages) =
        read_all(&lists, url(&lists, "/api/v1/users", &[("limit", "10")])).await;
    let (groups, group_pages) =
        read_all(&lists, url(&lists, "/api/v1/groups", &[("limit", "3")])).await;
    let (apps, app_pages) = read_all(&lists, url(&lists, "/api/v1/apps", &[("limit", "4")])).await;

    // THEN every object came exactly once, over several pages
    assert_each_once(&ids(&users), &org.users);
    assert_each_once(&ids(&groups), &org.groups);
    assert_each_once(&ids(&apps), &org.apps);
    assert_eq!((user_pages, group_pages, app_pages), (3, 3, 3));
    assert_eq!(okta.count_directory_requests(DirectoryEndpoint::Users), 3);
}

#[tokio::test]
async fn the_value_object_shape_pages_by_its_body_next() {
    // GIVEN three admins (the first user of `populate` and two more)
    let okta = fake().await;
    let org = okta.populate(5, 1, 1, 1, 1);
    okta.grant_user_role(&org.users[2], "READ_ONLY_ADMIN");
    okta.grant_user_role(&org.users[4], "APP_ADMIN");
    let lists = client(&okta);

    // WHEN the role assignees are read one per page
    let first = url(&lists, "/api/v1/iam/assignees/users", &[("limit", "1")]);
    let (assignees, pages) = read_all(&lists, first).await;

    // THEN each admin came once, from the `value` of each page
    assert_eq!(pages, 3);
    let expected: Vec<String> = [0, 2, 4].iter().map(|&i| org.users[i].clone()).collect();
    assert_each_once(&ids(&assignees), &expected);
}

#[tokio::test]
async fn app_users_come_without_credentials() {
    // GIVEN an app with assigned users (the fake adds `credentials` unless asked not to)
    let okta = fake().await;
    let org = okta.populate(6, 1, 1, 1, 4);
    let lists = client(&okta);

    // WHEN its users and the org's users are read
    let path = format!("/api/v1/apps/{}/users", org.apps[0]);
    let (app_users, _) = read_all(&lists, url(&lists, &path, &[("limit", "2")])).await;
    let (users, _) = read_all(&lists, url(&lists, "/api/v1/users", &[])).await;

    // THEN none carries credentials
    assert!(!app_users.is_empty());
    for item in app_users.iter().chain(&users) {
        assert!(item.get("credentials").is_none(), "{item}");
    }
}

#[tokio::test]
async fn an_exhausted_users_bucket_holds_users_requests_but_not_groups_requests() {
    // GIVEN a users bucket of 5 a minute, all but one spent by other clients after our
    // first request, so the next users answer is a 429 whose window resets in a minute
    let okta = fake().await;
    okta.populate(3, 2, 1, 1, 1);
    okta.set_directory_rate_limits(DirectoryRateLimits {
        users: 5,
        ..DirectoryRateLimits::default()
    });
    let lists = client(&okta);
    let users = url(&lists, "/api/v1/users", &[]);
    lists.list(&users, deadline()).await.unwrap();
    okta.consume_directory_budget(Bucket::Users, 4);
    let soon = || Instant::now() + Duration::from_secs(10);

    // WHEN users are asked for with a deadline before the reset
    let err = lists.list(&users, soon()).await.unwrap_err();

    // THEN the request stops for the users window
    assert!(matches!(err, FetchError::OutOfTime { .. }), "{err}");
    let stats = lists.take_stats();
    assert_eq!(stats.http_429, 1, "{stats:?}");

    // AND a groups request goes at once: the users window does not hold it
    let page = lists
        .list(&url(&lists, "/api/v1/groups", &[]), soon())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let stats = lists.take_stats();
    assert_eq!(
        (stats.requests, stats.rate_limit_waits, stats.http_429),
        (1, 0, 0)
    );

    // AND another users request is held back without even being sent
    let sent = okta.count_directory_requests(DirectoryEndpoint::Users);
    let err = lists.list(&users, soon()).await.unwrap_err();
    assert!(matches!(err, FetchError::OutOfTime { .. }), "{err}");
    assert_eq!(
        okta.count_directory_requests(DirectoryEndpoint::Users),
        sent
    );
    assert_eq!(lists.take_stats().requests, 0);
}

#[tokio::test]
async fn a_bare_429_backs_off_and_then_succeeds() {
    // GIVEN a 429 without rate-limit headers, then a 503, on the groups list
    let okta = fake().await;
    let org = okta.populate(2, 3, 1, 1, 1);
    okta.push_directory_failure(
        DirectoryEndpoint::Groups,
        DirectoryFailure::TooManyRequestsBare,
    );
    okta.push_directory_failure(DirectoryEndpoint::Groups, DirectoryFailure::Status(503));
    let lists = client(&okta);

    // WHEN the groups are read
    let (groups, _) = read_all(&lists, url(&lists, "/api/v1/groups", &[])).await;

    // THEN the reader waited, asked again and got them all
    assert_each_once(&ids(&groups), &org.groups);
    let stats = lists.take_stats();
    assert_eq!((stats.requests, stats.http_429), (3, 1), "{stats:?}");
    assert!(stats.waited_ms > 0, "{stats:?}");
}

#[tokio::test]
async fn a_403_on_user_roles_names_the_scope_and_the_admin_role_it_needs() {
    // GIVEN an admin whose role list refuses this credential
    let okta = fake().await;
    let org = okta.populate(2, 1, 1, 1, 1);
    okta.push_directory_failure(DirectoryEndpoint::UserRoles, DirectoryFailure::Forbidden);
    let lists = client(&okta);

    // WHEN its roles are read
    let path = format!("/api/v1/users/{}/roles", org.users[0]);
    let err = lists
        .list(&url(&lists, &path, &[]), deadline())
        .await
        .unwrap_err();

    // THEN the error names the endpoint (without the id) and what it needs
    let FetchError::ForbiddenList { endpoint, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(endpoint, "/api/v1/users/{id}/roles");
    let message = err.to_string();
    for needed in [
        "okta.roles.read",
        "Super Administrator",
        "okta.iam.read",
        "E0000006",
    ] {
        assert!(message.contains(needed), "{needed}: {message}");
    }
    assert!(!message.contains(&org.users[0]), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
}

#[tokio::test]
async fn a_page_with_a_huge_profile_is_read_whole() {
    // GIVEN a users page whose first user carries ~1 MB of profile
    let okta = fake().await;
    let org = okta.populate(4, 1, 1, 1, 1);
    okta.push_directory_failure(DirectoryEndpoint::Users, DirectoryFailure::HugeProfile);
    let lists = client(&okta);

    // WHEN the page is read
    let page = lists
        .list(&url(&lists, "/api/v1/users", &[]), deadline())
        .await
        .unwrap();

    // THEN every user is there, the huge one byte for byte and whole
    assert_eq!(page.items.len(), org.users.len());
    assert!(page.items[0].get().len() > 1_000_000);
    let huge: Value = serde_json::from_str(page.items[0].get()).unwrap();
    assert_eq!(huge["id"], org.users[0].as_str());
}

#[tokio::test]
async fn a_timed_out_request_is_asked_again_for_half_the_limit() {
    // GIVEN a users list that hangs past the client's timeout once
    let okta = fake().await;
    let org = okta.populate(6, 1, 1, 1, 1);
    okta.push_directory_failure(
        DirectoryEndpoint::Users,
        DirectoryFailure::Hang(Duration::from_secs(4)),
    );
    let lists = client_with_timeout(&okta, Duration::from_secs(1));

    // WHEN the list is read 4 at a time
    let first = url(&lists, "/api/v1/users", &[("limit", "4")]);
    let page = lists.list(&first, deadline()).await.unwrap();

    // THEN the second request asked for 2, and paging goes on from there
    assert_eq!(page.items.len(), 2);
    assert!(page.url.as_str().ends_with("limit=2"), "{}", page.url);
    let (rest, _) = read_all(&lists, page.next.clone().unwrap()).await;
    let mut all = ids(&rest);
    all.extend(page.items.iter().map(|i| {
        serde_json::from_str::<Value>(i.get()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }));
    assert_each_once(&all, &org.users);
}

#[tokio::test]
async fn an_expired_cursor_is_refused_with_400() {
    // GIVEN a list read up to its second page, then every cursor expires
    let okta = fake().await;
    okta.populate(5, 1, 1, 1, 1);
    let lists = client(&okta);
    let first = lists
        .list(&url(&lists, "/api/v1/users", &[("limit", "2")]), deadline())
        .await
        .unwrap();
    okta.expire_directory_cursors();

    // WHEN the stored next link is followed
    let err = lists
        .list(first.next.as_ref().unwrap(), deadline())
        .await
        .unwrap_err();

    // THEN Okta's refusal comes back as it is, not retried
    assert!(
        matches!(err, FetchError::Rejected { status: 400, .. }),
        "{err}"
    );
    assert_eq!(okta.count_directory_requests(DirectoryEndpoint::Users), 2);
}
