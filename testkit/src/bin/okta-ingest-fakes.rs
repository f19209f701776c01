//! The local world for `cargo lambda watch`: every fake the functions need, on 127.0.0.1,
//! until Ctrl-C.
//!
//! `cargo run -p okta-ingest-testkit --bin okta-ingest-fakes [-- DIR]` (default
//! `target/local`) starts moto server (S3 and Secrets Manager, with the state bucket and the
//! Okta token secret), the ledger table (the testkit's DynamoDB: moto's PartiQL cannot hold
//! claims), a recording HTTP destination and a fake Okta System Log API holding a day of
//! events, then writes
//!
//! - `DIR/env`: the functions' environment, for `cargo lambda watch --env-file DIR/env`;
//! - `DIR/events/*.json`: the samples of `events/` with their dates moved to now.
//!
//! It prints the fake Okta's event uuids (`{"okta_events": [...]}`), then `ready` once both
//! files are written, then one JSON line per request the destination receives
//! (`{"destination": {...}}`). `tests/cargo_lambda.rs` runs exactly this.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use okta_ingest_testkit::okta_events::rebase_timestamps;
use okta_ingest_testkit::{FakeDynamoDb, FakeOkta, Moto, RecordingDestination};
use serde_json::{json, Value};

const BUCKET: &str = "okta-ingest-local";
const TABLE: &str = "okta-ingest-local-ledger";
const OKTA_TOKEN: &str = "local-okta-token";
/// A day of fake Okta events, one every 30 minutes, the newest 15 minutes old (older than
/// pull's default settle delay, inside its default first-run lookback).
const OKTA_EVENTS: i32 = 48;

#[tokio::main]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| root.join("target/local"), PathBuf::from);

    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let table = FakeDynamoDb::start_named("uuid", TABLE).await;
    let secret_arn = moto
        .create_secret("okta-ingest/local-okta-token", OKTA_TOKEN)
        .await;
    let destination = RecordingDestination::start().await;
    let okta = FakeOkta::start().await;
    okta.set_tokens(&[OKTA_TOKEN]);
    let now = time::OffsetDateTime::now_utc();
    let step = time::Duration::minutes(30);
    let first = now - time::Duration::minutes(15) - step * (OKTA_EVENTS - 1);
    let okta_uuids = okta.add_events(OKTA_EVENTS as usize, first, step);

    let mut env = moto.function_env();
    env.extend(
        [
            ("DESTINATION_URL", destination.url()),
            ("ALLOW_INSECURE_HTTP", "true".to_owned()),
            ("STATE_BUCKET", BUCKET.to_owned()),
            ("LEDGER_TABLE", TABLE.to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", table.endpoint()),
            ("OKTA_DOMAIN", okta.base_url()),
            ("OKTA_TOKEN_SECRET_ARN", secret_arn),
            ("RUST_LOG", "info".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    if let Err(e) = write_files(&dir, &root.join("events"), &env, now) {
        eprintln!("okta-ingest-fakes: cannot write {}: {e}", dir.display());
        std::process::exit(2);
    }
    println!("{}", json!({ "okta_events": okta_uuids }));
    println!(
        "ready: environment in {0}/env, samples in {0}/events/",
        dir.display()
    );

    let stop = stop_signal();
    tokio::pin!(stop);
    let mut shown = 0;
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let requests = destination.requests();
        for request in requests.iter().skip(shown).take_while(|r| r.status != 0) {
            println!("{}", json!({ "destination": describe(request) }));
            shown += 1;
        }
    }
    // Dropping moto stops the server process.
    drop(moto);
}

/// The env file and the rebased samples.
fn write_files(
    dir: &Path,
    samples: &Path,
    env: &[(String, String)],
    now: time::OffsetDateTime,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("events"))?;
    let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(dir.join("env"), text)?;
    for entry in std::fs::read_dir(samples)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let sample = std::fs::read_to_string(&path)?;
            if let Some(name) = path.file_name() {
                std::fs::write(
                    dir.join("events").join(name),
                    rebase_timestamps(&sample, now),
                )?;
            }
        }
    }
    Ok(())
}

/// One destination request as a JSON object: status, encoding and the uuids it carried.
fn describe(request: &okta_ingest_testkit::ReceivedRequest) -> Value {
    // A JSON array (DESTINATION_FORMAT=json) or one event per line (ndjson).
    let events: Vec<Value> = serde_json::from_slice(&request.body).unwrap_or_else(|_| {
        request
            .body_text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    });
    let uuids: Vec<&Value> = events.iter().map(|e| &e["uuid"]).collect();
    let distinct: HashSet<String> = uuids.iter().map(|u| u.to_string()).collect();
    json!({
        "method": request.method,
        "path": request.path,
        "status": request.status,
        "content_encoding": request.header("content-encoding"),
        "bytes": request.raw_body.len(),
        "uuids": uuids,
        "distinct": distinct.len(),
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("okta-ingest-fakes: cannot watch SIGTERM ({e}); stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
