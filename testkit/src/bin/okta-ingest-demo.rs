//! `make demo`: runs the real okta-push and okta-pull binaries against local fakes only.
//!
//! Starts moto server (S3, Secrets Manager), the testkit's DynamoDB table for the ledger (moto's
//! copies its whole table on every transaction: a day of backlog would take minutes) and a
//! recording HTTP destination on 127.0.0.1,
//! drives okta-push through a local Lambda Runtime API with each file given (default: the
//! samples in `events/`), then prints what the destination received and what was dropped or
//! dead-lettered; then runs okta-pull twice against a fake Okta System Log API. No AWS
//! account and no network beyond loopback.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use okta_ingest_testkit::okta_events::rebase_timestamps;
use okta_ingest_testkit::{
    binary_path, FakeDynamoDb, FakeOkta, FunctionProcess, Invocation, Moto, RecordingDestination,
    RuntimeApi,
};
use serde_json::Value;

const BUCKET: &str = "okta-ingest-demo";
const TABLE: &str = "okta-ingest-demo-ledger";

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if files.is_empty() {
        files = vec![
            root.join("events/eventbridge-direct.json"),
            root.join("events/sqs-batch.json"),
        ];
    }

    println!("Starting moto server (S3, Secrets Manager), a DynamoDB table for the ledger, a destination and a Lambda Runtime API on 127.0.0.1 ...");
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let table = FakeDynamoDb::start("uuid").await;
    let secret_arn = moto
        .create_secret("okta-ingest/demo-destination", r#"{"token":"demo-token"}"#)
        .await;
    let destination = RecordingDestination::start().await;
    let runtime = RuntimeApi::start().await;
    let mut env = moto.function_env();
    env.extend(
        [
            ("DESTINATION_URL", destination.url()),
            ("ALLOW_INSECURE_HTTP", "true".to_owned()),
            ("DESTINATION_SECRET_ARN", secret_arn),
            ("STATE_BUCKET", BUCKET.to_owned()),
            ("LEDGER_TABLE", TABLE.to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", table.endpoint()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let function = FunctionProcess::spawn(&binary_path("okta-push"), &runtime, &env).await;

    for file in &files {
        invoke_with(file, &runtime, &destination).await;
    }
    report_push(&function, &moto).await;
    function.stop().await;

    demo_pull(&moto, &table, &destination).await;
}

/// Invokes okta-push with one sample file (dates moved to now) and shows what the
/// destination received.
async fn invoke_with(
    file: &std::path::Path,
    runtime: &RuntimeApi,
    destination: &RecordingDestination,
) {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", file.display());
            std::process::exit(2);
        }
    };
    // The samples carry fixed dates; move them to just now so fresh events are fresh.
    let payload = rebase_timestamps(&text, time::OffsetDateTime::now_utc());
    let before = destination.requests().len();
    println!(
        "\n== invoke okta-push with {} (dates moved to now)",
        file.display()
    );
    let outcome = runtime.invoke(payload, Duration::from_secs(30)).await;
    match outcome {
        Invocation::Response(v) => println!("   function answered: {v}"),
        other => println!("   function failed: {other:?}"),
    }
    for request in &destination.requests()[before..] {
        println!(
            "   destination got POST {} ({} bytes {}, {}) -> HTTP {}",
            request.path,
            request.raw_body.len(),
            request.header("content-encoding").unwrap_or("identity"),
            request.header("content-type").unwrap_or("?"),
            request.status
        );
        for item in request.json_array_items() {
            let e: Value = serde_json::from_str(&item).unwrap_or(Value::Null);
            println!(
                "     - {} {} {} ({} bytes, unchanged)",
                e["published"],
                e["uuid"],
                e["eventType"],
                item.len()
            );
        }
    }
}

/// What the push invocations dropped, kept and logged.
async fn report_push(function: &FunctionProcess, moto: &Moto) {
    // Give the last log lines a moment to arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!("\n== dropped as stale (older than MAX_EVENT_AGE_SECONDS)");
    for line in function
        .json_lines()
        .iter()
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains("stale")))
    {
        println!(
            "   - {} published {} ({} s old)",
            line["uuid"], line["published"], line["age_seconds"]
        );
    }
    println!("\n== dead letters in s3://{BUCKET}/dead-letter/");
    for key in moto.list_keys(BUCKET, "dead-letter/").await {
        println!("   {key}");
        let mut text = String::new();
        let gz = moto.get_object(BUCKET, &key).await;
        if flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .is_ok()
        {
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
                println!("     - message {}: {}", v["message_id"], v["reason"]);
            }
        }
    }
    println!("\n== invocation summaries (one JSON log line per invocation)");
    for line in function
        .json_lines()
        .iter()
        .filter(|l| l["message"] == "invocation summary")
    {
        println!("   {line}");
    }
}

/// okta-pull against a fake Okta org: a first run with a day of backlog, then a late event.
async fn demo_pull(moto: &Moto, table: &FakeDynamoDb, destination: &RecordingDestination) {
    println!(
        "\n== okta-pull: a fake Okta System Log API on 127.0.0.1 with 2,400 events of the last day"
    );
    let okta = FakeOkta::start().await;
    okta.set_tokens(&["demo-okta-token"]);
    okta.set_rate_limit(20, Duration::from_secs(60));
    let now = time::OffsetDateTime::now_utc();
    okta.add_events(
        2400,
        now - time::Duration::hours(23),
        time::Duration::seconds(30),
    );
    let secret_arn = moto
        .create_secret("okta-ingest/demo-okta-token", "demo-okta-token")
        .await;
    let runtime = RuntimeApi::start().await;
    let mut env = moto.function_env();
    env.extend(
        [
            ("OKTA_DOMAIN", okta.base_url()),
            ("ALLOW_INSECURE_HTTP", "true".to_owned()),
            ("OKTA_TOKEN_SECRET_ARN", secret_arn),
            ("STATE_BUCKET", BUCKET.to_owned()),
            ("LEDGER_TABLE", TABLE.to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", table.endpoint()),
            ("DESTINATION_URL", destination.url()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let function = FunctionProcess::spawn(&binary_path("okta-pull"), &runtime, &env).await;
    let schedule = include_str!("../../../events/schedule.json");
    let before = destination.accepted().len();
    let first = runtime.invoke(schedule, Duration::from_secs(60)).await;
    print_run(
        "first scheduled run (starts INITIAL_LOOKBACK_SECONDS back)",
        first,
    );
    println!(
        "   destination accepted {} more requests",
        destination.accepted().len() - before
    );
    okta.add_event("demo-late-event", now - time::Duration::hours(2));
    let second = runtime.invoke(schedule, Duration::from_secs(60)).await;
    print_run(
        "next run, after Okta persisted an event stamped two hours ago",
        second,
    );
    for key in moto.list_keys(BUCKET, "checkpoint/").await {
        let checkpoint: Value =
            serde_json::from_slice(&moto.get_object(BUCKET, &key).await).unwrap_or(Value::Null);
        println!(
            "\n== checkpoint s3://{BUCKET}/{key}\n   next: {}\n   uuids remembered at next: {}",
            checkpoint["next"],
            checkpoint["handled_at_next"].as_array().map_or(0, Vec::len)
        );
    }
    function.stop().await;
}

fn print_run(what: &str, outcome: Invocation) {
    match outcome {
        Invocation::Response(v) => println!(
            "   {what}: {} pages, {} forwarded, {} Okta requests, stopped: {}",
            v["pages"], v["forwarded"], v["okta_requests"], v["stopped"]
        ),
        other => println!("   {what}: failed: {other:?}"),
    }
}
