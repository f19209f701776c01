//! The fake Okta's unit tests: shared helpers here, the tests by concern in `tests/`.

mod auth;
mod directory;
mod failures;
mod oauth;
mod paging;
mod rate_limit;

use serde_json::value::RawValue;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::paging::encode_component;
use super::reply::HTTP_DATE;
use super::{millis, FakeOkta};
use crate::loopback_http::{request, RawResponse};
use crate::okta_events::rfc3339_millis;

const AUTH: &str = "SSWS okta-test-token";

async fn get_with(okta: &FakeOkta, path: &str, auth: Option<&str>) -> RawResponse {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    request(okta.addr(), "GET", path, &headers, b"")
        .await
        .expect("GET from fake Okta")
}

async fn get(okta: &FakeOkta, path: &str) -> RawResponse {
    get_with(okta, path, Some(AUTH)).await
}

/// Every `(rel, url)` from every `Link` header, also split on commas.
fn links(r: &RawResponse) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| n == "link")
        .flat_map(|(_, v)| v.split(','))
        .map(|part| {
            let (url, rel) = part.split_once(';').expect("<url>; rel=...");
            let url = url.trim().trim_start_matches('<').trim_end_matches('>');
            let rel = rel.trim().trim_start_matches("rel=").trim_matches('"');
            (rel.to_string(), url.to_string())
        })
        .collect()
}

fn link(r: &RawResponse, rel: &str) -> Option<String> {
    links(r).into_iter().find(|(n, _)| n == rel).map(|(_, u)| u)
}

/// The `next` link as a path for [`request`], checking it stays on the fake.
fn next_path(okta: &FakeOkta, r: &RawResponse) -> String {
    let next = link(r, "next").expect("a next link");
    next.strip_prefix(&okta.base_url())
        .unwrap_or_else(|| panic!("next {next} is not on the fake"))
        .to_string()
}

fn items(r: &RawResponse) -> Vec<String> {
    let items: Vec<Box<RawValue>> = serde_json::from_slice(&r.body).expect("a JSON array");
    items.iter().map(|v| v.get().to_string()).collect()
}

fn uuids(r: &RawResponse) -> Vec<String> {
    items(r)
        .iter()
        .map(|i| {
            let v: serde_json::Value = serde_json::from_str(i).expect("event JSON");
            v["uuid"].as_str().expect("uuid").to_string()
        })
        .collect()
}

fn error_code(r: &RawResponse) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("an error body");
    assert_eq!(v["errorLink"], v["errorCode"]);
    assert!(v["errorId"].as_str().is_some_and(|s| s.starts_with("oae")));
    assert!(v["errorCauses"].is_array());
    v["errorCode"].as_str().expect("errorCode").to_string()
}

fn num(r: &RawResponse, name: &str) -> i64 {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .parse()
        .expect("a number")
}

fn date(r: &RawResponse) -> OffsetDateTime {
    let text = r.header("date").expect("a Date header");
    PrimitiveDateTime::parse(text, HTTP_DATE)
        .expect("an IMF-fixdate")
        .assume_utc()
}

fn since(t: OffsetDateTime) -> String {
    encode_component(&rfc3339_millis(t))
}

fn t0() -> OffsetDateTime {
    millis(OffsetDateTime::now_utc() - time::Duration::hours(1))
}
