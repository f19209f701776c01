//! OCSF JSON lines into Security Lake's Parquet objects: one object per OCSF class and UTC day
//! of the records' own `time`, records sorted by time, columns inferred from the records.

use std::collections::BTreeMap;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::{Compression, ZstdLevel};
use ::parquet::file::properties::WriterProperties;
use arrow_array::RecordBatch;
use arrow_json::reader::infer_json_schema_from_iterator;
use arrow_json::ReaderBuilder;
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::{Date, OffsetDateTime};

/// zstd, which Security Lake prefers, at zstd's own default level: most of the ratio of the
/// higher levels for a fraction of their time in a Lambda.
const ZSTD_LEVEL: i32 = 3;
/// Security Lake wants data pages of at most 1 MB.
const DATA_PAGE_BYTES: usize = 1024 * 1024;
/// Security Lake wants row groups under 256 MB; the writer holds one in memory until it is
/// full, so they are cut at whichever of these comes first.
const ROW_GROUP_ROWS: usize = 100_000;
const ROW_GROUP_BYTES: usize = 128 * 1024 * 1024;
/// Records parsed and decoded into one Arrow batch at a time.
const DECODE_ROWS: usize = 256;

/// One Security Lake object: the records of one OCSF class and one UTC day, as Parquet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeObject {
    /// The OCSF class of every record in it.
    pub class_uid: u32,
    /// The UTC day of every record's `time`, as `YYYYMMDD` (its `eventDay=` partition).
    pub day: String,
    /// How many records it holds.
    pub rows: usize,
    /// The Parquet file.
    pub bytes: Vec<u8>,
    /// The earliest record's `time` (epoch milliseconds).
    pub first_time: i64,
    /// The latest record's `time` (epoch milliseconds).
    pub last_time: i64,
}

/// Why OCSF lines could not be encoded. The message names a position and a class, never what
/// a record holds: arrow's own messages quote values, so they are left out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LakeEncodeError {
    /// The line at `index` (counting from 0 in the lines given) cannot be placed.
    #[error("OCSF line {index}: {problem}")]
    Line { index: usize, problem: LineProblem },
    /// The records of class `class_uid` cannot share one set of columns or be written.
    #[error("OCSF class {class_uid}: {problem}")]
    Class {
        class_uid: u32,
        problem: ClassProblem,
    },
}

/// What is wrong with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// Not JSON text; where the parser stopped.
    #[error("not JSON (stopped at column {column})")]
    NotJson { column: usize },
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// `class_uid` is missing, or not an integer from 0 to 2^32-1.
    #[error("no integer class_uid")]
    NoClassUid,
    /// `time` is missing, or not an integer.
    #[error("no integer time")]
    NoTime,
    /// `time` is an integer, but not of a day between the years 0 and 9999.
    #[error("time out of range")]
    TimeOutOfRange,
}

/// What is wrong with the records of one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClassProblem {
    /// A field of the line at `index` has a type that does not fit the same field of the
    /// class's earlier records (in time order): a string where they have an object, say.
    #[error("line {index} has a field whose type conflicts with other lines of the class")]
    ConflictingTypes { index: usize },
    /// The Parquet writer failed (its message is left out, as it may quote values).
    #[error("the Parquet writer failed")]
    Write,
}

/// Lines by OCSF class and UTC day: each group's `(time, index)` pairs, sorted by time.
pub type Groups = BTreeMap<(u32, Date), Vec<(i64, usize)>>;

/// Places every line in its class and day (one object each), reading only `class_uid` and
/// `time`; the lines that cannot be placed come back apart, by index, with why.
pub fn place(lines: &[&[u8]]) -> (Groups, Vec<(usize, LineProblem)>) {
    let mut groups = Groups::new();
    let mut unplaced = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        match placement(line) {
            Ok((class_uid, time, day)) => groups
                .entry((class_uid, day))
                .or_default()
                .push((time, index)),
            Err(problem) => unplaced.push((index, problem)),
        }
    }
    for order in groups.values_mut() {
        order.sort_by_key(|&(time, _)| time);
    }
    (groups, unplaced)
}

/// The class, time and UTC day of one line, read without keeping the rest of it.
fn placement(line: &[u8]) -> Result<(u32, i64, Date), LineProblem> {
    #[derive(Deserialize)]
    struct Keys {
        class_uid: Option<Value>,
        time: Option<Value>,
    }
    let keys: Keys = serde_json::from_slice(line).map_err(|e| not_json(&e))?;
    // A struct also reads from a JSON array; only an object starts with `{`.
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(LineProblem::NotAnObject);
    }
    let class_uid = keys
        .class_uid
        .as_ref()
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .ok_or(LineProblem::NoClassUid)?;
    let time = keys
        .time
        .as_ref()
        .and_then(Value::as_i64)
        .ok_or(LineProblem::NoTime)?;
    let day = utc_day(time).ok_or(LineProblem::TimeOutOfRange)?;
    Ok((class_uid, time, day))
}

fn not_json(error: &serde_json::Error) -> LineProblem {
    LineProblem::NotJson {
        column: error.column(),
    }
}

/// The UTC day of `time` (epoch milliseconds), if its year has four digits.
fn utc_day(time: i64) -> Option<Date> {
    let date = OffsetDateTime::from_unix_timestamp(time.div_euclid(1000))
        .ok()?
        .date();
    (date.year() >= 0).then_some(date)
}

fn day_text(day: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// One object (a group of [`place`]): the lines at `order`'s indices, in that order. The records are read twice,
/// once to infer the columns and once to decode them a few hundred at a time, so that memory
/// holds one chunk of parsed records rather than all of them (a parsed record is several
/// times its text: a 6 MB invocation's would not fit the function's 128 MB).
pub fn encode_group(
    class_uid: u32,
    day: Date,
    order: &[(i64, usize)],
    lines: &[&[u8]],
) -> Result<LakeObject, LakeEncodeError> {
    let read = |index: usize| {
        record(lines[index]).map_err(|problem| LakeEncodeError::Line { index, problem })
    };
    let conflict = |at: usize| LakeEncodeError::Class {
        class_uid,
        problem: ClassProblem::ConflictingTypes { index: order[at].1 },
    };
    let write_failed = |_| LakeEncodeError::Class {
        class_uid,
        problem: ClassProblem::Write,
    };
    // A line that is not a record is named first, before any inference.
    let mut unreadable = None;
    let inferred = infer(order.iter().map_while(|&(_, index)| match read(index) {
        Ok(record) => Some(record),
        Err(e) => {
            unreadable = Some(e);
            None
        }
    }));
    if let Some(e) = unreadable {
        return Err(e);
    }
    let schema = match inferred {
        Ok(schema) => schema,
        // Rare: only now are all the records held, to find the first that conflicts.
        Err(_) => {
            let records = order
                .iter()
                .map(|&(_, index)| read(index))
                .collect::<Result<Vec<Value>, _>>()?;
            return Err(conflict(first_conflict(&records)));
        }
    };
    let mut writer = ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(properties()))
        .map_err(write_failed)?;
    for (n, chunk) in order.chunks(DECODE_ROWS).enumerate() {
        let records = chunk
            .iter()
            .map(|&(_, index)| read(index))
            .collect::<Result<Vec<Value>, _>>()?;
        let batch = decode(&schema, &records).map_err(|_| {
            let at = (0..records.len())
                .find(|&i| decode(&schema, &records[i..=i]).is_err())
                .unwrap_or(0);
            conflict(n * DECODE_ROWS + at)
        })?;
        writer.write(&batch).map_err(write_failed)?;
    }
    let bytes = writer.into_inner().map_err(write_failed)?;
    Ok(LakeObject {
        class_uid,
        day: day_text(day),
        rows: order.len(),
        bytes,
        first_time: order.first().map_or(0, |&(time, _)| time),
        last_time: order.last().map_or(0, |&(time, _)| time),
    })
}

/// One line as the value its columns are inferred from and decoded from: `unmapped`, OCSF's
/// free-form part, becomes its compact JSON text, so that it is one string column that can
/// never conflict between records or files (a null stays null: nothing to keep).
fn record(line: &[u8]) -> Result<Value, LineProblem> {
    let mut record: Map<String, Value> = serde_json::from_slice(line).map_err(|e| not_json(&e))?;
    if let Some(unmapped) = record.get_mut("unmapped").filter(|u| !u.is_null()) {
        *unmapped = Value::String(unmapped.to_string());
    }
    Ok(Value::Object(record))
}

/// The columns of `records`: inferred by arrow-json, less what holds only nulls (a `Null`
/// column, or a struct left with nothing; an always-empty list is kept), each struct's fields sorted by name so
/// that the same records always give the same file.
fn infer(records: impl Iterator<Item = Value>) -> Result<SchemaRef, ArrowError> {
    let inferred = infer_json_schema_from_iterator(records.map(Ok))?;
    Ok(Arc::new(Schema::new(kept_fields(inferred.fields()))))
}

fn kept_fields(fields: &Fields) -> Fields {
    let mut kept: Vec<Field> = fields
        .iter()
        .filter_map(|field| {
            kept_type(field.data_type()).map(|t| field.as_ref().clone().with_data_type(t))
        })
        .collect();
    kept.sort_by(|a, b| a.name().cmp(b.name()));
    Fields::from(kept)
}

fn kept_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Null => None,
        DataType::Struct(fields) => {
            let fields = kept_fields(fields);
            (!fields.is_empty()).then_some(DataType::Struct(fields))
        }
        // A list only ever seen empty (`privileges: []`) is still a value: kept as a list
        // of text, the type of OCSF's string arrays.
        DataType::List(item) => {
            let t = kept_type(item.data_type()).unwrap_or(DataType::Utf8);
            Some(DataType::List(Arc::new(
                item.as_ref().clone().with_data_type(t),
            )))
        }
        other => Some(other.clone()),
    }
}

/// The position in `records` of the first record whose fields conflict with those before it.
/// Adding records to an inference never resolves a conflict, so the longest prefix that infers
/// is found by halving; only run once the whole group has failed.
fn first_conflict(records: &[Value]) -> usize {
    let (mut fits, mut fails) = (0, records.len());
    while fails - fits > 1 {
        let middle = fits + (fails - fits) / 2;
        if infer(records[..middle].iter().cloned()).is_ok() {
            fits = middle;
        } else {
            fails = middle;
        }
    }
    fails.saturating_sub(1)
}

/// `records` as one Arrow batch of `schema`'s columns. Fields the schema left out (nulls only)
/// are skipped; numbers and booleans in a column inferred as text are read as text.
fn decode(schema: &SchemaRef, records: &[Value]) -> Result<RecordBatch, ArrowError> {
    let mut decoder = ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(records.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()?;
    decoder.serialize(records)?;
    decoder
        .flush()?
        .ok_or_else(|| ArrowError::JsonError("no rows decoded".into()))
}

fn properties() -> WriterProperties {
    let zstd = ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default();
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_data_page_size_limit(DATA_PAGE_BYTES)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_created_by(format!("okta-ingest version {}", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
#[path = "tests/mod.rs"]
mod tests;
