//! End to end: push, pull, the ledger and replay together land every Okta event exactly once.
//!
//! Six hours of Okta activity in 10-minute steps, against the real okta-push and okta-pull
//! binaries, moto server, the fake Okta API and a recording destination. Log Streaming
//! delivers some events twice, is deactivated for two hours, and delivers late events when
//! Okta stores them; pull runs every step; the destination is down for 20 minutes, and
//! when it is back the dead letters are replayed. At the end the destination must hold every event the
//! fake Okta produced exactly once, and the dead letters must be empty.

use std::collections::HashMap;
use std::time::Duration;

use okta_ingest_testkit::destination::Behaviour;
use okta_ingest_testkit::okta_events::{eventbridge_envelope, rfc3339_millis, sqs_event};
use okta_ingest_testkit::{
    binary_path, FakeDynamoDb, FakeOkta, FunctionProcess, Moto, RecordingDestination, RuntimeApi,
    SerialProxy,
};
use serde_json::Value;
use time::OffsetDateTime;

const BUCKET: &str = "okta-ingest-state";
const TABLE: &str = "okta-ingest-ledger";
const STEPS: i64 = 36;
const EVENTS_PER_STEP: i64 = 30;
/// Log Streaming deactivated: no push from step 12 to step 23 (two hours).
const STREAM_DOWN: std::ops::Range<i64> = 12..24;
/// The destination answers 503 during these steps (20 minutes).
const DESTINATION_DOWN: std::ops::Range<i64> = 28..30;
const NORMAL: Duration = Duration::from_secs(20);
const DURING_OUTAGE: Duration = Duration::from_secs(6);

struct Functions {
    push_api: RuntimeApi,
    push: FunctionProcess,
    pull_api: RuntimeApi,
    pull: FunctionProcess,
}

#[derive(Default, Debug)]
struct Counts {
    produced: usize,
    late: usize,
    pushed_messages: usize,
    pushed_twice: usize,
    not_pushed_stream_down: usize,
}

/// The messages of `sent` that push's SQS answer hands back.
fn handed_back(response: &Value, sent: &[(String, String)]) -> Vec<(String, String)> {
    let ids: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not an SQS answer: {response}"))
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str())
        .collect();
    sent.iter()
        .filter(|(id, _)| ids.contains(&id.as_str()))
        .cloned()
        .collect()
}

fn sum(lines: &[Value], message: &str, field: &str) -> u64 {
    lines
        .iter()
        .filter(|l| l["message"] == message)
        .filter_map(|l| l[field].as_u64())
        .sum()
}

#[tokio::test]
async fn every_event_lands_exactly_once_across_push_pull_outages_and_replay() {
    let okta = FakeOkta::start().await;
    okta.set_tokens(&["scenario-token"]);
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let token_arn = moto.create_secret("scenario/okta", "scenario-token").await;
    let destination = RecordingDestination::start().await;
    // The functions reach moto one request at a time (see SerialProxy).
    let aws = SerialProxy::start(moto.addr()).await;
    // The ledger table is the testkit's, as in every ledger test: moto's PartiQL INSERT
    // overwrites an item instead of refusing it, so it cannot hold claims.
    let table = FakeDynamoDb::start("uuid").await;

    let mut common = moto.function_env();
    common.extend(
        [
            ("AWS_ENDPOINT_URL", aws.endpoint()),
            ("AWS_ENDPOINT_URL_DYNAMODB", table.endpoint()),
            ("STATE_BUCKET", BUCKET.to_owned()),
            ("LEDGER_TABLE", TABLE.to_owned()),
            ("DESTINATION_URL", destination.url()),
            ("ALLOW_INSECURE_HTTP", "true".to_owned()),
            ("DESTINATION_TIMEOUT_SECONDS", "2".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let mut pull_env = common.clone();
    pull_env.extend(
        [
            ("OKTA_DOMAIN", okta.base_url()),
            ("OKTA_TOKEN_SECRET_ARN", token_arn),
            ("INITIAL_LOOKBACK_SECONDS", "28800".to_owned()),
            ("SETTLE_DELAY_SECONDS", "600".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let push_api = RuntimeApi::start().await;
    let pull_api = RuntimeApi::start().await;
    let f = Functions {
        push: FunctionProcess::spawn(&binary_path("okta-push"), &push_api, &common).await,
        push_api,
        pull: FunctionProcess::spawn(&binary_path("okta-pull"), &pull_api, &pull_env).await,
        pull_api,
    };

    let now = OffsetDateTime::now_utc();
    let start = now - time::Duration::minutes(10 * STEPS + 15);
    let mut counts = Counts::default();
    let mut rng = fastrand::Rng::with_seed(7);
    let id = std::cell::Cell::new(0u64);
    let envelope = |detail: &str, published: &str| {
        id.set(id.get() + 1);
        eventbridge_envelope(detail, &format!("eb-{:06}", id.get()), published)
    };
    let mut held_back: Vec<(String, String)> = Vec::new(); // repeats Log Streaming sends a step later
                                                           // Messages push handed back (another invocation held a live claim on their event): SQS
                                                           // gives them again after the visibility timeout, here at the next step.
    let mut sqs_retry: Vec<(String, String)> = Vec::new();
    let mut replay = Value::Null;
    let mut kept_before = 0;

    for step in 0..STEPS {
        let step_start = start + time::Duration::minutes(10 * step);
        // Okta stores this step's events, and now and then one that happened an hour ago.
        let mut stored: Vec<(String, String)> = Vec::new();
        for i in 0..EVENTS_PER_STEP {
            let published = step_start + time::Duration::seconds(i * 600 / EVENTS_PER_STEP);
            let uuid = format!("scn-{step:02}-{i:02}");
            stored.push((okta.add_event(&uuid, published), rfc3339_millis(published)));
        }
        if step % 5 == 4 {
            let published = step_start - time::Duration::minutes(60);
            stored.push((
                okta.add_event(&format!("scn-late-{step:02}"), published),
                rfc3339_millis(published),
            ));
            counts.late += 1;
        }
        counts.produced += stored.len();

        if DESTINATION_DOWN.contains(&step) {
            destination.set_default(Behaviour::Status(503));
        } else {
            destination.set_default(Behaviour::Ok);
        }
        let timeout = if DESTINATION_DOWN.contains(&step) {
            DURING_OUTAGE
        } else {
            NORMAL
        };

        // Log Streaming: everything stored, some of it twice, unless the stream is deactivated.
        if STREAM_DOWN.contains(&step) {
            counts.not_pushed_stream_down += stored.len();
            held_back.clear();
        } else {
            let mut messages: Vec<(String, String)> = std::mem::take(&mut held_back);
            messages.append(&mut sqs_retry);
            for (detail, published) in &stored {
                let body = envelope(detail, published);
                messages.push((format!("m-{}", id.get()), body));
                match rng.u8(..10) {
                    0 => {
                        let again = envelope(detail, published);
                        messages.push((format!("m-{}-again", id.get()), again));
                        counts.pushed_twice += 1;
                    }
                    1 => {
                        let later = envelope(detail, published);
                        held_back.push((format!("m-{}-later", id.get()), later));
                        counts.pushed_twice += 1;
                    }
                    _ => {}
                }
            }
            counts.pushed_messages += messages.len();
            let response = f
                .push_api
                .invoke(sqs_event(&messages), timeout)
                .await
                .response();
            sqs_retry = handed_back(&response, &messages);
        }

        // The destination is back: the operator replays what the outage left in the dead
        // letters, before pull gets to those events.
        if step == DESTINATION_DOWN.end {
            kept_before = moto.list_keys(BUCKET, "dead-letter/").await.len();
            replay = f
                .push_api
                .invoke(r#"{"replay":{}}"#, NORMAL)
                .await
                .response();
        }

        // The pull schedule.
        let pulled = f.pull_api.invoke("{}", timeout).await.response();
        assert!(pulled["stopped"].is_string(), "step {step}: {pulled}");
    }

    // A few events from the last minutes: still travelling through push when pull runs.
    let mut fresh = Vec::new();
    for i in 0..5 {
        let published = now - time::Duration::seconds(120 - i * 10);
        let detail = okta.add_event(&format!("scn-fresh-{i}"), published);
        fresh.push((
            format!("m-fresh-{i}"),
            envelope(&detail, &rfc3339_millis(published)),
        ));
        counts.produced += 1;
    }
    let settling = f.pull_api.invoke("{}", NORMAL).await.response();
    assert!(
        settling["stopped"]
            .as_str()
            .unwrap_or_default()
            .starts_with("settling"),
        "{settling}"
    );
    f.push_api
        .invoke(sqs_event(&fresh), NORMAL)
        .await
        .response();
    counts.pushed_messages += fresh.len();

    // What SQS still has to give again, until push takes it (a claim runs out at the
    // latest CLAIM_MARGIN after its invocation's deadline).
    for _ in 0..40 {
        if sqs_retry.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let response = f
            .push_api
            .invoke(sqs_event(&sqs_retry), NORMAL)
            .await
            .response();
        sqs_retry = handed_back(&response, &sqs_retry);
    }
    assert!(
        sqs_retry.is_empty(),
        "SQS would retry forever: {sqs_retry:?}"
    );

    let final_pull = f.pull_api.invoke("{}", NORMAL).await.response();

    // Every event Okta produced, exactly once.
    let mut delivered: HashMap<String, usize> = HashMap::new();
    for request in destination.accepted() {
        for item in request.json_array_items() {
            let v: Value = serde_json::from_str(&item).unwrap();
            *delivered
                .entry(v["uuid"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    let produced: Vec<String> = okta.events().into_iter().map(|(u, _)| u).collect();
    let missing: Vec<&String> = produced
        .iter()
        .filter(|u| !delivered.contains_key(*u))
        .collect();
    let repeated: Vec<(&String, &usize)> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    let kept_after = moto.list_keys(BUCKET, "dead-letter/").await;

    let push_lines = f.push.json_lines();
    let pull_lines = f.pull.json_lines();
    println!("scenario: {counts:?}");
    println!(
        "  push: forwarded {}, repeats skipped in-invocation {} and via the ledger {}, dead-lettered {}",
        sum(&push_lines, "invocation summary", "forwarded"),
        sum(&push_lines, "invocation summary", "duplicates"),
        sum(&push_lines, "invocation summary", "already_delivered"),
        sum(&push_lines, "invocation summary", "dead_lettered"),
    );
    println!(
        "  pull: {} runs, forwarded {}, already delivered by push {}, Okta requests {}",
        pull_lines
            .iter()
            .filter(|l| l["message"] == "run summary")
            .count(),
        sum(&pull_lines, "run summary", "forwarded"),
        sum(&pull_lines, "run summary", "already_delivered"),
        sum(&pull_lines, "run summary", "okta_requests"),
    );
    println!(
        "  replay: {replay}; dead-letter objects before {kept_before}, after {}",
        kept_after.len()
    );
    println!("  final pull: {final_pull}");
    println!(
        "  destination: {} distinct events of {} produced, {} missing, {} delivered more than once",
        delivered.len(),
        produced.len(),
        missing.len(),
        repeated.len()
    );

    assert!(missing.is_empty(), "never delivered: {missing:?}");
    assert!(
        repeated.is_empty(),
        "delivered more than once: {repeated:?}"
    );
    assert_eq!(delivered.len(), produced.len());
    assert!(
        kept_after.is_empty(),
        "dead letters left after the replay: {kept_after:?}"
    );
    // What push handed back to SQS was only ever in flight elsewhere, never lost.
    assert_eq!(sum(&push_lines, "invocation summary", "not_kept"), 0);
    // Each mechanism actually did its part.
    assert!(kept_before > 0, "the outage left dead letters to replay");
    assert!(
        sum(&pull_lines, "run summary", "forwarded") >= counts.not_pushed_stream_down as u64,
        "pull filled the stream gap"
    );
    assert!(
        sum(&push_lines, "invocation summary", "already_delivered") > 0,
        "the ledger stopped repeats"
    );
    assert!(
        replay["forwarded"].as_u64().unwrap_or(0) > 0,
        "the replay re-sent kept events: {replay}"
    );
}
