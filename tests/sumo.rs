//! Sumo Logic's HTTP source over real HTTP to a recording destination: raw lines, its
//! headers, one org per request in `X-Sumo-Host`, and its error answers.

mod support;

use okta_ingest::PushResponse;
use okta_ingest_testkit::destination::Behaviour;
use okta_ingest_testkit::okta_events::{eventbridge_envelope, okta_event, sqs_event};
use serde_json::Value;
use support::platform::{fresh_events, only_request, rig};

/// An SQS batch with one event per `(org in the source, uuid)`, all fresh.
fn batch_from(sources: &[(&str, String)]) -> String {
    let bodies: Vec<(String, String)> = sources
        .iter()
        .enumerate()
        .map(|(n, (org, uuid))| {
            let envelope = eventbridge_envelope(
                &okta_event(uuid, "2026-11-22T09:00:00.000Z"),
                &format!("eb-{n}"),
                "2026-11-22T09:00:01Z",
            );
            // The source is a JSON string: `org` arrives here already escaped as JSON text.
            let envelope = envelope.replace(
                "\"aws.partner/okta.com/acme-dev/okta-ingest\"",
                &format!("\"aws.partner/okta.com/{org}/okta-ingest\""),
            );
            (format!("m-{n}"), envelope)
        })
        .collect();
    sqs_event(&bodies)
}

fn uuids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["uuid"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn all_delivered(response: &PushResponse) {
    let PushResponse::Sqs(response) = response else {
        panic!("not an SQS answer: {response:?}");
    };
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
}

#[tokio::test]
async fn sumo_sends_raw_lines_with_its_headers_and_no_credential() {
    let rig = rig("sumo", &[("SUMO_CATEGORY", "security/okta")]).await;
    rig.send().await;
    let request = only_request(&rig);
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("x-sumo-category"), Some("security/okta"));
    assert_eq!(request.header("x-sumo-name"), Some("okta-system-log"));
    assert_eq!(request.ndjson_lines(), fresh_events());
}

#[tokio::test]
async fn sumo_throttling_and_outages_are_retried_and_a_bad_collector_url_is_kept() {
    let rig = rig("sumo", &[]).await;
    rig.destination.push_behaviour(Behaviour::Status(429));
    rig.destination.push_behaviour(Behaviour::Status(503));
    rig.send().await;
    assert_eq!(
        rig.destination
            .requests()
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [429, 503, 200]
    );
    let rig = self::rig("sumo", &[]).await;
    rig.destination.set_default(Behaviour::Status(404));
    rig.send().await;
    assert_eq!(rig.destination.requests().len(), 1);
    assert!(rig.kept_reasons()[0].contains("HTTP 404"));
}

#[tokio::test]
async fn sumo_requests_carry_one_org_each_named_in_x_sumo_host() {
    let rig = rig("sumo", &[]).await;
    let sources: Vec<(&str, String)> = (0..6)
        .map(|n| {
            let org = if n % 2 == 0 { "acme" } else { "globex" };
            (org, format!("{org}-{n}"))
        })
        .collect();
    all_delivered(&rig.send_payload(&batch_from(&sources)).await);
    let requests = rig.destination.requests();
    assert_eq!(requests.len(), 2, "one request per org");
    let mut seen = Vec::new();
    for request in &requests {
        let host = request.header("x-sumo-host").expect("X-Sumo-Host");
        let uuids = uuids(&request.ndjson_lines());
        assert!(
            uuids.iter().all(|u| u.starts_with(&format!("{host}-"))),
            "{host}: {uuids:?}"
        );
        seen.extend(uuids);
    }
    seen.sort();
    let mut sent: Vec<String> = sources.into_iter().map(|(_, u)| u).collect();
    sent.sort();
    assert_eq!(seen, sent, "every event once");
}

#[tokio::test]
async fn sumo_delivers_events_from_a_hostile_source_once_without_its_org_as_a_header() {
    let long = "a".repeat(10 * 1024);
    for hostile in [
        "ac\\nme",
        "ac\\r\\nX-Injected: 1",
        "\u{e4}cme",
        long.as_str(),
    ] {
        let rig = rig("sumo", &[]).await;
        let sources = [(hostile, "u-1".to_owned()), (hostile, "u-2".to_owned())];
        all_delivered(&rig.send_payload(&batch_from(&sources)).await);
        let request = only_request(&rig);
        assert_eq!(request.status, 200);
        assert_eq!(request.header("x-sumo-host"), None, "{hostile:.20}");
        assert_eq!(request.header("x-injected"), None);
        assert_eq!(uuids(&request.ndjson_lines()), ["u-1", "u-2"]);
        assert!(rig.kept_reasons().is_empty());
    }
}
