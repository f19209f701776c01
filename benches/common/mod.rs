//! What the benchmarks share: realistic SQS payloads and process measurements.
#![allow(dead_code)]

use std::time::Duration;

use okta_ingest_testkit::okta_events::{
    eventbridge_envelope, okta_event, rfc3339_millis, sqs_event,
};
use okta_ingest_testkit::{
    binary_path, FakeDynamoDb, FunctionProcess, LatencyProxy, Moto, RecordingDestination,
    RuntimeApi,
};
use time::OffsetDateTime;

/// Lambda's limit for a synchronous payload, which bounds an SQS batch.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// An SQS event of fresh Okta events filling up to `max_bytes`, and how many it holds.
pub fn sqs_payload(max_bytes: usize, salt: &str) -> (String, usize) {
    let now = OffsetDateTime::now_utc();
    sqs_batch(max_bytes, usize::MAX, salt, |i| {
        now - time::Duration::milliseconds(i as i64 * 37)
    })
}

/// An SQS event of at most `max_events` Okta events, event `i` published at `published(i)`,
/// filling up to `max_bytes`; and how many it holds.
pub fn sqs_batch(
    max_bytes: usize,
    max_events: usize,
    salt: &str,
    published: impl Fn(usize) -> OffsetDateTime,
) -> (String, usize) {
    let mut bodies = Vec::new();
    let mut size = 200;
    let mut rng = fastrand::Rng::with_seed(42);
    for i in 0..max_events {
        let published = rfc3339_millis(published(i));
        let uuid = format!("{salt}{:08x}-8b7d-11ef-a3c4-{:012x}", i, i * 7919);
        let detail = vary(&okta_event(&uuid, &published), &mut rng);
        let body = eventbridge_envelope(&detail, &format!("id-{salt}{i}"), &published);
        // Each record adds its JSON-escaped body plus about 600 bytes of SQS attributes.
        let cost = serde_json::to_string(&body).map_or(0, |b| b.len()) + 600;
        if size + cost > max_bytes {
            break;
        }
        size += cost;
        bodies.push((format!("msg-{salt}-{i}"), body));
    }
    let payload = sqs_event(&bodies);
    (payload, bodies.len())
}

/// Real events differ in users, addresses, sessions and hashes; identical templates would
/// compress (and so gzip) unrealistically fast.
fn vary(event: &str, rng: &mut fastrand::Rng) -> String {
    const PEOPLE: [&str; 8] = [
        "amelie.durand",
        "sam.lee",
        "j.okafor",
        "m.garcia",
        "t.nguyen",
        "r.schmidt",
        "a.kowalski",
        "l.rossi",
    ];
    const CITIES: [&str; 6] = ["Paris", "Austin", "Lagos", "Osaka", "Berlin", "Toronto"];
    let hex = |rng: &mut fastrand::Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
            .collect()
    };
    let alnum = |rng: &mut fastrand::Rng, n: usize| -> String {
        (0..n).map(|_| rng.alphanumeric()).collect()
    };
    let person = PEOPLE[rng.usize(..PEOPLE.len())];
    let ip = format!(
        "{}.{}.{}.{}",
        rng.u8(1..224),
        rng.u8(..),
        rng.u8(..),
        rng.u8(1..255)
    );
    event
        .replace("00u1qw2e3r4t5y6u7i8o", &format!("00u{}", alnum(rng, 17)))
        .replace("ren\\u00e9e.dupont", person)
        .replace("198.51.100.23", &ip)
        .replace(
            "102aBcDeFgHiJkLmNoPqRsTuV",
            &format!("102{}", alnum(rng, 22)),
        )
        .replace(
            "3f7b9c2d1e0a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c",
            &hex(rng, 64),
        )
        .replace("Montr\\u00e9al", CITIES[rng.usize(..CITIES.len())])
        .replace(
            "Chrome/124.0.0.0",
            &format!(
                "Chrome/{}.0.{}.{}",
                rng.u8(118..132),
                rng.u16(1000..7000),
                rng.u8(..)
            ),
        )
}

/// Peak RSS (KiB) once the process has started.
pub async fn wait_rss(function: &FunctionProcess) -> u64 {
    for _ in 0..50 {
        if let Some(kib) = function.peak_rss_kib().filter(|k| *k > 0) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            return function.peak_rss_kib().unwrap_or(kib);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    0
}

/// Seconds the threads of process `pid` have spent runnable but waiting for a core (the
/// second field of `/proc/<pid>/task/*/schedstat`): on this shared machine, time the
/// benchmark's own servers (Runtime API, destination, fakes, proxies) held the cores.
pub fn runqueue_seconds(pid: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let waited: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    waited as f64 / 1e9
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    ticks as f64 / clock_ticks()
}

pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The release okta-push as deployed, with everything it talks to on loopback: S3 (moto,
/// never a real endpoint) and the ledger table (the testkit's DynamoDB), each behind a proxy
/// that delays every request by the same time.
pub struct Deployed {
    pub destination: RecordingDestination,
    pub runtime: RuntimeApi,
    pub function: FunctionProcess,
    pub s3_proxy: LatencyProxy,
    pub table_proxy: LatencyProxy,
    pub table: FakeDynamoDb,
    pub moto: Moto,
    /// From starting the process to its first poll of the Runtime API (its cold start).
    pub cold_start: Duration,
}

impl Deployed {
    /// Starts the world, lets `fill` put state in it (what other containers wrote), then
    /// starts a cold okta-push with the ledger in the table (`ledger_table`) or in S3.
    pub async fn start(
        delay: Duration,
        ledger_table: bool,
        fill: impl AsyncFnOnce(&Moto, &FakeDynamoDb),
    ) -> Deployed {
        Self::start_binary(&binary_path("okta-push"), delay, ledger_table, fill).await
    }

    /// As [`Deployed::start`], running the okta-push binary at `binary` (another build, to
    /// compare with in the same run).
    pub async fn start_binary(
        binary: &std::path::Path,
        delay: Duration,
        ledger_table: bool,
        fill: impl AsyncFnOnce(&Moto, &FakeDynamoDb),
    ) -> Deployed {
        Self::start_configured(binary, delay, ledger_table, &[], fill).await
    }

    /// As [`Deployed::start_binary`], with `settings` over the defaults (an empty value
    /// unsets a variable, as the functions read it).
    pub async fn start_configured(
        binary: &std::path::Path,
        delay: Duration,
        ledger_table: bool,
        settings: &[(&str, String)],
        fill: impl AsyncFnOnce(&Moto, &FakeDynamoDb),
    ) -> Deployed {
        let moto = Moto::start().await;
        moto.create_bucket("bench-state").await;
        let table = FakeDynamoDb::start("uuid").await;
        fill(&moto, &table).await;
        let s3_proxy = LatencyProxy::start(moto.addr(), delay).await;
        let table_proxy = LatencyProxy::start(table.addr(), delay).await;
        let destination = RecordingDestination::start().await;
        let runtime = RuntimeApi::start().await;
        let mut env = moto.function_env();
        env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
        let table_name = if ledger_table { "bench-ledger" } else { "" };
        env.extend(
            [
                ("AWS_ENDPOINT_URL", s3_proxy.endpoint()),
                ("AWS_ENDPOINT_URL_DYNAMODB", table_proxy.endpoint()),
                ("LEDGER_TABLE", table_name.to_owned()),
                ("DESTINATION_URL", destination.url()),
                ("ALLOW_INSECURE_HTTP", "true".to_owned()),
                ("STATE_BUCKET", "bench-state".to_owned()),
                ("RUST_LOG", "warn".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env.retain(|(k, _)| settings.iter().all(|(name, _)| name != k));
        env.extend(settings.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let spawned = std::time::Instant::now();
        let function = FunctionProcess::spawn(binary, &runtime, &env).await;
        let cold_start = runtime
            .wait_for_first_poll(Duration::from_secs(10))
            .await
            .map_or(Duration::MAX, |at| at.duration_since(spawned));
        Deployed {
            cold_start,
            destination,
            runtime,
            function,
            s3_proxy,
            table_proxy,
            table,
            moto,
        }
    }
}
