//! The ledger against real DynamoDB behaviour, through the okta-pull binary: a backfill or a
//! scheduled run meeting a table that throttles never answers success with events left out,
//! and a scheduled run writes the delivered marks earlier runs could not.

mod support;

use okta_ingest_testkit::fake_dynamodb::Fault;
use okta_ingest_testkit::okta_events::rfc3339_millis;
use okta_ingest_testkit::runtime_api::Invocation;
use okta_ingest_testkit::FakeDynamoDb;
use support::pull::{minutes_ago, Org, T};
use support::BUCKET;

const TABLE: &str = "okta-ingest-ledger";

/// An org whose pull functions keep the ledger in the testkit's table, which can misbehave.
async fn org_with_table() -> (Org, FakeDynamoDb) {
    let table = FakeDynamoDb::start("uuid").await;
    let endpoint = table.endpoint();
    let org = Org::start(&[
        ("LEDGER_TABLE", TABLE),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
    ])
    .await;
    (org, table)
}

fn window(since: time::OffsetDateTime, until: time::OffsetDateTime) -> String {
    format!(
        r#"{{"since":"{}","until":"{}"}}"#,
        rfc3339_millis(since),
        rfc3339_millis(until)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_while_claims_are_throttled_for_a_moment_delivers_its_whole_window_once() {
    // GIVEN 300 events 1 to 6 hours back, and a table whose next claim requests are
    // refused, every claim with ThrottlingError
    let (org, table) = org_with_table().await;
    org.okta
        .add_events(300, minutes_ago(360), time::Duration::minutes(1));
    table.script(Fault::CancelClaims("ThrottlingError"), Some(3));
    let c = org.container().await;
    // WHEN the window is backfilled
    let payload = window(minutes_ago(361), minutes_ago(50));
    let summary = c.run(&payload, T).await.response();
    // THEN every event is delivered once and the answer says so truthfully
    assert_eq!(summary["forwarded"], 300, "{summary}");
    assert_eq!(summary["in_flight"], 0, "{summary}");
    assert_eq!(summary["ledger_undecided"], 0, "{summary}");
    org.assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_the_ledger_cannot_decide_answers_an_error_naming_the_window_still_to_do() {
    // GIVEN 30 events, and a table that cancels every claim with ThrottlingError reasons
    let (org, table) = org_with_table().await;
    let first = minutes_ago(120);
    org.okta.add_events(30, first, time::Duration::minutes(1));
    table.script(Fault::CancelClaims("ThrottlingError"), None);
    let c = org.container().await;
    let until = minutes_ago(10);
    // WHEN the window is backfilled
    let answer = c.run(&window(minutes_ago(121), until), T).await;
    // THEN the answer is an error that names the ledger and the window still to do, from
    // the first event not sent; nothing was sent
    let Invocation::Error { error_message, .. } = &answer else {
        panic!("a backfill with events left out answered {answer:?}")
    };
    let resume = rfc3339_millis(first);
    assert!(error_message.contains("delivery ledger"), "{error_message}");
    assert!(
        error_message.contains(&format!("since={resume}"))
            && error_message.contains(&format!("until={}", rfc3339_millis(until))),
        "{error_message}"
    );
    assert!(org.delivered().is_empty());
    // WHEN the table recovers and the operator does what the error says
    table.clear_faults();
    let summary = c.run(&window(first, until), T).await.response();
    // THEN the window is done, each event once
    assert_eq!(summary["forwarded"], 30, "{summary}");
    org.assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_run_stops_before_what_the_ledger_cannot_decide_and_the_next_run_sends_it() {
    // GIVEN 20 events, and a table throttling every claim request
    let (org, table) = org_with_table().await;
    org.okta
        .add_events(20, minutes_ago(30), time::Duration::seconds(30));
    table.script(
        Fault::Refuse {
            operation: Some("BatchExecuteStatement"),
            error: "ThrottlingException",
        },
        None,
    );
    let c = org.container().await;
    // WHEN a scheduled run meets it
    let first = c.scheduled(T).await;
    // THEN it sends nothing, says why, and keeps its checkpoint before those events
    assert_eq!(first["forwarded"], 0, "{first}");
    assert_eq!(first["ledger_throttled"], 20, "{first}");
    assert!(
        first["stopped"]
            .as_str()
            .unwrap_or_default()
            .starts_with("delivery ledger"),
        "{first}"
    );
    // WHEN the table recovers, the next run sends them, each once
    table.clear_faults();
    let second = c.scheduled(T).await;
    assert_eq!(second["forwarded"], 20, "{second}");
    org.assert_exactly_once();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_run_writes_the_delivered_marks_earlier_invocations_could_not() {
    // GIVEN two events push delivered whose marks the table would not take: still claimed
    // in the table, listed in a pending-marks object in the state bucket
    let (org, table) = org_with_table().await;
    for uuid in ["pm-1", "pm-2"] {
        table.insert(serde_json::json!({
            "uuid": {"S": uuid},
            "state": {"S": "claimed"},
            "lease": {"N": "0"},
            "owner": {"S": "a-push-container"},
            "expires": {"N": "4102444800"}
        }));
    }
    let s3 = org.moto.s3().await;
    s3.put_object()
        .bucket(BUCKET)
        .key("ledger-pending/1764720000000-00000000000000aa.jsonl")
        .body(b"\"pm-1\"\n\"pm-2\"\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let c = org.container().await;
    // WHEN a scheduled run starts
    let _ = c.scheduled(T).await;
    // THEN the marks are in the table and the pending object is gone
    for uuid in ["pm-1", "pm-2"] {
        assert_eq!(table.attribute(uuid, "state").as_deref(), Some("delivered"));
    }
    let left = org.moto.list_keys(BUCKET, "ledger-pending/").await;
    assert!(left.is_empty(), "{left:?}");
}
