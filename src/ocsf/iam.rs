//! The Identity & Access Management classes (category 3): who signed in, whose account,
//! session, access or group changed, and which entity was managed.

use serde_json::{json, Map, Value};

use super::fields::{self, Entity, Rest};
use super::parts::{
    actor, endpoints, insert_object, no_actor_attribute, take_target, target_user, unknown_entity,
    unknown_user,
};

/// Authentication: the user signing in, the app they sign in to, protocol and MFA.
pub(super) fn authentication(
    event_type: Option<&str>,
    rest: &mut Rest,
    out: &mut Map<String, Value>,
) {
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
                .map_or_else(unknown_entity, |a| a.entity());
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

/// Account Change: the account is the `User` target, else the actor's.
pub(super) fn account_change(rest: &mut Rest, out: &mut Map<String, Value>) {
    let (actor_entity, actor) = actor(rest, true);
    let user = target_user(rest).or_else(|| actor_entity.map(|e| e.user()));
    out.insert("user".into(), user.unwrap_or_else(unknown_user));
    insert_object(out, "actor", actor);
    endpoints(rest, out);
}

/// Authorize Session: privileges or a group granted to a user or a session.
pub(super) fn authorize_session(
    event_type: Option<&str>,
    rest: &mut Rest,
    out: &mut Map<String, Value>,
) {
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
            let group = rest
                .take_target(index)
                .map_or_else(unknown_entity, |g| g.entity());
            out.insert("group".into(), Value::Object(group));
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

/// Entity Management: the first target is the entity.
pub(super) fn entity_management(
    event_type: Option<&str>,
    rest: &mut Rest,
    out: &mut Map<String, Value>,
) {
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

/// User Access Management: an app (or a privilege) granted to or taken from a user.
pub(super) fn user_access(event_type: Option<&str>, rest: &mut Rest, out: &mut Map<String, Value>) {
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

/// Group Management: the group, the user added or removed, the app or role granted.
pub(super) fn group_management(activity: u8, rest: &mut Rest, out: &mut Map<String, Value>) {
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
