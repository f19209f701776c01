//! Management API lists (users, groups, apps, their members and assignments, admin roles)
//! read through the same client as the System Log, and the port the directory reads through.

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use serde_json::value::RawValue;
use tokio::time::Instant;
use url::Url;

use super::read::{okta_time, shown, Shape, Step, MAX_ATTEMPTS};
use super::{next_link, FetchError, FetchStats, HttpSystemLog, OktaOrg};

/// Asks Okta to leave users' credentials (and their links) out of every answer.
const OMIT_CREDENTIALS: &str =
    "application/json; okta-response=omitCredentials,omitCredentialsLinks";

/// One page of a Management API list.
#[derive(Debug)]
pub struct ListPage {
    /// The URL answered: the one asked for, or the same with a smaller `limit` when the page
    /// was too large or too slow at the limit asked.
    pub url: Url,
    /// The objects, each exactly as Okta sent it.
    pub items: Vec<Box<RawValue>>,
    /// Where the next page is (always on the org); `None` at the end of the list.
    pub next: Option<Url>,
    /// Okta's clock when it answered (the `Date` header), if it sent one that reads.
    pub okta_time: Option<time::OffsetDateTime>,
}

/// The Management API lists of one org, as the directory reads them.
pub trait OktaLists: Send + Sync {
    /// The org being read.
    fn org(&self) -> &OktaOrg;

    /// Reads the list page at `url`, giving up rather than waiting past `deadline`.
    fn list<'a>(
        &'a self,
        url: &'a Url,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<ListPage, FetchError>>;

    /// Counters since the last call, which resets them.
    fn take_stats(&self) -> FetchStats;
}

impl OktaLists for HttpSystemLog {
    fn org(&self) -> &OktaOrg {
        HttpSystemLog::org(self)
    }

    fn list<'a>(
        &'a self,
        url: &'a Url,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<ListPage, FetchError>> {
        Box::pin(self.read(&Lists, url, deadline))
    }

    fn take_stats(&self) -> FetchStats {
        HttpSystemLog::take_stats(self)
    }
}

/// The body of `/api/v1/iam/assignees/users`: `{"value":[...],"_links":{"next":{"href":...}}}`.
#[derive(serde::Deserialize)]
struct ValueList {
    value: Vec<Box<RawValue>>,
    #[serde(default, rename = "_links")]
    links: Option<Links>,
}

#[derive(serde::Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<Href>,
}

#[derive(serde::Deserialize)]
struct Href {
    href: String,
}

/// What kind of JSON a body starts with, for messages that must not quote it.
fn kind_of(body: &[u8]) -> &'static str {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => "an empty body",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        Some(b'"') => "a string",
        Some(_) => "not JSON of a list",
    }
}

/// A list body: a JSON array of objects, or `{"value":[objects], "_links":{"next":{"href"}}}`.
/// Gives the objects and the body's `next` reference, or what the body is instead (its shape
/// and where it broke, never its content).
pub(super) fn parse_list(body: &[u8]) -> Result<(Vec<Box<RawValue>>, Option<String>), String> {
    let broke = |e: serde_json::Error| {
        format!(
            "{} of {} bytes that does not read as a list (line {}, column {}: {:?})",
            kind_of(body),
            body.len(),
            e.line(),
            e.column(),
            e.classify()
        )
    };
    let (items, next) = match kind_of(body) {
        "an array" => (serde_json::from_slice(body).map_err(broke)?, None),
        "an object" => {
            let list: ValueList = serde_json::from_slice(body).map_err(broke)?;
            let next = list.links.and_then(|l| l.next).map(|n| n.href);
            (list.value, next)
        }
        kind => return Err(format!("{kind} of {} bytes, not a list", body.len())),
    };
    let items: Vec<Box<RawValue>> = items;
    if let Some(at) = items
        .iter()
        .position(|i| !i.get().trim_start().starts_with('{'))
    {
        return Err(format!("item {at} of the list is not an object"));
    }
    Ok((items, next))
}

/// `url` asking for half its `limit`, when it has one above 1.
pub(super) fn half_limit(url: &Url) -> Option<Url> {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let limit: u32 = pairs
        .iter()
        .find(|(n, _)| n == "limit")
        .and_then(|(_, v)| v.trim().parse().ok())?;
    if limit <= 1 {
        return None;
    }
    let mut smaller = url.clone();
    smaller
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(n, v)| {
            let v = if n == "limit" {
                (limit / 2).to_string()
            } else {
                v.clone()
            };
            (n.clone(), v)
        }));
    Some(smaller)
}

/// `path` with ids replaced by `{id}`: `/api/v1/users/{id}/roles`.
fn endpoint(path: &str) -> String {
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return path.to_owned();
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let named: Vec<&str> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| match (i, parts.first()) {
            (1, Some(&("users" | "groups" | "apps"))) => "{id}",
            _ => p,
        })
        .collect();
    format!("/api/v1/{}", named.join("/"))
}

/// What the credential needs to read `path`.
fn needs(path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if parts.get(3) == Some(&"iam") || parts.last() == Some(&"roles") {
        return "the scope okta.roles.read; listing admin role assignments needs the Super Administrator role or a custom admin role with okta.iam.read (Read-only Administrator is not enough)";
    }
    match parts.get(3) {
        Some(&"users") => "the scope okta.users.read (for an API token: an admin who may read users, e.g. Read-only Administrator)",
        Some(&"groups") => "the scope okta.groups.read (for an API token: an admin who may read groups, e.g. Read-only Administrator)",
        _ => "the scope okta.apps.read (for an API token: an admin who may read apps, e.g. Read-only Administrator)",
    }
}

/// Management API lists, asked for without credentials.
struct Lists;

impl Shape for Lists {
    type Page = ListPage;
    const CONTENT_TYPE: Option<&'static str> = Some(OMIT_CREDENTIALS);
    const WHAT: &'static str = "list page even with limit=1";

    /// A body that is not a list is retried (truncated or corrupted in transit), and after
    /// the last attempt an error: an empty page would read as "everything was deleted".
    fn page(
        &self,
        log: &HttpSystemLog,
        url: &Url,
        headers: &HeaderMap,
        body: &[u8],
        attempts: u32,
    ) -> Result<Step<ListPage>, FetchError> {
        match parse_list(body) {
            Ok((items, body_next)) => {
                let next = match next_link(headers).or(body_next) {
                    Some(link) => Some(log.resolve_link(url, &link)?),
                    None => None,
                };
                Ok(Step::Done(ListPage {
                    url: url.clone(),
                    items,
                    next,
                    okta_time: okta_time(headers),
                }))
            }
            Err(detail) if attempts >= MAX_ATTEMPTS => {
                tracing::error!(attempts, url = %shown(url), detail = %detail, "list body is not a list after every attempt");
                Err(FetchError::NotAList {
                    url: shown(url),
                    detail,
                })
            }
            Err(detail) => Ok(Step::Retry(format!("list body is not a list ({detail})"))),
        }
    }

    fn forbidden(&self, url: &Url, detail: &str) -> Option<FetchError> {
        Some(FetchError::ForbiddenList {
            endpoint: endpoint(url.path()),
            detail: detail.to_owned(),
            needs: needs(url.path()),
        })
    }

    fn smaller(&self, url: &Url) -> Option<Url> {
        half_limit(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(body: &str) -> Result<(Vec<String>, Option<String>), String> {
        parse_list(body.as_bytes())
            .map(|(items, next)| (items.iter().map(|i| i.get().to_owned()).collect(), next))
    }

    #[test]
    fn reads_an_array_of_objects_byte_for_byte() {
        let (got, next) = items(r#" [{"id":"00u1", "a":1},{"id":"00u2"}] "#).unwrap();
        assert_eq!(got, [r#"{"id":"00u1", "a":1}"#, r#"{"id":"00u2"}"#]);
        assert_eq!(next, None);
        assert_eq!(items("[]").unwrap().0.len(), 0);
    }

    #[test]
    fn reads_a_value_object_with_its_next_link() {
        let (got, next) = items(
            r#"{"value":[{"id":"00u1","orn":"orn:x"}],"_links":{"next":{"href":"https://a.okta.com/api/v1/iam/assignees/users?after=2"}}}"#,
        )
        .unwrap();
        assert_eq!(got, [r#"{"id":"00u1","orn":"orn:x"}"#]);
        assert_eq!(
            next.as_deref(),
            Some("https://a.okta.com/api/v1/iam/assignees/users?after=2")
        );
        let (got, next) = items(r#"{"value":[],"_links":{}}"#).unwrap();
        assert!(got.is_empty() && next.is_none());
    }

    #[test]
    fn refuses_garbage_without_quoting_it() {
        for body in [
            "",
            "<html>secret-ish</html>",
            r#""secret-ish""#,
            r#"{"errorCode":"secret-ish"}"#,
            r#"[{"id":1},"secret-ish"]"#,
            r#"[{"id":"00u1"},{"id":"#,
            r#"{"value":"secret-ish"}"#,
            "null",
        ] {
            let err = items(body).unwrap_err();
            assert!(!err.contains("secret-ish"), "{body}: {err}");
        }
    }

    #[test]
    fn halves_the_limit_keeping_the_rest_of_the_query() {
        let url =
            Url::parse("https://a.okta.com/api/v1/users?search=a%20b&limit=200&after=x").unwrap();
        let half = half_limit(&url).unwrap();
        let pairs: Vec<(String, String)> = half.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("search".to_owned(), "a b".to_owned()),
                ("limit".to_owned(), "100".to_owned()),
                ("after".to_owned(), "x".to_owned())
            ]
        );
        for url in [
            "https://a.okta.com/api/v1/users?limit=1",
            "https://a.okta.com/api/v1/users",
            "https://a.okta.com/api/v1/users?limit=lots",
        ] {
            assert_eq!(half_limit(&Url::parse(url).unwrap()), None, "{url}");
        }
    }

    #[test]
    fn a_refusal_names_the_endpoint_without_ids_and_what_it_needs() {
        for (path, shown, scope) in [
            ("/api/v1/users", "/api/v1/users", "okta.users.read"),
            (
                "/api/v1/groups/00g1/users",
                "/api/v1/groups/{id}/users",
                "okta.groups.read",
            ),
            (
                "/api/v1/apps/0oa1/users",
                "/api/v1/apps/{id}/users",
                "okta.apps.read",
            ),
            (
                "/api/v1/users/00u1/roles",
                "/api/v1/users/{id}/roles",
                "okta.roles.read",
            ),
            (
                "/api/v1/groups/00g1/roles",
                "/api/v1/groups/{id}/roles",
                "okta.roles.read",
            ),
            (
                "/api/v1/iam/assignees/users",
                "/api/v1/iam/assignees/users",
                "okta.roles.read",
            ),
        ] {
            assert_eq!(endpoint(path), shown);
            assert!(needs(path).contains(scope), "{path}");
        }
        assert!(needs("/api/v1/users/00u1/roles").contains("Super Administrator"));
        assert!(needs("/api/v1/iam/assignees/users").contains("okta.iam.read"));
    }
}
