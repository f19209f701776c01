//! Runs the real lambda_runtime client (examples/echo_function) against the fake Runtime API.

use std::time::Duration;

use okta_ingest_testkit::{binary_path, FunctionProcess, Invocation, RuntimeApi};
use serde_json::json;

#[tokio::test]
async fn real_lambda_runtime_client_round_trips() {
    // A plain `cargo test -p okta-ingest-testkit` builds examples into
    // target/<profile>/examples/; `--test function_process` alone does not.
    let exe = std::env::current_exe().expect("current exe");
    let built = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("echo_function"));
    if !built.is_some_and(|p| p.is_file()) {
        panic!("examples/echo_function is not built: run `cargo test -p okta-ingest-testkit` without --test");
    }
    let binary = binary_path("examples/echo_function");
    let api = RuntimeApi::start().await;
    let function = FunctionProcess::spawn(
        &binary,
        &api,
        &[("GREETING".to_string(), "hello".to_string())],
    )
    .await;
    assert!(function.pid().is_some());
    assert!(
        function
            .wait_for_line("echo-function starting", Duration::from_secs(10))
            .await,
        "no start line; output:\n{}",
        function.output()
    );

    // Container reuse: several invocations to the same process, in order.
    for n in 0..3 {
        let out = api
            .invoke(json!({"n": n}).to_string(), Duration::from_secs(5))
            .await
            .response();
        assert_eq!(out["echo"], json!({"n": n}));
        assert_eq!(out["function"], "echo_function");
        assert_eq!(out["greeting"], "hello");
        assert_eq!(out["leaked_aws_profile"], false);
        assert_eq!(out["deadline_in_future"], true);
    }

    let failed = api.invoke(r#"{"fail":true}"#, Duration::from_secs(5)).await;
    match &failed {
        Invocation::Error { error_message, .. } => assert!(error_message.contains("asked to fail")),
        other => panic!("expected an invocation error, got {other:?}"),
    }

    let logs = function.json_lines();
    assert_eq!(
        logs.iter().filter(|l| l["message"] == "invoked").count(),
        4,
        "output:\n{}",
        function.output()
    );
    let rss = function
        .peak_rss_kib()
        .expect("VmHWM readable while running");
    assert!(rss > 0);
    function.stop().await;
}

#[tokio::test]
async fn a_replacement_process_gets_the_next_invocation() {
    let binary = binary_path("examples/echo_function");
    let api = RuntimeApi::start().await;
    let first = FunctionProcess::spawn(&binary, &api, &[]).await;
    assert!(
        first
            .wait_for_line("echo-function starting", Duration::from_secs(10))
            .await
    );
    // Give it time to park in the long-poll, then kill it mid-poll.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.stop().await;

    let second = FunctionProcess::spawn(&binary, &api, &[]).await;
    let out = api
        .invoke(r#"{"after":"restart"}"#, Duration::from_secs(5))
        .await
        .response();
    assert_eq!(out["echo"], json!({"after": "restart"}));
    second.stop().await;
}
