//! Marks by group against a table that throttles, answers stale or late, and the
//! permissions the template grants.

use std::time::Duration;

use okta_ingest::Ledger;
use okta_ingest_testkit::fake_dynamodb::Fault;
use tokio::time::Instant;

use super::{claim, claimed, container, keys, set, settle, terms, Rig};

#[tokio::test]
async fn a_group_mark_the_table_will_not_take_is_kept_pending_then_applied() {
    // GIVEN the table throttles every update while A settles a delivered batch
    let Rig { table, store, a, b } = Rig::start().await;
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
    let Rig { table, store, a, b } = Rig::start().await;
    claim(&a, &["s1", "s2"]).await;
    settle(&a, &["s1", "s2"], &[]).await;
    table.run_out_claims();
    table.script(Fault::StaleReads, None);
    let owners = table.column("owner");
    // WHEN B gets copies (after A's lease), and pull's claim (which reads first, and whose
    // read of the events' items may be stale) meets them too
    let copy = claim(&b, &["s1", "s2"]).await;
    let pulled = container(&table, &store)
        .await
        .claim(&keys(&["s1", "s2"]), terms(true))
        .await;
    // THEN the group was read strongly consistent: both delivered, neither taken over
    assert_eq!(copy.delivered, set(&["s1", "s2"]));
    assert_eq!(pulled.delivered, set(&["s1", "s2"]));
    assert_eq!(table.column("owner"), owners, "still A's claims");
    assert_eq!(
        table.requests_of("BatchExecuteStatement"),
        3,
        "one claim each"
    );
    assert_eq!(table.requests_of("TransactWriteItems"), 0, "no take-over");
}

#[tokio::test]
async fn an_event_sent_without_a_claim_is_marked_on_its_own_item() {
    // GIVEN every claim is cancelled as throttled: the event stays undecided, and push sends
    // it without the check on its last receive
    let Rig { table, a, b, .. } = Rig::start().await;
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
    let Rig { table, a, b, .. } = Rig::start().await;
    let late = Fault::AnswerLate {
        operation: "BatchExecuteStatement",
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
    let Rig { table, a, b, .. } = Rig::start().await;
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
            // PartiQL's actions are per statement kind: the ledger's statements are INSERTs.
            "BatchExecuteStatement" => "PartiQLInsert",
            other => other,
        };
        let granted = template
            .lines()
            .filter(|l| l.trim() == format!("- dynamodb:{action}"))
            .count();
        assert_eq!(granted, 2, "dynamodb:{action} in both policies ({used:?})");
    }
    let expected = [
        "BatchExecuteStatement",
        "BatchGetItem",
        "BatchWriteItem",
        "DeleteItem",
        "TransactWriteItems",
        "UpdateItem",
    ];
    assert_eq!(used, expected);
}

#[tokio::test]
async fn a_role_without_update_item_keeps_the_marks_pending_at_once() {
    // GIVEN a role that may not update items (a stack from before marks by group)
    let Rig { table, store, a, b } = Rig::start().await;
    claim(&a, &["denied-1", "denied-2"]).await;
    let denied = Fault::Refuse {
        operation: Some("UpdateItem"),
        error: "AccessDeniedException",
    };
    table.script(denied, None);
    // WHEN A settles its delivered batch
    let pending = settle(&a, &["denied-1", "denied-2"], &[]).await;
    // THEN the marks are kept pending after one refusal (not retried: an operator must
    // act), and a later copy still sees them delivered
    assert_eq!(pending, 2);
    assert_eq!(table.requests_of("UpdateItem"), 1);
    assert_eq!(store.keys("ledger-pending/").len(), 1);
    table.run_out_claims();
    let copy = claim(&b, &["denied-1", "denied-2"]).await;
    assert_eq!(copy.delivered, set(&["denied-1", "denied-2"]));
}

#[tokio::test]
async fn a_group_that_cannot_be_read_leaves_its_events_undecided_never_taken_over() {
    // GIVEN A delivered a batch and its lease ran out; the table throttles every read
    let Rig { table, a, b, .. } = Rig::start().await;
    claim(&a, &["t1", "t2"]).await;
    settle(&a, &["t1", "t2"], &[]).await;
    table.run_out_claims();
    let throttled = Fault::Refuse {
        operation: Some("BatchGetItem"),
        error: "ProvisionedThroughputExceededException",
    };
    table.script(throttled, None);
    let owners = table.column("owner");
    // WHEN B gets copies
    let copy = claim(&b, &["t1", "t2"]).await;
    // THEN they are undecided (their source keeps them), not taken over
    assert_eq!(copy.undecided.len(), 2, "{copy:?}");
    assert_eq!(table.column("owner"), owners, "still A's claims");
    // WHEN the table reads again
    table.clear_faults();
    let again = claim(&b, &["t1", "t2"]).await;
    // THEN the group says delivered
    assert_eq!(again.delivered, set(&["t1", "t2"]));
}
