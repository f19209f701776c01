//! The Application Activity class used (category 6): API Activity, the fallback.

use serde_json::{json, Map, Value};

use super::fields::{self, Rest};
use super::parts::{actor, resources, unknown_user};

/// API Activity: the operation is the event type; every target is a resource.
pub(super) fn api_activity(
    event_type: Option<&str>,
    rest: &mut Rest,
    out: &mut Map<String, Value>,
) {
    let (_, actor) = actor(rest, true);
    let actor = if actor.is_empty() {
        json!({ "user": unknown_user() })
    } else {
        Value::Object(actor)
    };
    out.insert("actor".into(), actor);
    let src = fields::src_endpoint(rest).unwrap_or_else(|| json!({ "name": "unknown" }));
    out.insert("src_endpoint".into(), src);
    let mut api = json!({
        "operation": event_type.unwrap_or("unknown"),
        "service": { "name": "Okta" },
    });
    if let Some(http) = fields::http_request(rest) {
        if let Some(uid) = http.get("uid") {
            api["request"] = json!({ "uid": uid });
        }
        out.insert("http_request".into(), http);
    }
    out.insert("api".into(), api);
    resources(rest, out);
}
