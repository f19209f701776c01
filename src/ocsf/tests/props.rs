//! Property tests: any JSON object Okta could send (fields missing, of other types, or
//! unknown) maps without panicking, passes the OCSF 1.3.0 schema, keeps its uuid, and keeps
//! every value it carried (mapped or in `unmapped`).

use std::collections::BTreeSet;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::schema::Schema;
use super::{okta_event, raw};
use crate::ocsf::{class_of, to_ocsf, OcsfOptions};

const UUID: &str = "2f3c1f9e-8f3a-11ef-9a3c-0b1c2d3e4f50";

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e6..1.0e6f64).prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "SUCCESS",
            "FAILURE",
            "DENY",
            "SKIPPED",
            "INFO",
            "WARN",
            "User",
            "AppInstance",
            "UserGroup",
            "PublicClientApp",
            "unknown",
            "",
        ])
        .prop_map(Value::from),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with some of `keys`, each holding `value` or anything at all.
fn shaped(keys: &'static [&'static str], value: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    let field = prop_oneof![3 => value, 1 => any_value()];
    vec((prop::sample::select(keys), field), 0..keys.len() + 1)
        .prop_map(|pairs| {
            Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        })
        .boxed()
}

fn entity() -> BoxedStrategy<Value> {
    shaped(
        &["id", "type", "alternateId", "displayName", "detailEntry"],
        leaf().boxed(),
    )
}

fn event_type() -> impl Strategy<Value = Value> {
    let names: Vec<&'static str> = include_str!("../okta-event-types.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    prop_oneof![4 => prop::sample::select(names).prop_map(Value::from), 1 => leaf()]
}

fn okta_like() -> impl Strategy<Value = Value> {
    let geo = shaped(
        &["city", "state", "country", "postalCode", "geolocation"],
        prop_oneof![leaf(), shaped(&["lat", "lon"], leaf().boxed())].boxed(),
    );
    let client = shaped(
        &[
            "ipAddress",
            "userAgent",
            "geographicalContext",
            "zone",
            "device",
        ],
        prop_oneof![
            leaf(),
            geo,
            shaped(&["rawUserAgent", "os", "browser"], leaf().boxed())
        ]
        .boxed(),
    );
    let fields = (
        entity(),
        client,
        shaped(
            &["externalSessionId", "credentialType", "rootSessionId"],
            leaf().boxed(),
        ),
        shaped(&["result", "reason"], leaf().boxed()),
        shaped(&["asNumber", "asOrg", "isp", "domain"], leaf().boxed()),
        shaped(
            &["debugData"],
            shaped(
                &["requestId", "requestUri", "privilegeGranted", "url"],
                leaf().boxed(),
            ),
        ),
        prop_oneof![vec(entity(), 0..4).prop_map(Value::Array), any_value()],
        (
            event_type(),
            leaf(),
            leaf(),
            shaped(&["id", "type"], leaf().boxed()),
        ),
        btree_map("[a-zA-Z]{1,8}", any_value(), 0..3),
        vec(0..12usize, 0..6),
    );
    fields.prop_map(
        |(
            actor,
            client,
            auth,
            outcome,
            security,
            debug,
            target,
            (et, sev, msg, tx),
            extra,
            drop,
        )| {
            let mut event = Map::new();
            for (key, value) in [
                ("actor", actor),
                ("client", client),
                ("authenticationContext", auth),
                ("outcome", outcome),
                ("securityContext", security),
                ("debugContext", debug),
                ("target", target),
                ("eventType", et),
                ("severity", sev),
                ("displayMessage", msg),
                ("transaction", tx),
            ] {
                event.insert(key.to_owned(), value);
            }
            event.extend(extra);
            // Any field may be missing.
            let keys: Vec<String> = event.keys().cloned().collect();
            for i in drop {
                if let Some(key) = keys.get(i) {
                    event.remove(key);
                }
            }
            event.insert("uuid".into(), UUID.into());
            event.insert("published".into(), "2026-11-30T09:15:42.123Z".into());
            Value::Object(event)
        },
    )
}

/// Every scalar in `v` (no nulls), numbers compared as f64.
fn scalars(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => {
            out.insert(format!("b:{b}"));
        }
        Value::Number(n) => {
            out.insert(format!("n:{:?}", n.as_f64()));
        }
        Value::String(s) => {
            out.insert(format!("s:{s}"));
        }
        Value::Array(items) => items.iter().for_each(|i| scalars(i, out)),
        Value::Object(map) => map.values().for_each(|i| scalars(i, out)),
    }
}

/// The values of the Okta event (as text) that are nowhere in its OCSF event. Severity and
/// outcome.result become captions (Informational, Success): the others must all be
/// somewhere in the output. Compared with the event as serde_json reads it back (floats may
/// move in the last digit without `float_roundtrip`).
fn lost_values(text: &str, ocsf: &Value) -> Vec<String> {
    let mut kept: Value = serde_json::from_str(text).expect("valid JSON");
    if kept["severity"].is_string() {
        kept["severity"] = Value::Null;
    }
    if kept["outcome"]["result"].is_string() {
        kept["outcome"]["result"] = Value::Null;
    }
    let (mut want, mut got) = (BTreeSet::new(), BTreeSet::new());
    scalars(&kept, &mut want);
    scalars(ocsf, &mut got);
    want.difference(&got).cloned().collect()
}

/// Found by the property test in CI: a user target with a display name, mapped as a
/// resource, lost its login.
#[test]
fn a_user_resource_keeps_its_login() {
    let input = json!({
        "eventType": "access.request.cancel",
        "target": [{ "alternateId": " ", "displayName": "a", "type": "User" }],
        "uuid": UUID,
        "published": "2026-11-30T09:15:42.123Z",
    });
    let text = raw(&input);
    let (_, ocsf) = to_ocsf(&okta_event(&text), &OcsfOptions::default());
    assert_eq!(
        lost_values(text.get(), &ocsf),
        Vec::<String>::new(),
        "{ocsf}"
    );
    assert_eq!(ocsf["unmapped"]["target"][0]["alternateId"], json!(" "));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_okta_like_event_maps_to_a_valid_ocsf_event_and_loses_no_value(input in okta_like()) {
        let text = raw(&input);
        let event = okta_event(&text);
        let (class, ocsf) = to_ocsf(&event, &OcsfOptions::default());
        let event_type = input["eventType"].as_str().unwrap_or("");
        prop_assert_eq!(class, class_of(event_type).0);
        let errors = Schema::load().validate(class, &ocsf);
        prop_assert!(errors.is_empty(), "{}\n{}\n{}", input, ocsf, errors.join("\n"));
        prop_assert_eq!(&ocsf["metadata"]["uid"], &json!(UUID));
        let lost = lost_values(text.get(), &ocsf);
        prop_assert!(lost.is_empty(), "lost {:?}\n{}\n{}", lost, input, ocsf);
    }
}
