//! What teams with several orgs, noisy orgs and a broken log stream need, through the real
//! binaries: event filters on push and pull, the org in each platform's metadata, the
//! events pull had to fill, and alarms that refer to metrics the binaries really emit.

use std::collections::BTreeSet;

use okta_ingest_testkit::okta_events::{detail_text, okta_event, sqs_bodies};
use serde_json::Value;
use time::OffsetDateTime;

mod support;

use support::pull::{minutes_ago, Container, Org, T as PULL_T};
use support::*;

const T: std::time::Duration = std::time::Duration::from_secs(15);

fn event_type(detail: &str) -> String {
    let v: Value = serde_json::from_str(detail).unwrap();
    v["eventType"].as_str().unwrap_or_default().to_owned()
}

/// Metric names in one process's EMF lines.
fn emitted(lines: &[Value]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array())
        .flatten()
        .filter_map(|m| m["Name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn push_sends_only_what_the_filters_admit_and_counts_the_rest() {
    // GIVEN a push function that sends user events but not session events
    let stack = Stack::start(&[
        ("EVENT_TYPES_INCLUDE", "user.*"),
        ("EVENT_TYPES_EXCLUDE", "user.session.*"),
    ])
    .await;
    let batch = sample_batch();
    let fresh: Vec<String> = sqs_bodies(&batch)[..3]
        .iter()
        .map(|(_, b)| detail_text(b).to_owned())
        .collect();
    let admitted: Vec<&String> = fresh
        .iter()
        .filter(|d| !event_type(d).starts_with("user.session."))
        .collect();
    assert!(
        !admitted.is_empty() && admitted.len() < fresh.len(),
        "the sample mixes types"
    );
    // WHEN the sample batch is pushed
    let response = stack.invoke(&batch, T).await.response();
    // THEN only the admitted events go out; the others are counted, not kept, not errors
    assert_eq!(failed_ids(&response), Vec::<String>::new());
    let sent: Vec<String> = stack
        .destination
        .accepted()
        .iter()
        .flat_map(|r| r.json_array_items())
        .collect();
    assert_eq!(sent.iter().collect::<Vec<_>>(), admitted);
    // Filtering comes first: a repeat or a stale copy of a left-out type is filtered too.
    let left_out = sqs_bodies(&batch)[..5]
        .iter()
        .filter(|(_, b)| event_type(detail_text(b)).starts_with("user.session."))
        .count();
    let summary = &stack.summaries()[0];
    assert_eq!(summary["filtered"], left_out, "{summary}");
    assert_eq!(stack.metrics()[0]["EventsFiltered"], left_out);
    assert_eq!(
        stack.dead_letters().await.len(),
        2,
        "only the two malformed messages"
    );
}

#[tokio::test]
async fn each_platform_names_the_org_of_the_event_source_in_its_own_metadata() {
    // The sample events come from aws.partner/okta.com/acme-corp/okta-ingest-prod.
    let cases: [(&str, &[(&str, &str)]); 6] = [
        ("splunk-hec", &[]),
        ("datadog", &[]),
        ("coralogix", &[]),
        ("elastic-bulk", &[("ELASTIC_INDEX", "okta-{org}")]),
        ("sumo", &[]),
        ("datadog", &[("OKTA_ORG_LABEL", "emea-prod")]),
    ];
    for (format, extra) in cases {
        let mut env = vec![
            ("DESTINATION_FORMAT", format),
            ("DESTINATION_GZIP", "false"),
        ];
        env.extend_from_slice(extra);
        let stack = Stack::start(&env).await;
        stack.invoke(&sample_batch(), T).await.response();
        let request = &stack.destination.accepted()[0];
        let body = request.body_text();
        let org = if extra.is_empty() || format == "elastic-bulk" {
            "acme-corp"
        } else {
            "emea-prod"
        };
        match format {
            "splunk-hec" => {
                let first: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
                assert_eq!(first["host"], org);
            }
            "datadog" => {
                let items: Vec<Value> = serde_json::from_str(&body).unwrap();
                assert_eq!(items[0]["hostname"], org);
                assert_eq!(items[0]["ddtags"], format!("okta_org:{org}"));
            }
            "coralogix" => {
                let items: Vec<Value> = serde_json::from_str(&body).unwrap();
                assert_eq!(items[0]["subsystemName"], org);
            }
            "elastic-bulk" => {
                let action: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
                assert_eq!(action["create"]["_index"], "okta-acme-corp");
            }
            "sumo" => assert_eq!(request.header("x-sumo-host"), Some(org)),
            _ => unreachable!(),
        }
    }
}

/// Okta events of two types, the second half `policy.evaluate_sign_on`.
fn mixed_events(org: &Org, n: usize, start: OffsetDateTime) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let uuid = format!("mixed-{i:05}");
            let published = start + time::Duration::seconds(i as i64);
            let mut json = okta_event(
                &uuid,
                &okta_ingest_testkit::okta_events::rfc3339_millis(published),
            );
            let kind = if i % 2 == 0 {
                "user.session.start"
            } else {
                "policy.evaluate_sign_on"
            };
            json = json.replace("\"user.session.start\"", &format!("\"{kind}\""));
            org.okta.add_raw_event(&uuid, published, json);
            (uuid, kind.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn pull_filters_too_and_its_checkpoint_moves_past_what_it_filtered() {
    let org = Org::start(&[("EVENT_TYPES_EXCLUDE", "policy.*")]).await;
    let events = mixed_events(&org, 40, minutes_ago(60));
    let container: Container = org.container().await;
    let first = container.scheduled(PULL_T).await;
    assert_eq!(
        (first["forwarded"].as_u64(), first["filtered"].as_u64()),
        (Some(20), Some(20)),
        "{first}"
    );
    let delivered = org.delivered();
    for (uuid, kind) in &events {
        assert_eq!(
            delivered.contains_key(uuid),
            kind == "user.session.start",
            "{uuid}"
        );
    }
    assert!(org.moto.list_keys(BUCKET, "dead-letter/").await.is_empty());
    // The next run starts after them: nothing is read twice, nothing filtered twice.
    let second = container.scheduled(PULL_T).await;
    assert_eq!(
        (second["forwarded"].as_u64(), second["filtered"].as_u64()),
        (Some(0), Some(0)),
        "{second}"
    );
    assert_eq!(
        first["gap_filled"], 20,
        "filtered events are no gap: {first}"
    );
}

#[tokio::test]
async fn pull_counts_the_gap_it_filled_where_push_had_not_delivered() {
    // GIVEN 30 settled events, of which push delivered 18 (recorded in the ledger as push
    // writes it)
    let org = Org::start(&[]).await;
    let uuids = org
        .okta
        .add_events(30, minutes_ago(60), time::Duration::seconds(1));
    let hour = minutes_ago(60);
    let partition = format!(
        "ledger/{:04}/{:02}/{:02}/{:02}/",
        hour.year(),
        u8::from(hour.month()),
        hour.day(),
        hour.hour()
    );
    let mut by_partition: std::collections::BTreeMap<String, String> = Default::default();
    for (i, uuid) in uuids.iter().enumerate().take(18) {
        let published = minutes_ago(60) + time::Duration::seconds(i as i64);
        let p = format!(
            "ledger/{:04}/{:02}/{:02}/{:02}/",
            published.year(),
            u8::from(published.month()),
            published.day(),
            published.hour()
        );
        by_partition
            .entry(p)
            .or_default()
            .push_str(&format!("\"{uuid}\"\n"));
    }
    assert!(by_partition.contains_key(&partition));
    let s3 = org.moto.s3().await;
    for (n, (p, body)) in by_partition.into_iter().enumerate() {
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("{p}0000000000000-pushpush-{n:06}.jsonl"))
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    }
    // WHEN pull runs
    let container = org.container().await;
    let run = container.scheduled(PULL_T).await;
    // THEN it fills only the gap, and says so
    assert_eq!(run["already_delivered"], 18, "{run}");
    assert_eq!(run["forwarded"], 12);
    assert_eq!(run["gap_filled"], 12);
    let metrics: Vec<Value> = container
        .function
        .json_lines()
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .collect();
    assert_eq!(metrics.last().unwrap()["GapEventsFilled"], 12);
}

/// `OktaIngest` metrics named in template.yaml: alarms (`Namespace: OktaIngest` then
/// `MetricName:`) and dashboard widgets (`["OktaIngest", "Name", ...`).
fn template_metrics() -> BTreeSet<String> {
    let template = include_str!("../template.yaml");
    let mut names = BTreeSet::new();
    let mut in_namespace = false;
    for line in template.lines().map(str::trim) {
        if line.starts_with("Namespace:") {
            in_namespace = line.ends_with("OktaIngest");
        } else if let Some(name) = line.strip_prefix("MetricName:").filter(|_| in_namespace) {
            names.insert(name.trim().to_owned());
        }
        let mut rest = line;
        while let Some(i) = rest.find("[\"OktaIngest\", \"") {
            rest = &rest[i + 16..];
            if let Some(end) = rest.find('"') {
                names.insert(rest[..end].to_owned());
            }
        }
    }
    names
}

#[tokio::test]
async fn every_metric_the_alarms_and_dashboard_use_is_one_the_binaries_emit() {
    let push = Stack::start(&[]).await;
    push.invoke(&sample_batch(), T).await.response();
    let org = Org::start(&[]).await;
    org.okta
        .add_events(5, minutes_ago(30), time::Duration::seconds(1));
    let container = org.container().await;
    container.scheduled(PULL_T).await;
    // The directory's metrics come from its own invocations (docs/directory.md).
    for directory in [
        include_str!("../events/directory-full.json"),
        include_str!("../events/directory-changes.json"),
    ] {
        container.run(directory, PULL_T).await;
    }
    let pull_lines: Vec<Value> = container.function.json_lines();
    let mut names = emitted(&push.metrics());
    names.extend(emitted(&pull_lines));
    let wanted = template_metrics();
    assert!(wanted.len() >= 20, "{wanted:?}");
    for name in ["GapEventsFilled", "EventsFiltered", "EventsReceived"] {
        assert!(
            wanted.contains(name),
            "{name} is on an alarm or the dashboard"
        );
    }
    // The Security Lake lane's metrics come only with the lake beside an HTTP destination:
    // tests/lake_beside.rs checks that its alarm's metric is emitted.
    let missing: Vec<&String> = wanted
        .difference(&names)
        .filter(|n| !n.starts_with("Lake"))
        .collect();
    assert!(
        missing.is_empty(),
        "named in template.yaml, never emitted: {missing:?}"
    );
}

#[tokio::test]
async fn a_log_stream_lifecycle_event_is_called_out_in_a_warning() {
    // GIVEN Okta's record that a log stream was deactivated, among ordinary events
    let stack = Stack::start(&[]).await;
    let batch = sample_batch().replacen(
        "user.authentication.auth_via_mfa",
        "system.log_stream.lifecycle.deactivate",
        1,
    );
    // WHEN push handles it
    stack.invoke(&batch, T).await.response();
    // THEN one WARN line names the stream (the event's first target), and it is delivered
    let warnings: Vec<Value> = stack
        .function
        .json_lines()
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Okta Log Streaming changed state"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["level"], "WARN");
    assert_eq!(
        warnings[0]["event_type"],
        "system.log_stream.lifecycle.deactivate"
    );
    assert!(warnings[0]["stream"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(stack.summaries()[0]["forwarded"], 3);
}
