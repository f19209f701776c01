//! `make bench`: what the Security Lake path costs, against the raw path, in one run.
//!
//! The same release okta-push binary, cold then warm on 6 MB SQS invocations with the ledger in
//! the table (the testkit's DynamoDB) and S3 on moto, each behind a 10 ms latency proxy: once
//! sending to an HTTP destination as deployed by default (`json`, gzip: the raw path), once
//! writing OCSF Parquet into Security Lake custom sources (`securitylake`), in turn, twice.
//! Reported: the binary's size, cold start, CPU and wall per invocation and per event, peak
//! RSS, objects and bytes written, and what a million events cost on the lake path by AWS's
//! list prices (Lambda arm64 CPU, S3 PUTs and a month of storage).

use std::time::{Duration, Instant};

use okta_ingest_testkit::binary_path;
use okta_ingest_testkit::lake::{lake_sources, OKTA_CLASSES};
use serde_json::json;

mod common;
use common::{cpu_seconds, sqs_payload, wait_rss, Deployed, MAX_PAYLOAD};

const LAKE: &str = "aws-security-data-lake-us-east-1-bench";
const WARM_INVOCATIONS: usize = 6;
/// AWS list prices (us-east-1, 2026): Lambda arm64 per GB-second, S3 Standard PUT per
/// request and storage per GB-month.
const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
const S3_PUT: f64 = 0.005 / 1000.0;
const S3_GB_MONTH: f64 = 0.023;
/// The memory at which Lambda gives a function one whole vCPU.
const VCPU_GB: f64 = 1769.0 / 1024.0;

struct Run {
    cold_start: Duration,
    cpu_per_event_us: f64,
    wall_ms: f64,
    cpu_ms: f64,
    peak_mib: f64,
    events: usize,
    objects: usize,
    object_bytes: usize,
    s3_requests: u64,
}

fn lake_settings() -> Vec<(&'static str, String)> {
    vec![
        ("DESTINATION_FORMAT", "securitylake".into()),
        ("DESTINATION_URL", String::new()),
        (
            "SECURITY_LAKE_SOURCES",
            lake_sources(&OKTA_CLASSES, LAKE, "123456789012"),
        ),
        ("SECURITY_LAKE_EXTERNAL_ID", "bench".into()),
        ("SECURITY_LAKE_ACCOUNT_ID", "123456789012".into()),
    ]
}

async fn run(lake: bool) -> Run {
    let settings = if lake { lake_settings() } else { Vec::new() };
    let deployed = Deployed::start_configured(
        &binary_path("okta-push"),
        Duration::from_millis(10),
        true,
        &settings,
        async |moto, _| moto.create_bucket(LAKE).await,
    )
    .await;
    let pid = deployed
        .function
        .pid()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let (warm_up, _) = sqs_payload(MAX_PAYLOAD, "w");
    deployed
        .runtime
        .invoke(warm_up, Duration::from_secs(60))
        .await
        .response();
    let objects_before = deployed.moto.list_keys(LAKE, "ext/").await.len();
    let s3_before = deployed.s3_proxy.requests();
    let (mut cpu, mut wall, mut events) = (0.0, Duration::ZERO, 0);
    for n in 0..WARM_INVOCATIONS {
        let (payload, count) = sqs_payload(MAX_PAYLOAD, &format!("e{n}"));
        events += count;
        let cpu_before = cpu_seconds(&pid);
        let started = Instant::now();
        let response = deployed
            .runtime
            .invoke(payload, Duration::from_secs(60))
            .await
            .response();
        wall += started.elapsed();
        cpu += cpu_seconds(&pid) - cpu_before;
        assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    }
    let s3_requests = deployed.s3_proxy.requests() - s3_before;
    let peak = wait_rss(&deployed.function).await;
    let keys = deployed.moto.list_keys(LAKE, "ext/").await;
    let mut object_bytes = 0;
    for key in keys.iter().skip(objects_before) {
        object_bytes += deployed.moto.get_object(LAKE, key).await.len();
    }
    if lake {
        assert!(keys.len() > objects_before, "the lake path wrote objects");
    }
    let invocations = WARM_INVOCATIONS as f64;
    Run {
        cold_start: deployed.cold_start,
        cpu_per_event_us: cpu * 1e6 / events as f64,
        wall_ms: wall.as_secs_f64() * 1e3 / invocations,
        cpu_ms: cpu * 1e3 / invocations,
        peak_mib: peak as f64 / 1024.0,
        events,
        objects: keys.len() - objects_before,
        object_bytes,
        s3_requests,
    }
}

fn show(label: &str, r: &Run) {
    println!(
        "  {label:<28} cold start {:>5.1} ms  CPU {:>5.1} us/event  wall {:>5.0} ms vs CPU {:>5.0} ms per invocation  peak RSS {:>5.1} MiB  S3 requests {:.1} per invocation",
        r.cold_start.as_secs_f64() * 1e3,
        r.cpu_per_event_us,
        r.wall_ms,
        r.cpu_ms,
        r.peak_mib,
        r.s3_requests as f64 / WARM_INVOCATIONS as f64,
    );
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; run `make bench` for release figures");
    }
    let binary = binary_path("okta-push");
    let size = std::fs::metadata(&binary).map_or(0, |m| m.len());
    println!(
        "Security Lake path vs raw path: okta-push (release) {:.1} MiB, warm, {WARM_INVOCATIONS} x 6 MB SQS invocations each, ledger in DynamoDB, S3 and DynamoDB latency 10 ms",
        size as f64 / 1048576.0
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut raw = Vec::new();
    let mut lake = Vec::new();
    for _ in 0..2 {
        raw.push(runtime.block_on(run(false)));
        lake.push(runtime.block_on(run(true)));
    }
    for (r, l) in raw.iter().zip(&lake) {
        show("raw (json + gzip, HTTP)", r);
        show("Security Lake (OCSF Parquet)", l);
        println!(
            "  lake / raw: CPU per event {:.2}x, wall {:.2}x, peak RSS {:.2}x",
            l.cpu_per_event_us / r.cpu_per_event_us,
            l.wall_ms / r.wall_ms,
            l.peak_mib / r.peak_mib
        );
    }
    // The lake's cost per million events from the better of the two lake runs.
    let best = lake
        .iter()
        .min_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms))
        .expect("two runs");
    let per_million = 1e6 / best.events as f64;
    let invocations = WARM_INVOCATIONS as f64 * per_million;
    // At 128 MB Lambda gives a function 128/1769 of a vCPU, so a CPU-bound invocation is
    // billed its CPU time times 1769/128: a CPU-second costs 1769 MB-seconds at any size.
    let cpu_cost = |r: &Run| r.cpu_ms / 1e3 * invocations * VCPU_GB * LAMBDA_GB_SECOND;
    let lambda = cpu_cost(best);
    let raw_lambda = raw.iter().map(cpu_cost).fold(f64::MAX, f64::min);
    let puts = best.objects as f64 * per_million;
    let gb = best.object_bytes as f64 * per_million / 1e9;
    println!(
        "  per million events on the lake path: {:.0} objects ({:.0} bytes each), {:.2} GB of Parquet ({:.0} bytes per event); Lambda ${:.4} of CPU (raw path ${:.4}), S3 PUTs ${:.4}, storage ${:.4} per month kept",
        puts,
        best.object_bytes as f64 / best.objects.max(1) as f64,
        gb,
        best.object_bytes as f64 / best.events as f64,
        lambda,
        raw_lambda,
        puts * S3_PUT,
        gb * S3_GB_MONTH
    );
}
