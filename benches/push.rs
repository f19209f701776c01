//! `make bench`: the push hot path on one core, and the peak memory of a maximum-size invocation.
//!
//! 1. Throughput: full SQS payloads of realistic ~2 KB Okta events through the handler
//!    (parse, stale filter, dedup, ledger lookup and record, batch, encode, gzip) on a
//!    single-threaded runtime, with in-memory destination and ledger so only this process's
//!    work is timed; and a batch the ledger already holds (the lookup-and-skip path).
//! 2. Memory: the release okta-push binary, driven through the local Runtime API with a 6 MB
//!    SQS payload delivered to a loopback destination; peak RSS read from /proc (VmHWM).
//! 3. End to end: the release binary, warm, on 6 MB invocations with S3 (moto) and the
//!    ledger table (the testkit's DynamoDB) behind latency proxies (0 and 10 ms a request):
//!    CPU per event from /proc against gzip alone on the same bytes, wall against CPU per
//!    invocation, ledger and S3 requests, peak RSS; then once more at 10 ms with the ledger
//!    in S3 objects (`LedgerStore` `S3`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use okta_ingest::config::PushConfig;
use okta_ingest::{MemoryDestination, MemoryObjectStore, ObjectLedger, PushHandler, PushResponse};
use okta_ingest_testkit::binary_path;
use okta_ingest_testkit::okta_events::okta_event;

mod common;
use common::{cpu_seconds, runqueue_seconds, sqs_payload, wait_rss, Deployed, MAX_PAYLOAD};

fn handler(env: &[(&str, &str)]) -> (PushHandler, Arc<MemoryDestination>) {
    let mut vars: Vec<(String, String)> = vec![
        (
            "DESTINATION_URL".into(),
            "https://logs.example.com/in".into(),
        ),
        ("STATE_BUCKET".into(), "state".into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = PushConfig::from_env(&vars).expect("bench configuration");
    let destination = Arc::new(MemoryDestination::default());
    (
        PushHandler::new(
            config,
            destination.clone(),
            Arc::new(MemoryObjectStore::default()),
            // An empty ledger in memory: the lookup and the record are in the timed path.
            Arc::new(ObjectLedger::new(Arc::new(MemoryObjectStore::default()))),
        )
        .with_metrics(false),
        destination,
    )
}

fn throughput(label: &str, env: &[(&str, &str)], payload: &str, events: usize, repeat: bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(600);
    runtime.block_on(async {
        let rounds = 12;
        let mut elapsed = Duration::ZERO;
        let (mut sent, mut plain, mut forwarded) = (0usize, 0usize, 0usize);
        // Warm-up round first: allocator, page faults, lazy statics.
        for r in 0..=rounds {
            // A fresh container each round, so every round does the whole job; with `repeat`
            // the batch was delivered once already and the ledger must skip all of it.
            let (handler, destination) = handler(env);
            if repeat {
                let _ = handler.handle_payload(payload, "first", deadline()).await;
            }
            let before = destination.accepted().len();
            let started = Instant::now();
            let response = handler.handle_payload(payload, &format!("r{r}"), deadline()).await;
            let took = started.elapsed();
            assert!(matches!(response, Ok(PushResponse::Sqs(ref s)) if s.batch_item_failures.is_empty()));
            if r == 0 {
                continue;
            }
            elapsed += took;
            let accepted = &destination.accepted()[before..];
            sent += accepted.iter().map(|b| b.bytes.len()).sum::<usize>();
            plain += accepted.iter().map(|b| b.uncompressed_len).sum::<usize>();
            forwarded += accepted.len();
        }
        if repeat {
            assert_eq!(forwarded, 0, "the ledger skipped every repeated event");
        }
        let total = events * rounds;
        let bytes = payload.len() * rounds;
        println!(
            "{label:<36} {:>9.0} events/s  {:>6.1} MB/s of SQS payload  {:>6.2} ms per 6 MB invocation{}",
            total as f64 / elapsed.as_secs_f64(),
            bytes as f64 / elapsed.as_secs_f64() / 1e6,
            elapsed.as_secs_f64() * 1e3 / rounds as f64,
            if sent > 0 { format!("  compression {:.1}:1", plain as f64 / sent as f64) } else { String::new() },
        );
    });
}

async fn peak_memory(payload: String, second: String, events: usize) {
    // Every part is bound by name, so moto and the proxies live as long as the function.
    let Deployed {
        destination,
        runtime,
        function,
        s3_proxy: _s3_proxy,
        table_proxy: _table_proxy,
        table: _table,
        moto: _moto,
        cold_start,
    } = Deployed::start(Duration::ZERO, true, async |_, _| {}).await;
    let idle = wait_rss(&function).await;
    let started = Instant::now();
    let response = runtime
        .invoke(payload.clone(), Duration::from_secs(60))
        .await
        .response();
    let first = started.elapsed();
    let started = Instant::now();
    runtime
        .invoke(second, Duration::from_secs(60))
        .await
        .response();
    let second = started.elapsed();
    let failures = response["batchItemFailures"]
        .as_array()
        .map_or(usize::MAX, Vec::len);
    let delivered: usize = destination
        .accepted()
        .iter()
        .map(|r| r.json_array_items().len())
        .sum();
    let peak = function.peak_rss_kib().unwrap_or(0);
    println!(
        "okta-push (release), {:.1} MB SQS payload of {events} events: peak RSS {:.1} MiB (idle {:.1} MiB); cold start (process start to first Runtime API poll) {:.1} ms; invocation {:.0} ms cold, {:.0} ms warm, incl. loopback HTTP and the ledger table; {delivered} events delivered, {failures} failures",
        payload.len() as f64 / 1_048_576.0,
        peak as f64 / 1024.0,
        idle as f64 / 1024.0,
        cold_start.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3,
        second.as_secs_f64() * 1e3,
    );
    assert_eq!(delivered, 2 * events, "every event reached the destination");
    function.stop().await;
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; run `make bench` for release figures");
    }
    let (payload, events) = sqs_payload(MAX_PAYLOAD, "a");
    let avg = payload.len() / events.max(1);
    println!("hot path, one core: {events} events of ~{} bytes each per 6 MB SQS payload ({avg} bytes per record)\n",
        okta_event("00000000-0000-0000-0000-000000000000", "2026-01-01T00:00:00.000Z").len());
    throughput("json + gzip (default)", &[], &payload, events, false);
    throughput(
        "ndjson + gzip",
        &[("DESTINATION_FORMAT", "ndjson")],
        &payload,
        events,
        false,
    );
    throughput(
        "json, no gzip",
        &[("DESTINATION_GZIP", "false")],
        &payload,
        events,
        false,
    );
    // Patterns every bench event passes (all are sent): the cost of matching alone.
    throughput(
        "json + gzip, with event filters",
        &[
            ("EVENT_TYPES_INCLUDE", "user.*,policy.*,system.*,app.*"),
            (
                "EVENT_TYPES_EXCLUDE",
                "system.agent.*,user.session.access_admin_app",
            ),
        ],
        &payload,
        events,
        false,
    );
    throughput(
        "a repeat the ledger skips entirely",
        &[],
        &payload,
        events,
        true,
    );
    println!();
    // The benchmark's own servers (Runtime API, destination, fake DynamoDB, latency proxies)
    // may use both cores while the function waits for them; the time the function was
    // runnable while they held a core is measured apart (`runqueue_seconds`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A second, different batch of the same size: warm container, ledger already cached.
    let (second, second_events) = sqs_payload(MAX_PAYLOAD, "b");
    assert_eq!(
        second_events, events,
        "both batches hold the same number of events"
    );
    runtime.block_on(peak_memory(payload, second, events));
    // With OKTA_INGEST_BASELINE_BIN_DIR (the directory of another build's okta-push), each
    // end-to-end figure is measured for that build and this one in turn, twice, so that a
    // change is judged against its baseline in one run on this noisy machine.
    let baseline = std::env::var_os("OKTA_INGEST_BASELINE_BIN_DIR").map(|dir| {
        let path = std::path::PathBuf::from(dir).join("okta-push");
        assert!(
            path.is_file(),
            "OKTA_INGEST_BASELINE_BIN_DIR holds no okta-push: {}",
            path.display()
        );
        path
    });
    let this = binary_path("okta-push");
    for delay_ms in [0, 10] {
        let delay = Duration::from_millis(delay_ms);
        match &baseline {
            None => runtime.block_on(end_to_end(&this, "", delay, true)),
            Some(baseline) => {
                for _ in 0..2 {
                    runtime.block_on(end_to_end(baseline, ", baseline", delay, true));
                    runtime.block_on(end_to_end(&this, ", this build", delay, true));
                }
            }
        }
    }
    // `LedgerStore` `S3`, the first setting: one LIST (and the objects it names)
    // before sending, one PUT after.
    runtime.block_on(end_to_end(
        &this,
        ", ledger in S3 objects",
        Duration::from_millis(10),
        false,
    ));
}

/// The release binary at `binary`, warm, on 6 MB SQS invocations, its ledger in the table
/// (`ledger_table`) or in S3 objects: its CPU per event against what gzip alone takes for
/// exactly the bytes it sent, its wall time against its CPU time with `delay` added to every
/// S3 and DynamoDB request, the requests per invocation, and its peak RSS.
async fn end_to_end(binary: &std::path::Path, label: &str, delay: Duration, ledger_table: bool) {
    const WARM_INVOCATIONS: usize = 8;
    let Deployed {
        destination,
        runtime,
        function,
        s3_proxy: proxy,
        table_proxy,
        table,
        moto: _moto,
        cold_start: _,
    } = Deployed::start_binary(binary, delay, ledger_table, async |_, _| {}).await;
    let pid = function.pid().map(|p| p.to_string()).unwrap_or_default();
    let (warm_up, _) = sqs_payload(MAX_PAYLOAD, "w");
    runtime
        .invoke(warm_up, Duration::from_secs(60))
        .await
        .response();
    let payloads: Vec<(String, usize)> = (0..WARM_INVOCATIONS)
        .map(|n| sqs_payload(MAX_PAYLOAD, &format!("e{n}")))
        .collect();
    let events: usize = payloads.iter().map(|(_, n)| n).sum();
    let before_requests = destination.accepted().len();
    let (mut cpu, mut wall, mut runnable) = (0.0, Duration::ZERO, 0.0);
    let s3_before = proxy.requests();
    let table_before = table_proxy.requests();
    let table_busy_before = table.busy();
    let units_before = table.write_units();
    for (payload, _) in payloads {
        let cpu_before = cpu_seconds(&pid);
        let runnable_before = runqueue_seconds(&pid);
        let started = Instant::now();
        let response = runtime
            .invoke(payload, Duration::from_secs(60))
            .await
            .response();
        wall += started.elapsed();
        cpu += cpu_seconds(&pid) - cpu_before;
        runnable += runqueue_seconds(&pid) - runnable_before;
        assert_eq!(
            response["batchItemFailures"].as_array().map(Vec::len),
            Some(0)
        );
    }
    let s3_requests = proxy.requests() - s3_before;
    let table_requests = table_proxy.requests() - table_before;
    let table_busy = (table.busy() - table_busy_before).as_secs_f64();
    let write_units = table.write_units() - units_before;
    let peak = function.peak_rss_kib().unwrap_or(0);
    function.stop().await;
    // gzip alone, at the binary's level, over exactly the bodies it sent (uncompressed).
    let sent: Vec<Vec<u8>> = destination.accepted()[before_requests..]
        .iter()
        .map(|r| r.body.clone())
        .collect();
    let delivered: usize = destination.accepted()[before_requests..]
        .iter()
        .map(|r| r.json_array_items().len())
        .sum();
    assert_eq!(delivered, events, "every event reached the destination");
    let own = std::process::id().to_string();
    let rounds = 3;
    let gzip_before = cpu_seconds(&own);
    let started = Instant::now();
    for _ in 0..rounds {
        for body in &sent {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
            std::io::Write::write_all(&mut enc, body).expect("gzip into memory");
            std::hint::black_box(enc.finish().expect("gzip into memory"));
        }
    }
    let gzip_wall = started.elapsed().as_secs_f64() / f64::from(rounds);
    let gzip_cpu = ((cpu_seconds(&own) - gzip_before) / f64::from(rounds)).max(gzip_wall);
    let per_event = |s: f64| s * 1e6 / events as f64;
    println!(
        "okta-push (release{label}), warm, {WARM_INVOCATIONS} x 6 MB SQS invocations ({events} events), S3 and DynamoDB latency {} ms:\n  \
         CPU {:.1} us/event vs gzip alone {:.1} us/event for the same bytes ({:.2}x); \
         wall {:.0} ms vs CPU {:.0} ms per invocation: +{:.0} ms waiting for answers, \
         +{:.0} ms runnable but waiting for a core this benchmark's servers held (the fake \
         DynamoDB spent {:.0} ms on the ledger requests); ledger (DynamoDB) requests {:.1} and S3 requests {:.1} per \
         invocation, ledger write units {:.3} per event (DynamoDB's billing rules); peak RSS {:.1} MiB",
        delay.as_millis(),
        per_event(cpu),
        per_event(gzip_cpu),
        cpu / gzip_cpu,
        wall.as_secs_f64() * 1e3 / WARM_INVOCATIONS as f64,
        cpu * 1e3 / WARM_INVOCATIONS as f64,
        (wall.as_secs_f64() - cpu - runnable) * 1e3 / WARM_INVOCATIONS as f64,
        runnable * 1e3 / WARM_INVOCATIONS as f64,
        table_busy * 1e3 / WARM_INVOCATIONS as f64,
        table_requests as f64 / WARM_INVOCATIONS as f64,
        s3_requests as f64 / WARM_INVOCATIONS as f64,
        write_units as f64 / events as f64,
        peak as f64 / 1024.0,
    );
}
