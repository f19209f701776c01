//! Reading Security Lake objects back: a Parquet file's rows as JSON, and the compression of
//! every column chunk, for tests and the demo.

use std::collections::BTreeSet;

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
