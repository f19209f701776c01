//! The real okta-push binary against a hostile-but-real world: destinations that redirect,
//! echo the request, answer hugely or with absurd numbers, and an S3 that accepts TCP and
//! never answers. Every event is delivered, kept or handed back to SQS; nothing crashes,
//! hangs or leaks a secret.

use std::time::{Duration, Instant};

use okta_ingest_testkit::destination::{base64, Behaviour, RecordingDestination};
use serde_json::Value;

mod support;

use support::*;

const T: Duration = Duration::from_secs(15);

fn reasons(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.get("event").is_some())
        .map(|l| l["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_the_batch_is_kept_saying_where_it_points() {
    // GIVEN a destination that redirects, to itself (a trailing slash) or to another origin
    let stack = Stack::start(&[]).await;
    let elsewhere = RecordingDestination::start().await;
    let statuses = [301, 302, 303, 307, 308];
    for (n, status) in statuses.into_iter().enumerate() {
        let location = if status >= 307 {
            format!("{}/collect", elsewhere.url())
        } else {
            format!("/ingest/{URL_SECRET}/")
        };
        stack
            .destination
            .push_behaviour(Behaviour::Redirect(status, location));
        // WHEN a batch is pushed
        let batch = another_sample_batch(u32::try_from(n).unwrap());
        let response = stack.invoke(&batch, T).await.response();
        // THEN nothing is handed back to SQS: the events are kept
        assert_eq!(failed_ids(&response), Vec::<String>::new(), "{status}");
    }
    // AND the redirect was followed by no request at all, with the body or without
    let requests = stack.destination.requests();
    assert_eq!(
        requests.len(),
        statuses.len(),
        "one POST per batch, no follow-up"
    );
    assert!(requests.iter().all(|r| r.method == "POST"));
    assert!(requests.iter().all(|r| r.header("referer").is_none()));
    assert!(
        elsewhere.requests().is_empty(),
        "no request, credential or URL went elsewhere"
    );
    for summary in stack.summaries() {
        assert_eq!(summary["forwarded"], 0, "{summary}");
    }
    let kept = reasons(&stack.dead_letters().await);
    assert_eq!(kept.len(), statuses.len() * 3, "{kept:?}");
    for reason in &kept {
        assert!(
            reason.contains("redirecting to http://127.0.0.1:"),
            "{reason}"
        );
        assert!(reason.contains("set DESTINATION_URL"), "{reason}");
        assert!(!reason.contains(URL_SECRET), "{reason}");
    }
    stack.assert_no_secret_in_output();
}

#[tokio::test]
async fn a_destination_echoing_the_request_leaks_no_secret_into_logs_or_dead_letters() {
    // GIVEN a destination that echoes every header and the URL, raw, as JSON and base64
    let stack = Stack::start(&[]).await;
    stack.destination.push_behaviour(Behaviour::Echo(503));
    stack.destination.push_behaviour(Behaviour::Echo(400));
    // WHEN a batch is pushed (retried once after the 503, refused with the 400)
    let response = stack.invoke(&sample_batch(), T).await.response();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    // THEN the reasons say what happened, without the credential or the URL token
    let kept = reasons(&stack.dead_letters().await);
    assert_eq!(kept.len(), 3, "{kept:?}");
    let b64 = |s: &str| base64(s.as_bytes());
    let forbidden = [
        TOKEN.to_owned(),
        URL_SECRET.to_owned(),
        b64(&format!("Bearer {TOKEN}")),
    ];
    for reason in &kept {
        assert!(reason.contains("HTTP 400"), "{reason}");
        assert!(reason.chars().count() <= 400, "bounded: {reason}");
        for secret in &forbidden {
            assert!(!reason.contains(secret.as_str()), "{secret} in {reason}");
        }
    }
    let out = stack.function.output();
    for secret in &forbidden {
        assert!(
            !out.contains(secret.as_str()),
            "{secret} in the output:\n{out}"
        );
    }
}

#[tokio::test]
async fn a_huge_error_answer_is_read_only_as_far_as_its_reason() {
    // GIVEN a destination answering 400 with a 300 MiB body
    let stack = Stack::start(&[]).await;
    stack
        .destination
        .push_behaviour(Behaviour::Huge(400, 300 * 1024 * 1024));
    // WHEN a batch is pushed
    let started = Instant::now();
    let response = stack.invoke(&sample_batch(), T).await.response();
    // THEN the batch is kept, quickly, and the function's memory stays small
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reasons(&stack.dead_letters().await).len(), 3);
    let peak = stack.function.peak_rss_kib().expect("peak RSS from /proc");
    assert!(peak < 96 * 1024, "peak RSS {peak} KiB");
}

#[tokio::test]
async fn absurd_retry_after_values_mean_give_up_now_never_a_crash() {
    let stack = Stack::start(&[]).await;
    for (n, value) in [
        "18446744073709551615",
        "9223372036854775807",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ]
    .into_iter()
    .enumerate()
    {
        stack
            .destination
            .push_behaviour(Behaviour::StatusWithHeaders(
                429,
                vec![("retry-after".into(), value.into())],
            ));
        let batch = another_sample_batch(u32::try_from(n).unwrap());
        let response = stack.invoke(&batch, T).await.response();
        assert_eq!(failed_ids(&response), Vec::<String>::new(), "{value}");
    }
    let kept = reasons(&stack.dead_letters().await);
    assert_eq!(kept.len(), 9, "{kept:?}");
    assert!(
        kept.iter().all(|r| r.contains("Lambda deadline")),
        "{kept:?}"
    );
    // The process is alive and well: a normal batch goes through.
    let response = stack.invoke(&another_sample_batch(9), T).await.response();
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(stack.summaries().last().unwrap()["forwarded"], 3);
}

/// A TCP endpoint that accepts connections and never answers.
fn black_hole() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming().flatten() {
            held.push(connection);
        }
    });
    url
}

/// The sample batch as SQS hands it out for the `n`th time.
fn received(n: u32) -> String {
    sample_batch().replace(
        r#""ApproximateReceiveCount": "1""#,
        &format!(r#""ApproximateReceiveCount": "{n}""#),
    )
}

#[tokio::test]
async fn a_stalled_s3_delays_the_events_and_never_passes_the_deadline() {
    // GIVEN the ledger in S3 objects (no table), and an S3 endpoint that accepts TCP and
    // never answers (Secrets Manager is fine)
    let s3 = black_hole();
    let stack = Stack::start(&[("AWS_ENDPOINT_URL_S3", s3.as_str())]).await;
    let timeout = Duration::from_secs(10);
    let bodies = okta_ingest_testkit::okta_events::sqs_bodies(&sample_batch());
    // The three fresh events and the two malformed messages (the fourth is stale, the fifth
    // a repeat of the first: both final without the ledger).
    let mut open: Vec<String> = [0, 1, 2, 5, 6]
        .iter()
        .map(|&i| bodies[i].0.clone())
        .collect();
    open.sort();
    // WHEN the sample batch is pushed on its first receive
    let started = Instant::now();
    let response = stack.invoke(&received(1), timeout).await.response();
    // THEN before the deadline every message goes back to SQS: the ledger could not say
    // whether the fresh events went out, and the malformed ones could not be kept
    assert!(
        started.elapsed() < timeout,
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(failed_ids(&response), open);
    assert!(
        stack.destination.accepted().is_empty(),
        "nothing sent unchecked"
    );
    let summary = &stack.first_summaries(1).await[0];
    assert_eq!(summary["ledger_undecided"], 3, "{summary}");
    assert_eq!(summary["in_flight"], 0, "{summary}");
    assert_eq!(summary["not_kept"], 2, "{summary}");
    // WHEN it comes for the last time the queue allows (maxReceiveCount 5)
    let started = Instant::now();
    let response = stack.invoke(&received(5), timeout).await.response();
    // THEN the fresh events go out without the duplicate check, counted, in time; the
    // malformed ones still could not be kept and go back
    assert!(
        started.elapsed() < timeout,
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(
        failed_ids(&response),
        vec![bodies[5].0.clone(), bodies[6].0.clone()]
    );
    let summary = &stack.first_summaries(2).await[1];
    assert_eq!(summary["forwarded"], 3, "{summary}");
    assert_eq!(summary["ledger_unchecked"], 3, "{summary}");
}

#[tokio::test]
async fn a_stalled_ledger_table_delays_the_events_then_sends_them_on_the_last_receive() {
    // GIVEN the ledger in DynamoDB, whose endpoint accepts TCP and never answers
    let dynamodb = black_hole();
    let stack = Stack::start(&[
        ("LEDGER_TABLE", "okta-ingest-ledger"),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.as_str()),
    ])
    .await;
    let timeout = Duration::from_secs(10);
    let bodies = okta_ingest_testkit::okta_events::sqs_bodies(&sample_batch());
    // WHEN the sample batch is pushed on its first receive
    let started = Instant::now();
    let response = stack.invoke(&received(1), timeout).await.response();
    // THEN in time, the fresh events go back to SQS unsent (never sent twice on a guess),
    // the malformed ones are kept in S3, and the cause is named
    assert!(
        started.elapsed() < timeout,
        "answered after {:?}",
        started.elapsed()
    );
    let handed_back = failed_ids(&response);
    assert_eq!(handed_back.len(), 3, "{response}");
    assert!(
        !handed_back.contains(&bodies[5].0) && !handed_back.contains(&bodies[6].0),
        "the malformed ones are kept, not handed back: {response}"
    );
    assert!(stack.destination.accepted().is_empty());
    let summary = &stack.first_summaries(1).await[0];
    assert_eq!(summary["dead_lettered"], 2, "{summary}");
    assert_eq!(summary["ledger_undecided"], 3, "{summary}");
    assert_eq!(summary["ledger_errors"], 1, "{summary}");
    let warned = stack.function.json_lines().iter().any(|l| {
        l["level"] == "WARN"
            && l["cause"] == "timed out"
            && l["ledger"] == "dynamodb:okta-ingest-ledger"
    });
    assert!(warned, "{}", stack.function.output());
    // WHEN SQS hands the fresh ones out for the last time the queue allows
    let started = Instant::now();
    let response = stack.invoke(&received(5), timeout).await.response();
    // THEN they go out without the duplicate check, counted, in time
    assert!(
        started.elapsed() < timeout,
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    let summary = &stack.first_summaries(2).await[1];
    assert_eq!(summary["forwarded"], 3, "{summary}");
    assert_eq!(summary["ledger_unchecked"], 3, "{summary}");
}

#[tokio::test]
async fn one_body_with_a_broken_escape_spoils_only_its_own_message_in_the_binary() {
    // GIVEN a batch in which one body holds a lone UTF-16 surrogate (a truncated emoji)
    let stack = Stack::start(&[]).await;
    let bad = r#"{"messageId":"bad-escape","body":"{\"detail\":{\"x\":\"\ud83d\"}}"},"#;
    let batch = sample_batch().replacen("\"Records\": [", &format!("\"Records\": [{bad}"), 1);
    // WHEN the runtime hands it to okta-push
    let response = stack.invoke(&batch, T).await.response();
    // THEN the fresh events go out, and only the bad message is kept, as received
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    assert_eq!(stack.summaries()[0]["forwarded"], 3);
    let kept = stack.dead_letters().await;
    let bad_line = kept
        .iter()
        .find(|l| l["message_id"] == "bad-escape")
        .expect("the bad message is kept");
    assert_eq!(bad_line["raw"], r#""{\"detail\":{\"x\":\"\ud83d\"}}""#);
}
