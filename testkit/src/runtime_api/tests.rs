//! The fake Runtime API driven by hand as a function would: round trips, errors, unknown ids.

use std::time::SystemTime;

use super::routes::epoch_millis;
use super::*;
use crate::loopback_http::request;

/// Plays the function: takes one invocation and answers it with `reply`.
async fn serve_one(addr: SocketAddr, reply: impl FnOnce(&[u8]) -> (&'static str, Vec<u8>)) {
    let next = request(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"")
        .await
        .expect("GET next");
    assert_eq!(next.status, 200);
    assert_eq!(next.header("content-type"), Some("application/json"));
    assert_eq!(
        next.header("lambda-runtime-invoked-function-arn"),
        Some(FUNCTION_ARN)
    );
    assert!(next.header("lambda-runtime-trace-id").is_some());
    let deadline: u128 = next
        .header("lambda-runtime-deadline-ms")
        .and_then(|d| d.parse().ok())
        .expect("numeric deadline header");
    assert!(deadline > epoch_millis(SystemTime::now()));
    let id = next
        .header("lambda-runtime-aws-request-id")
        .expect("request id header")
        .to_string();
    let (kind, body) = reply(&next.body);
    let answer = request(
        addr,
        "POST",
        &format!("/2018-06-01/runtime/invocation/{id}/{kind}"),
        &[("content-type", "application/json")],
        &body,
    )
    .await
    .expect("POST answer");
    assert_eq!(answer.status, 202);
}

#[tokio::test]
async fn response_round_trip_in_fifo_order() {
    let api = RuntimeApi::start().await;
    let addr = api.addr();
    let function = tokio::spawn(async move {
        for _ in 0..2 {
            serve_one(addr, |payload| {
                let v: serde_json::Value = serde_json::from_slice(payload).expect("json");
                (
                    "response",
                    serde_json::to_vec(&serde_json::json!({"echo": v})).expect("ser"),
                )
            })
            .await;
        }
    });
    let first = api.invoke(r#"{"n":1}"#, Duration::from_secs(3)).await;
    let second = api.invoke(r#"{"n":2}"#, Duration::from_secs(3)).await;
    assert_eq!(first.response(), serde_json::json!({"echo": {"n": 1}}));
    assert_eq!(second.response(), serde_json::json!({"echo": {"n": 2}}));
    function.await.expect("function task");
}

#[tokio::test]
async fn error_round_trip() {
    let api = RuntimeApi::start().await;
    let addr = api.addr();
    let function = tokio::spawn(async move {
        serve_one(addr, |_| {
            (
                "error",
                br#"{"errorType":"Boom","errorMessage":"it broke"}"#.to_vec(),
            )
        })
        .await;
    });
    let outcome = api.invoke("{}", Duration::from_secs(3)).await;
    assert!(outcome.is_error());
    assert_eq!(
        outcome,
        Invocation::Error {
            error_type: "Boom".into(),
            error_message: "it broke".into()
        }
    );
    function.await.expect("function task");
}

#[tokio::test]
async fn init_error_fails_pending_and_future_invocations() {
    let api = RuntimeApi::start().await;
    let addr = api.addr();
    let poster = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = request(
            addr,
            "POST",
            "/2018-06-01/runtime/init/error",
            &[],
            br#"{"errorType":"Config","errorMessage":"missing DESTINATION_URL"}"#,
        )
        .await
        .expect("POST init error");
        assert_eq!(r.status, 202);
    });
    let pending = api.invoke("{}", Duration::from_secs(3)).await;
    poster.await.expect("poster task");
    assert!(matches!(&pending, Invocation::InitError(b) if b.contains("DESTINATION_URL")));
    let later = api.invoke("{}", Duration::from_secs(3)).await;
    assert!(later.is_error());
    assert!(api.init_error().is_some());
}

#[tokio::test]
async fn unknown_request_id_is_rejected() {
    let api = RuntimeApi::start().await;
    let r = request(
        api.addr(),
        "POST",
        "/2018-06-01/runtime/invocation/nope/response",
        &[],
        b"{}",
    )
    .await
    .expect("POST");
    assert_eq!(r.status, 400);
}
