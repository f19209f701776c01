//! One page of each directory list: the endpoint's `limit`, its filters, opaque cursors that a test can make unknown, and the `next` link (only while more remain).

use std::ops::Bound;

use super::query::{invalid_search, limit, Attr, AttrType, Expr, Subject};
use super::render::{self, View};
use super::store::{id_of, App, Group, Kind, User, UserStatus};
use super::{Directory, DirectoryEndpoint, DirectoryFailure};
use crate::fake_okta::paging::{decode_cursor, encode_component, encode_cursor};
use crate::fake_okta::reply::Reply;
use serde_json::{json, Value};

/// Cursor bits that hold the sequence number; the generation sits above them.
const SEQ_BITS: u32 = 40;
/// Cursors hold 48 bits, so the generation wraps at 256: plenty for a test.
const GENERATIONS: u64 = 256;

/// One request to a directory list, as the listing needs it.
pub(crate) struct ListRequest<'a> {
    pub(crate) endpoint: DirectoryEndpoint,
    pub(crate) id: Option<&'a str>,
    pub(crate) path: &'a str,
    pub(crate) query: &'a [(String, String)],
    pub(crate) view: View<'a>,
    pub(crate) failure: Option<&'a DirectoryFailure>,
}

impl ListRequest<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn self_url(&self) -> String {
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
            .collect();
        let mut url = format!("{}{}", self.view.base_url, self.path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        url
    }

    /// The request URL with `after` replaced by `cursor`.
    fn next_url(&self, cursor: &str) -> String {
        let mut parts: Vec<String> = self
            .query
            .iter()
            .filter(|(n, _)| n != "after")
            .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
            .collect();
        parts.push(format!("after={cursor}"));
        format!("{}{}?{}", self.view.base_url, self.path, parts.join("&"))
    }

    fn huge(&self) -> bool {
        self.failure == Some(&DirectoryFailure::HugeProfile)
    }
}

/// A 200 answer before the common headers.
pub(crate) struct Listed {
    pub(crate) body: Vec<u8>,
    pub(crate) returned: usize,
    pub(crate) links: Vec<(String, &'static str)>,
}

/// The endpoint's `(default, min, max)` limit, and the letter its cursors start with.
fn paging_of(endpoint: DirectoryEndpoint) -> (usize, usize, usize, char) {
    match endpoint {
        DirectoryEndpoint::Users => (200, 1, 200, 'u'),
        DirectoryEndpoint::Groups => (200, 1, 200, 'g'),
        DirectoryEndpoint::GroupUsers => (1000, 1, 1000, 'm'),
        DirectoryEndpoint::Apps => (20, 1, 200, 'a'),
        DirectoryEndpoint::AppUsers => (50, 1, 500, 'p'),
        DirectoryEndpoint::AppGroups => (20, 20, 200, 'q'),
        DirectoryEndpoint::RoleAssignees => (100, 1, 100, 'i'),
        // Not paged.
        DirectoryEndpoint::UserRoles | DirectoryEndpoint::GroupRoles => {
            (usize::MAX, 1, usize::MAX, 'r')
        }
    }
}

fn not_found(kind: Kind, id: &str) -> Reply {
    Reply::error(
        404,
        "E0000007",
        &format!("Not found: Resource not found: {id} ({})", kind.noun()),
        &[],
    )
}

impl Subject for (u64, &User) {
    fn attr(&self, name: &str) -> Attr<'_> {
        let (seq, u) = *self;
        match name {
            "id" => Attr::Text(id_of(Kind::User, seq).into()),
            "status" => Attr::Text(u.status.as_str().into()),
            "created" | "activated" => Attr::Time(u.created),
            "statusChanged" => Attr::Time(u.status_changed),
            "lastUpdated" => Attr::Time(u.last_updated),
            "profile.login" | "profile.email" => Attr::Text(u.login.as_ref().into()),
            "profile.firstName" => Attr::Text(u.first_name.as_ref().into()),
            "profile.lastName" => Attr::Text(u.last_name.as_ref().into()),
            other => other
                .strip_prefix("profile.")
                .and_then(|p| u.extra.iter().find(|(n, _)| n.as_ref() == p))
                .map_or(Attr::Null, |(_, v)| Attr::Text(v.as_ref().into())),
        }
    }
}

impl Subject for App {
    fn attr(&self, name: &str) -> Attr<'_> {
        match name {
            "status" => Attr::Text(if self.active { "ACTIVE" } else { "INACTIVE" }.into()),
            _ => Attr::Null,
        }
    }
}

impl Subject for (u64, &Group) {
    fn attr(&self, name: &str) -> Attr<'_> {
        let (seq, g) = *self;
        match name {
            "id" => Attr::Text(id_of(Kind::Group, seq).into()),
            "type" => Attr::Text("OKTA_GROUP".into()),
            "created" => Attr::Time(g.created),
            "lastUpdated" => Attr::Time(g.last_updated),
            "lastMembershipUpdated" => Attr::Time(g.last_membership_updated),
            "profile.name" => Attr::Text(g.name.as_ref().into()),
            "profile.description" => Attr::Text(g.description.as_ref().into()),
            _ => Attr::Null,
        }
    }
}

/// What `filter` (narrow) or `search` (wide) may name on users.
fn user_attr(search: bool, name: &str) -> Option<AttrType> {
    match name {
        "lastUpdated" => Some(AttrType::Time),
        "created" | "activated" | "statusChanged" if search => Some(AttrType::Time),
        "status" | "id" | "profile.login" | "profile.email" | "profile.firstName"
        | "profile.lastName" => Some(AttrType::Text),
        n if search && n.starts_with("profile.") => Some(AttrType::Text),
        _ => None,
    }
}

/// What `filter` or `search` may name on groups.
fn group_attr(search: bool, name: &str) -> Option<AttrType> {
    match name {
        "lastUpdated" | "lastMembershipUpdated" => Some(AttrType::Time),
        "created" if search => Some(AttrType::Time),
        "id" | "type" => Some(AttrType::Text),
        "profile.name" | "profile.description" if search => Some(AttrType::Text),
        _ => None,
    }
}

/// What `filter` may name on apps: the status only. Okta's apps list has no change
/// filter, so `lastUpdated` is refused.
fn app_attr(_search: bool, name: &str) -> Option<AttrType> {
    (name == "status").then_some(AttrType::Text)
}

/// `filter` and `search` together (both must match); `None` when neither was given.
fn expression(
    req: &ListRequest<'_>,
    attr: fn(bool, &str) -> Option<AttrType>,
) -> Result<Option<Expr>, Reply> {
    let filter = req
        .get("filter")
        .map(|f| Expr::parse(f, &|n| attr(false, n)))
        .transpose()?;
    let search = req
        .get("search")
        .map(|s| Expr::parse(s, &|n| attr(true, n)))
        .transpose()?;
    Ok(match (filter, search) {
        (Some(f), Some(s)) => Some(Expr::And(Box::new(f), Box::new(s))),
        (f, s) => f.or(s),
    })
}

impl Directory {
    /// The page (or error) for one list request.
    pub(crate) fn list(&self, req: &ListRequest<'_>) -> Result<Listed, Reply> {
        let (default, min, max, kind) = paging_of(req.endpoint);
        let limit = limit(req.get("limit"), default, min, max)?;
        let after = match req.get("after") {
            None => None,
            Some(c) => Some(self.decode(kind, c)?),
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let view = req.view;
        let s = &self.store;
        // Each arm yields the page's items (one more than `limit` when more remain) as `(seq, json)`.
        let items: Vec<(u64, Value)> = match req.endpoint {
            DirectoryEndpoint::Users => {
                let expr = expression(req, user_attr)?;
                s.users
                    .range((from, Bound::Unbounded))
                    .filter(|(&seq, u)| match &expr {
                        // A plain list leaves out deprovisioned users; a filter or search does not.
                        None => u.status != UserStatus::Deprovisioned,
                        Some(e) => e.matches(&(seq, *u)),
                    })
                    .take(limit.saturating_add(1))
                    .enumerate()
                    .map(|(i, (&seq, u))| (seq, render::user(view, seq, u, i == 0 && req.huge())))
                    .collect()
            }
            DirectoryEndpoint::Groups => {
                let expr = expression(req, group_attr)?;
                let stats = req
                    .get("expand")
                    .is_some_and(|e| e.split(',').any(|x| x == "stats"));
                s.groups
                    .range((from, Bound::Unbounded))
                    .filter(|(&seq, g)| expr.as_ref().is_none_or(|e| e.matches(&(seq, *g))))
                    .take(limit.saturating_add(1))
                    .map(|(&seq, g)| {
                        let counts = stats.then(|| {
                            let apps = s
                                .apps
                                .values()
                                .filter(|a| a.groups.contains_key(&seq))
                                .count();
                            (g.members.len(), apps)
                        });
                        (seq, render::group(view, seq, g, counts))
                    })
                    .collect()
            }
            DirectoryEndpoint::GroupUsers => {
                let (_, g) = self.found_group(req.id)?;
                g.members
                    .range((from, Bound::Unbounded))
                    .filter_map(|&seq| s.users.get(&seq).map(|u| (seq, u)))
                    .take(limit.saturating_add(1))
                    .enumerate()
                    .map(|(i, (seq, u))| (seq, render::user(view, seq, u, i == 0 && req.huge())))
                    .collect()
            }
            DirectoryEndpoint::Apps => {
                let filter = req
                    .get("filter")
                    .map(|f| Expr::parse(f, &|n| app_attr(false, n)))
                    .transpose()?;
                s.apps
                    .range((from, Bound::Unbounded))
                    .filter(|(_, a)| filter.as_ref().is_none_or(|e| e.matches(*a)))
                    .take(limit.saturating_add(1))
                    .map(|(&seq, a)| (seq, render::app(view, seq, a)))
                    .collect()
            }
            DirectoryEndpoint::AppUsers => {
                let (app_seq, app) = self.found_app(req.id)?;
                let via_group = app.groups.values().min().copied().unwrap_or(app.created);
                s.app_users(app)
                    .range((from, Bound::Unbounded))
                    .filter_map(|(&seq, &direct)| s.users.get(&seq).map(|u| (seq, u, direct)))
                    .take(limit.saturating_add(1))
                    .map(|(seq, u, direct)| {
                        let at = app.users.get(&seq).copied().unwrap_or(via_group);
                        (seq, render::app_user(view, app_seq, seq, u, direct, at))
                    })
                    .collect()
            }
            DirectoryEndpoint::AppGroups => {
                let (app_seq, app) = self.found_app(req.id)?;
                app.groups
                    .range((from, Bound::Unbounded))
                    .take(limit.saturating_add(1))
                    .map(|(&seq, &at)| (seq, render::app_group(view, app_seq, seq, at)))
                    .collect()
            }
            DirectoryEndpoint::RoleAssignees => s
                .users
                .range((from, Bound::Unbounded))
                .filter(|(_, u)| !u.roles.is_empty())
                .take(limit.saturating_add(1))
                .map(|(&seq, _)| (seq, render::assignee(view, seq)))
                .collect(),
            DirectoryEndpoint::UserRoles => {
                let id = req.id.unwrap_or_default();
                let (seq, u) = s.user(id).ok_or_else(|| not_found(Kind::User, id))?;
                let roles = u
                    .roles
                    .iter()
                    .map(|r| render::role(view, (Kind::User, seq), r));
                return Ok(array(roles.collect(), Vec::new()));
            }
            DirectoryEndpoint::GroupRoles => {
                let (seq, g) = self.found_group(req.id)?;
                let roles = g
                    .roles
                    .iter()
                    .map(|r| render::role(view, (Kind::Group, seq), r));
                return Ok(array(roles.collect(), Vec::new()));
            }
        };
        self.paged(req, kind, limit, items)
    }

    /// Cuts `items` to `limit`, links `self` and, while more remain, `next`.
    fn paged(
        &self,
        req: &ListRequest<'_>,
        kind: char,
        limit: usize,
        mut items: Vec<(u64, Value)>,
    ) -> Result<Listed, Reply> {
        let more = items.len() > limit;
        items.truncate(limit);
        let self_url = req.self_url();
        let next = if req.failure == Some(&DirectoryFailure::NextSelf) {
            Some(self_url.clone())
        } else {
            match items.last() {
                Some(&(last, _)) if more => Some(req.next_url(&self.encode(kind, last))),
                _ => None,
            }
        };
        let mut links = vec![(self_url, "self")];
        links.extend(next.clone().map(|n| (n, "next")));
        let values: Vec<Value> = items.into_iter().map(|(_, v)| v).collect();
        if req.endpoint == DirectoryEndpoint::RoleAssignees {
            // Not an array: `value` and `_links.next`, beside the `Link` header.
            let returned = values.len();
            let mut body = json!({ "value": values, "_links": {} });
            if let Some(n) = next {
                body["_links"]["next"] = json!({ "href": n });
            }
            return Ok(Listed {
                body: body.to_string().into_bytes(),
                returned,
                links,
            });
        }
        Ok(array(values, links))
    }

    fn encode(&self, kind: char, seq: u64) -> String {
        encode_cursor(
            kind,
            ((self.cursor_generation % GENERATIONS) << SEQ_BITS) | seq,
        )
    }

    /// The sequence number in a cursor this list issued in this generation; 400 otherwise.
    fn decode(&self, kind: char, cursor: &str) -> Result<u64, Reply> {
        decode_cursor(kind, cursor)
            .filter(|v| v >> SEQ_BITS == self.cursor_generation % GENERATIONS)
            .map(|v| v & ((1 << SEQ_BITS) - 1))
            .ok_or_else(|| invalid_search("after: the cursor is not valid or has expired"))
    }

    fn found_group(&self, id: Option<&str>) -> Result<(u64, &Group), Reply> {
        let id = id.unwrap_or_default();
        self.store
            .group(id)
            .ok_or_else(|| not_found(Kind::Group, id))
    }

    fn found_app(&self, id: Option<&str>) -> Result<(u64, &App), Reply> {
        let id = id.unwrap_or_default();
        self.store.app(id).ok_or_else(|| not_found(Kind::App, id))
    }
}

fn array(values: Vec<Value>, links: Vec<(String, &'static str)>) -> Listed {
    let returned = values.len();
    Listed {
        body: Value::Array(values).to_string().into_bytes(),
        returned,
        links,
    }
}
