//! Odd input: lines that cannot be placed, fields whose types differ between records, and
//! fields that hold only nulls. Errors name positions, never contents.

use arrow_array::cast::AsArray;
use serde_json::Value;

use super::*;

#[test]
fn a_line_that_cannot_be_placed_is_an_error_naming_its_position_and_not_its_content() {
    let good = br#"{"class_uid":3002,"time":1796030142123}"#.to_vec();
    let truncated: &[u8] = br#"{"class_uid":3002,"time":17960301"#;
    let stopped = serde_json::from_slice::<Value>(truncated).map_or_else(|e| e.column(), |_| 0);
    let cases: [(&[u8], LineProblem); 7] = [
        (truncated, LineProblem::NotJson { column: stopped }),
        (br#"[3002, 1796030142123]"#, LineProblem::NotAnObject),
        (
            br#"{"time":1796030142123,"message":"secret"}"#,
            LineProblem::NoClassUid,
        ),
        (
            br#"{"class_uid":-1,"time":1796030142123,"message":"secret"}"#,
            LineProblem::NoClassUid,
        ),
        (
            br#"{"class_uid":3002,"time":"secret-2026-11-30"}"#,
            LineProblem::NoTime,
        ),
        (br#"{"class_uid":3002,"time":1.5e12}"#, LineProblem::NoTime),
        (
            br#"{"class_uid":3002,"time":9223372036854775807}"#,
            LineProblem::TimeOutOfRange,
        ),
    ];
    for (bad, problem) in cases {
        let lines = [good.clone(), good.clone(), bad.to_vec(), good.clone()];
        let error = encoded(&lines).expect_err(&String::from_utf8_lossy(bad));
        assert_eq!(error, LakeEncodeError::Line { index: 2, problem });
        let message = error.to_string();
        assert!(
            message.contains("line 2") && !message.contains("secret"),
            "{message}"
        );
    }
}

#[test]
fn a_field_that_is_an_object_in_one_line_and_a_string_in_another_is_an_error_naming_class_and_line()
{
    let lines = [
        br#"{"class_uid":3002,"time":2,"user":"secret-alice"}"#.to_vec(),
        br#"{"class_uid":3001,"time":1,"user":"a string is fine in another class"}"#.to_vec(),
        br#"{"class_uid":3002,"time":1,"user":{"name":"alice"}}"#.to_vec(),
    ];
    let error = encoded(&lines).expect_err("a conflict");
    let problem = ClassProblem::ConflictingTypes { index: 0 };
    assert_eq!(
        error,
        LakeEncodeError::Class {
            class_uid: 3002,
            problem
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("3002") && message.contains("line 0") && !message.contains("secret"),
        "{message}"
    );
}

#[test]
fn a_number_and_a_string_in_one_field_both_read_back_as_text() {
    let lines = [
        br#"{"class_uid":6003,"time":1,"message":42}"#.to_vec(),
        br#"{"class_uid":6003,"time":2,"message":"denied"}"#.to_vec(),
    ];
    let objects = encoded(&lines).expect("encoded");
    assert_eq!(
        strings(&objects[0], &["message"]),
        [Some("42".into()), Some("denied".into())]
    );
}

/// Inference turns a scalar and a list into a list, which the decoder then refuses for the
/// scalar: the decoding path names the line too.
#[test]
fn a_scalar_in_one_line_and_a_list_in_another_is_an_error_naming_the_scalar_line() {
    let lines = [
        br#"{"class_uid":6003,"time":2,"observables":["y","z"]}"#.to_vec(),
        br#"{"class_uid":6003,"time":1,"observables":"secret"}"#.to_vec(),
    ];
    let error = encoded(&lines).expect_err("a conflict");
    let problem = ClassProblem::ConflictingTypes { index: 1 };
    assert_eq!(
        error,
        LakeEncodeError::Class {
            class_uid: 6003,
            problem
        }
    );
    assert!(!error.to_string().contains("secret"), "{error}");
}

#[test]
fn fields_that_hold_only_nulls_are_left_out_empty_lists_kept_and_the_rows_kept() {
    let lines = [
        br#"{"class_uid":6003,"time":1,"message":null,"enrichments":[],"device":{"name":null},"observables":{}}"#.to_vec(),
        br#"{"class_uid":6003,"time":2,"message":null,"device":{"name":null,"hostname":"h"}}"#.to_vec(),
    ];
    let objects = encoded(&lines).expect("encoded");
    assert_eq!(objects[0].rows, 2);
    let batches = read(&objects[0]);
    let schema = batches[0].schema();
    for absent in ["message", "observables"] {
        assert!(schema.field_with_name(absent).is_err(), "{absent} kept");
    }
    // An empty list is a value (OCSF's `privileges: []`): kept, as a list of text.
    let enrichments = schema
        .field_with_name("enrichments")
        .expect("enrichments kept");
    assert!(
        matches!(enrichments.data_type(), arrow_schema::DataType::List(item) if item.data_type() == &arrow_schema::DataType::Utf8),
        "{enrichments:?}"
    );
    assert_eq!(
        strings(&objects[0], &["device", "hostname"]),
        [None, Some("h".into())]
    );
    let device = column(&batches[0], &["device"]);
    assert!(device.as_struct().column_by_name("name").is_none());
}
