//! The summary: what each path serialises and measures.

use super::*;

#[test]
fn one_summary_serialises_only_what_its_path_has() {
    let push = Summary {
        counts: Counts {
            received: 3,
            forwarded: 2,
            ..Counts::default()
        },
        ms: 7,
        ..Summary::default()
    };
    let v = serde_json::to_value(&push).unwrap();
    assert_eq!(
        (v["received"].as_u64(), v["forwarded"].as_u64()),
        (Some(3), Some(2))
    );
    assert!(
        v.get("pages").is_none() && v.get("objects").is_none(),
        "{v}"
    );
    let pull = Summary {
        pull: Some(PullRun {
            mode: "scheduled",
            stopped: "caught up".into(),
            lag_seconds: Some(0),
            ..PullRun::default()
        }),
        ..push.clone()
    };
    let v = serde_json::to_value(&pull).unwrap();
    assert_eq!(
        (v["mode"].as_str(), v["stopped"].as_str()),
        (Some("scheduled"), Some("caught up"))
    );
    let doc = pull.metrics().document("fn", 0);
    assert_eq!(doc["PullLagSeconds"], 0);
    assert_eq!(doc["EventsForwarded"], 2);
    assert!(push
        .metrics()
        .document("fn", 0)
        .get("OktaRequests")
        .is_none());
}

#[test]
fn counts_add_up_and_keep_a_bounded_latency_sample() {
    let page = Counts {
        forwarded: 60,
        destination_requests: 2,
        latencies_ms: vec![5; 60],
        ..Counts::default()
    };
    let mut run = Counts::default();
    run.add(&page);
    run.add(&page);
    assert_eq!((run.forwarded, run.destination_requests), (120, 4));
    assert_eq!(run.latencies_ms.len(), LATENCY_SAMPLES);
}
