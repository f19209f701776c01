//! `make demo`: runs the real okta-push and okta-pull binaries against local fakes only.
//!
//! Starts moto server (S3, Secrets Manager), the testkit's DynamoDB table for the ledger (moto's
//! copies its whole table on every transaction: a day of backlog would take minutes) and a
//! recording HTTP destination on 127.0.0.1,
//! drives okta-push through a local Lambda Runtime API with each file given (default: the
//! samples in `events/`), then prints what the destination received and what was dropped or
//! dead-lettered; then runs okta-pull twice against a fake Okta System Log API, then its
//! connection check and its directory runs (a full snapshot, then a changes run after a few
//! edits) against the fake's directory; last, okta-push writing the sample batch into Amazon
//! Security Lake custom sources on moto as OCSF Parquet. No AWS account and no network beyond
//! loopback.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use okta_ingest_testkit::okta_events::rebase_timestamps;
use okta_ingest_testkit::{
    binary_path, FakeDynamoDb, FakeOkta, FunctionProcess, Invocation, Moto, RecordingDestination,
    RuntimeApi,
};
use serde_json::Value;

mod lake;

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
    lake::demo_lake(&moto, &root.join("events/sqs-batch.json")).await;
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
    let schedule = include_str!("../../../../events/schedule.json");
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
    demo_directory(&okta, &runtime, destination).await;
    function.stop().await;
}

/// okta-pull's connection check, then its directory runs against the fake org's directory:
/// a snapshot of a small org, then a changes run after a few edits.
async fn demo_directory(okta: &FakeOkta, runtime: &RuntimeApi, destination: &RecordingDestination) {
    println!("\n== okta-pull {{\"check\": true}}: the connection check");
    match runtime
        .invoke(r#"{"check":true}"#, Duration::from_secs(60))
        .await
    {
        Invocation::Response(v) => {
            for c in v["checks"].as_array().into_iter().flatten() {
                let mark = if c["ok"] == true { "OK  " } else { "FAIL" };
                println!(
                    "   {mark} {}: {}",
                    c["name"].as_str().unwrap_or("?"),
                    c["detail"].as_str().unwrap_or("?")
                );
            }
        }
        other => println!("   check failed: {other:?}"),
    }

    println!("\n== okta-pull {{\"directory\":\"full\"}}: a snapshot of a small org (8 users, 3 groups of 4, 2 apps with 3 users and a group each, a Super Administrator, a group of Read-only Administrators)");
    // Built ten minutes ago, so the changes run below sees only the edits made after it.
    okta.set_directory_clock(time::OffsetDateTime::now_utc() - time::Duration::minutes(10));
    let org = okta.populate(8, 3, 2, 4, 3);
    okta.grant_group_role(&org.groups[1], "READ_ONLY_ADMIN");
    let before = destination.accepted().len();
    let full = runtime
        .invoke(r#"{"directory":"full"}"#, Duration::from_secs(60))
        .await;
    let records = directory_records(&destination.accepted()[before..]);
    let mut names = Names::default();
    names.learn(&records);
    let mut per_kind: Vec<(&str, usize)> = Vec::new();
    println!(
        "   destination received {} records; the first of each kind:",
        records.len()
    );
    for r in &records {
        let kind = r["okta_directory"]["kind"].as_str().unwrap_or("?");
        match per_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => {
                per_kind.push((kind, 1));
                println!("     - {}", names.line(r));
            }
        }
    }
    let per_kind: Vec<String> = per_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!("   records per kind: {}", per_kind.join(", "));
    print_directory_run("snapshot", full);

    let [u1, u5, u7] = [1, 5, 7].map(|i| names.of(&org.users[i]));
    let [g0, g2] = [0, 2].map(|i| names.of(&org.groups[i]));
    println!("\n== edits in Okta: {u1} moves to Finance, {u5} joins {g0}, {u1} leaves {g2}, {u7} is deleted");
    okta.set_directory_clock(time::OffsetDateTime::now_utc());
    okta.update_user(&org.users[1], "department", "Finance");
    okta.add_member(&org.groups[0], &org.users[5]);
    okta.remove_member(&org.groups[2], &org.users[1]);
    okta.delete_user(&org.users[7]);
    println!("   okta-pull {{\"directory\":\"changes\"}}: what changed since the snapshot");
    let before = destination.accepted().len();
    let changes = runtime
        .invoke(r#"{"directory":"changes"}"#, Duration::from_secs(60))
        .await;
    let records = directory_records(&destination.accepted()[before..]);
    names.learn(&records);
    println!("   destination received {} records:", records.len());
    for r in &records {
        println!("     - {}", names.line(r));
    }
    print_directory_run("changes run", changes);
}

/// The directory records in `requests`, in order.
fn directory_records(requests: &[okta_ingest_testkit::ReceivedRequest]) -> Vec<Value> {
    requests
        .iter()
        .flat_map(|r| r.json_array_items())
        .filter_map(|item| serde_json::from_str::<Value>(&item).ok())
        .filter(|v| v.get("okta_directory").is_some())
        .collect()
}

/// What the records said users, groups and apps are called, to show ids as names.
#[derive(Default)]
struct Names(std::collections::HashMap<String, String>);

impl Names {
    /// Remembers each user's login, group's name and app's label in `records`.
    fn learn(&mut self, records: &[Value]) {
        for r in records {
            let o = &r["object"];
            let name = match r["okta_directory"]["kind"].as_str() {
                Some("user") => o["profile"]["login"].as_str(),
                Some("group") => o["profile"]["name"].as_str(),
                Some("app") => o["label"].as_str(),
                _ => None,
            };
            if let (Some(id), Some(name)) = (o["id"].as_str(), name) {
                self.0.insert(id.to_owned(), name.to_owned());
            }
        }
    }

    /// The name of `id`, or the id.
    fn of(&self, id: &str) -> String {
        self.0.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    /// `kind action id (what it is)`: both ends of a relationship by name, a role by type.
    fn line(&self, r: &Value) -> String {
        let h = &r["okta_directory"];
        let kind = h["kind"].as_str().unwrap_or("?");
        let id = h["id"].as_str().unwrap_or_default();
        let what = match kind {
            "run" => format!("run {}", h["run"].as_str().unwrap_or("?")),
            "admin_role" => format!(
                "{} is {}",
                self.of(id.split('/').next().unwrap_or_default()),
                r["object"]["type"].as_str().unwrap_or("?")
            ),
            _ => id
                .split('/')
                .map(|p| self.of(p))
                .collect::<Vec<_>>()
                .join(" / "),
        };
        let department = r["object"]["profile"]["department"]
            .as_str()
            .filter(|_| kind == "user")
            .map(|d| format!(", department {d}"))
            .unwrap_or_default();
        format!(
            "{kind:<12} {:<9} {id}  ({what}{department})",
            h["action"].as_str().unwrap_or("?")
        )
    }
}

/// The directory part of a directory run's answer.
fn print_directory_run(what: &str, outcome: Invocation) {
    match outcome {
        Invocation::Response(v) => {
            let d = &v["directory"];
            println!(
                "   {what}: sent {} ({} deleted), {} pages, {} Okta requests, completed: {}, stopped: {}",
                d["kind_counts"], d["deleted"], d["pages"], d["okta_requests"], d["completed"], d["stopped"]
            );
        }
        other => println!("   {what}: failed: {other:?}"),
    }
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
