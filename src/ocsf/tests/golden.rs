//! Golden files (`tests/ocsf_golden/<class>.json`): a real-shaped Okta event per class and
//! the OCSF event expected of it, which must also pass the schema.
//! `OCSF_GOLDEN=write cargo test -p okta-ingest --lib ocsf` rewrites the expected halves.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::schema::Schema;
use super::{okta_event, raw};
use crate::ocsf::classes::ALL_CLASSES;
use crate::ocsf::{to_ocsf, write_ocsf, OcsfOptions};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf_golden")
}

#[test]
fn each_class_has_a_golden_event_that_maps_as_recorded_and_passes_the_schema() {
    let write = std::env::var("OCSF_GOLDEN").is_ok_and(|v| v == "write");
    let mut schema = Schema::load();
    for class in ALL_CLASSES {
        let path = golden_dir().join(format!("{}.json", class.file_name()));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let golden: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let input = raw(&golden["okta"]);
        let event = okta_event(&input);
        let (got_class, ocsf) = to_ocsf(&event, &OcsfOptions::default());
        assert_eq!(got_class, class, "{path:?} maps to another class");
        let errors = schema.validate(class, &ocsf);
        assert!(
            errors.is_empty(),
            "{path:?} breaks OCSF 1.3.0:\n{}",
            errors.join("\n")
        );
        if write {
            let pretty =
                serde_json::to_string_pretty(&json!({ "okta": golden["okta"], "ocsf": ocsf }));
            std::fs::write(&path, pretty.expect("a value serializes") + "\n")
                .expect("golden written");
        } else {
            assert_eq!(
                ocsf, golden["ocsf"],
                "{path:?} differs; if the change is meant, OCSF_GOLDEN=write cargo test -p okta-ingest --lib ocsf"
            );
        }
    }
}

#[test]
fn raw_data_carries_the_original_event_only_when_asked() {
    let text = std::fs::read_to_string(golden_dir().join("authentication.json")).expect("golden");
    let golden: Value = serde_json::from_str(&text).expect("golden json");
    let input = raw(&golden["okta"]);
    let event = okta_event(&input);
    let (_, plain) = to_ocsf(&event, &OcsfOptions::default());
    assert!(plain.get("raw_data").is_none());
    let mut out = Vec::new();
    write_ocsf(&event, &OcsfOptions { raw_data: true }, &mut out);
    let with: Value = serde_json::from_slice(&out).expect("write_ocsf writes JSON");
    assert_eq!(with["raw_data"].as_str(), Some(input.get()));
    let errors = Schema::load().validate(crate::ocsf::Class::Authentication, &with);
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
#[ignore = "timing, run with --release"]
fn speed_of_mapping() {
    let text = std::fs::read_to_string(golden_dir().join("authentication.json")).expect("golden");
    let golden: Value = serde_json::from_str(&text).expect("golden json");
    let input = raw(&golden["okta"]);
    let event = okta_event(&input);
    let mut out = Vec::with_capacity(4096);
    let n = 20_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        out.clear();
        write_ocsf(&event, &OcsfOptions::default(), &mut out);
    }
    let each = start.elapsed() / n;
    let start = std::time::Instant::now();
    for _ in 0..n {
        let parsed: Value = serde_json::from_str(input.get()).expect("json");
        std::hint::black_box(parsed);
    }
    let parse = start.elapsed() / n;
    eprintln!(
        "{each:?} per event ({parse:?} of it reading the JSON), {} bytes in, {} out",
        input.get().len(),
        out.len()
    );
}

#[test]
fn a_users_login_is_its_email_address_only_when_it_is_one() {
    for (login, email) in [
        ("alice@example.com", Some("alice@example.com")),
        ("alice", None),
        ("ACME\\alice", None),
        ("alice@localhost", None),
        ("al ice@example.com", None),
    ] {
        let okta = json!({
            "uuid": "u-1", "published": "2026-11-30T09:15:42.123Z",
            "eventType": "user.session.start",
            "actor": {"id": "00u1", "type": "User", "alternateId": login, "displayName": "Alice"},
        });
        let input = raw(&okta);
        let (_, ocsf) = to_ocsf(&okta_event(&input), &OcsfOptions::default());
        assert_eq!(ocsf["user"]["name"], login, "{ocsf}");
        assert_eq!(
            ocsf["user"]["email_addr"].as_str(),
            email,
            "{login}: {ocsf}"
        );
    }
}
