//! The DynamoDB ledger's delivered marks by group (docs/exactly-once.md), through the real
//! SDK against the testkit's table: a batch's marks are one write to its group's item, and
//! everything that reads the ledger (a later copy, the same container's next invocation, a
//! take-over, a replay or pull) still finds each event delivered once and only once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::{Claim, DynamoLedger, Key, Ledger, MemoryObjectStore, PendingMarks, Terms};
use okta_ingest_testkit::fake_dynamodb::{FakeDynamoDb, Fault};
use okta_ingest_testkit::ledger_view;
use serde_json::json;
use time::OffsetDateTime;
use tokio::time::Instant;

const TABLE: &str = "ledger";

/// One container's ledger on `table`, its pending marks in `store`.
async fn container(table: &FakeDynamoDb, store: &Arc<MemoryObjectStore>) -> DynamoLedger {
    DynamoLedger::new(
        table.client().await,
        TABLE.to_owned(),
        Some(PendingMarks::new(store.clone())),
    )
}

fn keys(uuids: &[&'static str]) -> Vec<Key<'static>> {
    let now = OffsetDateTime::now_utc();
    uuids.iter().map(|u| (*u, now)).collect()
}

/// A push-like claim: a lease of a minute, two seconds to decide.
async fn claim(ledger: &DynamoLedger, uuids: &[&'static str]) -> Claim {
    let now = OffsetDateTime::now_utc();
    let terms = Terms {
        now,
        lease_until: now + Duration::from_secs(60),
        give_up_at: Instant::now() + Duration::from_secs(2),
        read_first: false,
    };
    ledger.claim(&keys(uuids), terms).await
}

async fn settle(ledger: &DynamoLedger, delivered: &[&'static str], released: &[&str]) -> usize {
    let give_up_at = Instant::now() + Duration::from_secs(2);
    let settled = ledger
        .settle(
            &keys(delivered),
            released,
            OffsetDateTime::now_utc(),
            give_up_at,
        )
        .await
        .expect("settled");
    settled.pending
}

fn set(uuids: &[&str]) -> HashSet<String> {
    uuids.iter().map(|u| (*u).to_owned()).collect()
}

/// What the claim left to the caller: claimed, to send.
fn claimed(claim: &Claim, asked: &[&str]) -> HashSet<String> {
    asked
        .iter()
        .filter(|u| {
            !claim.delivered.contains(**u)
                && !claim.in_flight.contains(**u)
                && !claim.undecided.contains_key(**u)
        })
        .map(|u| (*u).to_owned())
        .collect()
}

#[tokio::test]
async fn a_batch_mark_makes_each_member_delivered_and_a_released_claim_goes_to_the_next_copy() {
    // GIVEN container A claimed three events, delivered two and released the third (the
    // destination refused its batch)
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let a = container(&table, &store).await;
    let b = container(&table, &store).await;
    let first = claim(&a, &["e1", "e2", "e3"]).await;
    assert_eq!(
        claimed(&first, &["e1", "e2", "e3"]),
        set(&["e1", "e2", "e3"])
    );
    assert_eq!(settle(&a, &["e1", "e2"], &["e3"]).await, 0);
    // THEN the marks were one write to one group's item; the events' items stay claimed
    assert_eq!(table.requests_of("UpdateItem"), 1);
    assert_eq!(table.requests_of("BatchWriteItem"), 0);
    assert_eq!(ledger_view::groups(&table.ledger_rows()), 1);
    assert_eq!(table.attribute("e1", "state").as_deref(), Some("claimed"));
    assert_eq!(table.attribute("e3", "state"), None, "released");
    // WHEN container B gets copies of all three
    let copy = claim(&b, &["e1", "e2", "e3"]).await;
    // THEN the two are delivered and only the released one is B's to send
    assert_eq!(copy.delivered, set(&["e1", "e2"]));
    assert_eq!(claimed(&copy, &["e1", "e2", "e3"]), set(&["e3"]));
    assert!(
        copy.in_flight.is_empty() && copy.undecided.is_empty(),
        "{copy:?}"
    );
}

#[tokio::test]
async fn a_live_claim_whose_group_marked_it_is_delivered_not_in_flight() {
    // GIVEN A claimed two events under a running lease and has marked one delivered
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let a = container(&table, &store).await;
    let b = container(&table, &store).await;
    claim(&a, &["live-1", "live-2"]).await;
    settle(&a, &["live-1"], &[]).await;
    // WHEN B gets copies of both while A's lease runs
    let copy = claim(&b, &["live-1", "live-2"]).await;
    // THEN the marked one is delivered (its message is not handed back), the other in flight
    assert_eq!(copy.delivered, set(&["live-1"]));
    assert_eq!(copy.in_flight, set(&["live-2"]));
}

#[tokio::test]
async fn the_same_containers_next_claim_does_not_take_its_own_delivered_event_again() {
    // GIVEN one container delivered an event, and claimed another it never settled (its
    // invocation ended early)
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let a = container(&table, &store).await;
    claim(&a, &["own-1", "own-2"]).await;
    settle(&a, &["own-1"], &[]).await;
    // WHEN its next invocation gets copies of both
    let again = claim(&a, &["own-1", "own-2"]).await;
    // THEN the delivered one is skipped, and the unsettled one is its own again to send
    assert_eq!(again.delivered, set(&["own-1"]));
    assert_eq!(claimed(&again, &["own-1", "own-2"]), set(&["own-2"]));
}

#[tokio::test]
async fn a_container_killed_between_its_batches_marks_loses_nothing_and_sends_nothing_twice() {
    // GIVEN A claimed four events, marked the first two (one batch), and died
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let a = container(&table, &store).await;
    let (b, c) = (
        container(&table, &store).await,
        container(&table, &store).await,
    );
    let all = ["k1", "k2", "k3", "k4"];
    claim(&a, &all).await;
    settle(&a, &["k1", "k2"], &[]).await;
    // WHEN its lease runs out and two containers get copies at the same moment
    table.run_out_claims();
    let (from_b, from_c) = tokio::join!(claim(&b, &all), claim(&c, &all));
    // THEN the marked batch is delivered to both, and each unmarked event is taken over by
    // exactly one of them; the other sees it in flight
    assert_eq!(from_b.delivered, set(&["k1", "k2"]));
    assert_eq!(from_c.delivered, set(&["k1", "k2"]));
    let (mine_b, mine_c) = (claimed(&from_b, &all), claimed(&from_c, &all));
    assert!(mine_b.is_disjoint(&mine_c), "{mine_b:?} {mine_c:?}");
    assert_eq!(&mine_b | &mine_c, set(&["k3", "k4"]));
    for uuid in ["k3", "k4"] {
        let winner_saw_in_flight =
            from_b.in_flight.contains(uuid) || from_c.in_flight.contains(uuid);
        assert!(winner_saw_in_flight, "{uuid}: {from_b:?} {from_c:?}");
    }
    // AND once the taker settles, every event reads delivered
    let taker: Vec<&'static str> = ["k3", "k4"]
        .into_iter()
        .filter(|u| mine_b.contains(*u))
        .collect();
    settle(&b, &taker, &[]).await;
    let rest: Vec<&'static str> = ["k3", "k4"]
        .into_iter()
        .filter(|u| mine_c.contains(*u))
        .collect();
    settle(&c, &rest, &[]).await;
    let view = table.ledger_view();
    assert!(all.iter().all(|u| view[*u] == "delivered"), "{view:?}");
}

#[tokio::test]
async fn a_group_mark_the_table_will_not_take_is_kept_pending_then_applied() {
    // GIVEN the table throttles every update while A settles a delivered batch
    let (table, store) = (
        FakeDynamoDb::start("uuid").await,
        Arc::<MemoryObjectStore>::default(),
    );
    let a = container(&table, &store).await;
    let b = container(&table, &store).await;
    claim(&a, &["p1", "p2"]).await;
    let throttled = Fault::Refuse {
        operation: Some("UpdateItem"),
        error: "ProvisionedThroughputExceededException",
    };
    table.script(throttled, None);
    // WHEN A settles
    let pending = settle(&a, &["p1", "p2"], &[]).await;
    // THEN both marks are kept as pending marks, tried more than once first
    assert_eq!(pending, 2);
    assert!(table.requests_of("UpdateItem") > 1);
    assert_eq!(store.keys("ledger-pending/").len(), 1);
    // WHEN A's lease runs out and B gets copies
    table.clear_faults();
    table.run_out_claims();
    let copy = claim(&b, &["p1", "p2"]).await;
    // THEN the pending marks say they were delivered: nothing is taken over
    assert_eq!(copy.delivered, set(&["p1", "p2"]));
    // AND catching up (pull's first step) writes them and removes the pending object
    let applied = b.catch_up(Instant::now() + Duration::from_secs(2)).await;
    assert_eq!(applied.expect("caught up"), 2);
    assert!(store.keys("ledger-pending/").is_empty());
    let view = table.ledger_view();
    assert_eq!(view["p1"], "delivered");
}

#[tokio::test]
async fn a_stale_read_of_a_group_never_leads_to_a_take_over() {
    // GIVEN A delivered a batch and died; every eventually consistent read is stale
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let a = container(&table, &store).await;
    let b = container(&table, &store).await;
    claim(&a, &["s1", "s2"]).await;
    settle(&a, &["s1", "s2"], &[]).await;
    table.run_out_claims();
    table.script(Fault::StaleReads, None);
    let owners = table.column("owner");
    // WHEN B gets copies (after A's lease), and pull's claim (which reads first, and whose
    // read of the events' items may be stale) meets them too
    let copy = claim(&b, &["s1", "s2"]).await;
    let now = OffsetDateTime::now_utc();
    let terms = Terms {
        now,
        lease_until: now + Duration::from_secs(60),
        give_up_at: Instant::now() + Duration::from_secs(2),
        read_first: true,
    };
    let pulled = container(&table, &store)
        .await
        .claim(&keys(&["s1", "s2"]), terms)
        .await;
    // THEN the group was read strongly consistent: both delivered, neither taken over
    assert_eq!(copy.delivered, set(&["s1", "s2"]));
    assert_eq!(pulled.delivered, set(&["s1", "s2"]));
    assert_eq!(table.column("owner"), owners, "still A's claims");
    assert_eq!(
        table.requests_of("TransactWriteItems"),
        3,
        "one claim each, no take-over"
    );
}

#[tokio::test]
async fn a_replay_reads_the_uuids_then_their_groups_once_each() {
    // GIVEN 150 events delivered by one container in two batches
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let a = container(&table, &store).await;
    let uuids: Vec<&'static str> = (0..150)
        .map(|i| &*Box::leak(format!("r{i:03}").into_boxed_str()))
        .collect();
    claim(&a, &uuids).await;
    settle(&a, &uuids[..100], &[]).await;
    settle(&a, &uuids[100..], &[]).await;
    // WHEN another container reads them (replay, pull)
    let reads_before = table.requests_of("BatchGetItem");
    let found = container(&table, &store).await.read(&keys(&uuids)).await;
    // THEN all are delivered, in two reads of the uuids and one of their group
    assert_eq!(found.expect("read").len(), 150);
    assert_eq!(table.requests_of("BatchGetItem") - reads_before, 3);
    // AND the group's item outlives each member it covers (the table's TTL)
    let rows = table.ledger_rows();
    let group = rows
        .iter()
        .find(|r| r.key.starts_with("group#"))
        .expect("a group");
    let expires = |key: &str| -> i64 {
        table
            .attribute(key, "expires")
            .and_then(|e| e.parse().ok())
            .expect("expires")
    };
    let latest_member = uuids.iter().map(|u| expires(u)).max().unwrap_or(i64::MAX);
    assert!(expires(&group.key) >= latest_member);
}

#[tokio::test]
async fn items_written_before_groups_are_still_read_correctly() {
    // GIVEN a table written by an older okta-ingest: a delivered mark per event, and claims
    // without a group (one run out, one live, one this container's own)
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let now_ms = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    table.insert(json!({ "uuid": {"S": "old-delivered"}, "state": {"S": "delivered"}, "expires": {"N": "4102444800"} }));
    for (uuid, lease) in [
        ("old-run-out", now_ms - 1_000),
        ("old-live", now_ms + 600_000),
    ] {
        table.insert(json!({
            "uuid": {"S": uuid}, "state": {"S": "claimed"}, "owner": {"S": "0123456789abcdef"},
            "lease": {"N": lease.to_string()}, "expires": {"N": "4102444800"},
        }));
    }
    let b = container(&table, &store).await;
    // WHEN a new container claims copies of them
    let asked = ["old-delivered", "old-run-out", "old-live", "new"];
    let copy = claim(&b, &asked).await;
    // THEN the old mark counts, the run-out claim is taken over, the live one is in flight
    assert_eq!(copy.delivered, set(&["old-delivered"]));
    assert_eq!(copy.in_flight, set(&["old-live"]));
    assert_eq!(claimed(&copy, &asked), set(&["old-run-out", "new"]));
    // AND a read sees the old mark
    let read = b.read(&keys(&["old-delivered", "old-live"])).await;
    assert_eq!(read.expect("read"), set(&["old-delivered"]));
}

#[tokio::test]
async fn an_event_sent_without_a_claim_is_marked_on_its_own_item() {
    // GIVEN every claim is cancelled as throttled: the event stays undecided, and push sends
    // it without the check on its last receive
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let a = container(&table, &store).await;
    let b = container(&table, &store).await;
    table.script(Fault::CancelClaims("ThrottlingError"), None);
    let first = claim(&a, &["unchecked"]).await;
    assert!(first.undecided.contains_key("unchecked"), "{first:?}");
    table.clear_faults();
    // WHEN it is settled as delivered
    settle(&a, &["unchecked"], &[]).await;
    // THEN the mark is on its own item (no claim names a group for it), and a copy skips it
    assert_eq!(
        table.attribute("unchecked", "state").as_deref(),
        Some("delivered")
    );
    assert_eq!(table.requests_of("UpdateItem"), 0);
    let copy = claim(&b, &["unchecked"]).await;
    assert_eq!(copy.delivered, set(&["unchecked"]));
}

#[tokio::test]
async fn a_claim_answered_too_late_is_released_once_it_lands() {
    // GIVEN the table writes A's claim but answers only after A stopped waiting
    let (table, store) = (FakeDynamoDb::start("uuid").await, Arc::default());
    let a = container(&table, &store).await;
    let b = container(&table, &store).await;
    let late = Fault::AnswerLate {
        operation: "TransactWriteItems",
        by: Duration::from_secs(5),
    };
    table.script(late, Some(1));
    let first = claim(&a, &["late"]).await;
    assert_eq!(
        first.outcome_unknown(),
        vec!["late".to_owned()],
        "{first:?}"
    );
    assert_eq!(table.attribute("late", "state").as_deref(), Some("claimed"));
    // WHEN A settles without having sent it
    settle(&a, &[], &["late"]).await;
    // THEN its claim is released, and a copy elsewhere is B's to send, not in flight
    assert_eq!(table.attribute("late", "state"), None);
    let copy = claim(&b, &["late"]).await;
    assert_eq!(claimed(&copy, &["late"]), set(&["late"]));
}

#[tokio::test]
async fn every_operation_the_ledger_makes_is_granted_to_both_functions_by_the_template() {
    // GIVEN the ledger's every path: claim, take-over, group marks, marks on own items,
    // release, reads, pending marks applied
    let (table, store) = (
        FakeDynamoDb::start("uuid").await,
        Arc::<MemoryObjectStore>::default(),
    );
    let a = container(&table, &store).await;
    let b = container(&table, &store).await;
    claim(&a, &["op-1", "op-2", "op-3"]).await;
    settle(&a, &["op-1"], &["op-2"]).await;
    table.script(
        Fault::Refuse {
            operation: Some("UpdateItem"),
            error: "ProvisionedThroughputExceededException",
        },
        None,
    );
    claim(&a, &["op-4"]).await;
    settle(&a, &["op-4"], &[]).await;
    table.clear_faults();
    table.run_out_claims();
    claim(&b, &["op-1", "op-3", "op-4"]).await;
    b.read(&keys(&["op-1"])).await.expect("read");
    b.catch_up(Instant::now() + Duration::from_secs(2))
        .await
        .expect("caught up");
    let mut used = table.operations();
    used.sort();
    // THEN each operation it made is in both functions' policies
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    for operation in &used {
        // IAM has no action for a transaction: each of its writes needs its own (puts here).
        let action = match operation.as_str() {
            "TransactWriteItems" => "PutItem",
            other => other,
        };
        let granted = template
            .lines()
            .filter(|l| l.trim() == format!("- dynamodb:{action}"))
            .count();
        assert_eq!(granted, 2, "dynamodb:{action} in both policies ({used:?})");
    }
    let expected = [
        "BatchGetItem",
        "BatchWriteItem",
        "DeleteItem",
        "TransactWriteItems",
        "UpdateItem",
    ];
    assert_eq!(used, expected);
}
