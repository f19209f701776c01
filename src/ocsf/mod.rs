//! Okta System Log events as OCSF 1.3.0: a pure transform, one Okta event in, one OCSF
//! event out (docs/ocsf.md). Never fails and never drops: whatever cannot be read lands in
//! API Activity with `unmapped` (and `raw_data` when asked).

mod application;
mod classes;
mod fields;
mod findings;
mod iam;
mod parts;
#[cfg(test)]
mod tests;

use serde_json::{json, Map, Value};

use crate::event::OktaEvent;
pub use classes::{class_of, Class, ALL_CLASSES};
use fields::Rest;

/// The OCSF version the mapping follows (`metadata.version`).
pub const OCSF_VERSION: &str = "1.3.0";

/// Choices of the mapping.
#[derive(Debug, Clone, Copy, Default)]
pub struct OcsfOptions {
    /// Also carry the Okta event's JSON text in `raw_data` (off by default: it doubles the
    /// size of every record).
    pub raw_data: bool,
}

/// Appends the OCSF event for `event` to `out` (one JSON object, no newline) and returns
/// its class, which decides the object it is written to.
pub fn write_ocsf(event: &OktaEvent<'_>, options: &OcsfOptions, out: &mut Vec<u8>) -> Class {
    let (class, value) = to_ocsf(event, options);
    if serde_json::to_writer(&mut *out, &value).is_err() {
        // Writing a `Value` into a Vec cannot fail (its keys are strings); kept total anyway.
        out.extend_from_slice(b"{}");
    }
    class
}

/// The OCSF event for `event`, as a JSON value, and its class.
pub fn to_ocsf(event: &OktaEvent<'_>, options: &OcsfOptions) -> (Class, Value) {
    let mut rest = Rest(serde_json::from_str(event.json()).unwrap_or(Value::Null));
    let event_type = rest
        .take_str(&["eventType"])
        .or_else(|| event.event_type.as_deref().map(str::to_owned));
    let (class, activity) = class_of(event_type.as_deref().unwrap_or(""));
    let mut out = Map::new();
    common(
        event,
        &mut rest,
        event_type.as_deref(),
        class,
        activity,
        &mut out,
    );
    fill(class, activity, event_type.as_deref(), &mut rest, &mut out);
    if let Some(unmapped) = rest.into_unmapped() {
        match out.get_mut("unmapped").and_then(Value::as_object_mut) {
            Some(already) => {
                // The mapped actor of a class without `actor` is already there: what is
                // left of Okta's own `actor` goes beside it as `okta_actor`.
                if let Value::Object(more) = unmapped {
                    for (key, value) in more {
                        let key = if already.contains_key(&key) {
                            format!("okta_{key}")
                        } else {
                            key
                        };
                        already.insert(key, value);
                    }
                }
            }
            None => {
                out.insert("unmapped".into(), unmapped);
            }
        }
    }
    if options.raw_data {
        out.insert("raw_data".into(), event.json().into());
    }
    (class, Value::Object(out))
}

/// The attributes every class has: classification, time, metadata, severity, status,
/// message.
fn common(
    event: &OktaEvent<'_>,
    rest: &mut Rest,
    event_type: Option<&str>,
    class: Class,
    activity: u8,
    out: &mut Map<String, Value>,
) {
    let (category_uid, category_name) = class.category();
    out.insert("category_uid".into(), category_uid.into());
    out.insert("category_name".into(), category_name.into());
    out.insert("class_uid".into(), class.uid().into());
    out.insert("class_name".into(), class.name().into());
    out.insert("activity_id".into(), activity.into());
    let activity_name = class.activity_name(activity);
    out.insert("activity_name".into(), activity_name.into());
    out.insert(
        "type_uid".into(),
        (u64::from(class.uid()) * 100 + u64::from(activity)).into(),
    );
    out.insert(
        "type_name".into(),
        format!("{}: {activity_name}", class.name()).into(),
    );
    let millis = event.published.unix_timestamp_nanos() / 1_000_000;
    out.insert("time".into(), i64::try_from(millis).unwrap_or(0).into());

    let mut metadata = Map::new();
    metadata.insert("uid".into(), event.uuid.as_ref().into());
    rest.take_str(&["uuid"]);
    metadata.insert(
        "product".into(),
        json!({ "name": "Okta", "vendor_name": "Okta" }),
    );
    metadata.insert("version".into(), OCSF_VERSION.into());
    metadata.insert("log_name".into(), "System Log".into());
    fields::put(
        &mut metadata,
        "original_time",
        rest.take_str(&["published"]).as_deref(),
    );
    fields::put(&mut metadata, "event_code", event_type);
    fields::put(
        &mut metadata,
        "log_version",
        rest.take_str(&["version"]).as_deref(),
    );
    let transaction = rest.take_str(&["transaction", "id"]);
    fields::put(&mut metadata, "correlation_uid", transaction.as_deref());
    fields::put(&mut metadata, "tenant_uid", event.org.as_deref());
    out.insert("metadata".into(), Value::Object(metadata));

    let severity = rest
        .take_str(&["severity"])
        .or_else(|| event.severity.as_deref().map(str::to_owned));
    let (severity_id, caption) = fields::severity(severity.as_deref());
    out.insert("severity_id".into(), severity_id.into());
    out.insert("severity".into(), caption.into());
    fields::put(
        out,
        "message",
        rest.take_str(&["displayMessage"]).as_deref(),
    );

    // A finding's status is its own (New, In Progress...): the outcome stays unmapped there.
    if class != Class::DetectionFinding {
        let result = rest.take_str(&["outcome", "result"]);
        let (status_id, status) = fields::status(result.as_deref());
        out.insert("status_id".into(), status_id.into());
        out.insert("status".into(), status.into());
        fields::put(
            out,
            "status_detail",
            rest.take_str(&["outcome", "reason"]).as_deref(),
        );
    }
}

/// Adds the attributes of `class` that Okta has, taking them from `rest`: one file per
/// class family.
fn fill(
    class: Class,
    activity: u8,
    event_type: Option<&str>,
    rest: &mut Rest,
    out: &mut Map<String, Value>,
) {
    match class {
        Class::Authentication => iam::authentication(event_type, rest, out),
        Class::AccountChange => iam::account_change(rest, out),
        Class::AuthorizeSession => iam::authorize_session(event_type, rest, out),
        Class::EntityManagement => iam::entity_management(event_type, rest, out),
        Class::UserAccess => iam::user_access(event_type, rest, out),
        Class::GroupManagement => iam::group_management(activity, rest, out),
        Class::ApiActivity => application::api_activity(event_type, rest, out),
        Class::DetectionFinding => findings::detection_finding(event_type, rest, out),
    }
}
