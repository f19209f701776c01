//! The Findings class used (category 2): Detection Finding, for Okta's threat and risk
//! detections.

use serde_json::{json, Map, Value};

use super::fields::{self, Rest};
use super::parts::{actor, insert_object, resources};

/// Detection Finding: the finding is the event; its actor and endpoint are the evidence.
pub(super) fn detection_finding(
    event_type: Option<&str>,
    rest: &mut Rest,
    out: &mut Map<String, Value>,
) {
    let title = out
        .get("message")
        .and_then(Value::as_str)
        .or(event_type)
        .unwrap_or("Okta detection")
        .to_owned();
    let uid = out
        .get("metadata")
        .and_then(|m| m.get("uid"))
        .cloned()
        .unwrap_or_else(|| "unknown".into());
    let mut info = json!({ "uid": uid, "title": title });
    if let Some(t) = event_type {
        info["types"] = json!([t]);
    }
    out.insert("finding_info".into(), info);
    // `debugData.risk` reads `{level=HIGH, reasons=...}`: the level is OCSF's risk
    // level; the text stays in `unmapped` for its reasons.
    let risk = rest.peek_str(&["debugContext", "debugData", "risk"]);
    if let Some((id, level)) = risk.and_then(risk_level) {
        out.insert("risk_level_id".into(), id.into());
        out.insert("risk_level".into(), level.into());
    }
    let (_, actor) = actor(rest, true);
    let mut evidence = Map::new();
    insert_object(&mut evidence, "actor", actor);
    if let Some(src) = fields::src_endpoint(rest) {
        evidence.insert("src_endpoint".into(), src);
    }
    if !evidence.is_empty() {
        out.insert("evidences".into(), json!([evidence]));
    }
    resources(rest, out);
}

/// OCSF's risk level of Okta's `level=LOW|MEDIUM|HIGH`.
fn risk_level(risk: &str) -> Option<(u8, &'static str)> {
    let level = risk.split("level=").nth(1)?;
    let level = level.split([',', '}', ' ']).next()?;
    Some(match level {
        "LOW" => (1, "Low"),
        "MEDIUM" => (2, "Medium"),
        "HIGH" => (3, "High"),
        "CRITICAL" => (4, "Critical"),
        _ => return None,
    })
}
