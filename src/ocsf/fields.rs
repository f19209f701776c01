//! The OCSF objects every class draws on, read out of an Okta LogEvent. Each reader *takes*
//! the Okta fields it maps, so what is left of the event at the end is, by construction,
//! what has no OCSF field: the `unmapped` object.

use serde_json::{json, Map, Value};

/// The LogEvent being mapped: whatever has not been taken yet.
pub(super) struct Rest(pub Value);

impl Rest {
    /// Removes and returns the value at `path`, if every step is an object and it exists.
    pub fn take(&mut self, path: &[&str]) -> Option<Value> {
        let (last, parents) = path.split_last()?;
        let mut at = &mut self.0;
        for key in parents {
            at = at.as_object_mut()?.get_mut(*key)?;
        }
        at.as_object_mut()?.remove(*last)
    }

    /// Puts `value` back at `key` of the object at `parent` (for a field taken but not used).
    pub fn put_back(&mut self, parent: &[&str], key: &str, value: String) {
        // A step that is a number indexes an array (`target`, `0`).
        let at = parent.iter().try_fold(&mut self.0, |at, k| match at {
            Value::Array(items) => items.get_mut(k.parse::<usize>().ok()?),
            other => other.as_object_mut()?.get_mut(*k),
        });
        if let Some(map) = at.and_then(Value::as_object_mut) {
            map.insert(key.to_owned(), Value::String(value));
        }
    }

    /// Removes and returns the string at `path`; any other value stays (for `unmapped`).
    pub fn take_str(&mut self, path: &[&str]) -> Option<String> {
        match self.peek(path)? {
            Value::String(s) if !s.is_empty() => {}
            _ => return None,
        }
        match self.take(path) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Removes and returns the number at `path`; any other value stays.
    pub fn take_f64(&mut self, path: &[&str]) -> Option<f64> {
        self.peek(path)?.as_f64()?;
        self.take(path).and_then(|v| v.as_f64())
    }

    /// The string at `path`, left in place (it stays in `unmapped`).
    pub fn peek_str(&self, path: &[&str]) -> Option<&str> {
        self.peek(path)?.as_str()
    }

    fn peek(&self, path: &[&str]) -> Option<&Value> {
        path.iter()
            .try_fold(&self.0, |at, key| at.as_object()?.get(*key))
    }

    /// What is left, without the nulls and empty objects taking left behind; `None` if
    /// nothing is. Array elements that became empty stay (as `{}`) so indexes still match.
    pub fn into_unmapped(self) -> Option<Value> {
        match self.0 {
            Value::Object(map) => {
                let map = prune(map);
                (!map.is_empty()).then_some(Value::Object(map))
            }
            Value::Null => None,
            other => Some(json!({ "event": other })),
        }
    }

    /// The index in `target[]` of the first target of the given Okta type.
    pub fn target_index(&self, okta_type: &str) -> Option<usize> {
        self.0
            .get("target")?
            .as_array()?
            .iter()
            .position(|t| t.get("type").and_then(Value::as_str) == Some(okta_type))
    }

    /// How many entries `target[]` has (0 if it is not an array).
    pub fn target_count(&self) -> usize {
        self.0
            .get("target")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }

    /// Takes the identifying fields of `target[index]`.
    pub fn take_target(&mut self, index: usize) -> Option<Entity> {
        let target = self.0.get_mut("target")?.as_array_mut()?.get_mut(index)?;
        let mut part = Rest(std::mem::take(target));
        let entity = Entity::take(&mut part, &[]);
        *target = part.0;
        entity
    }
}

fn prune(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter_map(|(k, v)| {
            let v = match v {
                Value::Null => return None,
                Value::Object(inner) => {
                    let inner = prune(inner);
                    if inner.is_empty() {
                        return None;
                    }
                    Value::Object(inner)
                }
                Value::Array(items) => {
                    let items: Vec<Value> = items
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(inner) => Value::Object(prune(inner)),
                            other => other,
                        })
                        .collect();
                    if items.iter().all(is_empty) {
                        return None;
                    }
                    Value::Array(items)
                }
                other => other,
            };
            Some((k, v))
        })
        .collect()
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// An Okta actor or target (`id`, `type`, `alternateId`, `displayName`).
#[derive(Debug, Default)]
pub(super) struct Entity {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub alternate_id: Option<String>,
    pub display_name: Option<String>,
}

impl Entity {
    /// Takes the four fields under `at`; `None` (taking nothing) if none of `id`,
    /// `alternateId`, `displayName` is a string.
    pub fn take(rest: &mut Rest, at: &[&str]) -> Option<Entity> {
        let path = |name: &'static str| -> Vec<&str> {
            let mut path = at.to_vec();
            path.push(name);
            path
        };
        let named = ["id", "alternateId", "displayName"]
            .iter()
            .any(|name| rest.peek_str(&path(name)).is_some_and(|s| !s.is_empty()));
        if !named {
            return None;
        }
        let kind = rest.take_str(&path("type"));
        // Only a user has a place for its alternate id (the login, `user.name`); on other
        // entities it may name them when nothing else does, and stays in `unmapped`.
        let alternate_id = if kind.as_deref() == Some("User") {
            rest.take_str(&path("alternateId"))
        } else {
            rest.peek_str(&path("alternateId")).map(str::to_owned)
        };
        Some(Entity {
            id: rest.take_str(&path("id")),
            kind,
            alternate_id,
            display_name: rest.take_str(&path("displayName")),
        })
    }

    pub fn is_app(&self) -> bool {
        matches!(
            self.kind.as_deref(),
            Some("AppInstance" | "PublicClientApp" | "Client" | "AppUser")
        )
    }

    /// The best name: the display name, else the alternate id, else the id.
    pub fn name(&self) -> Option<&str> {
        self.display_name
            .as_deref()
            .or(self.alternate_id.as_deref())
            .or(self.id.as_deref())
    }

    /// An OCSF `user`: `uid` the Okta id, `name` the login, `full_name` the display name.
    pub fn user(&self) -> Value {
        let mut user = Map::new();
        put(&mut user, "uid", self.id.as_deref());
        put(
            &mut user,
            "name",
            self.alternate_id
                .as_deref()
                .or(self.display_name.as_deref()),
        );
        if self.alternate_id.is_some() {
            put(&mut user, "full_name", self.display_name.as_deref());
        }
        // Okta's login is usually an email address: a user's, kept as `email_addr` too, so
        // that a lake joins it with other sources' `user.email_addr`.
        if self.kind.as_deref() == Some("User") {
            let email = self.alternate_id.as_deref().filter(|a| looks_like_email(a));
            put(&mut user, "email_addr", email);
        }
        if user.is_empty() {
            user.insert("name".into(), "unknown".into());
        }
        // `type` keeps Okta's word (SystemPrincipal, ...); `type_id` is OCSF's.
        let (type_id, caption) = match self.kind.as_deref() {
            Some("User") => (1, "User"),
            Some(kind @ "SystemPrincipal") => (3, kind),
            Some(kind) => (99, kind),
            None => (0, "Unknown"),
        };
        user.insert("type_id".into(), type_id.into());
        user.insert("type".into(), caption.into());
        Value::Object(user)
    }

    /// An OCSF `_entity`-shaped object (`uid`, `name`, `type`): groups, resources, entities.
    pub fn entity(&self) -> Map<String, Value> {
        let mut out = Map::new();
        put(&mut out, "uid", self.id.as_deref());
        put(&mut out, "name", self.name());
        put(&mut out, "type", self.kind.as_deref());
        out
    }
}

/// `local@domain.tld`, one `@`, no spaces: what OCSF's `email_t` is meant to hold.
fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Inserts `value` under `key` when there is one.
pub(super) fn put(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), Value::String(v.to_owned()));
    }
}

/// `src_endpoint`: client IP, geolocation, AS and ISP, and the proxies Okta saw.
pub(super) fn src_endpoint(rest: &mut Rest) -> Option<Value> {
    let mut ep = Map::new();
    put(
        &mut ep,
        "ip",
        rest.take_str(&["client", "ipAddress"]).as_deref(),
    );
    put(
        &mut ep,
        "domain",
        rest.take_str(&["securityContext", "domain"]).as_deref(),
    );
    let geo = ["client", "geographicalContext"];
    let mut location = Map::new();
    for (okta, ocsf) in [
        ("city", "city"),
        ("state", "region"),
        ("country", "country"),
        ("postalCode", "postal_code"),
    ] {
        put(
            &mut location,
            ocsf,
            rest.take_str(&[geo[0], geo[1], okta]).as_deref(),
        );
    }
    let lat = [geo[0], geo[1], "geolocation", "lat"];
    let lon = [geo[0], geo[1], "geolocation", "lon"];
    let number = |rest: &Rest, path: &[&str]| rest.peek(path).is_some_and(Value::is_number);
    // Taken only as a pair, and only with a place: OCSF's `location` needs a city, region,
    // country or postal code, so bare coordinates stay in `unmapped`, as a lone half does.
    if !location.is_empty() && number(rest, &lat) && number(rest, &lon) {
        if let (Some(lat), Some(lon)) = (rest.take_f64(&lat), rest.take_f64(&lon)) {
            // GeoJSON order, as OCSF's `coordinates` says: longitude first.
            location.insert("coordinates".into(), json!([lon, lat]));
        }
    }
    if !location.is_empty() {
        put(
            &mut location,
            "isp",
            rest.take_str(&["securityContext", "isp"]).as_deref(),
        );
        ep.insert("location".into(), Value::Object(location));
    }
    let mut asys = Map::new();
    if let Some(n) = rest
        .peek(&["securityContext", "asNumber"])
        .and_then(Value::as_i64)
    {
        if i32::try_from(n).is_ok() {
            rest.take(&["securityContext", "asNumber"]);
            asys.insert("number".into(), n.into());
        }
    }
    put(
        &mut asys,
        "name",
        rest.take_str(&["securityContext", "asOrg"]).as_deref(),
    );
    if !asys.is_empty() {
        ep.insert("autonomous_system".into(), Value::Object(asys));
    }
    if !ep.is_empty() && !ep.contains_key("ip") {
        // OCSF wants something that names an endpoint; Okta gave a place but no address.
        ep.insert("name".into(), "unknown".into());
    }
    (!ep.is_empty()).then_some(Value::Object(ep))
}

/// `http_request`: the user agent and the request's id and path, when Okta has them.
pub(super) fn http_request(rest: &mut Rest) -> Option<Value> {
    let mut req = Map::new();
    let agent = rest.take_str(&["client", "userAgent", "rawUserAgent"]);
    put(&mut req, "user_agent", agent.as_deref());
    let debug = ["debugContext", "debugData"];
    put(
        &mut req,
        "uid",
        rest.take_str(&[debug[0], debug[1], "requestId"]).as_deref(),
    );
    if let Some(path) = rest.take_str(&[debug[0], debug[1], "requestUri"]) {
        req.insert("url".into(), json!({ "path": path }));
    }
    (!req.is_empty()).then_some(Value::Object(req))
}

/// `session`: Okta's session id (`authenticationContext.externalSessionId`).
pub(super) fn session(rest: &mut Rest) -> Option<Value> {
    let path = ["authenticationContext", "externalSessionId"];
    // Okta writes "unknown" when there is no session: left as it is, in `unmapped`.
    if rest.peek_str(&path) == Some("unknown") {
        return None;
    }
    rest.take_str(&path).map(|uid| json!({ "uid": uid }))
}

/// `status_id` / `status` from `outcome.result` (SUCCESS, ALLOW; FAILURE, DENY; others).
pub(super) fn status(result: Option<&str>) -> (u8, String) {
    match result {
        Some("SUCCESS" | "ALLOW") => (1, "Success".into()),
        Some("FAILURE" | "DENY") => (2, "Failure".into()),
        Some(other) => (99, other.to_owned()),
        None => (0, "Unknown".into()),
    }
}

/// `severity_id` / `severity` from Okta's DEBUG, INFO, WARN, ERROR.
pub(super) fn severity(okta: Option<&str>) -> (u8, &'static str) {
    match okta {
        Some("DEBUG" | "INFO") => (1, "Informational"),
        Some("WARN") => (3, "Medium"),
        Some("ERROR") => (4, "High"),
        Some(_) => (99, "Other"),
        None => (0, "Unknown"),
    }
}
