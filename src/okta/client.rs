//! The HTTPS client of one org and one credential, shared by the System Log and the
//! Management API lists; the read loop itself is in [`super::read`].

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::auth::OktaAuth;
use super::pacing::Pacer;
use super::{FetchError, FetchStats, OktaOrg};
use crate::secret::SecretSource;
use crate::telemetry::redact;

/// The System Log read over HTTPS with one credential (an API token or a service app).
pub struct HttpSystemLog {
    pub(super) http: reqwest::Client,
    pub(super) org: OktaOrg,
    pub(super) auth: OktaAuth,
    pub(super) timeout: Duration,
    pub(super) pacer: Pacer,
}

impl HttpSystemLog {
    /// A reader for `org` with the credential in `secret` (named `secret_name` in messages;
    /// its shape decides API token or service app), leaving `headroom` of each rate-limit
    /// window to other clients.
    pub fn new(
        org: OktaOrg,
        secret: Arc<dyn SecretSource>,
        secret_name: impl Into<String>,
        headroom: f64,
        timeout: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("okta-ingest/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // The token must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.without_url().to_string())?;
        let auth = OktaAuth::new(secret, secret_name.into(), http.clone(), org.token_url());
        Ok(HttpSystemLog {
            http,
            org,
            auth,
            timeout,
            pacer: Pacer::new(headroom),
        })
    }

    /// A `next` reference from an answer to `request`, resolved against it (it may be
    /// relative) and checked to stay on the org.
    pub(super) fn resolve_link(&self, request: &Url, link: &str) -> Result<Url, FetchError> {
        self.on_org(request.join(link), link)
    }

    /// `parsed` (from `link`) if it is a URL on the org; otherwise a refusal naming where.
    pub(super) fn on_org(
        &self,
        parsed: Result<Url, url::ParseError>,
        link: &str,
    ) -> Result<Url, FetchError> {
        let url = parsed.map_err(|_| FetchError::ForeignLink {
            host: redact::snippet(link.as_bytes()),
            org: self.org.authority(),
        })?;
        if !self.org.owns(&url) {
            return Err(self.foreign(&url));
        }
        Ok(url)
    }

    pub(super) fn foreign(&self, url: &Url) -> FetchError {
        FetchError::ForeignLink {
            host: url.origin().ascii_serialization(),
            org: self.org.authority(),
        }
    }

    /// The org being read.
    pub fn org(&self) -> &OktaOrg {
        &self.org
    }

    /// Counters since the last call, which resets them (the System Log's and the lists').
    pub fn take_stats(&self) -> FetchStats {
        let mut stats = self.pacer.take_stats();
        stats.auth = self.auth.mode();
        stats.token_requests = self.auth.take_token_requests();
        stats
    }
}
