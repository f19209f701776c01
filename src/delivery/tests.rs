//! The pipeline with in-memory adapters: what each path's [`Redelivery`] keeps and leaves.

use std::sync::Arc;

use serde_json::value::RawValue;
use time::macros::datetime;

use super::*;
use crate::config::{DestinationConfig, Platform};
use crate::event::Malformed;
use crate::state::{MemoryObjectStore, ObjectLedger, DEAD_LETTER_PREFIX};
use crate::telemetry::ErrorClass;

pub(super) const NOW: OffsetDateTime = datetime!(2026-11-22 09:05 UTC);

struct Rig {
    pipeline: Pipeline,
    destination: Arc<MemoryDestination>,
    state: Arc<MemoryObjectStore>,
}

fn rig(env: &[(&str, &str)]) -> Rig {
    let mut vars = vec![("DESTINATION_URL", "https://logs.example.com/in")];
    vars.extend_from_slice(env);
    let config = DestinationConfig::from_env(&vars[..]).unwrap();
    assert_eq!(config.platform, Platform::Json);
    let destination = Arc::new(MemoryDestination::default());
    let state = Arc::new(MemoryObjectStore::default());
    let pipeline = Pipeline::new(
        Forwarder::new(config, destination.clone()),
        // The ledger's objects in a bucket of their own: `state.fail` fails the dead letters.
        Arc::new(ObjectLedger::new(Arc::new(MemoryObjectStore::default()))),
        DeadLetters::new(state.clone()),
    );
    Rig {
        pipeline,
        destination,
        state,
    }
}

pub(super) fn raw(uuid: &str, published: &str) -> Box<RawValue> {
    RawValue::from_string(format!(r#"{{"uuid":"{uuid}","published":"{published}"}}"#)).unwrap()
}

pub(super) fn inputs(raws: &[Box<RawValue>]) -> Vec<Input<'_>> {
    raws.iter()
        .map(|r| Input {
            message_id: None,
            event: OktaEvent::from_raw(r).map_err(|m: Malformed| Unreadable {
                reason: m.to_string(),
                content: Kept::Event(r.get()),
            }),
        })
        .collect()
}

pub(super) fn run(redelivery: Redelivery) -> Run<'static> {
    Run {
        origin: "push",
        request_id: "req-1",
        now: NOW,
        stop_at: Instant::now() + Duration::from_secs(30),
        deadline: Instant::now() + Duration::from_secs(33),
        max_age: Some(Duration::from_secs(86_400)),
        redelivery,
        known: &|_| false,
        unchecked: &|_| false,
        repeats_likely: redelivery != Redelivery::Never,
    }
}

pub(super) fn refused() -> SendError {
    SendError::Permanent {
        reason: "destination answered HTTP 400".into(),
        class: ErrorClass::Http4xx,
    }
}

fn dead_letters(state: &MemoryObjectStore) -> usize {
    state.keys(DEAD_LETTER_PREFIX).len()
}

#[tokio::test]
async fn admits_once_drops_stale_and_records_what_it_delivers() {
    // GIVEN a fresh event twice, a stale one and one without a uuid
    let rig = rig(&[]);
    let raws = [
        raw("a", "2026-11-22T09:00:00.000Z"),
        raw("a", "2026-11-22T09:00:00.000Z"),
        raw("old", "2026-11-20T09:00:00.000Z"),
        RawValue::from_string(r#"{"published":"2026-11-22T09:00:00.000Z"}"#.into()).unwrap(),
    ];
    // WHEN the pipeline delivers them twice
    let first = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::Never))
        .await;
    let second = rig
        .pipeline
        .deliver(&inputs(&raws[..1]), &run(Redelivery::Never))
        .await;
    // THEN each has its fate, the repeat is not sent, and the ledger stops the second send
    assert_eq!(
        first.fates,
        [Fate::Delivered, Fate::Repeat, Fate::Stale, Fate::Kept]
    );
    let c = &first.counts;
    assert_eq!(
        (
            c.received,
            c.forwarded,
            c.duplicates,
            c.dropped_stale,
            c.malformed,
            c.dead_lettered
        ),
        (4, 1, 1, 1, 1, 1)
    );
    assert_eq!(
        first.newest_delivered,
        Some(datetime!(2026-11-22 09:00 UTC))
    );
    assert_eq!(second.fates, [Fate::AlreadyDelivered]);
    assert_eq!(rig.destination.accepted().len(), 1);
}

#[tokio::test]
async fn a_refused_event_is_kept_by_push_and_pull_and_left_by_replay() {
    for (redelivery, expected, kept) in [
        (Redelivery::Never, Fate::Kept, 1),
        (Redelivery::OutOfTime, Fate::Kept, 1),
        (
            Redelivery::Always,
            Fate::Left("destination answered HTTP 400".into()),
            0,
        ),
    ] {
        let rig = rig(&[]);
        rig.destination.fail_next(refused());
        let raws = [raw("a", "2026-11-22T09:00:00.000Z")];
        let out = rig.pipeline.deliver(&inputs(&raws), &run(redelivery)).await;
        assert_eq!(out.fates, [expected], "{redelivery:?}");
        assert_eq!(dead_letters(&rig.state), kept, "{redelivery:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_event_out_of_time_is_kept_only_when_the_source_cannot_give_it_again() {
    for (redelivery, kept) in [
        (Redelivery::Never, 1),
        (Redelivery::OutOfTime, 0),
        (Redelivery::Always, 0),
    ] {
        let rig = rig(&[]);
        for _ in 0..50 {
            rig.destination.fail_next(SendError::Retryable {
                reason: "destination answered HTTP 503".into(),
                retry_after: None,
                class: ErrorClass::Http5xx,
            });
        }
        let raws = [raw("a", "2026-11-22T09:00:00.000Z")];
        let mut run = run(redelivery);
        run.stop_at = Instant::now() + Duration::from_secs(2);
        run.deadline = run.stop_at + Duration::from_secs(1);
        let out = rig.pipeline.deliver(&inputs(&raws), &run).await;
        assert_eq!(dead_letters(&rig.state), kept, "{redelivery:?}");
        assert_eq!(
            matches!(out.fates[0], Fate::Left(_)),
            kept == 0,
            "{redelivery:?}: {:?}",
            out.fates
        );
    }
}

#[tokio::test]
async fn when_dead_letters_cannot_be_written_nothing_is_counted_as_kept() {
    let rig = rig(&[]);
    rig.destination.fail_next(refused());
    let raws = [raw("a", "2026-11-22T09:00:00.000Z")];
    // The ledger answers; the bucket of the dead letters fails.
    let raws_inputs = inputs(&raws);
    rig.state
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let out = rig
        .pipeline
        .deliver(&raws_inputs, &run(Redelivery::Never))
        .await;
    assert_eq!(out.fates, [Fate::NotKept]);
    assert_eq!((out.counts.not_kept, out.counts.dead_lettered), (1, 0));
    assert!(out.dead_letter_error.is_some());
    assert_eq!(out.counts.ledger_errors, 0, "the ledger did not fail");
}

#[tokio::test]
async fn an_event_larger_than_a_request_is_never_sent_and_kept_with_its_size() {
    let rig = rig(&[("BATCH_MAX_BYTES", "200")]);
    let big = format!("{:0>300}", 1);
    let raws = [
        RawValue::from_string(format!(
            r#"{{"uuid":"big","published":"2026-11-22T09:00:00.000Z","pad":"{big}"}}"#
        ))
        .unwrap(),
        raw("small", "2026-11-22T09:00:00.000Z"),
    ];
    let out = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::OutOfTime))
        .await;
    assert_eq!(out.fates, [Fate::Kept, Fate::Delivered]);
    assert_eq!(out.counts.oversized, 1);
    let (_, gz) = &rig.state.objects_under(DEAD_LETTER_PREFIX)[0];
    let text = crate::gzip::decompress_text(gz).unwrap();
    assert!(text.contains("more than BATCH_MAX_BYTES (200)"), "{text}");
}

#[tokio::test]
async fn bodies_encoded_during_the_claim_are_made_again_without_what_it_kept_back() {
    // GIVEN events a and b delivered before
    let rig = rig(&[]);
    let at = "2026-11-22T09:00:00.000Z";
    let before = [raw("a", at), raw("b", at)];
    rig.pipeline
        .deliver(&inputs(&before), &run(Redelivery::Never))
        .await;
    // WHEN push (new events expected: bodies are encoded while the ledger answers) gets
    // a, c, b, d
    let raws = [raw("a", at), raw("c", at), raw("b", at), raw("d", at)];
    let outcome = rig
        .pipeline
        .deliver(&inputs(&raws), &run(Redelivery::Never))
        .await;
    // THEN the body sent holds only c and d, in order: what was encoded ahead with a and b
    // was never sent
    assert_eq!(
        outcome.fates,
        [
            Fate::AlreadyDelivered,
            Fate::Delivered,
            Fate::AlreadyDelivered,
            Fate::Delivered
        ]
    );
    let accepted = rig.destination.accepted();
    assert_eq!(accepted.len(), 2);
    let body = &accepted[1];
    let text = if body.gzip {
        crate::gzip::decompress_text(&body.bytes).unwrap()
    } else {
        String::from_utf8(body.bytes.to_vec()).unwrap()
    };
    let sent: serde_json::Value = serde_json::from_str(&text).unwrap();
    let uuids: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids, ["c", "d"]);
}
