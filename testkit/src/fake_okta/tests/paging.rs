//! Tests of paging: polling and bounded pages, late events, `Link` headers, bad parameters and cursors.

use super::*;
use crate::fake_okta::paging::{
    decode_component, decode_cursor, encode_cursor, BOUNDED_CURSOR, POLLING_CURSOR,
};

#[tokio::test]
async fn paging_returns_every_event_once_then_next_is_self() {
    let okta = FakeOkta::start().await;
    assert_eq!(okta.base_url(), format!("http://{}", okta.host()));
    let t0 = t0();
    let expected = okta.add_events(7, t0, time::Duration::seconds(1));
    assert_eq!(okta.events().len(), 7);

    let mut path = format!("/api/v1/logs?since={}&limit=3", since(t0));
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let last = loop {
        let r = get(&okta, &path).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(link(&r, "self"), Some(format!("{}{path}", okta.base_url())));
        assert_eq!(r.headers.iter().filter(|(n, _)| n == "link").count(), 2);
        let page = uuids(&r);
        sizes.push(page.len());
        if page.is_empty() {
            break r;
        }
        seen.extend(page);
        path = next_path(&okta, &r);
        assert!(path.starts_with("/api/v1/logs?limit=3&after="), "{path}");
    };
    assert_eq!(seen, expected);
    assert_eq!(sizes, vec![3, 3, 1, 0]);
    assert_eq!(link(&last, "next"), link(&last, "self"));
    // The JSON is forwarded verbatim.
    let first = okta.events()[0].1.clone();
    let again = get(&okta, &format!("/api/v1/logs?since={}&limit=1", since(t0))).await;
    assert_eq!(items(&again), vec![first]);

    let recorded = okta.requests();
    assert_eq!(
        recorded.iter().map(|r| r.returned).collect::<Vec<_>>(),
        vec![3, 3, 1, 0, 1]
    );
    assert_eq!(recorded[0].query[0], ("since".into(), rfc3339_millis(t0)));
    assert_eq!(recorded[0].authorization.as_deref(), Some(AUTH));
    assert_eq!(okta.count_status(200), 5);
}

#[tokio::test]
async fn late_event_appears_by_following_the_last_next() {
    let okta = FakeOkta::start().await;
    let t0 = t0();
    let ids = okta.add_events(2, t0, time::Duration::seconds(1));
    let r = get(&okta, &format!("/api/v1/logs?since={}&limit=5", since(t0))).await;
    assert_eq!(uuids(&r), ids);
    let caught_up = get(&okta, &next_path(&okta, &r)).await;
    assert!(uuids(&caught_up).is_empty());
    assert_eq!(link(&caught_up, "next"), link(&caught_up, "self"));

    // Persisted now, published well before everything seen so far.
    okta.add_event("late-1", t0 - time::Duration::minutes(30));
    okta.add_event("new-1", t0 + time::Duration::minutes(1));
    let r = get(&okta, &next_path(&okta, &caught_up)).await;
    assert_eq!(uuids(&r), vec!["late-1", "new-1"]);
    // A since-only request filters by published and so misses it.
    let r = get(&okta, &format!("/api/v1/logs?since={}", since(t0))).await;
    assert_eq!(
        uuids(&r),
        vec![ids[0].clone(), ids[1].clone(), "new-1".into()]
    );
}

#[tokio::test]
async fn next_self_when_short_repeats_the_page() {
    let okta = FakeOkta::start().await;
    let t0 = t0();
    let ids = okta.add_events(3, t0, time::Duration::seconds(1));
    okta.set_next_self_when_short(true);
    let path = format!(
        "/api/v1/logs?since={}&limit=10&sortOrder=ASCENDING",
        since(t0)
    );
    let r = get(&okta, &path).await;
    assert_eq!(uuids(&r), ids);
    assert_eq!(link(&r, "next"), Some(format!("{}{path}", okta.base_url())));
    let again = get(&okta, &next_path(&okta, &r)).await;
    assert_eq!(uuids(&again), ids);

    // A full page still moves on, keeping sortOrder.
    let r = get(
        &okta,
        &format!(
            "/api/v1/logs?since={}&limit=2&sortOrder=ASCENDING",
            since(t0)
        ),
    )
    .await;
    let next = next_path(&okta, &r);
    assert!(next.ends_with("&sortOrder=ASCENDING"), "{next}");
    assert_eq!(uuids(&get(&okta, &next).await), vec![ids[2].clone()]);
}

#[tokio::test]
async fn default_since_is_fifteen_minutes_ago() {
    let okta = FakeOkta::start().await;
    let now = OffsetDateTime::now_utc();
    okta.add_event("old", now - time::Duration::minutes(20));
    okta.add_event("recent", now - time::Duration::minutes(10));
    assert_eq!(uuids(&get(&okta, "/api/v1/logs").await), vec!["recent"]);
}

#[tokio::test]
async fn since_filters_and_bounded_orders_by_published() {
    let okta = FakeOkta::start().await;
    let t0 = t0();
    let m = time::Duration::minutes;
    okta.add_event("a", t0);
    okta.add_event("b", t0 + m(1));
    okta.add_event("c", t0 + m(2));
    okta.add_event("late", t0 - m(60));
    okta.add_event("tie", t0);

    let r = get(&okta, &format!("/api/v1/logs?since={}", since(t0 + m(1)))).await;
    assert_eq!(uuids(&r), vec!["b", "c"]);

    let first = format!(
        "/api/v1/logs?since={}&until={}&limit=2",
        since(t0 - m(120)),
        since(t0 + m(2))
    );
    let r = get(&okta, &first).await;
    assert_eq!(uuids(&r), vec!["late", "a"]);
    let next = next_path(&okta, &r);
    assert!(
        next.contains("&until=") && next.contains("&after="),
        "{next}"
    );
    let r = get(&okta, &next).await;
    // `until` is exclusive, so "c" is out; this page is short and ends the query.
    assert_eq!(uuids(&r), vec!["tie", "b"]);
    let r = get(&okta, &next_path(&okta, &r)).await;
    assert!(uuids(&r).is_empty());
    assert_eq!(link(&r, "next"), None);
    assert!(link(&r, "self").is_some());

    let r = get(&okta, &first.replace("limit=2", "limit=3")).await;
    assert_eq!(uuids(&r), vec!["late", "a", "tie"]);
    let r = get(&okta, &next_path(&okta, &r)).await;
    assert_eq!(uuids(&r), vec!["b"]);
    assert_eq!(link(&r, "next"), None);
}

#[tokio::test]
async fn combined_link_header() {
    let okta = FakeOkta::start().await;
    let t0 = t0();
    okta.add_events(2, t0, time::Duration::seconds(1));
    okta.set_combined_link_header(true);
    let r = get(&okta, &format!("/api/v1/logs?since={}&limit=1", since(t0))).await;
    let headers: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "link")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(headers.len(), 1);
    assert!(headers[0].contains(r#"; rel="self", <"#) && headers[0].ends_with(r#"; rel="next""#));
    assert_eq!(uuids(&get(&okta, &next_path(&okta, &r)).await).len(), 1);
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let okta = FakeOkta::start().await;
    let t0 = t0();
    okta.add_events(2, t0, time::Duration::seconds(1));
    let r = get(
        &okta,
        &format!(
            "/api/v1/logs?since={}&until={}&limit=1",
            since(t0),
            since(t0 + time::Duration::minutes(1))
        ),
    )
    .await;
    let bounded_cursor = link(&r, "next")
        .expect("next")
        .rsplit("after=")
        .next()
        .expect("cursor")
        .to_string();
    let r = get(&okta, &format!("/api/v1/logs?since={}&limit=1", since(t0))).await;
    let polling_cursor = next_path(&okta, &r)
        .rsplit("after=")
        .next()
        .expect("cursor")
        .to_string();
    assert_ne!(bounded_cursor, polling_cursor);

    let s = since(t0);
    for query in [
        "limit=1001".to_string(),
        "limit=-1".to_string(),
        "limit=ten".to_string(),
        format!("since={s}&after={polling_cursor}"),
        "sortOrder=DESCENDING".to_string(),
        "since=yesterday".to_string(),
        format!("since={s}&until=2024-13-01"),
        "after=1".to_string(),
        format!("after={bounded_cursor}"),
        format!("since={s}&until={s}&after={polling_cursor}"),
    ] {
        let r = get(&okta, &format!("/api/v1/logs?{query}")).await;
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(error_code(&r), "E0000001", "{query}");
    }
    for query in [
        "limit=0",
        "limit=1000",
        "filter=x&q=y",
        "sortOrder=ASCENDING",
    ] {
        assert_eq!(
            get(&okta, &format!("/api/v1/logs?{query}")).await.status,
            200,
            "{query}"
        );
    }
    let r = get(&okta, &format!("/api/v1/logs?after={polling_cursor}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(uuids(&r).len(), 1);
    assert_eq!(get(&okta, "/api/v1/zones").await.status, 404);
}

#[test]
fn cursors_round_trip_and_reject_tampering() {
    for v in [0, 1, 41, 999_999] {
        let c = encode_cursor(POLLING_CURSOR, v);
        assert_eq!(decode_cursor(POLLING_CURSOR, &c), Some(v));
        assert_eq!(decode_cursor(BOUNDED_CURSOR, &c), None);
        let mut tampered = c.clone().into_bytes();
        tampered[5] = if tampered[5] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert_eq!(decode_cursor(POLLING_CURSOR, &tampered), None);
    }
    assert_eq!(decode_component("a%3Ab+c%2B%zz"), "a:b c+%zz");
    assert_eq!(
        encode_component("2023-05-30T14:17:58.126Z"),
        "2023-05-30T14%3A17%3A58.126Z"
    );
}
