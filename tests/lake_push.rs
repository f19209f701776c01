//! `DESTINATION_FORMAT=securitylake`: the real okta-push binary writes OCSF Parquet objects
//! into Security Lake custom sources on moto's S3, as each source's provider role (moto's
//! STS), read back here with a Parquet reader and compared field by field with the mapping.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use okta_ingest::ocsf::{to_ocsf, OcsfOptions};
use okta_ingest::OktaEvent;
use okta_ingest_testkit::function::{binary_path, FunctionProcess};
use okta_ingest_testkit::lake::{lake_push_env, lake_sources, OKTA_CLASSES};
use okta_ingest_testkit::moto::Moto;
use okta_ingest_testkit::okta_events::{
    eventbridge_envelope, gunzip_ndjson, okta_event, sqs_event,
};
use okta_ingest_testkit::runtime_api::RuntimeApi;
use okta_ingest_testkit::LatencyProxy;
use serde_json::{json, Value};

const LAKE: &str = "aws-security-data-lake-us-east-1-abc123";
const STATE: &str = "okta-ingest-state";
const EXTERNAL_ID: &str = "okta-ingest-ext-5d1c";
const ACCOUNT: &str = "111122223333";
const T: Duration = Duration::from_secs(20);

struct Lake {
    moto: Moto,
    proxy: LatencyProxy,
    runtime: RuntimeApi,
    function: FunctionProcess,
}

impl Lake {
    async fn start(sources: &str) -> Lake {
        let moto = Moto::start().await;
        moto.create_bucket(STATE).await;
        moto.create_bucket(LAKE).await;
        let proxy = LatencyProxy::start(moto.addr(), Duration::ZERO).await;
        let runtime = RuntimeApi::start().await;
        // Events on either side of a UTC midnight, in the past: any age is taken.
        let env = lake_push_env(
            &moto,
            proxy.endpoint(),
            sources.into(),
            (EXTERNAL_ID, ACCOUNT, STATE),
            5,
        );
        let function = FunctionProcess::spawn(&binary_path("okta-push"), &runtime, &env).await;
        Lake {
            moto,
            proxy,
            runtime,
            function,
        }
    }

    async fn send(&self, events: &[String]) -> Value {
        let bodies: Vec<(String, String)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let id = format!("msg-{i}");
                (
                    id.clone(),
                    eventbridge_envelope(e, &id, "2026-12-01T00:00:05Z"),
                )
            })
            .collect();
        self.runtime.invoke(sqs_event(&bodies), T).await.response()
    }

    /// Every Parquet object under the lake's `ext/`, by key.
    async fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for key in self.moto.list_keys(LAKE, "ext/").await {
            let body = self.moto.get_object(LAKE, &key).await;
            out.insert(key, body);
        }
        out
    }

    async fn dead_letters(&self) -> Vec<Value> {
        let mut kept = Vec::new();
        for key in self.moto.list_keys(STATE, "dead-letter/").await {
            kept.extend(gunzip_ndjson(&self.moto.get_object(STATE, &key).await));
        }
        kept
    }
}

/// An Okta event of `event_type`.
fn event(uuid: &str, published: &str, event_type: &str) -> String {
    okta_event(uuid, published).replace(
        r#""eventType":"user.session.start""#,
        &format!(r#""eventType":"{event_type}""#),
    )
}

/// Events of four classes, two of them across 2026-12-01's midnight (UTC).
fn events() -> Vec<String> {
    vec![
        event(
            "0f000001-8b7d-11ef-96f7-3e4a5b6c7d8e",
            "2026-12-01T00:00:01.250Z",
            "user.session.start",
        ),
        event(
            "0f000002-8b7d-11ef-96f7-3e4a5b6c7d8e",
            "2026-11-30T23:59:59.900Z",
            "user.session.start",
        ),
        event(
            "0f000003-8b7d-11ef-96f7-3e4a5b6c7d8e",
            "2026-11-30T23:59:58.000Z",
            "user.session.start",
        ),
        event(
            "0f000004-8b7d-11ef-96f7-3e4a5b6c7d8e",
            "2026-12-01T00:00:02.000Z",
            "group.user_membership.add",
        ),
        event(
            "0f000005-8b7d-11ef-96f7-3e4a5b6c7d8e",
            "2026-12-01T00:00:03.000Z",
            "user.account.update_password",
        ),
        event(
            "0f000006-8b7d-11ef-96f7-3e4a5b6c7d8e",
            "2026-12-01T00:00:04.000Z",
            "system.api_token.create",
        ),
    ]
}

/// The mapping of `okta` as the lake stores it: `unmapped` as its JSON text.
fn expected_row(okta: &str) -> (u32, Value) {
    let raw: Box<serde_json::value::RawValue> = serde_json::from_str(okta).unwrap();
    let event = OktaEvent::from_raw(&raw).unwrap();
    let (class, mut value) = to_ocsf(&event, &OcsfOptions::default());
    if let Some(unmapped) = value.get_mut("unmapped") {
        *unmapped = Value::String(unmapped.to_string());
    }
    (class.uid(), value)
}

fn read_parquet(bytes: &[u8]) -> (Vec<Value>, BTreeSet<String>) {
    let file = okta_ingest_testkit::lake::read_parquet(bytes);
    (file.rows, file.codecs)
}

/// `a` and `b` agree on every field `b` has, numbers compared as numbers.
fn assert_same(row: &Value, want: &Value, at: &str) {
    match (row, want) {
        (Value::Object(r), Value::Object(w)) => {
            for (k, v) in w {
                assert_same(r.get(k).unwrap_or(&Value::Null), v, &format!("{at}.{k}"));
            }
        }
        (Value::Array(r), Value::Array(w)) => {
            assert_eq!(r.len(), w.len(), "{at}");
            for (i, (r, w)) in r.iter().zip(w).enumerate() {
                assert_same(r, w, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(r), Value::Number(w)) => assert_eq!(r.as_f64(), w.as_f64(), "{at}"),
        (r, w) => assert_eq!(r, w, "{at}"),
    }
}

#[tokio::test]
async fn writes_one_zstd_parquet_object_per_class_and_day_as_each_sources_provider_role() {
    let lake = Lake::start(&lake_sources(&OKTA_CLASSES, LAKE, ACCOUNT)).await;
    let okta = events();
    let response = lake.send(&okta).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");

    let objects = lake.objects().await;
    let mut seen = BTreeMap::new();
    for (key, bytes) in &objects {
        let (rows, codecs) = read_parquet(bytes);
        assert_eq!(codecs, BTreeSet::from(["ZSTD".to_owned()]), "{key}");
        let class = rows[0]["class_uid"].as_u64().unwrap();
        assert!(
            rows.iter().all(|r| r["class_uid"] == class),
            "one class per object: {key}"
        );
        let times: Vec<i64> = rows.iter().map(|r| r["time"].as_i64().unwrap()).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "sorted by time: {times:?}"
        );
        let day = time::OffsetDateTime::from_unix_timestamp(times[0] / 1000)
            .unwrap()
            .date();
        let day = format!(
            "{:04}{:02}{:02}",
            day.year(),
            u8::from(day.month()),
            day.day()
        );
        let prefix =
            format!("ext/okta-{class}/1.0/region=us-east-1/accountId={ACCOUNT}/eventDay={day}/");
        assert!(key.starts_with(&prefix), "{key} is not under {prefix}");
        assert!(key.ends_with(".parquet"), "{key}");
        for row in rows {
            seen.insert(row["metadata"]["uid"].as_str().unwrap().to_owned(), row);
        }
    }
    // Authentication on two days, and three other classes: five objects.
    assert_eq!(objects.len(), 5, "{:?}", objects.keys().collect::<Vec<_>>());
    assert_eq!(seen.len(), okta.len(), "every event once");
    for text in &okta {
        let (_, want) = expected_row(text);
        let uid = want["metadata"]["uid"].as_str().unwrap();
        assert_same(&seen[uid], &want, uid);
    }

    // Written as the provider roles: assumed with the external ID, and the objects signed
    // with the assumed credentials, not the function's own (`testing`).
    let sent = lake.proxy.sent().join("\n");
    assert!(sent.contains("Action=AssumeRole"), "no AssumeRole call");
    assert!(
        sent.contains(&format!("ExternalId={EXTERNAL_ID}")),
        "no external ID"
    );
    let puts: Vec<&str> = sent
        .split("PUT /")
        .skip(1)
        .filter(|r| r.starts_with(&format!("{LAKE}/ext/")) || r.contains(&format!("host: {LAKE}")))
        .collect();
    assert!(!puts.is_empty(), "no PutObject seen");
    for put in puts {
        assert!(
            !put.contains("Credential=testing/"),
            "written as the function's role: {put:.300}"
        );
    }
    let output = lake.function.output();
    assert!(output.contains("okta-push ready"), "{output}");
    assert!(
        !output.contains(EXTERNAL_ID),
        "the external ID is never logged"
    );
}

#[tokio::test]
async fn the_same_events_again_write_nothing_new() {
    let lake = Lake::start(&lake_sources(&OKTA_CLASSES, LAKE, ACCOUNT)).await;
    lake.send(&events()).await;
    let first = lake.objects().await;
    let response = lake.send(&events()).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    assert_eq!(
        lake.objects().await,
        first,
        "the ledger knows they were delivered"
    );
}

#[tokio::test]
async fn a_class_without_a_source_is_kept_with_a_reason_and_the_rest_written() {
    let lake = Lake::start(&lake_sources(&[3002], LAKE, ACCOUNT)).await;
    let okta = events();
    let response = lake.send(&okta).await;
    assert_eq!(
        response["batchItemFailures"],
        json!([]),
        "kept, so SQS may delete: {response}"
    );
    let written: usize = lake
        .objects()
        .await
        .values()
        .map(|b| read_parquet(b).0.len())
        .sum();
    assert_eq!(written, 3, "the three sign-ins");
    let kept = lake.dead_letters().await;
    let kept_events: Vec<&Value> = kept.iter().filter(|k| k.get("event").is_some()).collect();
    assert_eq!(kept_events.len(), 3, "{kept:?}");
    for k in kept_events {
        let reason = k["reason"].as_str().unwrap();
        assert!(reason.contains("SECURITY_LAKE_SOURCES"), "{reason}");
        assert_eq!(
            k["event"]["eventType"]
                .as_str()
                .map(|t| t != "user.session.start"),
            Some(true)
        );
    }
}

#[tokio::test]
async fn a_lake_bucket_that_is_not_there_keeps_every_event_and_names_the_bucket() {
    let lake = Lake::start(&lake_sources(
        &OKTA_CLASSES,
        "aws-security-data-lake-us-east-1-gone",
        ACCOUNT,
    ))
    .await;
    let okta = events();
    let response = lake.send(&okta).await;
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    assert!(lake.objects().await.is_empty());
    let kept = lake.dead_letters().await;
    let kept_events: Vec<&Value> = kept.iter().filter(|k| k.get("event").is_some()).collect();
    assert_eq!(kept_events.len(), okta.len(), "{kept:?}");
    assert!(kept_events.iter().all(|k| k["reason"]
        .as_str()
        .unwrap()
        .contains("aws-security-data-lake-us-east-1-gone")));
}
