//! Marks by group: what each reader of the ledger finds after a batch is marked.

use okta_ingest::Ledger;
use okta_ingest_testkit::ledger_view;
use serde_json::json;
use time::OffsetDateTime;

use super::{claim, claimed, container, keys, set, settle, Rig};

#[tokio::test]
async fn a_batch_mark_makes_each_member_delivered_and_a_released_claim_goes_to_the_next_copy() {
    // GIVEN container A claimed three events, delivered two and released the third (the
    // destination refused its batch)
    let Rig { table, a, b, .. } = Rig::start().await;
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
    let Rig {
        table: _table,
        a,
        b,
        ..
    } = Rig::start().await;
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
    let Rig {
        table: _table, a, ..
    } = Rig::start().await;
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
    let Rig { table, store, a, b } = Rig::start().await;
    let c = container(&table, &store).await;
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
async fn a_replay_reads_the_uuids_then_their_groups_once_each() {
    // GIVEN 150 events delivered by one container in two batches
    let Rig {
        table, store, a, ..
    } = Rig::start().await;
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
    // without a group (one run out, one live)
    let Rig { table, b, .. } = Rig::start().await;
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
