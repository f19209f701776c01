//! Reading Security Lake objects back: a Parquet file's rows as JSON, and the compression of
//! every column chunk, for tests and the demo.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

/// A Parquet file as read back.
pub struct ParquetFile {
    /// Every row, as JSON (nulls left out, as arrow-json writes them).
    pub rows: Vec<Value>,
    /// The codec of every column chunk (`ZSTD`, `SNAPPY`, ...).
    pub codecs: BTreeSet<String>,
}

/// Reads `bytes` as Parquet; panics on anything else (test and demo input).
pub fn read_parquet(bytes: &[u8]) -> ParquetFile {
    let bytes = Bytes::copy_from_slice(bytes);
    let file = SerializedFileReader::new(bytes.clone()).expect("a Parquet file");
    let mut codecs = BTreeSet::new();
    for group in file.metadata().row_groups() {
        for column in group.columns() {
            // `ZSTD(ZstdLevel(3))` names the codec before its level.
            let codec = format!("{:?}", column.compression());
            codecs.insert(codec.split('(').next().unwrap_or_default().to_owned());
        }
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .expect("Parquet that arrow reads");
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.expect("a record batch");
        let mut writer = arrow_json::ArrayWriter::new(Vec::new());
        writer.write(&batch).expect("rows as JSON");
        writer.finish().expect("rows as JSON");
        let json: Vec<Value> = serde_json::from_slice(&writer.into_inner()).expect("JSON rows");
        rows.extend(json);
    }
    ParquetFile { rows, codecs }
}

/// The OCSF classes okta-ingest writes, by `class_uid`.
pub const OKTA_CLASSES: [u32; 8] = [2004, 3001, 3002, 3003, 3004, 3005, 3006, 6003];

/// A `SECURITY_LAKE_SOURCES` value: a custom source `okta-<uid>` in `bucket` for each class,
/// with its provider role in `account`, as Security Lake would report them.
pub fn lake_sources(classes: &[u32], bucket: &str, account: &str) -> String {
    let map: serde_json::Map<String, Value> = classes
        .iter()
        .map(|uid| {
            (
                uid.to_string(),
                serde_json::json!({
                    "location": format!("s3://{bucket}/ext/okta-{uid}/1.0/"),
                    "role_arn": format!("arn:aws:iam::{account}:role/AmazonSecurityLake-Provider-okta-{uid}-us-east-1"),
                }),
            )
        })
        .collect();
    Value::Object(map).to_string()
}

/// How many rows each event (`metadata.uid`) has in the Parquet objects under `ext/` of
/// `bucket`: each 1 when every event is in the lake once.
pub async fn rows_per_event(moto: &crate::moto::Moto, bucket: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for key in moto.list_keys(bucket, "ext/").await {
        for row in read_parquet(&moto.get_object(bucket, &key).await).rows {
            let uid = row["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            *counts.entry(uid).or_insert(0) += 1;
        }
    }
    counts
}

/// What okta-push with `DESTINATION_FORMAT=securitylake` is started with in the tests: moto's
/// credentials with AWS reached through `endpoint` (a proxy in front of moto), the lake's
/// `sources`, `external_id` and `account`, dead letters in `state`, events of any age, and a
/// destination timeout of `timeout_seconds`.
pub fn lake_push_env(
    moto: &crate::moto::Moto,
    endpoint: String,
    sources: String,
    (external_id, account, state): (&str, &str, &str),
    timeout_seconds: u32,
) -> Vec<(String, String)> {
    let mut env = moto.function_env();
    env.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
    env.extend(
        [
            ("AWS_ENDPOINT_URL", endpoint),
            ("DESTINATION_FORMAT", "securitylake".into()),
            ("SECURITY_LAKE_SOURCES", sources),
            ("SECURITY_LAKE_EXTERNAL_ID", external_id.into()),
            ("SECURITY_LAKE_ACCOUNT_ID", account.into()),
            ("STATE_BUCKET", state.into()),
            ("MAX_EVENT_AGE_SECONDS", "0".into()),
            ("DESTINATION_TIMEOUT_SECONDS", timeout_seconds.to_string()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    env
}
