//! What each class adds to the common fields: who the user, group, entity or resource is
//! (from `actor` and `target[]`), and the class's own attributes.

use serde_json::{json, Map, Value};

use super::fields::{self, Entity, Rest};
use super::{actor, Class};

/// Adds the attributes of `class` that Okta has, taking them from `rest`.
pub(super) fn fill(
    class: Class,
    activity: u8,
    event_type: Option<&str>,
    rest: &mut Rest,
    out: &mut Map<String, Value>,
) {
    match class {
        Class::Authentication => authentication(event_type, rest, out),
        Class::AccountChange => {
            let (actor_entity, actor) = actor(rest, true);
            let user = target_user(rest).or_else(|| actor_entity.map(|e| e.user()));
            out.insert("user".into(), user.unwrap_or_else(unknown_user));
            insert_object(out, "actor", actor);
            endpoints(rest, out);
        }
        Class::AuthorizeSession => {
            let (actor_entity, actor) = actor(rest, false);
            let user = target_user(rest).or_else(|| actor_entity.map(|e| e.user()));
            out.insert("user".into(), user.unwrap_or_else(unknown_user));
            // OCSF wants exactly one of `privileges` and `group`: the privilege when Okta
            // names one, else the group granted, else no privileges (a group target left
            // over stays in `unmapped`).
            let privilege = privilege(rest).or_else(|| {
                event_type
                    .filter(|t| t.contains("impersonation"))
                    .map(|_| "impersonation".to_owned())
            });
            match (privilege, rest.target_index("UserGroup")) {
                (Some(p), _) => {
                    out.insert("privileges".into(), json!([p]));
                }
                (None, Some(index)) => {
                    let group = rest.take_target(index).map(|g| g.entity());
                    out.insert("group".into(), Value::Object(group.unwrap_or_default()));
                }
                (None, None) => {
                    out.insert("privileges".into(), json!([]));
                }
            }
            if let Some(session) = fields::session(rest) {
                out.insert("session".into(), session);
            }
            endpoints(rest, out);
            no_actor_attribute(out, actor);
        }
        Class::EntityManagement => {
            let (_, actor) = actor(rest, true);
            insert_object(out, "actor", actor);
            let entity = match rest.take_target(0) {
                Some(target) => managed_entity(&target),
                None => {
                    // No target: the kind of thing the event type names (`policy.rule`).
                    let noun = event_type
                        .and_then(|t| t.rsplit_once('.'))
                        .map_or(event_type.unwrap_or("unknown"), |(noun, _)| noun);
                    json!({ "name": noun, "type": noun })
                }
            };
            out.insert("entity".into(), entity);
            endpoints(rest, out);
        }
        Class::UserAccess => {
            let (actor_entity, actor) = actor(rest, true);
            let user = target_user(rest).or_else(|| actor_entity.map(|e| e.user()));
            out.insert("user".into(), user.unwrap_or_else(unknown_user));
            let app = take_target(rest, "AppInstance");
            let privilege = privilege(rest)
                .or_else(|| app.as_ref().and_then(|a| a.name().map(str::to_owned)))
                .or_else(|| event_type.map(str::to_owned))
                .unwrap_or_else(|| "unknown".into());
            out.insert("privileges".into(), json!([privilege]));
            if let Some(app) = app {
                out.insert("resource".into(), Value::Object(app.entity()));
            }
            endpoints(rest, out);
            no_actor_attribute(out, actor);
        }
        Class::GroupManagement => {
            let (_, actor) = actor(rest, true);
            let group = take_target(rest, "UserGroup").map_or_else(
                || json!({ "name": "unknown" }),
                |g| Value::Object(g.entity()),
            );
            out.insert("group".into(), group);
            if let Some(user) = target_user(rest) {
                out.insert("user".into(), user);
            }
            let app = take_target(rest, "AppInstance");
            let privilege = privilege(rest).or_else(|| {
                let granted = matches!(activity, 1 | 2);
                app.as_ref()
                    .filter(|_| granted)
                    .and_then(|a| a.name().map(str::to_owned))
            });
            match privilege {
                Some(p) => {
                    out.insert("privileges".into(), json!([p]));
                }
                // OCSF wants a user or privileges: a group created or deleted has neither.
                None if !out.contains_key("user") => {
                    out.insert("privileges".into(), json!([]));
                }
                None => {}
            }
            if let Some(app) = app {
                out.insert("resource".into(), Value::Object(app.entity()));
            }
            endpoints(rest, out);
            no_actor_attribute(out, actor);
        }
        Class::ApiActivity => {
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
        Class::DetectionFinding => {
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
    }
}

/// Authentication: the user signing in, the app they sign in to, protocol and MFA.
fn authentication(event_type: Option<&str>, rest: &mut Rest, out: &mut Map<String, Value>) {
    let (actor_entity, actor) = actor(rest, true);
    let user = match actor_entity {
        Some(e) if !e.is_app() => e.user(),
        other => target_user(rest)
            .or_else(|| other.map(|e| e.user()))
            .unwrap_or_else(unknown_user),
    };
    out.insert("user".into(), user);
    if let Some(session) = actor.get("session") {
        out.insert("session".into(), session.clone());
    }
    insert_object(out, "actor", actor);
    // The app signed in to, or Okta itself (a sign-in to the org).
    let service = match rest.target_index("AppInstance") {
        Some(index) => {
            let mut app = rest
                .take_target(index)
                .map(|a| a.entity())
                .unwrap_or_default();
            // `service` has no `type`: Okta's stays in `unmapped`.
            if let Some(Value::String(kind)) = app.remove("type") {
                rest.put_back(&["target", &index.to_string()], "type", kind);
            }
            Value::Object(app)
        }
        None => json!({ "name": "Okta" }),
    };
    out.insert("service".into(), service);
    let event_type = event_type.unwrap_or("");
    let credential = rest
        .peek_str(&["authenticationContext", "credentialType"])
        .unwrap_or("");
    let lower = event_type.to_ascii_lowercase();
    let (protocol_id, protocol) = if lower.contains("saml") || credential == "ASSERTION" {
        (5, "SAML")
    } else if lower.contains("radius") {
        (10, "RADIUS")
    } else if lower.contains("oauth2") || matches!(credential, "OAUTH2" | "JWT") {
        (6, "OAUTH 2.0")
    } else if lower.contains("iwa") || lower.contains("kerberos") {
        (2, "Kerberos")
    } else if !credential.is_empty() {
        (99, credential)
    } else {
        (0, "Unknown")
    };
    out.insert("auth_protocol_id".into(), protocol_id.into());
    out.insert("auth_protocol".into(), protocol.into());
    let is_mfa = event_type == "user.authentication.auth_via_mfa"
        || event_type.starts_with("user.mfa.")
        || matches!(credential, "OTP" | "SMS" | "EMAIL" | "VOICE" | "PUSH");
    out.insert("is_mfa".into(), is_mfa.into());
    endpoints(rest, out);
}

/// `src_endpoint` and `http_request`, for the classes that have both.
fn endpoints(rest: &mut Rest, out: &mut Map<String, Value>) {
    if let Some(src) = fields::src_endpoint(rest) {
        out.insert("src_endpoint".into(), src);
    }
    if let Some(http) = fields::http_request(rest) {
        out.insert("http_request".into(), http);
    }
}

/// Every target left, as `resources`.
fn resources(rest: &mut Rest, out: &mut Map<String, Value>) {
    let list: Vec<Value> = (0..rest.target_count())
        .filter_map(|i| rest.take_target(i))
        .map(|t| Value::Object(t.entity()))
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        .collect();
    if !list.is_empty() {
        out.insert("resources".into(), Value::Array(list));
    }
}

fn take_target(rest: &mut Rest, okta_type: &str) -> Option<Entity> {
    let index = rest.target_index(okta_type)?;
    rest.take_target(index)
}

fn target_user(rest: &mut Rest) -> Option<Value> {
    take_target(rest, "User").map(|u| u.user())
}

/// The privilege Okta names (`debugData.privilegeGranted` / `privilegeRevoked`).
fn privilege(rest: &mut Rest) -> Option<String> {
    rest.take_str(&["debugContext", "debugData", "privilegeGranted"])
        .or_else(|| rest.take_str(&["debugContext", "debugData", "privilegeRevoked"]))
}

fn managed_entity(target: &Entity) -> Value {
    let mut entity = target.entity();
    match target.kind.as_deref() {
        Some("User") => {
            entity.insert("user".into(), target.user());
        }
        Some("UserGroup") => {
            entity.insert("group".into(), Value::Object(target.entity()));
        }
        _ => {}
    }
    if !entity.contains_key("uid") && !entity.contains_key("name") {
        entity.insert("name".into(), "unknown".into());
    }
    Value::Object(entity)
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

fn unknown_user() -> Value {
    json!({ "name": "unknown", "type_id": 0, "type": "Unknown" })
}

fn insert_object(out: &mut Map<String, Value>, key: &str, value: Map<String, Value>) {
    if !value.is_empty() {
        out.insert(key.into(), Value::Object(value));
    }
}

/// The classes without an `actor` attribute keep Okta's actor, mapped, in `unmapped`.
fn no_actor_attribute(out: &mut Map<String, Value>, actor: Map<String, Value>) {
    if !actor.is_empty() {
        out.insert("unmapped".into(), json!({ "actor": actor }));
    }
}
