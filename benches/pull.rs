//! `make bench` (pull): how much of the Okta rate-limit budget a backfill turns into events.
//!
//! The release okta-pull binary reads a large backlog from the fake Okta API, whose budget
//! is L requests per window, with full 1000-event pages, through moto (checkpoint) to a
//! loopback destination. The window is shortened from Okta's minute to 10 s so the figure
//! comes in under a minute. Okta's headers have whole-second resolution, so every wait may
//! overshoot the reset by up to a second: 10% of a 10 s window, under 2% of a real minute.
//! Reported: events moved against (a) the windows the run used and (b) the time it ran,
//! each x (L - reserved headroom) x 1000; the goal is at least 90%, with no 429.

use std::time::{Duration, Instant};

use okta_ingest_testkit::fake_okta::FakeOkta;
use okta_ingest_testkit::{binary_path, FunctionProcess, Moto, RecordingDestination, RuntimeApi};

const LIMIT: u32 = 12;
const WINDOW: Duration = Duration::from_secs(10);
const HEADROOM: f64 = 0.25;
const RUN: Duration = Duration::from_secs(44);

#[tokio::main]
async fn main() {
    let okta = FakeOkta::start().await;
    okta.set_tokens(&["bench-token"]);
    okta.set_rate_limit(LIMIT, WINDOW);
    let moto = Moto::start().await;
    moto.create_bucket("bench-state").await;
    let secret = moto.create_secret("bench/okta", "bench-token").await;
    let destination = RecordingDestination::start().await;
    let runtime = RuntimeApi::start().await;

    let usable = LIMIT - (f64::from(LIMIT) * HEADROOM).ceil() as u32;
    let windows_max = RUN.as_secs_f64() / WINDOW.as_secs_f64();
    let backlog = ((windows_max.ceil() as u32 + 1) * usable * 1000) as usize;
    let start = time::OffsetDateTime::now_utc() - time::Duration::hours(20);
    okta.add_events(backlog, start, time::Duration::milliseconds(500));

    let mut env = moto.function_env();
    env.extend(
        [
            ("OKTA_DOMAIN", okta.base_url()),
            ("ALLOW_INSECURE_HTTP", "true".to_owned()),
            ("OKTA_TOKEN_SECRET_ARN", secret),
            ("STATE_BUCKET", "bench-state".to_owned()),
            ("DESTINATION_URL", destination.url()),
            ("RATE_LIMIT_HEADROOM", HEADROOM.to_string()),
            ("RUST_LOG", "warn".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let function = FunctionProcess::spawn(&binary_path("okta-pull"), &runtime, &env).await;
    let started = Instant::now();
    let summary = runtime
        .invoke(include_str!("../events/schedule.json"), RUN)
        .await
        .response();
    let elapsed = started.elapsed();

    let requests = okta.requests();
    let (first, last) = (
        requests.first().map(|r| r.at),
        requests.last().map(|r| r.at),
    );
    // Windows the run actually opened: the fake starts one at the first request after the last ended.
    let span = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f),
        _ => Duration::ZERO,
    };
    let windows = (span.as_secs_f64() / WINDOW.as_secs_f64()).floor() as u32 + 1;
    let allowed = windows * usable * 1000;
    let by_time = (span + WINDOW).as_secs_f64() / WINDOW.as_secs_f64() * f64::from(usable) * 1000.0;
    let moved = summary["forwarded"].as_u64().unwrap_or(0);
    let http_429 = okta.count_status(429);
    println!(
        "pull backfill, budget {LIMIT} requests per {}s window, headroom {HEADROOM} ({usable} usable), 1000-event pages:",
        WINDOW.as_secs()
    );
    println!(
        "  moved {moved} events in {:.1} s over {windows} windows; budget allows {allowed} -> {:.1}% of the budget; {} Okta requests, {http_429} x 429, {} pacing waits",
        elapsed.as_secs_f64(),
        moved as f64 * 100.0 / f64::from(allowed.max(1)),
        requests.len(),
        summary["rate_limit_waits"],
    );
    println!(
        "  by time: {:.1} windows' worth of time from the first request to the end of the last window -> {:.1}% of the budget",
        (span + WINDOW).as_secs_f64() / WINDOW.as_secs_f64(),
        moved as f64 * 100.0 / by_time.max(1.0),
    );
    println!(
        "  at Okta's real budgets (per minute): {:.0} events/minute for L=20, {:.0} for L=120 (same arithmetic)",
        (20.0 - (20.0 * HEADROOM).ceil()) * 1000.0,
        (120.0 - (120.0 * HEADROOM).ceil()) * 1000.0
    );
    println!("  stopped: {}", summary["stopped"]);
    println!(
        "  peak RSS of okta-pull: {:.1} MiB",
        function.peak_rss_kib().unwrap_or(0) as f64 / 1024.0
    );
    assert_eq!(http_429, 0, "the budget was ours alone: no 429 may happen");
    function.stop().await;
}
