//! Tests of the Parquet encoder: OCSF lines made by the crate's own mapping from Okta-shaped
//! events (the golden files' inputs), encoded, then read back with the Parquet reader and
//! compared field by field with the lines; the GIVEN and WHEN steps the files share.

mod objects;
mod odd_input;

use std::path::PathBuf;

use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::*;
use crate::event::OktaEvent;
use crate::ocsf::{write_ocsf, OcsfOptions};

/// GIVEN the Okta event of golden file `class` with this uuid, time, source IP and login.
fn okta(class: &str, uuid: &str, published: &str, ip: &str, login: &str) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/ocsf_golden/{class}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let golden: Value = serde_json::from_str(&text).expect("golden JSON");
    let mut okta = golden["okta"].clone();
    okta["uuid"] = json!(uuid);
    okta["published"] = json!(published);
    okta["client"]["ipAddress"] = json!(ip);
    okta["actor"]["alternateId"] = json!(login);
    okta
}

/// The OCSF line the crate's mapping writes for `okta`.
fn ocsf_line(okta: &Value, options: &OcsfOptions) -> Vec<u8> {
    let raw = RawValue::from_string(okta.to_string()).expect("JSON");
    let event = OktaEvent::from_raw(&raw).expect("an Okta LogEvent");
    let mut out = Vec::new();
    write_ocsf(&event, options, &mut out);
    out
}

fn lines(okta: &[Value]) -> Vec<Vec<u8>> {
    okta.iter()
        .map(|o| ocsf_line(o, &OcsfOptions::default()))
        .collect()
}

fn encoded(lines: &[Vec<u8>]) -> Result<Vec<LakeObject>, LakeEncodeError> {
    let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    encode(&lines)
}

fn parsed(line: &[u8]) -> Value {
    serde_json::from_slice(line).expect("an OCSF line is JSON")
}

/// The lines of class `class_uid`, in time order (stable), parsed.
fn expected(lines: &[Vec<u8>], class_uid: u32) -> Vec<Value> {
    let mut records: Vec<Value> = lines
        .iter()
        .map(|l| parsed(l))
        .filter(|r| r["class_uid"] == json!(class_uid))
        .collect();
    records.sort_by_key(|r| r["time"].as_i64());
    records
}

/// WHEN `object` is read back with the Parquet reader.
fn read(object: &LakeObject) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(object.bytes.clone()))
        .expect("a Parquet file")
        .build()
        .expect("a reader")
        .collect::<Result<_, _>>()
        .expect("readable batches")
}

fn column(batch: &RecordBatch, path: &[&str]) -> ArrayRef {
    let mut array = batch
        .column_by_name(path[0])
        .unwrap_or_else(|| panic!("no column {}", path[0]))
        .clone();
    for name in &path[1..] {
        let inner = array.as_struct().column_by_name(name);
        array = inner
            .unwrap_or_else(|| panic!("no field {name} in {path:?}"))
            .clone();
    }
    array
}

fn strings(object: &LakeObject, path: &[&str]) -> Vec<Option<String>> {
    read(object)
        .iter()
        .flat_map(|b| {
            let array = column(b, path);
            let text = array.as_string::<i32>();
            (0..text.len())
                .map(|i| text.is_valid(i).then(|| text.value(i).to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn ints(object: &LakeObject, path: &[&str]) -> Vec<i64> {
    read(object)
        .iter()
        .flat_map(|b| {
            column(b, path)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

fn text_at(records: &[Value], path: &[&str]) -> Vec<Option<String>> {
    records
        .iter()
        .map(|r| {
            let value = path.iter().fold(r, |v, name| &v[*name]);
            value.as_str().map(str::to_owned)
        })
        .collect()
}

/// Events of two classes, out of time order and interleaved, on one day.
fn mixed() -> Vec<Vec<u8>> {
    lines(&[
        okta(
            "authentication",
            "a3",
            "2026-11-30T10:00:03.000Z",
            "198.51.100.3",
            "carol@example.com",
        ),
        okta(
            "group_management",
            "g2",
            "2026-11-30T10:00:05.000Z",
            "198.51.100.5",
            "ada@example.com",
        ),
        okta(
            "authentication",
            "a1",
            "2026-11-30T10:00:01.000Z",
            "198.51.100.1",
            "alice@example.com",
        ),
        okta(
            "group_management",
            "g1",
            "2026-11-30T10:00:04.000Z",
            "198.51.100.4",
            "ada@example.com",
        ),
        okta(
            "authentication",
            "a2",
            "2026-11-30T10:00:02.000Z",
            "198.51.100.2",
            "bob@example.com",
        ),
    ])
}

/// [`place`] then [`encode_group`] over all `lines`, as the sink does, failing on the first
/// problem (the tests' way in). Encodes OCSF `lines` (one JSON object each) into objects: one per class and
/// UTC day of `time`, ordered by class then day, each with its records sorted by `time`
/// (records of the same time keep their order). Fails on the first line that has no integer
/// `class_uid` or `time`, or on a class whose records cannot share columns, so that the
/// caller keeps the events rather than losing some. Memory beyond the lines and the objects
/// is one object's Parquet and a few hundred parsed records.
pub(super) fn encode(lines: &[&[u8]]) -> Result<Vec<LakeObject>, LakeEncodeError> {
    let (groups, unplaced) = place(lines);
    if let Some(&(index, problem)) = unplaced.first() {
        return Err(LakeEncodeError::Line { index, problem });
    }
    groups
        .into_iter()
        .map(|((class_uid, day), order)| encode_group(class_uid, day, &order, lines))
        .collect()
}
