//! Claims as PartiQL INSERTs, 25 to a request: each answered on its own, billed one write
//! unit, and decided from the item it met.

use okta_ingest_testkit::fake_dynamodb::Fault;

use super::*;

fn uuids(prefix: &str, n: usize) -> Vec<&'static str> {
    (0..n)
        .map(|i| &*Box::leak(format!("{prefix}-{i:03}").into_boxed_str()))
        .collect()
}

#[tokio::test]
async fn a_throttled_insert_holds_back_only_its_own_event() {
    // GIVEN a table whose first claim request throttles every other INSERT
    let Rig { table, a, .. } = Rig::start().await;
    let throttled = Fault::FailStatements {
        code: "ThrottlingError",
        every: 2,
    };
    table.script(throttled, Some(1));
    let asked = uuids("some", 50);
    // WHEN A claims 50 events
    let claim = claim(&a, &asked).await;
    // THEN all 50 are claimed: the 13 throttled INSERTs went again on their own (one more
    // request), and the 37 others were never asked twice
    assert_eq!(claimed(&claim, &asked).len(), 50, "{claim:?}");
    assert_eq!(table.requests_of("BatchExecuteStatement"), 3);
    assert_eq!(table.requests_of("TransactWriteItems"), 0);
    // AND each claim cost one write unit: the throttled tries wrote nothing
    assert_eq!(table.write_units(), 50);
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_claimed_by_its_retry() {
    // GIVEN a table that writes A's first claim request, then answers it with a 500
    let Rig { table, a, b, .. } = Rig::start().await;
    let lost = Fault::LoseAnswers {
        operation: "BatchExecuteStatement",
        error: "InternalServerError",
    };
    table.script(lost, Some(1));
    // WHEN A claims, and tries again
    let asked = ["lost-1", "lost-2", "lost-3"];
    let first = claim(&a, &asked).await;
    // THEN the retry meets A's own items of the same claim (DuplicateItem): claimed, not
    // refused, not in flight
    assert_eq!(claimed(&first, &asked), set(&asked), "{first:?}");
    assert_eq!(table.requests_of("BatchExecuteStatement"), 2);
    // AND a copy at B is still in flight (A's live claim), never claimed twice
    let copy = claim(&b, &asked).await;
    assert_eq!(copy.in_flight, set(&asked), "{copy:?}");
}

#[tokio::test]
async fn a_refusal_without_the_item_met_is_decided_by_reading_it() {
    // GIVEN A delivered two events; the table refuses B's INSERTs without the items they met
    let Rig { table, a, b, .. } = Rig::start().await;
    claim(&a, &["unseen-1", "unseen-2"]).await;
    settle(&a, &["unseen-1", "unseen-2"], &[]).await;
    table.script(Fault::WithholdOldItems, None);
    // WHEN B gets copies, and one event of its own
    let copy = claim(&b, &["unseen-1", "unseen-2", "unseen-3"]).await;
    // THEN the two items are read (strongly consistent), then their group: delivered; the
    // new one is claimed
    assert_eq!(copy.delivered, set(&["unseen-1", "unseen-2"]), "{copy:?}");
    assert_eq!(
        claimed(&copy, &["unseen-1", "unseen-2", "unseen-3"]),
        set(&["unseen-3"])
    );
    assert_eq!(table.requests_of("BatchGetItem"), 2);
}

#[tokio::test]
async fn a_misnamed_table_refuses_every_insert_and_decides_nothing() {
    // GIVEN a table named otherwise than the ledger's LEDGER_TABLE
    let table = FakeDynamoDb::start_named("uuid", "okta-ingest-ledger").await;
    let a = container(&table, &Arc::default()).await;
    // WHEN A claims
    let claim = claim(&a, &["nowhere-1", "nowhere-2"]).await;
    // THEN both are undecided as misconfigured (never claimed, never in flight), and the
    // trouble names the table and what to check
    assert_eq!(claim.undecided.len(), 2, "{claim:?}");
    assert!(claim.in_flight.is_empty() && claim.delivered.is_empty());
    let said = format!("{claim:?}");
    assert!(said.contains("check LEDGER_TABLE"), "{said}");
    assert!(table.is_empty());
}

#[tokio::test]
async fn a_role_without_partiql_insert_claims_with_transactions() {
    // GIVEN a role from before claims were INSERTs: the table refuses every INSERT request
    let Rig { table, a, b, .. } = Rig::start().await;
    let denied = Fault::Refuse {
        operation: Some("BatchExecuteStatement"),
        error: "AccessDeniedException",
    };
    table.script(denied, None);
    // WHEN A claims, then claims again in its next invocation
    let first = claim(&a, &["old-role-1", "old-role-2"]).await;
    let next = claim(&a, &["old-role-3"]).await;
    // THEN every claim is made, as a transaction, after one refused INSERT request only
    assert_eq!(claimed(&first, &["old-role-1", "old-role-2"]).len(), 2);
    assert_eq!(claimed(&next, &["old-role-3"]).len(), 1, "{next:?}");
    assert_eq!(table.requests_of("BatchExecuteStatement"), 1);
    assert_eq!(table.requests_of("TransactWriteItems"), 2);
    // AND the claims hold: a copy at B (whose own INSERTs are refused) is in flight
    let copy = claim(&b, &["old-role-1"]).await;
    assert_eq!(copy.in_flight, set(&["old-role-1"]), "{copy:?}");
}
