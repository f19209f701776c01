//! Okta's published event-type catalog (`src/ocsf/okta-event-types.txt`): every event type
//! has a class and a real activity, and docs/ocsf.md lists them as the code maps them.
//! `OCSF_DOCS=write cargo test -p okta-ingest --lib ocsf` rewrites the generated part.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use crate::ocsf::classes::ALL_CLASSES;
use crate::ocsf::{class_of, Class, OCSF_VERSION};

const CATALOG: &str = include_str!("../okta-event-types.txt");
const BEGIN: &str =
    "<!-- BEGIN GENERATED: OCSF_DOCS=write cargo test -p okta-ingest --lib ocsf -->";
const END: &str = "<!-- END GENERATED -->";

fn catalog() -> Vec<&'static str> {
    CATALOG
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn the_catalog_is_sorted_unique_names() {
    let names = catalog();
    assert!(names.len() > 1000, "only {} event types", names.len());
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "not sorted or not unique"
    );
    let bad = |c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c));
    assert!(
        names.iter().all(|n| !n.contains(bad)),
        "a name has other characters"
    );
}

#[test]
fn every_catalog_event_type_has_a_class_and_a_named_activity() {
    let mut per_class: BTreeMap<u32, usize> = BTreeMap::new();
    for name in catalog() {
        let (class, activity) = class_of(name);
        assert_ne!(
            class.activity_name(activity),
            "Unknown",
            "{name}: activity {activity}"
        );
        *per_class.entry(class.uid()).or_default() += 1;
    }
    for class in ALL_CLASSES {
        assert!(
            per_class.contains_key(&class.uid()),
            "no catalog event type lands in {class:?}"
        );
    }
}

#[test]
fn the_well_known_event_types_are_in_the_catalog() {
    let names = catalog();
    for known in [
        "user.session.start",
        "user.authentication.sso",
        "policy.evaluate_sign_on",
        "user.account.update_password",
        "user.mfa.factor.activate",
        "user.session.impersonation.grant",
        "user.account.privilege.grant",
        "user.lifecycle.create",
        "application.user_membership.add",
        "group.user_membership.add",
        "system.api_token.create",
        "security.threat.detected",
        "security.request.blocked",
        "user.risk.detect",
    ] {
        assert!(
            names.binary_search(&known).is_ok(),
            "{known} is not in the catalog"
        );
    }
}

/// The generated part of docs/ocsf.md: counts per class, then every event type.
fn generated() -> String {
    let names = catalog();
    let mapped: Vec<(&str, Class, u8)> = names
        .iter()
        .map(|n| {
            let (class, activity) = class_of(n);
            (*n, class, activity)
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "{BEGIN}\n");
    let _ = writeln!(
        s,
        "OCSF {OCSF_VERSION}; {} event types in the catalog.\n",
        names.len()
    );
    let _ = writeln!(s, "| Class | `class_uid` | Event types |\n|---|---|---|");
    for class in ALL_CLASSES {
        let n = mapped.iter().filter(|m| m.1 == class).count();
        let _ = writeln!(s, "| {} | {} | {n} |", class.name(), class.uid());
    }
    let _ = writeln!(s, "\n| `eventType` | Class | Activity |\n|---|---|---|");
    for (name, class, activity) in mapped {
        let _ = writeln!(
            s,
            "| `{name}` | {} ({}) | {} ({activity}) |",
            class.name(),
            class.uid(),
            class.activity_name(activity)
        );
    }
    let _ = write!(s, "\n{END}");
    s
}

#[test]
fn docs_ocsf_md_lists_every_event_type_as_the_code_maps_it() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/ocsf.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let (start, end) = match (text.find(BEGIN), text.find(END)) {
        (Some(s), Some(e)) if s < e => (s, e + END.len()),
        _ => panic!("{path:?} has no generated part ({BEGIN} ... {END})"),
    };
    let want = generated();
    if std::env::var("OCSF_DOCS").is_ok_and(|v| v == "write") {
        let updated = format!("{}{want}{}", &text[..start], &text[end..]);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    } else {
        assert!(
            text[start..end] == want,
            "docs/ocsf.md's table differs from the code: OCSF_DOCS=write cargo test -p okta-ingest --lib ocsf"
        );
    }
}
