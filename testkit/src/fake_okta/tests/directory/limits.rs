//! Tests of the directory's rate limits: one bucket per endpoint family, a share of each, 429 when spent and recovery next window, the org-wide concurrency limit.

use std::time::{Duration, Instant};

use super::*;
use crate::fake_okta::{Bucket, DirectoryEndpoint, DirectoryFailure, DirectoryRateLimits};

fn limits(users: u32, groups: u32, apps: u32, window: Duration) -> DirectoryRateLimits {
    DirectoryRateLimits {
        users,
        groups,
        apps,
        window,
        ..DirectoryRateLimits::default()
    }
}

#[tokio::test]
async fn each_bucket_answers_429_when_spent_and_recovers_next_window() {
    let okta = FakeOkta::start().await;
    let org = okta.populate(3, 1, 1, 3, 1);
    okta.set_directory_rate_limits(limits(3, 2, 1, Duration::from_secs(2)));
    let started = Instant::now();
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = get(&okta, "/api/v1/users").await;
        assert_eq!((r.status, num(&r, "x-rate-limit-limit")), (200, 3));
        remaining.push(num(&r, "x-rate-limit-remaining"));
    }
    assert_eq!(remaining, [2, 1, 0]);
    let r = get(&okta, "/api/v1/users").await;
    assert_eq!((r.status, error_code(&r)), (429, "E0000047".to_string()));
    assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
    let reset = num(&r, "x-rate-limit-reset");
    assert!(reset > date(&r).unix_timestamp() && reset <= date(&r).unix_timestamp() + 3);

    // The other buckets are untouched; group members spend the groups bucket,
    // app users, roles and iam the apps one.
    let members = format!("/api/v1/groups/{}/users", org.groups[0]);
    assert_eq!(get(&okta, "/api/v1/groups").await.status, 200);
    let r = get(&okta, &members).await;
    assert_eq!((r.status, num(&r, "x-rate-limit-remaining")), (200, 0));
    assert_eq!(get(&okta, &members).await.status, 429);
    assert_eq!(
        get(&okta, &format!("/api/v1/apps/{}/users", org.apps[0]))
            .await
            .status,
        200
    );
    let r = get(&okta, &format!("/api/v1/users/{}/roles", org.users[0])).await;
    assert_eq!((r.status, num(&r, "x-rate-limit-limit")), (429, 1));
    // The System Log's budget is its own.
    assert_eq!(get(&okta, "/api/v1/logs").await.status, 200);

    tokio::time::sleep_until((started + Duration::from_millis(2300)).into()).await;
    let r = get(&okta, "/api/v1/users").await;
    assert_eq!((r.status, num(&r, "x-rate-limit-remaining")), (200, 2));
    assert_eq!(okta.count_directory_requests(DirectoryEndpoint::Users), 5);
}

#[tokio::test]
async fn a_share_of_the_bucket_and_budget_used_by_others() {
    let okta = FakeOkta::start().await;
    okta.set_directory_rate_limits(DirectoryRateLimits {
        share_percent: 50,
        ..DirectoryRateLimits::default()
    });
    let r = get(&okta, "/api/v1/users").await;
    assert_eq!(
        (
            num(&r, "x-rate-limit-limit"),
            num(&r, "x-rate-limit-remaining")
        ),
        (300, 299)
    );
    let r = get(&okta, "/api/v1/groups").await;
    assert_eq!(num(&r, "x-rate-limit-limit"), 250);
    let r = get(&okta, "/api/v1/apps").await;
    assert_eq!(num(&r, "x-rate-limit-limit"), 50);
    okta.consume_directory_budget(Bucket::Apps, 49);
    assert_eq!(get(&okta, "/api/v1/apps").await.status, 429);
    // Rate limiting comes before auth.
    assert_eq!(
        get_with(&okta, "/api/v1/iam/assignees/users", None)
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn requests_beyond_the_org_concurrency_limit_get_429() {
    let okta = FakeOkta::start().await;
    okta.set_directory_rate_limits(DirectoryRateLimits {
        concurrency: 2,
        ..DirectoryRateLimits::default()
    });
    for _ in 0..2 {
        okta.push_directory_failure(
            DirectoryEndpoint::Users,
            DirectoryFailure::Hang(Duration::from_millis(600)),
        );
    }
    let slow = |_| async { get(&okta, "/api/v1/users").await.status };
    let hanging = futures::future::join_all((0..2).map(slow));
    let third = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        get(&okta, "/api/v1/groups").await
    };
    let (statuses, r) = tokio::join!(hanging, third);
    assert_eq!(statuses, [200, 200]);
    assert_eq!((r.status, error_code(&r)), (429, "E0000047".to_string()));
    assert_eq!(
        (
            num(&r, "x-rate-limit-limit"),
            num(&r, "x-rate-limit-remaining")
        ),
        (2, 0)
    );
    // Once the slow ones end, the org takes requests again.
    assert_eq!(get(&okta, "/api/v1/groups").await.status, 200);
    assert_eq!(okta.count_status(429), 1);
}
