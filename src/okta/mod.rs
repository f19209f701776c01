//! Okta: the org and its URLs, `Link` paging, rate limits per bucket, error answers, and the
//! one HTTPS client behind the [`SystemLog`] and [`OktaLists`] ports.

mod auth;
mod buckets;
mod client;
mod errors;
mod links;
mod lists;
mod oauth;
mod org;
mod pacing;
mod rate_limit;
mod read;
mod system_log;

pub use buckets::Bucket;
pub use client::HttpSystemLog;
pub use errors::{FetchError, OktaErrorBody};
pub use links::next_link;
pub use lists::{ListPage, OktaLists};
pub use org::{OktaOrg, PAGE_LIMIT};
pub use pacing::FetchStats;
pub use rate_limit::RateLimit;
pub use system_log::{Page, SystemLog};

/// Response headers from name/value pairs, repeated names kept (tests).
#[cfg(test)]
fn test_headers(pairs: &[(&'static str, &str)]) -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    for (k, v) in pairs {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(v) {
            h.append(*k, v);
        }
    }
    h
}
