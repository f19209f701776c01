//! The pull handler in process: the real HTTP reader against the fake Okta API, with the
//! in-memory checkpoint, dead-letter and destination adapters (which can be told to fail).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use okta_ingest::config::PullConfig;
use okta_ingest::{
    CheckpointStore, ErrorClass, HttpSystemLog, Lease, Ledger, MemoryDestination,
    MemoryObjectStore, PullError, PullHandler, Secret, SendError, StaticSecret,
};
use okta_ingest_testkit::FakeOkta;
use serde_json::Value;
use tokio::time::Instant;

struct Rig {
    okta: FakeOkta,
    handler: PullHandler,
    destination: Arc<MemoryDestination>,
    dead_letters: Arc<MemoryObjectStore>,
    checkpoints: CheckpointStore,
}

async fn rig(extra: &[(&str, &str)]) -> Rig {
    let okta = FakeOkta::start().await;
    okta.set_tokens(&["t0ken"]);
    let mut env: Vec<(String, String)> = vec![
        ("OKTA_DOMAIN".into(), okta.base_url()),
        ("ALLOW_INSECURE_HTTP".into(), "true".into()),
        (
            "OKTA_TOKEN_SECRET_ARN".into(),
            "arn:aws:secretsmanager:us-east-1:1:secret:t".into(),
        ),
        ("STATE_BUCKET".into(), "state".into()),
        (
            "DESTINATION_URL".into(),
            "https://logs.example.com/in".into(),
        ),
        ("SETTLE_DELAY_SECONDS".into(), "0".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = PullConfig::from_env(&env).unwrap();
    let log = HttpSystemLog::new(
        config.org.clone(),
        Arc::new(StaticSecret(Secret::new("t0ken"))),
        "test secret",
        config.rate_limit_headroom,
        config.okta_timeout,
    )
    .unwrap();
    let destination = Arc::new(MemoryDestination::default());
    let dead_letters = Arc::new(MemoryObjectStore::default());
    let checkpoints = CheckpointStore::new(
        Arc::new(MemoryObjectStore::default()),
        "checkpoint/pull/test.json",
    );
    let handler = PullHandler::new(
        config,
        Arc::new(log),
        destination.clone(),
        checkpoints.clone(),
        dead_letters.clone(),
        Arc::new(Ledger::new(Arc::new(MemoryObjectStore::default()))),
    );
    Rig {
        okta,
        handler,
        destination,
        dead_letters,
        checkpoints,
    }
}

fn delivered(destination: &MemoryDestination) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for body in destination.accepted() {
        let items: Vec<Value> = serde_json::from_slice(&body.bytes).unwrap();
        for item in items {
            *counts
                .entry(item["uuid"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

#[tokio::test]
async fn delivered_events_stay_recorded_when_the_dead_letters_fail_and_are_not_sent_again() {
    let rig = rig(&[
        ("BATCH_MAX_EVENTS", "1"),
        ("DESTINATION_CONCURRENCY", "1"),
        ("DESTINATION_GZIP", "false"),
    ])
    .await;
    let uuids = rig.okta.add_events(
        3,
        time::OffsetDateTime::now_utc() - time::Duration::minutes(5),
        time::Duration::seconds(1),
    );
    // The first event is refused for good, and S3 is down, so it can be neither sent nor kept.
    rig.destination.fail_next(SendError::Permanent {
        reason: "HTTP 400".into(),
        class: ErrorClass::Http4xx,
    });
    rig.dead_letters.fail.store(true, Ordering::SeqCst);
    let err = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap_err();
    assert!(matches!(err, PullError::DeadLetters(_)), "{err}");
    let first = delivered(&rig.destination);
    assert_eq!(first.len(), 2, "the two others went through: {first:?}");
    let checkpoint = rig.checkpoints.load().await.unwrap().unwrap().checkpoint;
    assert_eq!(checkpoint.handled_at_next.len(), 2, "and are remembered");
    assert_eq!(
        checkpoint.lease, None,
        "the claim is released even on error"
    );

    rig.dead_letters.fail.store(false, Ordering::SeqCst);
    let summary = rig
        .handler
        .handle_payload("{}", "run-2", deadline())
        .await
        .unwrap();
    assert_eq!(
        (summary.counts.forwarded, summary.counts.duplicates),
        (1, 2),
        "{summary:?}"
    );
    let all = delivered(&rig.destination);
    assert!(uuids.iter().all(|u| all.get(u) == Some(&1)), "{all:?}");
}

#[tokio::test]
async fn a_live_claim_by_another_run_stops_this_one_before_it_reads() {
    let rig = rig(&[]).await;
    rig.okta.add_events(
        3,
        time::OffsetDateTime::now_utc() - time::Duration::minutes(5),
        time::Duration::seconds(1),
    );
    rig.handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();
    // Another run claims the checkpoint (as the first thing it does) and is still going.
    let stored = rig.checkpoints.load().await.unwrap().unwrap();
    let mut claimed = stored.checkpoint.clone();
    claimed.lease = Some(Lease {
        owner: "other-run".into(),
        until_unix: time::OffsetDateTime::now_utc().unix_timestamp() + 120,
    });
    rig.checkpoints
        .save(&claimed, Some(&stored.etag))
        .await
        .unwrap();
    let requests_before = rig.okta.requests().len();
    let summary = rig
        .handler
        .handle_payload("{}", "run-2", deadline())
        .await
        .unwrap();
    assert!(
        summary.pull.as_ref().unwrap().stopped.contains("other-run"),
        "{summary:?}"
    );
    assert_eq!(
        rig.okta.requests().len(),
        requests_before,
        "no Okta request"
    );
    // Once the claim has lapsed, runs carry on.
    claimed.lease.as_mut().unwrap().until_unix -= 600;
    let etag = rig.checkpoints.load().await.unwrap().unwrap().etag;
    rig.checkpoints.save(&claimed, Some(&etag)).await.unwrap();
    assert_eq!(
        rig.handler
            .handle_payload("{}", "run-3", deadline())
            .await
            .unwrap()
            .pull
            .unwrap()
            .stopped,
        "caught up"
    );
}
