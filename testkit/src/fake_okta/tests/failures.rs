//! Tests of each scripted failure kind and what the fake records for it.

use super::*;
use crate::fake_okta::failures::BROKEN_JSON_BYTES;
use crate::fake_okta::Failure;
use std::time::{Duration, Instant};

#[tokio::test]
async fn each_failure_kind() {
    let okta = FakeOkta::start().await;
    let t0 = t0();
    let ids = okta.add_events(3, t0, time::Duration::seconds(1));
    let path = format!("/api/v1/logs?since={}&limit=2", since(t0));
    okta.push_failure(Failure::QueryTimeout);
    okta.push_failure(Failure::Status(503));
    okta.push_failure(Failure::BrokenJson);
    okta.push_failure(Failure::ForeignNext);
    okta.push_failure(Failure::TooManyRequests);
    okta.push_failure(Failure::Hang(Duration::from_millis(300)));

    let r = get(&okta, &path).await;
    assert_eq!((r.status, error_code(&r)), (500, "E0000009".to_string()));
    let r = get(&okta, &path).await;
    assert_eq!(r.status, 503);
    error_code(&r);

    let r = get(&okta, &path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), BROKEN_JSON_BYTES);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert!(link(&r, "next").is_some());

    let r = get(&okta, &path).await;
    assert_eq!(uuids(&r), ids[..2]);
    let next = link(&r, "next").expect("next");
    assert!(
        next.starts_with("https://evil.example.com/api/v1/logs?"),
        "{next}"
    );
    assert!(next.contains("after="));
    assert_eq!(link(&r, "self"), Some(format!("{}{path}", okta.base_url())));

    let r = get(&okta, &path).await;
    assert_eq!((r.status, error_code(&r)), (429, "E0000047".to_string()));
    assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
    assert!(num(&r, "x-rate-limit-reset") > date(&r).unix_timestamp());

    let before = Instant::now();
    let r = get(&okta, &path).await;
    assert!(before.elapsed() >= Duration::from_millis(300));
    assert_eq!(uuids(&r), ids[..2]);
    // The queue is empty again.
    assert_eq!(get(&okta, &path).await.status, 200);

    let statuses: Vec<u16> = okta.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 503, 200, 200, 429, 200, 200]);
    assert_eq!(okta.requests()[2].returned, 0);
    assert_eq!(okta.count_status(500), 1);
}
