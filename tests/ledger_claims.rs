//! Exactly once under concurrency, with the ledger in DynamoDB (the testkit's table): warm okta-push
//! containers sharing one ledger table, given copies of the same events at the same instant,
//! as SQS hands them out when Okta repeats an event; a container killed between claiming and
//! delivering loses nothing (its claim runs out and the next copy is sent); and pull leaves
//! an event push is sending for its next run, and sends it itself if that push died.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use okta_ingest_testkit::destination::Behaviour;
use okta_ingest_testkit::runtime_api::Invocation;
use okta_ingest_testkit::FakeDynamoDb;
use support::failed_ids;
use support::fleet::{batch, first_summaries, Fleet, TABLE};
use time::OffsetDateTime;

/// `n` containers, `rounds` rounds of the same 50 fresh events to each at once. What a
/// container hands back to SQS (another one is sending it) comes back after the others are
/// done, as SQS redelivers after the visibility timeout; it must then be acknowledged.
async fn copies_at_once(n: usize, rounds: usize) {
    let fleet = Fleet::start(n).await;
    let mut sent = Vec::new();
    let mut in_flight_total = 0;
    for round in 0..rounds {
        let uuids: Vec<String> = (0..50).map(|i| format!("r{round}-c{n}-{i:03}")).collect();
        sent.extend(uuids.iter().cloned());
        let payloads: Vec<String> = (0..n).map(|c| batch(&uuids, &format!("copy{c}"))).collect();
        let answers = futures::future::join_all(
            fleet
                .containers
                .iter()
                .zip(&payloads)
                .map(|((runtime, _), p)| runtime.invoke(p.clone(), Duration::from_secs(30))),
        )
        .await;
        for (c, answer) in answers.into_iter().enumerate() {
            let answer = answer.response();
            let retry = failed_ids(&answer);
            in_flight_total += retry.len();
            if retry.is_empty() {
                continue;
            }
            // SQS gives the handed-back messages to the same container again, later.
            let prefix = format!("copy{c}-");
            let again: Vec<String> = retry
                .iter()
                .map(|id| id.strip_prefix(&prefix).unwrap().to_owned())
                .collect();
            let later = fleet.containers[c]
                .0
                .invoke(batch(&again, &format!("copy{c}")), Duration::from_secs(30))
                .await
                .response();
            let logs: Vec<String> = fleet
                .containers
                .iter()
                .flat_map(|(_, f)| f.json_lines())
                .filter(|l| l["level"] != "INFO" || l["message"] == "invocation summary")
                .map(|l| l.to_string())
                .collect();
            assert_eq!(
                failed_ids(&later),
                Vec::<String>::new(),
                "{later}\n{}",
                logs.join("\n")
            );
        }
    }
    let delivered = fleet.delivered();
    let twice: Vec<_> = delivered.iter().filter(|(_, k)| **k > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    for uuid in &sent {
        assert_eq!(delivered.get(uuid), Some(&1), "{uuid} not delivered once");
    }
    assert_eq!(delivered.len(), sent.len());
    // The ledger ends with every event delivered and no claim left behind.
    let items = fleet.ledger_states();
    assert_eq!(items.len(), sent.len());
    assert!(items.values().all(|s| s == "delivered"), "{items:?}");
    // Copies were really concurrent at least once (else the test proves nothing new):
    // the others were skipped as delivered, or handed back while in flight.
    let skipped: u64 = fleet
        .containers
        .iter()
        .flat_map(|(_, f)| f.json_lines())
        .filter(|l| l["message"] == "invocation summary")
        .map(|l| {
            l["already_delivered"].as_u64().unwrap_or(0) + l["in_flight"].as_u64().unwrap_or(0)
        })
        .sum();
    assert!(
        skipped >= ((n - 1) * rounds * 50) as u64,
        "{skipped} {in_flight_total}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_containers_given_the_same_events_at_once_deliver_each_once() {
    copies_at_once(2, 10).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn four_containers_given_the_same_events_at_once_deliver_each_once() {
    copies_at_once(4, 6).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_killed_after_claiming_loses_nothing() {
    let mut fleet = Fleet::start(2).await;
    let uuids: Vec<String> = (0..5).map(|i| format!("killed-{i}")).collect();
    // The destination holds the first request open: the claimer is killed while sending.
    fleet
        .destination
        .push_behaviour(Behaviour::Hang(Duration::from_secs(60)));
    let (first_runtime, first) = fleet.containers.remove(0);
    let payload = batch(&uuids, "copy0");
    let claimer = tokio::spawn(async move {
        let _ = first_runtime.invoke(payload, Duration::from_secs(3)).await;
        first_runtime
    });
    assert!(
        fleet
            .destination
            .wait_for_requests(1, Duration::from_secs(10))
            .await,
        "the first container never sent"
    );
    first.stop().await;
    let claimed = fleet.ledger_states();
    assert_eq!(claimed.len(), 5);
    assert!(claimed.values().all(|s| s == "claimed"), "{claimed:?}");

    // A copy while the claim is live: handed back to SQS, not sent, not lost.
    let (runtime, _) = &fleet.containers[0];
    let answer = runtime
        .invoke(batch(&uuids, "copy1"), Duration::from_secs(30))
        .await
        .response();
    assert_eq!(failed_ids(&answer).len(), 5, "{answer}");
    assert!(fleet.delivered().is_empty());

    // The claim runs out (deadline 3 s + margin); SQS redelivers the copy: now it is sent.
    let mut delivered = HashMap::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let answer = runtime
            .invoke(batch(&uuids, "copy1"), Duration::from_secs(30))
            .await;
        let Invocation::Response(answer) = answer else {
            panic!("{answer:?}")
        };
        if failed_ids(&answer).is_empty() {
            delivered = fleet.delivered();
            break;
        }
    }
    for uuid in &uuids {
        assert_eq!(delivered.get(uuid), Some(&1), "{uuid}: {delivered:?}");
    }
    let items = fleet.ledger_states();
    assert!(items.values().all(|s| s == "delivered"), "{items:?}");
    drop(claimer);
}

/// Writes a claim on `uuid` as a push invocation of the design before groups would, its
/// lease ending `lease_ms` from now.
fn put_claim(table: &FakeDynamoDb, uuid: &str, lease_ms: i64) {
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    table.insert(serde_json::json!({
        "uuid": { "S": uuid },
        "state": { "S": "claimed" },
        "lease": { "N": (now_ms + lease_ms).to_string() },
        "expires": { "N": "4102444800" },
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_leaves_an_event_push_is_sending_and_takes_it_over_when_the_claim_runs_out() {
    let mut org = support::pull::Org::start(&[("LEDGER_TABLE", TABLE)]).await;
    let table = FakeDynamoDb::start_named("uuid", TABLE).await;
    org.extra_env
        .push(("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), table.endpoint()));
    let published = OffsetDateTime::now_utc() - time::Duration::minutes(30);
    for (i, uuid) in ["pl-1", "pl-2", "pl-3"].iter().enumerate() {
        org.okta
            .add_event(uuid, published + time::Duration::seconds(i as i64));
    }
    // A push invocation is sending pl-2 right now.
    put_claim(&table, "pl-2", 60_000);
    let pull = org.container().await;

    let first = pull.scheduled(support::pull::T).await;
    assert_eq!(first["forwarded"], 2, "{first}");
    assert_eq!(first["in_flight"], 1, "{first}");
    assert!(
        first["stopped"].as_str().unwrap().starts_with("in flight"),
        "{first}"
    );
    let mut sent: Vec<String> = org.delivered().into_keys().collect();
    sent.sort();
    assert_eq!(sent, ["pl-1", "pl-3"]);

    // That invocation died: its claim ran out. The next run reads pl-2 again and sends it.
    put_claim(&table, "pl-2", -1);
    let second = pull.scheduled(support::pull::T).await;
    assert_eq!(second["forwarded"], 1, "{second}");
    org.assert_exactly_once();
    let items = table.ledger_view();
    assert!(items.values().all(|s| s == "delivered"), "{items:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn push_claims_new_events_at_once_marks_them_by_group_and_learns_from_the_claim_what_was_delivered(
) {
    // GIVEN one push container on the testkit's table, which counts requests by operation
    let fleet = Fleet::start(1).await;
    let table = &fleet.table;
    let (runtime, function) = &fleet.containers[0];
    let uuids: Vec<String> = (0..50).map(|i| format!("fresh-{i:03}")).collect();
    // WHEN 50 new events are pushed
    let first = runtime
        .invoke(batch(&uuids, "copy0"), Duration::from_secs(30))
        .await
        .response();
    // THEN they are claimed in two requests of 25 INSERTs (no transaction), with no read
    // before them, and delivered
    assert_eq!(failed_ids(&first), Vec::<String>::new());
    assert_eq!(
        table.requests_of("BatchGetItem"),
        0,
        "no read before claiming"
    );
    assert_eq!(table.requests_of("BatchExecuteStatement"), 2);
    assert_eq!(table.requests_of("TransactWriteItems"), 0);
    assert_eq!(fleet.delivered().len(), 50);
    // AND the one batch is marked delivered with one write to its group's item, none to the
    // events' own items, which stay claimed
    assert_eq!(table.requests_of("UpdateItem"), 1);
    assert_eq!(table.requests_of("BatchWriteItem"), 0);
    // AND the ledger was billed one write unit per event, and one for the batch's mark
    assert_eq!(table.write_units(), 51);
    let rows = table.ledger_rows();
    assert_eq!(okta_ingest_testkit::ledger_view::groups(&rows), 1);
    let raw = table.column("state");
    assert!(uuids.iter().all(|u| raw[u] == "claimed"), "{raw:?}");
    let states = fleet.ledger_states();
    assert!(uuids.iter().all(|u| states[u] == "delivered"), "{states:?}");
    // WHEN a copy of the same 50 comes again (SQS redelivers, Okta repeats)
    let again = runtime
        .invoke(batch(&uuids, "copy1"), Duration::from_secs(30))
        .await
        .response();
    // THEN the refused claims name their group, and one read of the group's item tells
    // they were delivered: skipped, nothing written, nothing sent twice
    assert_eq!(failed_ids(&again), Vec::<String>::new());
    let summary = &first_summaries(function, 2).await[1];
    assert_eq!(summary["already_delivered"], 50, "{summary}");
    assert_eq!(summary["forwarded"], 0, "{summary}");
    assert_eq!(table.requests_of("BatchGetItem"), 1);
    assert_eq!(table.requests_of("BatchExecuteStatement"), 4);
    assert_eq!(table.requests_of("TransactWriteItems"), 0);
    assert_eq!(table.requests_of("UpdateItem"), 1);
    assert!(fleet.delivered().values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_batch_is_marked_delivered_while_the_next_is_still_being_sent() {
    // GIVEN one container sending batches of 10, one request at a time, to a destination
    // that takes the first at once and holds the second for 1.8 s (within its timeout)
    let fleet = Fleet::start_with(
        1,
        &[("BATCH_MAX_EVENTS", "10"), ("DESTINATION_CONCURRENCY", "1")],
    )
    .await;
    fleet.destination.push_behaviour(Behaviour::Ok);
    fleet
        .destination
        .push_behaviour(Behaviour::Hang(Duration::from_millis(1800)));
    let uuids: Vec<String> = (0..20).map(|i| format!("mark-{i:03}")).collect();
    let (runtime, _) = &fleet.containers[0];
    // WHEN 20 new events are pushed
    let invocation = runtime.invoke(batch(&uuids, "copy0"), Duration::from_secs(30));
    let while_held = async {
        assert!(
            fleet
                .destination
                .wait_for_requests(2, Duration::from_secs(10))
                .await,
            "the second batch was sent"
        );
        // The first batch's marks go out as soon as it was taken: wait for them, but not
        // as long as the second batch is held.
        let mut states = HashMap::new();
        for _ in 0..24 {
            states = fleet.ledger_states();
            if uuids[..10]
                .iter()
                .all(|u| states.get(u).map(String::as_str) == Some("delivered"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        states
    };
    let (answer, states) = tokio::join!(invocation, while_held);
    // THEN while the second batch was still held, the first was marked delivered in the
    // table and the second was only claimed
    for uuid in &uuids[..10] {
        assert_eq!(
            states.get(uuid).map(String::as_str),
            Some("delivered"),
            "{uuid}: {states:?}"
        );
    }
    for uuid in &uuids[10..] {
        assert_eq!(
            states.get(uuid).map(String::as_str),
            Some("claimed"),
            "{uuid}: {states:?}"
        );
    }
    // AND in the end all 20 are delivered once and marked
    assert_eq!(failed_ids(&answer.response()), Vec::<String>::new());
    assert_eq!(fleet.delivered().len(), 20);
    assert!(fleet.delivered().values().all(|n| *n == 1));
    let states = fleet.ledger_states();
    assert!(uuids.iter().all(|u| states[u] == "delivered"), "{states:?}");
}
