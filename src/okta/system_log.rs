//! System Log pages read through the org's client, and the port the pull path reads
//! through.

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use serde_json::value::RawValue;
use tokio::time::Instant;
use url::Url;

use super::read::{okta_time, Shape, Step, MAX_ATTEMPTS};
use super::{next_link, FetchError, FetchStats, HttpSystemLog, OktaOrg};

/// One page of the System Log.
#[derive(Debug)]
pub struct Page {
    /// The URL that was requested.
    pub url: Url,
    /// The events, each exactly as Okta sent it.
    pub events: Vec<Box<RawValue>>,
    /// Where the next page is (always on the org).
    pub next: Option<Url>,
    /// A body that stayed unreadable after retries, kept whole for the dead letters.
    pub unreadable: Option<String>,
    /// Okta's clock when it answered (the `Date` header), if it sent one that reads.
    pub okta_time: Option<time::OffsetDateTime>,
}

/// The System Log of one org, as the pull path reads it.
pub trait SystemLog: Send + Sync {
    /// The org being read.
    fn org(&self) -> &OktaOrg;

    /// Checks that `link` (a stored or issued `next` link) stays on the org.
    fn check_link(&self, link: &str) -> Result<Url, FetchError>;

    /// Reads the page at `url`, giving up rather than waiting past `deadline`.
    fn fetch<'a>(
        &'a self,
        url: &'a Url,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Page, FetchError>>;

    /// Counters since the last call, which resets them.
    fn take_stats(&self) -> FetchStats;
}

/// System Log pages: a JSON array of events; a body that stays unreadable is kept whole.
struct LogPages;

impl Shape for LogPages {
    type Page = Page;
    const CONTENT_TYPE: Option<&'static str> = None;
    const WHAT: &'static str = "System Log page (1000 events of up to 32 KiB)";

    /// A body that is not a JSON array is retried (truncated or corrupted in transit is the
    /// likely cause), and after the last attempt kept whole.
    fn page(
        &self,
        log: &HttpSystemLog,
        url: &Url,
        headers: &HeaderMap,
        body: &[u8],
        attempts: u32,
    ) -> Result<Step<Page>, FetchError> {
        let okta_time = okta_time(headers);
        let next = || match next_link(headers) {
            Some(link) => log.resolve_link(url, &link).map(Some),
            None => Ok(None),
        };
        match serde_json::from_slice::<Vec<Box<RawValue>>>(body) {
            Ok(events) => Ok(Step::Done(Page {
                url: url.clone(),
                events,
                next: next()?,
                unreadable: None,
                okta_time,
            })),
            Err(e) if attempts >= MAX_ATTEMPTS => {
                tracing::error!(attempts, error = %e, "page body is not a JSON array after every attempt: keeping it whole in the dead letters");
                Ok(Step::Done(Page {
                    url: url.clone(),
                    events: Vec::new(),
                    next: next()?,
                    unreadable: Some(String::from_utf8_lossy(body).into_owned()),
                    okta_time,
                }))
            }
            Err(e) => Ok(Step::Retry(format!(
                "page body is not a JSON array of events ({e})"
            ))),
        }
    }

    fn forbidden(&self, _url: &Url, _detail: &str) -> Option<FetchError> {
        None
    }

    /// A System Log page is never asked for in parts: its cursor decides what comes next.
    fn smaller(&self, _url: &Url) -> Option<Url> {
        None
    }
}

impl SystemLog for HttpSystemLog {
    fn org(&self) -> &OktaOrg {
        HttpSystemLog::org(self)
    }

    fn check_link(&self, link: &str) -> Result<Url, FetchError> {
        self.on_org(Url::parse(link), link)
    }

    fn fetch<'a>(
        &'a self,
        url: &'a Url,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(self.read(&LogPages, url, deadline))
    }

    fn take_stats(&self) -> FetchStats {
        HttpSystemLog::take_stats(self)
    }
}
