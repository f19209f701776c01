//! What the objects hold: one class and one UTC day each, records sorted by time, every
//! field as in the lines, zstd throughout, the same bytes for the same lines.

use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ::parquet::basic::Compression;
use serde_json::Value;

use super::*;

#[test]
fn each_object_holds_one_class_with_all_its_records_sorted_by_time() {
    let lines = mixed();
    let objects = encoded(&lines).expect("encoded");
    let classes: Vec<u32> = objects.iter().map(|o| o.class_uid).collect();
    let mut want: Vec<u32> = lines
        .iter()
        .filter_map(|l| parsed(l)["class_uid"].as_u64())
        .map(|c| c as u32)
        .collect();
    want.sort_unstable();
    want.dedup();
    assert_eq!(classes, want, "one object per class, by class");
    for object in &objects {
        let records = expected(&lines, object.class_uid);
        assert_eq!(object.rows, records.len());
        let times: Vec<i64> = records.iter().filter_map(|r| r["time"].as_i64()).collect();
        assert_eq!(ints(object, &["time"]), times, "sorted by time");
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            (object.first_time, object.last_time),
            (times[0], times[times.len() - 1])
        );
        let class = i64::from(object.class_uid);
        assert!(ints(object, &["class_uid"]).iter().all(|&c| c == class));
        assert_eq!(
            strings(object, &["metadata", "uid"]),
            text_at(&records, &["metadata", "uid"])
        );
    }
}

#[test]
fn records_go_to_the_utc_day_of_their_own_time_across_midnight() {
    let published = [
        "2026-12-01T00:00:00.000Z",
        "2026-11-30T23:59:59.999Z",
        "2026-11-30T23:59:58.000Z",
    ];
    let okta: Vec<Value> = published
        .iter()
        .enumerate()
        .map(|(i, p)| {
            okta(
                "authentication",
                &format!("u{i}"),
                p,
                "198.51.100.1",
                "alice@example.com",
            )
        })
        .collect();
    let objects = encoded(&lines(&okta)).expect("encoded");
    let days: Vec<&str> = objects.iter().map(|o| o.day.as_str()).collect();
    assert_eq!(
        days,
        [
            published[1][..10].replace('-', ""),
            published[0][..10].replace('-', "")
        ]
    );
    assert_eq!(objects.iter().map(|o| o.rows).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(
        strings(&objects[0], &["metadata", "uid"]),
        [Some("u2".into()), Some("u1".into())]
    );
    assert_eq!(
        strings(&objects[1], &["metadata", "uid"]),
        [Some("u0".into())]
    );
    assert!(objects[0].last_time < objects[1].first_time);
}

#[test]
fn nested_fields_and_unmapped_read_back_as_in_the_lines() {
    let lines = mixed();
    let mut checked = Vec::new();
    for object in encoded(&lines).expect("encoded") {
        let records = expected(&lines, object.class_uid);
        for path in [
            &["src_endpoint", "ip"][..],
            &["user", "name"],
            &["actor", "user", "name"],
        ] {
            let want = text_at(&records, path);
            if want.iter().any(Option::is_some) {
                assert_eq!(
                    strings(&object, path),
                    want,
                    "{path:?} of class {}",
                    object.class_uid
                );
                checked.push(path.join("."));
            }
        }
        let unmapped: Vec<Option<String>> = records
            .iter()
            .map(|r| Some(r["unmapped"].to_string()))
            .collect();
        assert_eq!(strings(&object, &["unmapped"]), unmapped);
    }
    for path in ["src_endpoint.ip", "user.name"] {
        assert!(checked.iter().any(|c| c == path), "{path} never checked");
    }
}

#[test]
fn raw_data_reads_back_as_the_okta_text() {
    let event = okta(
        "authentication",
        "r1",
        "2026-11-30T10:00:00.000Z",
        "198.51.100.1",
        "alice@example.com",
    );
    let line = ocsf_line(&event, &OcsfOptions { raw_data: true });
    let objects = encoded(std::slice::from_ref(&line)).expect("encoded");
    assert_eq!(
        strings(&objects[0], &["raw_data"]),
        [parsed(&line)["raw_data"].as_str().map(str::to_owned)]
    );
}

#[test]
fn every_column_chunk_is_zstd_and_the_file_names_its_writer() {
    for object in encoded(&mixed()).expect("encoded") {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(object.bytes.clone()))
                .expect("Parquet");
        let metadata = reader.metadata();
        let created_by = metadata.file_metadata().created_by().unwrap_or_default();
        assert!(
            created_by.contains("okta-ingest") && created_by.contains(env!("CARGO_PKG_VERSION")),
            "{created_by}"
        );
        assert!(metadata.num_row_groups() > 0);
        for group in metadata.row_groups() {
            for chunk in group.columns() {
                assert!(
                    matches!(chunk.compression(), Compression::ZSTD(_)),
                    "{}: {:?}",
                    chunk.column_path(),
                    chunk.compression()
                );
            }
        }
    }
}

#[test]
fn the_same_lines_give_the_same_bytes() {
    let lines = mixed();
    assert_eq!(
        encoded(&lines).expect("encoded"),
        encoded(&lines).expect("encoded")
    );
}

#[test]
fn no_lines_give_no_objects() {
    assert_eq!(encode(&[]), Ok(Vec::new()));
}

#[test]
fn writer_settings_stay_within_security_lake_limits() {
    const MIB: usize = 1024 * 1024;
    let settings = properties();
    assert!(settings.data_page_size_limit() <= MIB, "data pages <= 1 MB");
    let bytes = settings.max_row_group_bytes().unwrap_or(usize::MAX);
    assert!(bytes < 256 * MIB, "row groups < 256 MB");
    assert!(settings.max_row_group_row_count().is_some());
    let column = ::parquet::schema::types::ColumnPath::from("time");
    assert!(matches!(
        settings.compression(&column),
        Compression::ZSTD(level) if level.compression_level() == ZSTD_LEVEL
    ));
}
