//! The lanes: the same inputs into two destinations, each exactly once, and one answer.

use std::sync::Arc;

use crate::config::DestinationConfig;
use crate::delivery::tests::{inputs, raw, refused, run};
use crate::delivery::{Fate, Forwarder, Lanes, MemoryDestination, Pipeline, Redelivery, SendError};
use crate::state::{DeadLetters, Ledger, MemoryLedger, MemoryObjectStore};
use crate::telemetry::ErrorClass;

struct Rig {
    lanes: Lanes,
    http: Arc<MemoryDestination>,
    lake: Arc<MemoryDestination>,
    state: Arc<MemoryObjectStore>,
    ledger: Arc<MemoryLedger>,
}

fn rig() -> Rig {
    let config = |url: &str| {
        DestinationConfig::from_env(&[("DESTINATION_URL", url), ("DESTINATION_GZIP", "false")][..])
            .unwrap()
    };
    let http = Arc::new(MemoryDestination::default());
    let lake = Arc::new(MemoryDestination::default());
    let state = Arc::new(MemoryObjectStore::default());
    let ledger = Arc::new(MemoryLedger::default());
    let main = Pipeline::new(
        Forwarder::new(config("https://siem.example.com/in"), http.clone()),
        ledger.clone(),
        DeadLetters::new(state.clone()),
    );
    let lanes = Lanes::one(main).with_lake(Forwarder::new(
        config("https://lake.example.com/"),
        lake.clone(),
    ));
    Rig {
        lanes,
        http,
        lake,
        state,
        ledger,
    }
}

/// The uuids a destination accepted, in order, across its bodies.
fn sent(destination: &MemoryDestination) -> Vec<String> {
    destination
        .accepted()
        .iter()
        .flat_map(|b| {
            let text = String::from_utf8_lossy(&b.bytes).into_owned();
            let events: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
            events
                .into_iter()
                .map(|e| e["uuid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn unavailable() -> SendError {
    SendError::Retryable {
        reason: "destination answered HTTP 503".into(),
        class: ErrorClass::Http5xx,
        retry_after: None,
    }
}

#[tokio::test]
async fn each_destination_gets_each_event_once_and_a_second_copy_goes_nowhere() {
    // GIVEN an HTTP destination with the lake beside it, sharing one ledger
    let rig = rig();
    let raws = [
        raw("e1", "2026-11-22T09:00:00.000Z"),
        raw("e2", "2026-11-22T09:01:00.000Z"),
    ];
    // WHEN the same events come twice (an SQS redelivery)
    let first = rig
        .lanes
        .deliver(&inputs(&raws), &run(Redelivery::Never))
        .await;
    let second = rig
        .lanes
        .deliver(&inputs(&raws), &run(Redelivery::Never))
        .await;
    // THEN each destination has each event once
    assert_eq!(first.fates, [Fate::Delivered, Fate::Delivered]);
    assert_eq!(sent(&rig.http), ["e1", "e2"]);
    assert_eq!(sent(&rig.lake), ["e1", "e2"]);
    assert_eq!(
        second.fates,
        [Fate::AlreadyDelivered, Fate::AlreadyDelivered]
    );
    assert_eq!((rig.http.attempts(), rig.lake.attempts()), (1, 1));
    // AND the answer counts the lanes apart
    assert_eq!(first.counts.forwarded, 2);
    assert_eq!(first.lake.as_ref().map(|c| c.forwarded), Some(2));
    assert_eq!(second.lake.as_ref().map(|c| c.already_delivered), Some(2));
    // AND the ledger holds both lanes' keys
    let at = time::macros::datetime!(2026-11-22 09:00 UTC);
    let keys = [("e1", at), ("lake#e1", at)];
    assert_eq!(rig.ledger.read(&keys).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_lake_that_refuses_keeps_its_own_dead_letters_and_the_siem_is_not_held_back() {
    // GIVEN a lake that refuses for good, on push (nothing comes back)
    let rig = rig();
    rig.lake.fail_next(refused());
    let raws = [raw("e1", "2026-11-22T09:00:00.000Z")];
    // WHEN the event is delivered
    let outcome = rig
        .lanes
        .deliver(&inputs(&raws), &run(Redelivery::Never))
        .await;
    // THEN the SIEM has it, the lake's copy is kept under the lake's own folder, and the
    // message is final (kept is final)
    assert_eq!(sent(&rig.http), ["e1"]);
    assert_eq!(outcome.fates, [Fate::Kept]);
    assert_eq!(outcome.counts.dead_lettered, 0);
    assert_eq!(outcome.lake.as_ref().map(|c| c.dead_lettered), Some(1));
    let kept = rig.state.keys("dead-letter/");
    assert_eq!(kept.len(), 1);
    assert!(kept[0].starts_with("dead-letter/lake/push/"), "{kept:?}");
    // AND a replay of that object goes to the lake, not the SIEM
    assert!(std::ptr::eq(
        rig.lanes.of_dead_letter(&kept[0]).unwrap(),
        rig.lanes.lake().unwrap()
    ));
    assert!(std::ptr::eq(
        rig.lanes
            .of_dead_letter("dead-letter/push/2026/x.ndjson.gz")
            .unwrap(),
        rig.lanes.main()
    ));
}

#[tokio::test]
async fn a_lake_that_is_down_hands_the_event_back_and_the_retry_sends_it_to_the_lake_only() {
    // GIVEN a lake answering 503 to every attempt of the first call, on pull (what runs out
    // of time is read again)
    let rig = rig();
    for _ in 0..20 {
        rig.lake.fail_next(unavailable());
    }
    let raws = [raw("e1", "2026-11-22T09:00:00.000Z")];
    let mut pull = run(Redelivery::OutOfTime);
    pull.stop_at = tokio::time::Instant::now() + std::time::Duration::from_millis(1500);
    let first = rig.lanes.deliver(&inputs(&raws), &pull).await;
    // THEN the event is left to its source, though the SIEM has it
    assert!(matches!(first.fates[0], Fate::Left(_)), "{:?}", first.fates);
    assert_eq!(sent(&rig.http), ["e1"]);
    assert!(sent(&rig.lake).is_empty());
    // WHEN the source gives it again and the lake is back
    rig.lake.recover();
    let second = rig
        .lanes
        .deliver(&inputs(&raws), &run(Redelivery::OutOfTime))
        .await;
    // THEN only the lake gets it
    assert_eq!(second.fates, [Fate::Delivered]);
    assert_eq!(sent(&rig.http), ["e1"], "the SIEM is not sent it twice");
    assert_eq!(sent(&rig.lake), ["e1"]);
    assert_eq!(second.counts.already_delivered, 1);
    assert_eq!(second.lake.as_ref().map(|c| c.forwarded), Some(1));
}
