//! The ledger against real DynamoDB behaviour, through the okta-push binary: a table that
//! throttles (cancelled claims, refused requests), leaves marks unprocessed, answers late,
//! does not exist, or is given a key it cannot hold. Every event reaches the destination once,
//! or is kept with a reason; none is sent twice or lost, and nothing goes to the DLQ for it.

mod support;

use std::time::Duration;

use okta_ingest_testkit::fake_dynamodb::Fault;
use okta_ingest_testkit::okta_events::gunzip_ndjson;
use okta_ingest_testkit::runtime_api::RuntimeApi;
use serde_json::Value;
use support::failed_ids;
use support::fleet::{batch, batch_received, first_summaries, Fleet};

const T: Duration = Duration::from_secs(30);

fn uuids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:03}")).collect()
}

/// Gives each container its copy of `uuids` (message ids unique to the container), received
/// for the `receive`th time, all at once; returns each container's answer.
async fn copies(fleet: &Fleet, uuids: &[String], receive: u32) -> Vec<Value> {
    let payloads: Vec<String> = (0..fleet.containers.len())
        .map(|c| batch_received(uuids, &format!("copy{c}"), receive))
        .collect();
    let answers = futures::future::join_all(
        fleet
            .containers
            .iter()
            .zip(&payloads)
            .map(|((runtime, _), p): (&(RuntimeApi, _), _)| runtime.invoke(p.clone(), T)),
    )
    .await;
    answers.into_iter().map(|a| a.response()).collect()
}

fn assert_each_once(fleet: &Fleet, uuids: &[String]) {
    let delivered = fleet.delivered();
    for uuid in uuids {
        assert_eq!(delivered.get(uuid), Some(&1), "{uuid}: {delivered:?}");
    }
    assert_eq!(delivered.len(), uuids.len(), "nothing else was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_cancelled_for_a_moment_of_throttling_are_retried_and_sent_once() {
    // GIVEN a table whose first two claim requests fail every INSERT with ThrottlingError
    // (a new on-demand table meeting a burst)
    let fleet = Fleet::start(1).await;
    let table = &fleet.table;
    table.script(Fault::CancelClaims("ThrottlingError"), Some(2));
    let sent = uuids("burst", 200);
    // WHEN 200 fresh events are pushed
    let answer = fleet.containers[0]
        .0
        .invoke(batch(&sent, "copy0"), T)
        .await
        .response();
    // THEN the claims are retried after a pause and all 200 go out once, at once: none is
    // taken for "in flight" and handed back
    assert_eq!(failed_ids(&answer), Vec::<String>::new());
    assert_each_once(&fleet, &sent);
    let summary = &first_summaries(&fleet.containers[0].1, 1).await[0];
    assert_eq!(summary["in_flight"], 0, "{summary}");
    assert_eq!(summary["ledger_undecided"], 0, "{summary}");
    assert_eq!(
        summary["ledger_errors"], 0,
        "a moment of throttling is no error: {summary}"
    );
    // 200 events are 8 requests of 25; the 2 throttled go again
    assert!(table.requests_of("BatchExecuteStatement") >= 10, "retried");
    let states = fleet.ledger_states();
    assert!(sent.iter().all(|u| states[u] == "delivered"), "{states:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_uuid_dynamodb_cannot_hold_is_kept_and_the_others_go_out_once_however_often_given() {
    // GIVEN 99 good events and one whose uuid is 2,100 bytes (over DynamoDB's 2,048-byte key
    // limit: a request carrying it fails whole)
    let fleet = Fleet::start(1).await;
    let mut given = uuids("good", 99);
    given.push("x".repeat(2100));
    // WHEN the batch is pushed twice (an SQS redelivery)
    let first = fleet.containers[0]
        .0
        .invoke(batch(&given, "copy0"), T)
        .await
        .response();
    let second = fleet.containers[0]
        .0
        .invoke(batch(&given, "copy1"), T)
        .await
        .response();
    // THEN the odd one is kept as malformed, with its reason, each time; the 99 go out once
    assert_eq!(failed_ids(&first), Vec::<String>::new());
    assert_eq!(failed_ids(&second), Vec::<String>::new());
    assert_each_once(&fleet, &given[..99]);
    let s = first_summaries(&fleet.containers[0].1, 2).await;
    assert_eq!(
        (s[0]["malformed"].as_u64(), s[0]["dead_lettered"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s[1]["already_delivered"], 99, "{}", s[1]);
    assert_eq!(
        (
            s[0]["ledger_errors"].as_u64(),
            s[1]["ledger_errors"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let kept = fleet
        .moto
        .list_keys(support::BUCKET, "dead-letter/push/")
        .await;
    let lines = gunzip_ndjson(&fleet.moto.get_object(support::BUCKET, &kept[0]).await);
    let reason = lines[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("more than an Okta uuid can be"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn marks_the_table_throttles_or_leaves_unprocessed_are_kept_and_a_later_copy_is_not_sent_again(
) {
    // GIVEN a table that throttles every update of a group's marks and leaves every mark on
    // an event's own item in UnprocessedItems (throttled writes)
    let fleet = Fleet::start(2).await;
    let table = &fleet.table;
    let throttled = Fault::Refuse {
        operation: Some("UpdateItem"),
        error: "ProvisionedThroughputExceededException",
    };
    table.script(throttled, None);
    table.script(Fault::LeaveUnprocessed, None);
    let sent = uuids("unmarked", 100);
    // WHEN 100 events are pushed to one container
    let first = fleet.containers[0]
        .0
        .invoke(batch(&sent, "copy0"), T)
        .await
        .response();
    // THEN they go out, and the marks the table would not take are kept as pending marks
    assert_eq!(failed_ids(&first), Vec::<String>::new());
    let summary = &first_summaries(&fleet.containers[0].1, 1).await[0];
    assert_eq!(summary["ledger_pending"], 100, "{summary}");
    let pending = fleet
        .moto
        .list_keys(support::BUCKET, "ledger-pending/")
        .await;
    assert!(!pending.is_empty(), "pending marks written");
    // WHEN the claims' lease runs out and a copy reaches the other container
    table.run_out_claims();
    let copy = fleet.containers[1]
        .0
        .invoke(batch(&sent, "copy1"), T)
        .await
        .response();
    // THEN it is seen as delivered: acknowledged, not sent again
    assert_eq!(failed_ids(&copy), Vec::<String>::new());
    let summary = &first_summaries(&fleet.containers[1].1, 1).await[0];
    assert_eq!(summary["already_delivered"], 100, "{summary}");
    assert_each_once(&fleet, &sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_throttled_past_every_retry_delay_copies_at_two_containers_and_send_once() {
    // GIVEN a table refusing every claim with ProvisionedThroughputExceededException
    let fleet = Fleet::start(2).await;
    let table = &fleet.table;
    table.script(
        Fault::Refuse {
            operation: Some("BatchExecuteStatement"),
            error: "ProvisionedThroughputExceededException",
        },
        None,
    );
    let sent = uuids("throttled", 100);
    // WHEN copies reach both containers at once, on the first and second receive
    for receive in 1..=2 {
        let answers = copies(&fleet, &sent, receive).await;
        // THEN each hands every message back to SQS, sending nothing, and says why
        for (c, answer) in answers.iter().enumerate() {
            assert_eq!(failed_ids(answer).len(), 100, "container {c}: {answer}");
            let summary = first_summaries(&fleet.containers[c].1, receive as usize).await
                [receive as usize - 1]
                .clone();
            let said: Vec<_> = fleet.containers[c]
                .1
                .json_lines()
                .into_iter()
                .filter(|l| l["level"] != "INFO")
                .collect();
            assert_eq!(summary["ledger_throttled"], 100, "{summary} {said:?}");
            assert_eq!(summary["in_flight"], 0, "{summary}");
        }
        assert!(fleet.delivered().is_empty(), "nothing sent unchecked");
    }
    // WHEN the table takes claims again and SQS gives the copies a third time
    table.clear_faults();
    let mut receive = 3;
    let mut answers = copies(&fleet, &sent, receive).await;
    // THEN each event goes out once; a copy held back as in flight is acknowledged later
    while answers.iter().any(|a| !failed_ids(a).is_empty()) {
        receive += 1;
        assert!(receive < 6, "still handed back: {answers:?}");
        answers = copies(&fleet, &sent, receive).await;
    }
    assert_each_once(&fleet, &sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_answering_after_six_seconds_delays_copies_and_sends_each_once() {
    // GIVEN a table whose next eight claim requests (all of both containers': 100 events are
    // 4 requests of 25) answer after 6 s (past the attempt timeout and the claim's budget)
    let fleet = Fleet::start(2).await;
    let table = &fleet.table;
    table.script(
        Fault::Slow {
            operation: Some("BatchExecuteStatement"),
            by: Duration::from_secs(6),
        },
        Some(8),
    );
    let sent = uuids("late", 100);
    // WHEN copies reach both containers at once
    let answers = copies(&fleet, &sent, 1).await;
    // THEN both hand the messages back unsent
    for answer in &answers {
        assert_eq!(failed_ids(answer).len(), 100, "{answer}");
    }
    assert!(fleet.delivered().is_empty());
    // AND when SQS gives them again, each event goes out once
    let mut receive = 2;
    let mut answers = copies(&fleet, &sent, receive).await;
    while answers.iter().any(|a| !failed_ids(a).is_empty()) {
        receive += 1;
        assert!(receive < 5, "still handed back: {answers:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        answers = copies(&fleet, &sent, receive).await;
    }
    assert_each_once(&fleet, &sent);
}

/// The ERROR lines of a container.
fn errors(function: &okta_ingest_testkit::FunctionProcess) -> Vec<Value> {
    function
        .json_lines()
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_that_does_not_exist_is_named_and_its_events_go_out_only_on_the_last_receive() {
    // GIVEN LEDGER_TABLE naming a table that does not exist (moto answers
    // ResourceNotFoundException as DynamoDB does)
    let fleet = Fleet::start_with(1, &[("LEDGER_TABLE", "okta-ingest-ledgr")]).await;
    let (runtime, function) = &fleet.containers[0];
    let sent = uuids("misnamed", 20);
    // WHEN the events come on their first receive
    let first = runtime
        .invoke(batch_received(&sent, "copy0", 1), T)
        .await
        .response();
    // THEN they go back to SQS, and one ERROR line names the table and the cause in words
    assert_eq!(failed_ids(&first).len(), 20, "{first}");
    assert!(fleet.delivered().is_empty());
    first_summaries(function, 1).await;
    let lines = errors(function);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let error = lines[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("okta-ingest-ledgr") && error.contains("does not exist"),
        "{error}"
    );
    assert_eq!(first_summaries(function, 1).await[0]["ledger_errors"], 1);
    // WHEN they come for the last time the queue allows (maxReceiveCount 5)
    let last = runtime
        .invoke(batch_received(&sent, "copy0", 5), T)
        .await
        .response();
    // THEN they go out without the duplicate check, counted, instead of into the DLQ
    assert_eq!(failed_ids(&last), Vec::<String>::new());
    let summary = &first_summaries(function, 2).await[1];
    assert_eq!(summary["ledger_unchecked"], 20, "{summary}");
    assert_each_once(&fleet, &sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_the_function_may_not_use_is_named_with_what_to_check() {
    let fleet = Fleet::start(1).await;
    fleet.table.script(
        Fault::Refuse {
            operation: None,
            error: "AccessDeniedException",
        },
        None,
    );
    let (runtime, function) = &fleet.containers[0];
    let answer = runtime
        .invoke(batch(&uuids("denied", 5), "copy0"), T)
        .await
        .response();
    assert_eq!(failed_ids(&answer).len(), 5, "{answer}");
    first_summaries(function, 1).await;
    let lines = errors(function);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["cause"], "misconfigured");
    let error = lines[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("IAM policy"), "{error}");
    assert!(fleet.delivered().is_empty());
}
