//! A small OCSF 1.3.0 validator over the vendored schema (`src/ocsf/schema-1.3.0/`): resolves
//! a class (class file, its category, the base event, their `$include`s; profiles left out,
//! as the mapping uses none), then checks required attributes, `at_least_one` / `just_one`
//! constraints, types (dictionary types, objects recursively, arrays), enums of integer
//! attributes, and that no attribute is unknown.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::ocsf::Class;

pub struct Schema {
    dir: PathBuf,
    dictionary: Map<String, Value>,
    types: Map<String, Value>,
    objects: BTreeMap<String, (Map<String, Value>, Value)>,
}

/// The schema file of each class.
fn class_file(class: Class) -> String {
    let category = match class {
        Class::DetectionFinding => "findings",
        Class::ApiActivity => "application",
        _ => "iam",
    };
    format!("events/{category}/{}.json", class.file_name())
}

impl Schema {
    pub fn load() -> Schema {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/ocsf/schema-1.3.0");
        let mut schema = Schema {
            dir,
            dictionary: Map::new(),
            types: Map::new(),
            objects: BTreeMap::new(),
        };
        let dictionary = schema.file("dictionary.json");
        schema.dictionary = dictionary["attributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        schema.types = dictionary["types"]["attributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        schema
    }

    fn file(&self, rel: &str) -> Value {
        let path = self.dir.join(rel);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
    }

    /// The attributes of a schema file with what it extends and includes, merged (later
    /// definitions override earlier keys; enums are united).
    fn resolve(&self, rel: &str, object: bool) -> (Map<String, Value>, Value) {
        let file = self.file(rel);
        let mut attrs = Map::new();
        let mut constraints = Value::Null;
        if let Some(parent) = file["extends"].as_str() {
            let parent_rel = if object {
                format!("objects/{parent}.json")
            } else {
                match parent {
                    "iam" => "events/iam/iam.json".into(),
                    "application" => "events/application/application.json".into(),
                    "finding" => "events/findings/finding.json".into(),
                    _ => "events/base_event.json".into(),
                }
            };
            if self.dir.join(&parent_rel).exists() {
                let (parent_attrs, parent_constraints) = self.resolve(&parent_rel, object);
                attrs = parent_attrs;
                constraints = parent_constraints;
            }
        }
        let own = file["attributes"].as_object().cloned().unwrap_or_default();
        let includes = own.get("$include").and_then(Value::as_array).cloned();
        for include in includes.unwrap_or_default() {
            let include = include.as_str().unwrap_or("");
            if !include.starts_with("profiles/") {
                let included = self.file(include);
                merge(
                    &mut attrs,
                    included["attributes"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
        merge(&mut attrs, own);
        attrs.remove("$include");
        if !file["constraints"].is_null() {
            constraints = file["constraints"].clone();
        }
        (attrs, constraints)
    }

    fn object(&mut self, name: &str) -> (Map<String, Value>, Value) {
        if let Some(found) = self.objects.get(name) {
            return found.clone();
        }
        let resolved = self.resolve(&format!("objects/{name}.json"), true);
        self.objects.insert(name.to_owned(), resolved.clone());
        resolved
    }

    /// Every way `event` breaks the schema of `class`, one line each.
    pub fn validate(&mut self, class: Class, event: &Value) -> Vec<String> {
        let (attrs, constraints) = self.resolve(&class_file(class), false);
        let mut errors = Vec::new();
        match event.as_object() {
            Some(map) => self.check_object(&attrs, &constraints, map, "", &mut errors),
            None => errors.push("the event is not an object".into()),
        }
        let want = |key: &str, v: u64| {
            (event[key].as_u64() != Some(v)).then(|| format!("{key} is not {v}"))
        };
        errors.extend(want("class_uid", u64::from(class.uid())));
        errors.extend(want("category_uid", u64::from(class.uid() / 1000)));
        let activity = event["activity_id"].as_u64().unwrap_or(0);
        errors.extend(want("type_uid", u64::from(class.uid()) * 100 + activity));
        errors
    }

    fn check_object(
        &mut self,
        attrs: &Map<String, Value>,
        constraints: &Value,
        value: &Map<String, Value>,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        for (name, def) in attrs {
            if def["requirement"] == "required" && !value.contains_key(name) {
                errors.push(format!("{path}{name}: required, missing"));
            }
        }
        let names = |key: &str| -> Vec<String> {
            constraints[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let present = |list: &[String]| list.iter().filter(|n| value.contains_key(*n)).count();
        let at_least_one = names("at_least_one");
        if !at_least_one.is_empty() && present(&at_least_one) == 0 {
            errors.push(format!(
                "{}: needs at least one of {at_least_one:?}",
                trim(path)
            ));
        }
        let just_one = names("just_one");
        if !just_one.is_empty() && present(&just_one) != 1 {
            errors.push(format!("{}: needs exactly one of {just_one:?}", trim(path)));
        }
        for (name, v) in value {
            let Some(def) = attrs.get(name) else {
                errors.push(format!(
                    "{path}{name}: not an attribute here (use unmapped)"
                ));
                continue;
            };
            let dict = self.dictionary.get(name).cloned().unwrap_or_default();
            let kind = def["type"].as_str().or(dict["type"].as_str()).unwrap_or("");
            let kind = kind.to_owned();
            let is_array = def["is_array"]
                .as_bool()
                .or(dict["is_array"].as_bool())
                .unwrap_or(false);
            let at = format!("{path}{name}");
            // The schema compiler fills these two enums from the class files; the class
            // and its category are checked against each other in `validate`.
            let computed = path.is_empty() && matches!(name.as_str(), "class_uid" | "category_uid");
            if let (false, Some(n), Some(values)) = (
                computed,
                v.as_i64(),
                def["enum"].as_object().or(dict["enum"].as_object()),
            ) {
                if !values.contains_key(&n.to_string()) {
                    errors.push(format!("{at}: {n} is not in the enum"));
                }
            }
            if is_array {
                match v.as_array() {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.check_type(&kind, item, &format!("{at}[{i}]"), errors);
                        }
                    }
                    None => errors.push(format!("{at}: should be an array of {kind}")),
                }
            } else {
                self.check_type(&kind, v, &at, errors);
            }
        }
    }

    fn check_type(&mut self, kind: &str, v: &Value, at: &str, errors: &mut Vec<String>) {
        if kind.ends_with("_t") {
            let base = self.types[kind]["type"].as_str().unwrap_or(kind).to_owned();
            let ok = match base.as_str() {
                "string_t" => v.is_string(),
                "integer_t" => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                "long_t" | "timestamp_t" => v.is_i64() || v.is_u64(),
                "float_t" => v.is_number(),
                "boolean_t" => v.is_boolean(),
                "json_t" => true,
                other => {
                    errors.push(format!("{at}: unknown type {other}"));
                    true
                }
            };
            if !ok {
                errors.push(format!("{at}: {v} is not a {kind}"));
            }
            return;
        }
        if kind == "object" {
            if !v.is_object() {
                errors.push(format!("{at}: should be an object"));
            }
            return;
        }
        let Some(map) = v.as_object() else {
            errors.push(format!("{at}: should be a {kind} object"));
            return;
        };
        let (attrs, constraints) = self.object(kind);
        self.check_object(&attrs, &constraints, map, &format!("{at}."), errors);
    }
}

/// `user.` as `user`, and the event itself as `(event)`.
fn trim(path: &str) -> &str {
    match path.trim_end_matches('.') {
        "" => "(event)",
        p => p,
    }
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (name, def) in from {
        match (into.get_mut(&name), def) {
            (Some(Value::Object(old)), Value::Object(new)) => {
                for (key, value) in new {
                    match (old.get_mut(&key), value) {
                        (Some(Value::Object(e)), Value::Object(more)) if key == "enum" => {
                            e.extend(more)
                        }
                        (_, value) => {
                            old.insert(key, value);
                        }
                    }
                }
            }
            (_, def) => {
                into.insert(name, def);
            }
        }
    }
}

#[cfg(test)]
mod validator {
    use serde_json::json;

    use super::Schema;
    use crate::ocsf::Class;

    fn group_management() -> serde_json::Value {
        json!({
            "activity_id": 3, "category_uid": 3, "class_uid": 3006, "type_uid": 300603,
            "time": 1_796_030_142_123_i64, "severity_id": 1,
            "metadata": { "product": { "name": "Okta", "vendor_name": "Okta" }, "version": "1.3.0" },
            "group": { "uid": "00g1" }, "user": { "uid": "00u1" },
        })
    }

    #[test]
    fn accepts_a_minimal_valid_event() {
        let errors = Schema::load().validate(Class::GroupManagement, &group_management());
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn rejects_missing_required_wrong_types_unknown_attributes_and_bad_enums() {
        let mut schema = Schema::load();
        let cases = [
            ("/group", json!(null), "group: required"),
            (
                "/metadata/product/vendor_name",
                json!(null),
                "vendor_name: required",
            ),
            (
                "/time",
                json!("2026-11-30"),
                "time: \"2026-11-30\" is not a timestamp_t",
            ),
            (
                "/severity_id",
                json!(7),
                "severity_id: 7 is not in the enum",
            ),
            ("/user/uid", json!(5), "user.uid: 5 is not a string_t"),
            ("/user/groups", json!({}), "user.groups: should be an array"),
            (
                "/user/colour",
                json!("blue"),
                "user.colour: not an attribute",
            ),
            (
                "/src_endpoint",
                json!({ "port": 443 }),
                "needs at least one of",
            ),
            ("/type_uid", json!(300604), "type_uid is not 300603"),
        ];
        for (pointer, value, expected) in cases {
            let mut event = group_management();
            let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
            let at = event.pointer_mut(parent).expect("the parent exists");
            let map = at.as_object_mut().expect("an object");
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.to_owned(), value);
            }
            let errors = schema.validate(Class::GroupManagement, &event);
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{pointer}: expected {expected:?} in {errors:?}"
            );
        }
    }
}
