//! What the classes share: the actor, the targets, the endpoints.

use serde_json::{json, Map, Value};

use super::fields::{self, Entity, Rest};

/// `src_endpoint` and `http_request`, for the classes that have both.
pub(super) fn endpoints(rest: &mut Rest, out: &mut Map<String, Value>) {
    if let Some(src) = fields::src_endpoint(rest) {
        out.insert("src_endpoint".into(), src);
    }
    if let Some(http) = fields::http_request(rest) {
        out.insert("http_request".into(), http);
    }
}

/// Every target left, as `resources`.
pub(super) fn resources(rest: &mut Rest, out: &mut Map<String, Value>) {
    let list: Vec<Value> = (0..rest.target_count())
        .filter_map(|i| {
            let target = rest.take_target(i)?;
            // A resource has no place for a user's login unless it is the name: it goes
            // back, to `unmapped`.
            if let Some(login) = target.alternate_id.as_deref() {
                if target.name() != Some(login) {
                    rest.put_back(&["target", &i.to_string()], "alternateId", login.into());
                }
            }
            Some(Value::Object(target.entity()))
        })
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        .collect();
    if !list.is_empty() {
        out.insert("resources".into(), Value::Array(list));
    }
}

pub(super) fn take_target(rest: &mut Rest, okta_type: &str) -> Option<Entity> {
    let index = rest.target_index(okta_type)?;
    rest.take_target(index)
}

pub(super) fn target_user(rest: &mut Rest) -> Option<Value> {
    take_target(rest, "User").map(|u| u.user())
}

pub(super) fn unknown_user() -> Value {
    json!({ "name": "unknown", "type_id": 0, "type": "Unknown" })
}

/// A target Okta names by nothing (no id, login or display name): OCSF wants a name.
pub(super) fn unknown_entity() -> Map<String, Value> {
    let mut entity = Map::new();
    entity.insert("name".into(), "unknown".into());
    entity
}

pub(super) fn insert_object(out: &mut Map<String, Value>, key: &str, value: Map<String, Value>) {
    if !value.is_empty() {
        out.insert(key.into(), Value::Object(value));
    }
}

/// The classes without an `actor` attribute keep Okta's actor, mapped, in `unmapped`.
pub(super) fn no_actor_attribute(out: &mut Map<String, Value>, actor: Map<String, Value>) {
    if !actor.is_empty() {
        out.insert("unmapped".into(), json!({ "actor": actor }));
    }
}

/// The Okta actor as an OCSF `actor` (`user` or app, and `session`), taking what it uses.
pub(super) fn actor(rest: &mut Rest, with_session: bool) -> (Option<Entity>, Map<String, Value>) {
    let entity = Entity::take(rest, &["actor"]);
    let mut actor = Map::new();
    match &entity {
        Some(e) if e.is_app() => {
            fields::put(&mut actor, "app_uid", e.id.as_deref());
            fields::put(&mut actor, "app_name", e.name());
            // OCSF's actor has no place for the kind of app: it stays in `unmapped`.
            if let Some(kind) = e.kind.clone() {
                rest.put_back(&["actor"], "type", kind);
            }
        }
        Some(e) => {
            actor.insert("user".into(), e.user());
        }
        None => {}
    }
    if with_session {
        if let Some(session) = fields::session(rest) {
            actor.insert("session".into(), session);
        }
    }
    (entity, actor)
}
