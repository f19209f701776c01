//! The JSON of each directory object, rendered on demand in the shapes of Okta's Management API reference (nothing is stored as JSON).

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::store::{id_of, App, Group, Kind, RoleAssignment, User};
use crate::okta_events::rfc3339_millis;

/// How many attributes [`DirectoryFailure::HugeProfile`](super::DirectoryFailure::HugeProfile)
/// adds, and how long each value is: about 1 MB of profile.
const HUGE_ATTRIBUTES: usize = 1024;
const HUGE_VALUE_BYTES: usize = 1000;

/// The fake org's id, in `orn` values.
pub(crate) const ORG_ID: &str = "00o1fake0rg0000000x7";

/// What the request asked for that changes how objects are rendered.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) base_url: &'a str,
    /// `okta-response=omitCredentials` was in `Content-Type` or `Accept`.
    pub(crate) omit_credentials: bool,
}

fn ts(t: OffsetDateTime) -> String {
    rfc3339_millis(t)
}

fn href(url: String) -> Value {
    json!({ "href": url })
}

/// A user as `GET /api/v1/users` lists it; `huge` adds ~1 MB of profile attributes.
pub(crate) fn user(view: View<'_>, seq: u64, u: &User, huge: bool) -> Value {
    let id = id_of(Kind::User, seq);
    let mut profile = Map::new();
    profile.insert("firstName".into(), json!(u.first_name));
    profile.insert("lastName".into(), json!(u.last_name));
    profile.insert("mobilePhone".into(), Value::Null);
    profile.insert("secondEmail".into(), Value::Null);
    profile.insert("login".into(), json!(u.login));
    profile.insert("email".into(), json!(u.login));
    for (name, value) in &u.extra {
        profile.insert(name.to_string(), json!(value));
    }
    if huge {
        let filler = "x".repeat(HUGE_VALUE_BYTES);
        for i in 0..HUGE_ATTRIBUTES {
            profile.insert(format!("bulk{i:04}"), json!(filler));
        }
    }
    let url = format!("{}/api/v1/users/{id}", view.base_url);
    let mut v = json!({
        "id": id,
        "status": u.status.as_str(),
        "created": ts(u.created),
        "activated": ts(u.created),
        "statusChanged": ts(u.status_changed),
        "lastLogin": null,
        "lastUpdated": ts(u.last_updated),
        "passwordChanged": null,
        "type": { "id": "oty1fake0usertype0x7" },
        "profile": profile,
        "_links": { "self": href(url) },
    });
    if !view.omit_credentials {
        v["credentials"] = json!({ "provider": { "type": "OKTA", "name": "OKTA" } });
    }
    v
}

/// A group; with `stats` (`expand=stats`), `_embedded.stats`.
pub(crate) fn group(view: View<'_>, seq: u64, g: &Group, stats: Option<(usize, usize)>) -> Value {
    let id = id_of(Kind::Group, seq);
    let url = format!("{}/api/v1/groups/{id}", view.base_url);
    let mut v = json!({
        "id": id,
        "created": ts(g.created),
        "lastUpdated": ts(g.last_updated),
        "lastMembershipUpdated": ts(g.last_membership_updated),
        "objectClass": ["okta:user_group"],
        "type": "OKTA_GROUP",
        "profile": { "name": g.name, "description": g.description },
        "_links": {
            "self": href(url.clone()),
            "users": href(format!("{url}/users")),
            "apps": href(format!("{url}/apps")),
        },
    });
    if let Some((users, apps)) = stats {
        v["_embedded"] = json!({ "stats": {
            "usersCount": users,
            "appsCount": apps,
            "groupPushMappingsCount": 0,
            "hasAdminPrivilege": !g.roles.is_empty(),
        }});
    }
    v
}

/// An app instance (a bookmark app: the smallest real shape).
pub(crate) fn app(view: View<'_>, seq: u64, a: &App) -> Value {
    let id = id_of(Kind::App, seq);
    let url = format!("{}/api/v1/apps/{id}", view.base_url);
    json!({
        "id": id,
        "name": "bookmark",
        "label": a.label,
        "status": if a.active { "ACTIVE" } else { "INACTIVE" },
        "created": ts(a.created),
        "lastUpdated": ts(a.last_updated),
        "signOnMode": "BOOKMARK",
        "features": [],
        "visibility": { "autoSubmitToolbar": false, "hide": { "iOS": false, "web": false } },
        "_links": {
            "self": href(url.clone()),
            "users": href(format!("{url}/users")),
            "groups": href(format!("{url}/groups")),
        },
    })
}

/// One app user: `scope` USER when assigned directly, GROUP when only through a group.
pub(crate) fn app_user(
    view: View<'_>,
    app_seq: u64,
    seq: u64,
    u: &User,
    direct: bool,
    assigned: OffsetDateTime,
) -> Value {
    let app_url = format!(
        "{}/api/v1/apps/{}",
        view.base_url,
        id_of(Kind::App, app_seq)
    );
    let id = id_of(Kind::User, seq);
    let mut v = json!({
        "id": id,
        "externalId": null,
        "created": ts(assigned),
        "lastUpdated": ts(assigned),
        "scope": if direct { "USER" } else { "GROUP" },
        "status": "ACTIVE",
        "statusChanged": ts(assigned),
        "syncState": "DISABLED",
        "profile": {},
        "_links": {
            "app": href(app_url.clone()),
            "user": href(format!("{}/api/v1/users/{id}", view.base_url)),
        },
    });
    if !view.omit_credentials {
        v["credentials"] = json!({ "userName": u.login });
    }
    v
}

/// One group assigned to an app.
pub(crate) fn app_group(view: View<'_>, app_seq: u64, seq: u64, assigned: OffsetDateTime) -> Value {
    let id = id_of(Kind::Group, seq);
    json!({
        "id": id,
        "lastUpdated": ts(assigned),
        "priority": 0,
        "profile": {},
        "_links": {
            "app": href(format!("{}/api/v1/apps/{}", view.base_url, id_of(Kind::App, app_seq))),
            "group": href(format!("{}/api/v1/groups/{id}", view.base_url)),
        },
    })
}

/// Okta's label for a standard role type; a custom role shows its type.
fn role_label(role_type: &str) -> &str {
    match role_type {
        "SUPER_ADMIN" => "Super Administrator",
        "ORG_ADMIN" => "Organizational Administrator",
        "APP_ADMIN" => "Application Administrator",
        "USER_ADMIN" => "Group Administrator",
        "HELP_DESK_ADMIN" => "Help Desk Administrator",
        "READ_ONLY_ADMIN" => "Read-only Administrator",
        "MOBILE_ADMIN" => "Mobile Administrator",
        "API_ACCESS_MANAGEMENT_ADMIN" => "API Access Management Administrator",
        "REPORT_ADMIN" => "Report Administrator",
        "GROUP_MEMBERSHIP_ADMIN" => "Group Membership Administrator",
        other => other,
    }
}

/// One role assignment of a user (`assignmentType` USER) or a group (GROUP).
pub(crate) fn role(view: View<'_>, assignee: (Kind, u64), r: &RoleAssignment) -> Value {
    let (kind, seq) = assignee;
    let (path, assignment_type) = match kind {
        Kind::Group => ("groups", "GROUP"),
        _ => ("users", "USER"),
    };
    let assignee_url = format!("{}/api/v1/{path}/{}", view.base_url, id_of(kind, seq));
    json!({
        "id": id_of(Kind::Role, r.seq),
        "type": r.role_type,
        "label": role_label(&r.role_type),
        "status": "ACTIVE",
        "created": ts(r.created),
        "lastUpdated": ts(r.created),
        "assignmentType": assignment_type,
        "_links": { "assignee": href(assignee_url) },
    })
}

/// One entry of `GET /api/v1/iam/assignees/users`.
pub(crate) fn assignee(view: View<'_>, seq: u64) -> Value {
    let id = id_of(Kind::User, seq);
    let url = format!("{}/api/v1/users/{id}", view.base_url);
    json!({
        "id": id,
        "orn": format!("orn:okta:directory:{ORG_ID}:users:{id}"),
        "_links": { "self": href(url.clone()), "roles": href(format!("{url}/roles")) },
    })
}
