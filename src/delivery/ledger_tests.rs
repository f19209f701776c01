//! The pipeline over a ledger that cannot decide (the memory adapter playing DynamoDB's
//! failures): nothing undecided is sent twice or parked, each path does what its source allows.

use std::sync::Arc;

use serde_json::value::RawValue;
use time::macros::datetime;

use super::*;
use crate::config::DestinationConfig;
use crate::state::{LedgerFault, MemoryLedger, MemoryObjectStore, TroubleKind};

const NOW: OffsetDateTime = datetime!(2026-11-22 09:05 UTC);

struct Rig {
    pipeline: Pipeline,
    destination: Arc<MemoryDestination>,
    ledger: Arc<MemoryLedger>,
}

fn rig() -> Rig {
    let config =
        DestinationConfig::from_env(&[("DESTINATION_URL", "https://logs.example.com/in")][..])
            .unwrap();
    let destination = Arc::new(MemoryDestination::default());
    let ledger = Arc::new(MemoryLedger::default());
    let pipeline = Pipeline::new(
        Forwarder::new(config, destination.clone()),
        ledger.clone(),
        DeadLetters::new(Arc::new(MemoryObjectStore::default())),
    );
    Rig {
        pipeline,
        destination,
        ledger,
    }
}

fn events(n: usize) -> Vec<Box<RawValue>> {
    (0..n)
        .map(|i| {
            RawValue::from_string(format!(
                r#"{{"uuid":"u{i}","published":"2026-11-22T09:00:00.000Z"}}"#
            ))
            .unwrap()
        })
        .collect()
}

fn inputs(raws: &[Box<RawValue>]) -> Vec<Input<'_>> {
    raws.iter()
        .map(|r| Input {
            message_id: None,
            event: Ok(OktaEvent::from_raw(r).unwrap()),
        })
        .collect()
}

fn run<'r>(redelivery: Redelivery, unchecked: &'r dyn Fn(usize) -> bool) -> Run<'r> {
    Run {
        origin: "push",
        request_id: "req-1",
        now: NOW,
        stop_at: Instant::now() + Duration::from_secs(2),
        deadline: Instant::now() + Duration::from_secs(3),
        max_age: None,
        redelivery,
        known: &|_| false,
        unchecked,
        repeats_likely: redelivery != Redelivery::Never,
    }
}

#[tokio::test]
async fn undecided_events_are_not_sent_and_say_why() {
    // GIVEN a ledger throttled for longer than the claim may take
    let rig = rig();
    rig.ledger
        .script([LedgerFault::Claims(TroubleKind::Throttled); 100]);
    let raws = events(3);
    // WHEN push delivers three events that are not on their last receive
    let outcome = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::Never, &|_| false))
        .await;
    // THEN none is sent, none is called in flight, and each says the ledger could not decide
    assert!(rig.destination.attempts() == 0);
    assert!(
        outcome
            .fates
            .iter()
            .all(|f| matches!(f, Fate::Undecided(why) if why.contains("throttled"))),
        "{:?}",
        outcome.fates
    );
    let c = &outcome.counts;
    assert_eq!(
        (
            c.ledger_undecided,
            c.ledger_throttled,
            c.in_flight,
            c.ledger_errors
        ),
        (3, 3, 0, 1)
    );
    assert_eq!(c.dead_lettered, 0, "nothing is parked in the dead letters");
}

#[tokio::test]
async fn what_the_run_lets_go_unchecked_is_sent_counted_and_marked() {
    // GIVEN a ledger refusing every claim (a misnamed table)
    let rig = rig();
    rig.ledger
        .script([LedgerFault::Claims(TroubleKind::Misconfigured)]);
    let raws = events(3);
    // WHEN the second event is on its last receive
    let outcome = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::Never, &|i| i == 1))
        .await;
    // THEN it alone is sent, counted as unchecked, and marked delivered for later copies
    assert!(matches!(outcome.fates[0], Fate::Undecided(_)));
    assert_eq!(outcome.fates[1], Fate::Delivered);
    assert!(matches!(outcome.fates[2], Fate::Undecided(_)));
    assert_eq!(rig.destination.accepted().len(), 1);
    assert_eq!(
        (
            outcome.counts.ledger_unchecked,
            outcome.counts.ledger_undecided
        ),
        (1, 3)
    );
    assert_eq!(rig.ledger.state("u1"), Some("delivered"));
}

#[tokio::test]
async fn a_replay_leaves_undecided_events_where_they_are() {
    let rig = rig();
    rig.ledger
        .script([LedgerFault::Claims(TroubleKind::Unavailable); 100]);
    let raws = events(2);
    let outcome = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::Always, &|_| false))
        .await;
    assert!(outcome
        .fates
        .iter()
        .all(|f| matches!(f, Fate::Undecided(_))));
    assert!(rig.destination.attempts() == 0);
}

#[tokio::test]
async fn a_moment_of_throttling_delays_the_claim_and_delivers_everything_once() {
    let rig = rig();
    rig.ledger.script([
        LedgerFault::Claims(TroubleKind::Throttled),
        LedgerFault::Claims(TroubleKind::Conflict),
    ]);
    let raws = events(5);
    let outcome = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::Never, &|_| false))
        .await;
    assert!(outcome.fates.iter().all(|f| *f == Fate::Delivered));
    assert_eq!(outcome.counts.ledger_undecided, 0);
    assert_eq!(
        outcome.counts.ledger_errors, 0,
        "decided in the end: no error"
    );
    assert_eq!(rig.ledger.state("u4"), Some("delivered"));
}

#[tokio::test]
async fn a_claim_that_never_answers_leaves_its_events_undecided_in_time() {
    let rig = rig();
    rig.ledger
        .script([LedgerFault::SlowClaims(Duration::from_secs(60))]);
    let raws = events(2);
    let started = Instant::now();
    let outcome = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::Never, &|_| false))
        .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(outcome
        .fates
        .iter()
        .all(|f| matches!(f, Fate::Undecided(why) if why.contains("timed out"))));
}

#[tokio::test]
async fn a_claim_that_may_have_landed_after_no_answer_is_given_up_at_the_end() {
    // GIVEN a claim of this container's on u0 that landed although no answer came in time
    let rig = rig();
    let now = OffsetDateTime::now_utc();
    let terms = crate::state::Terms {
        now,
        lease_until: now + Duration::from_secs(60),
        give_up_at: Instant::now() + Duration::from_secs(1),
        read_first: false,
    };
    let key = [("u0", now)];
    assert!(rig.ledger.claim(&key, terms).await.undecided.is_empty());
    rig.ledger
        .script([LedgerFault::SlowClaims(Duration::from_secs(60))]);
    // WHEN the pipeline's claim of u0 times out
    let raws = events(1);
    let outcome = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::Never, &|_| false))
        .await;
    // THEN u0 is not sent, and the claim it may hold is released for the next copy
    assert!(matches!(outcome.fates[0], Fate::Undecided(_)));
    assert_eq!(rig.ledger.state("u0"), None);
}
