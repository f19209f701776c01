//! The recording destination's own tests.

use super::*;
use crate::loopback_http::request;
use std::io::Write;

fn with_body(body: &str) -> ReceivedRequest {
    ReceivedRequest {
        method: "POST".into(),
        path: "/ingest".into(),
        headers: HeaderMap::new(),
        raw_body: body.as_bytes().to_vec(),
        body: body.as_bytes().to_vec(),
        status: 200,
    }
}

#[test]
fn json_array_items_keep_exact_text() {
    let body = r#"[ {"a":"x,]\"}","b":[1,{"c":null}]} ,1.50,
        "\u00e9\"",[[],{}] ,null,-0.0e+1,true ]"#;
    assert_eq!(
        with_body(body).json_array_items(),
        vec![
            r#"{"a":"x,]\"}","b":[1,{"c":null}]}"#,
            "1.50",
            r#""\u00e9\"""#,
            "[[],{}]",
            "null",
            "-0.0e+1",
            "true",
        ]
    );
    assert!(with_body("[]").json_array_items().is_empty());
}

#[test]
#[should_panic(expected = "not a JSON array")]
fn json_array_items_panics_on_non_array() {
    with_body(r#"{"a":1}"#).json_array_items();
}

#[test]
fn ndjson_lines_split() {
    assert_eq!(
        with_body("{\"a\":1}\n{\"b\":2}\r\n\n").ndjson_lines(),
        vec![r#"{"a":1}"#, r#"{"b":2}"#]
    );
}

async fn post(dest: &RecordingDestination, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    request(dest.addr(), "POST", "/some/path", headers, body)
        .await
        .expect("POST to destination")
        .status
}

#[tokio::test]
async fn behaviour_queue_then_default() {
    let dest = RecordingDestination::start().await;
    assert!(dest.url().starts_with("http://127.0.0.1:"));
    dest.fail_times(503, 2);
    dest.push_behaviour(Behaviour::StatusWithHeaders(
        429,
        vec![("Retry-After".into(), "1".into())],
    ));
    assert_eq!(post(&dest, &[], b"1").await, 503);
    assert_eq!(post(&dest, &[], b"2").await, 503);
    let limited = request(dest.addr(), "POST", "/x", &[], b"3")
        .await
        .expect("POST");
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(post(&dest, &[], b"4").await, 200);
    dest.set_default(Behaviour::Status(500));
    assert_eq!(post(&dest, &[], b"5").await, 500);
    dest.push_behaviour(Behaviour::Ok);
    assert_eq!(post(&dest, &[], b"6").await, 200);

    let all = dest.requests();
    assert_eq!(
        all.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![503, 503, 429, 200, 500, 200]
    );
    assert_eq!(all[0].path, "/some/path");
    assert_eq!(
        dest.accepted()
            .iter()
            .map(|r| r.body_text())
            .collect::<Vec<_>>(),
        vec!["4", "6"]
    );
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let dest = RecordingDestination::start().await;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b"[1,2]").expect("gzip");
    let gz = enc.finish().expect("gzip");
    let status = post(
        &dest,
        &[
            ("Content-Encoding", "gzip"),
            ("Content-Type", "application/json"),
        ],
        &gz,
    )
    .await;
    assert_eq!(status, 200);
    let r = &dest.requests()[0];
    assert_eq!(r.raw_body, gz);
    assert_eq!(r.json_array_items(), vec!["1", "2"]);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn hang_is_recorded_at_once_and_large_bodies_pass() {
    let dest = RecordingDestination::start().await;
    dest.push_behaviour(Behaviour::Hang(Duration::from_millis(300)));
    let addr = dest.addr();
    let slow = tokio::spawn(async move { request(addr, "POST", "/", &[], b"slow").await });
    assert!(dest.wait_for_requests(1, Duration::from_secs(2)).await);
    assert_eq!(dest.requests()[0].status, 0);
    assert!(dest.accepted().is_empty());
    assert_eq!(slow.await.expect("task").expect("POST").status, 200);
    assert!(dest.wait_for_accepted(1, Duration::from_secs(2)).await);

    let big = vec![b'x'; 10 * 1024 * 1024];
    assert_eq!(post(&dest, &[], &big).await, 200);
    assert_eq!(dest.requests()[1].body.len(), big.len());
}
