//! One directory request from arrival to answer: recorded, may hang, then the endpoint's rate-limit bucket, its scripted failure, auth, route and page.

use std::time::Instant;

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use time::OffsetDateTime;

use super::limits::concurrency_headers;
use super::listing::ListRequest;
use super::render::View;
use super::{Bucket, DirectoryEndpoint, DirectoryFailure};
use crate::fake_okta::auth::Credentials;
use crate::fake_okta::handler::{method_not_allowed, Incoming};
use crate::fake_okta::reply::{Common, Reply};
use crate::fake_okta::{Inner, Shared};

/// Whether the request asks for users without secrets: `okta-response=omitCredentials`
/// in `Content-Type` or `Accept`.
pub(crate) fn omits_credentials(headers: &HeaderMap) -> bool {
    ["content-type", "accept"].iter().any(|name| {
        headers.get_all(*name).iter().any(|v| {
            let v = String::from_utf8_lossy(v.as_bytes());
            v.split(';').any(|param| {
                param
                    .trim()
                    .strip_prefix("okta-response=")
                    .is_some_and(|list| {
                        list.trim_matches('"')
                            .split(',')
                            .any(|o| o.trim() == "omitCredentials")
                    })
            })
        })
    })
}

/// The bucket of a path under the directory's prefixes that names no endpoint.
fn bucket_of_path(path: &str) -> Bucket {
    if path.starts_with("/api/v1/users") {
        Bucket::Users
    } else if path.starts_with("/api/v1/groups") {
        Bucket::Groups
    } else {
        Bucket::Apps
    }
}

/// The OAuth scope (and admin permission) an endpoint needs, named in a scripted 403.
fn permission(endpoint: Option<DirectoryEndpoint>) -> &'static str {
    match endpoint {
        Some(DirectoryEndpoint::Users) => "okta.users.read",
        Some(DirectoryEndpoint::Groups | DirectoryEndpoint::GroupUsers) => "okta.groups.read",
        Some(
            DirectoryEndpoint::Apps | DirectoryEndpoint::AppUsers | DirectoryEndpoint::AppGroups,
        ) => "okta.apps.read",
        Some(DirectoryEndpoint::RoleAssignees) => "okta.iam.read",
        _ => "okta.roles.read",
    }
}

/// 403 `E0000006`, with a cause naming what the caller lacks.
fn forbidden(endpoint: Option<DirectoryEndpoint>) -> Reply {
    Reply::error(
        403,
        "E0000006",
        "You do not have permission to perform the requested action",
        &[format!(
            "The caller is missing the permission or scope {}",
            permission(endpoint)
        )],
    )
}

impl Shared {
    /// Answers a request under the directory's prefixes (the caller counts it in flight).
    pub(crate) async fn directory(
        &self,
        method: Method,
        uri: axum::http::Uri,
        headers: &HeaderMap,
    ) -> Response {
        let req = Incoming::new(method, uri, headers);
        let omit_credentials = omits_credentials(headers);
        let path = req.uri.path().to_string();
        let endpoint = DirectoryEndpoint::of_path(&path);
        let (index, failure) = {
            let mut inner = self.lock();
            let failure = endpoint.and_then(|(e, _)| inner.directory.take_failure(e));
            // Recorded on arrival so a hanging request is visible to the test at once.
            inner.requests.push(req.record());
            (inner.requests.len() - 1, failure)
        };
        if let Some(DirectoryFailure::Hang(d)) = failure {
            tokio::time::sleep(d).await;
        }
        let mut inner = self.lock();
        let now = Instant::now();
        let fake_now = inner.now();
        let bucket = endpoint.map_or_else(|| bucket_of_path(&path), |(e, _)| e.bucket());
        // Every request spends budget, whatever its answer; auth is only checked after.
        let over = inner.directory.bucket(bucket).take(now);
        let reply = if over && !matches!(failure, Some(DirectoryFailure::Status(_))) {
            Reply::too_many()
        } else {
            let call = Call {
                req: &req,
                endpoint,
                failure: failure.as_ref(),
                omit_credentials,
            };
            inner
                .directory_reply(&self.base_url, &call, fake_now)
                .unwrap_or_else(|e| e)
        };
        let rate = match failure {
            Some(DirectoryFailure::TooManyRequestsBare) => Vec::new(),
            _ => inner
                .directory
                .bucket(bucket)
                .headers(now, fake_now, reply.exhausted)
                .into(),
        };
        self.finish(inner, index, reply, rate, fake_now)
    }

    /// 429 for a request beyond the org's concurrency limit: recorded, answered at once,
    /// spending no bucket.
    pub(crate) fn refuse_concurrent(&self, req: &Incoming) -> Response {
        let mut inner = self.lock();
        let fake_now = inner.now();
        inner.requests.push(req.record());
        let index = inner.requests.len() - 1;
        let rate = concurrency_headers(inner.directory.concurrency(), fake_now);
        self.finish(inner, index, Reply::too_many(), rate, fake_now)
    }

    /// Records the answer's status and builds the response with the common headers.
    fn finish(
        &self,
        mut inner: std::sync::MutexGuard<'_, Inner>,
        index: usize,
        reply: Reply,
        rate: Vec<(axum::http::HeaderName, String)>,
        fake_now: OffsetDateTime,
    ) -> Response {
        let common = Common {
            fake_now,
            rate,
            combined_link: inner.combined_link,
            relative_links: inner.relative_links,
        };
        let status = reply.http_status();
        if let Some(r) = inner.requests.get_mut(index) {
            r.status = status.as_u16();
            r.returned = reply.returned;
        }
        drop(inner);
        reply.into_response(status, common)
    }
}

/// What one directory answer depends on in the request.
struct Call<'a> {
    req: &'a Incoming,
    endpoint: Option<(DirectoryEndpoint, Option<&'a str>)>,
    failure: Option<&'a DirectoryFailure>,
    omit_credentials: bool,
}

impl Inner {
    /// A scripted replacement, or auth, route and page.
    fn directory_reply(
        &mut self,
        base_url: &str,
        call: &Call<'_>,
        fake_now: OffsetDateTime,
    ) -> Result<Reply, Reply> {
        let endpoint = call.endpoint.map(|(e, _)| e);
        match call.failure {
            Some(DirectoryFailure::Forbidden) => return Err(forbidden(endpoint)),
            Some(DirectoryFailure::TooManyRequestsBare) => return Err(Reply::too_many()),
            Some(DirectoryFailure::Status(s)) => return Err(Reply::for_status(*s)),
            _ => {}
        }
        let req = call.req;
        let credentials = Credentials {
            authorization: req.authorization.as_deref(),
            method: req.method.as_str(),
            url: &format!("{base_url}{}", req.uri.path()),
            dpop: &req.dpop,
        };
        self.authorize(&credentials, fake_now)?;
        let Some((endpoint, id)) = call.endpoint else {
            return Err(Reply::error(
                404,
                "E0000007",
                "Not found: Resource not found",
                &[],
            ));
        };
        if req.method != Method::GET {
            return Err(method_not_allowed());
        }
        if self.directory.is_forbidden(endpoint) {
            return Err(forbidden(Some(endpoint)));
        }
        let list = ListRequest {
            endpoint,
            id,
            path: req.uri.path(),
            query: &req.query,
            view: View {
                base_url,
                omit_credentials: call.omit_credentials,
            },
            failure: call.failure,
        };
        let listed = self.directory.list(&list)?;
        Ok(Reply {
            links: listed.links,
            returned: listed.returned,
            ..Reply::new(200, listed.body)
        })
    }
}
