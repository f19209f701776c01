//! The demo's Security Lake part: okta-push with `DESTINATION_FORMAT=securitylake` writes the
//! sample batch as OCSF Parquet into a lake bucket on moto, as each source's provider role
//! (moto's STS), and the objects are read back and shown.

use std::time::Duration;

use okta_ingest_testkit::lake::{lake_sources, read_parquet, OKTA_CLASSES};
use okta_ingest_testkit::okta_events::rebase_timestamps;
use okta_ingest_testkit::{binary_path, FunctionProcess, Invocation, Moto, RuntimeApi};

const LAKE: &str = "aws-security-data-lake-us-east-1-demo";
/// Its own state bucket: the other demo already delivered these events to the HTTP
/// destination, and a stack has one destination and one ledger.
const STATE: &str = "okta-ingest-demo-lake";

pub async fn demo_lake(moto: &Moto, sample: &std::path::Path) {
    println!("\n== okta-push with DESTINATION_FORMAT=securitylake: the sample batch as OCSF Parquet in s3://{LAKE}/ext/");
    moto.create_bucket(LAKE).await;
    moto.create_bucket(STATE).await;
    let runtime = RuntimeApi::start().await;
    let mut env = moto.function_env();
    env.extend(
        [
            ("DESTINATION_FORMAT", "securitylake".to_owned()),
            (
                "SECURITY_LAKE_SOURCES",
                lake_sources(&OKTA_CLASSES, LAKE, "123456789012"),
            ),
            ("SECURITY_LAKE_EXTERNAL_ID", "demo-external-id".to_owned()),
            ("SECURITY_LAKE_ACCOUNT_ID", "123456789012".to_owned()),
            ("STATE_BUCKET", STATE.to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let function = FunctionProcess::spawn(&binary_path("okta-push"), &runtime, &env).await;
    let text = std::fs::read_to_string(sample).unwrap_or_default();
    let payload = rebase_timestamps(&text, time::OffsetDateTime::now_utc());
    match runtime.invoke(payload, Duration::from_secs(30)).await {
        Invocation::Response(v) => println!("   function answered: {v}"),
        other => println!("   function failed: {other:?}"),
    }
    for key in moto.list_keys(LAKE, "ext/").await {
        let body = moto.get_object(LAKE, &key).await;
        let file = read_parquet(&body);
        println!(
            "   s3://{LAKE}/{key} ({} bytes, {} rows, {})",
            body.len(),
            file.rows.len(),
            file.codecs.into_iter().collect::<Vec<_>>().join(",")
        );
        for row in &file.rows {
            println!(
                "     - {} {} / {} time={} user={} src={} status={}",
                row["metadata"]["uid"],
                row["class_name"],
                row["activity_name"],
                row["time"],
                row["user"]["name"],
                row["src_endpoint"]["ip"],
                row["status"]
            );
        }
        if let Some(first) = file.rows.first() {
            let mut shown = first.clone();
            if let Some(map) = shown.as_object_mut() {
                map.remove("unmapped");
            }
            println!("     first row as OCSF (without unmapped): {shown}");
        }
    }
    function.stop().await;
}
