//! The ledger port's rules, played on the memory adapter: what is retried, what is
//! undecided, when a claim is someone else's, and that delivered marks are never forgotten.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::memory::terms_for;
use super::pending::PENDING_PREFIX;
use super::*;
use crate::state::MemoryObjectStore;

fn keys(uuids: &[&'static str]) -> Vec<Key<'static>> {
    let t = OffsetDateTime::now_utc();
    uuids.iter().map(|u| (*u, t)).collect()
}

#[tokio::test]
async fn a_moment_of_throttling_is_waited_out_and_every_event_claimed() {
    let ledger = MemoryLedger::default();
    ledger.script([
        LedgerFault::Claims(TroubleKind::Throttled),
        LedgerFault::Claims(TroubleKind::Conflict),
    ]);
    let claim = ledger
        .claim(&keys(&["a", "b"]), terms_for(Duration::from_secs(5)))
        .await;
    assert_eq!(
        claim.undecided.len() + claim.in_flight.len(),
        0,
        "{claim:?}"
    );
    assert_eq!(ledger.attempts(), 3);
    assert_eq!(ledger.state("a"), Some("claimed"));
}

#[tokio::test]
async fn throttling_past_the_time_given_is_undecided_never_in_flight() {
    let ledger = MemoryLedger::default();
    ledger.script([LedgerFault::Claims(TroubleKind::Throttled); 50]);
    let claim = ledger
        .claim(&keys(&["a", "b"]), terms_for(Duration::from_millis(300)))
        .await;
    assert!(claim.in_flight.is_empty());
    assert_eq!(claim.undecided.len(), 2);
    assert_eq!(claim.throttled(), 2);
    assert_eq!(claim.worst().map(|t| t.kind), Some(TroubleKind::Throttled));
    assert_eq!(ledger.state("a"), None, "nothing was claimed");
}

#[tokio::test]
async fn a_refusal_no_retry_can_help_is_answered_at_once() {
    for kind in [TroubleKind::Rejected, TroubleKind::Misconfigured] {
        let ledger = MemoryLedger::default();
        ledger.script([LedgerFault::Claims(kind)]);
        let claim = ledger
            .claim(&keys(&["a"]), terms_for(Duration::from_secs(5)))
            .await;
        assert_eq!(claim.undecided.get("a"), Some(&kind));
        assert_eq!(ledger.attempts(), 1, "{kind:?} is not retried");
    }
}

#[tokio::test]
async fn a_claim_that_does_not_answer_in_time_is_undecided() {
    let ledger = MemoryLedger::default();
    ledger.script([LedgerFault::SlowClaims(Duration::from_secs(30))]);
    let claim = ledger
        .claim(&keys(&["a"]), terms_for(Duration::from_millis(200)))
        .await;
    assert_eq!(claim.undecided.get("a"), Some(&TroubleKind::TimedOut));
}

#[tokio::test]
async fn only_a_live_claim_of_another_container_is_in_flight() {
    let one = MemoryLedger::default();
    let two = one.sharing();
    let terms = terms_for(Duration::from_secs(5));
    assert!(one.claim(&keys(&["a"]), terms).await.undecided.is_empty());
    let second = two.claim(&keys(&["a"]), terms).await;
    assert!(second.in_flight.contains("a"));
    // Its claimer died: the lease runs out and the other container takes it over.
    one.run_out_claims();
    let third = two.claim(&keys(&["a"]), terms).await;
    assert!(third.in_flight.is_empty() && third.delivered.is_empty());
    // The same container may claim its own again (an SQS redelivery to it).
    assert!(two.claim(&keys(&["a"]), terms).await.in_flight.is_empty());
}

#[tokio::test]
async fn marks_the_table_does_not_take_are_kept_and_a_later_copy_is_seen_as_delivered() {
    let store = Arc::new(MemoryObjectStore::default());
    let pending = PendingMarks::new(store.clone());
    let one = MemoryLedger::default().with_pending(pending);
    let two = one.sharing();
    let terms = terms_for(Duration::from_secs(5));
    let events = keys(&["a", "b"]);
    one.claim(&events, terms).await;
    one.script([LedgerFault::Unprocessed, LedgerFault::Unprocessed]);
    let settled = one
        .settle(&events, &[], terms.now, terms.give_up_at)
        .await
        .unwrap();
    assert_eq!(settled.pending, 2);
    assert_eq!(store.keys(PENDING_PREFIX).len(), 1);
    // The claims run out; a copy reaches another container, which must not send it again.
    one.run_out_claims();
    let copy = two.claim(&events, terms).await;
    assert_eq!(copy.delivered.len(), 2, "{copy:?}");
    // A later run that finds the table taking marks again applies them and tidies up...
    assert_eq!(two.catch_up(tokio::time::Instant::now()).await.unwrap(), 0);
    assert_eq!(two.catch_up(tokio::time::Instant::now()).await.unwrap(), 2);
    assert_eq!(one.state("a"), Some("delivered"));
    assert!(store.keys(PENDING_PREFIX).is_empty());
}

#[tokio::test]
async fn without_pending_marks_unwritten_marks_are_an_error() {
    let ledger = MemoryLedger::default();
    ledger.script([LedgerFault::Unprocessed]);
    let terms = terms_for(Duration::from_secs(1));
    let err = ledger
        .settle(&keys(&["a"]), &[], terms.now, terms.give_up_at)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unprocessed"), "{err}");
}

#[tokio::test]
async fn a_released_claim_can_be_taken_by_anyone_at_once() {
    let one = MemoryLedger::default();
    let two = one.sharing();
    let terms = terms_for(Duration::from_secs(5));
    one.claim(&keys(&["a"]), terms).await;
    one.settle(&[], &["a"], terms.now, terms.give_up_at)
        .await
        .unwrap();
    assert_eq!(one.state("a"), None);
    assert!(two.claim(&keys(&["a"]), terms).await.in_flight.is_empty());
}

#[tokio::test]
async fn marks_neither_written_nor_kept_are_an_error_naming_both() {
    // GIVEN a table leaving marks unprocessed and a bucket that refuses every request
    let store = Arc::new(MemoryObjectStore::default());
    store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let ledger = MemoryLedger::default().with_pending(PendingMarks::new(store));
    ledger.script([LedgerFault::Unprocessed]);
    let terms = terms_for(Duration::from_secs(1));
    // WHEN delivered events are settled
    let err = ledger
        .settle(&keys(&["a"]), &[], terms.now, terms.give_up_at)
        .await
        .unwrap_err();
    // THEN the caller learns nothing was recorded, and why
    assert!(err.to_string().contains("store unavailable"), "{err}");
    assert_eq!(ledger.state("a"), None);
}
