//! Tests of the directory fake through HTTP: shared GIVEN and WHEN steps here, the tests by concern in `directory/`.

mod changes;
mod failures;
mod limits;
mod paging;

use serde_json::Value;

use super::*;

/// GET with the default API token and extra headers.
async fn get_headers(okta: &FakeOkta, path: &str, extra: &[(&str, &str)]) -> RawResponse {
    let mut headers = vec![("Authorization", AUTH)];
    headers.extend_from_slice(extra);
    request(okta.addr(), "GET", path, &headers, b"")
        .await
        .expect("GET from fake Okta")
}

fn body(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON body")
}

/// The `id` of every object in a JSON array body.
fn ids(r: &RawResponse) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    body(r)
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|o| o["id"].as_str().expect("an id").to_string())
        .collect()
}

/// Follows `next` from `path` to the end; returns every id and how many pages it took.
async fn page_all(okta: &FakeOkta, path: &str) -> (Vec<String>, usize) {
    let mut path = path.to_string();
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let r = get(okta, &path).await;
        all.extend(ids(&r));
        pages += 1;
        if link(&r, "next").is_none() {
            return (all, pages);
        }
        path = next_path(okta, &r);
    }
}

/// `filter=` or `search=` with its expression percent-encoded.
fn query(name: &str, expr: &str) -> String {
    format!("{name}={}", encode_component(expr))
}

fn at(t: OffsetDateTime) -> String {
    rfc3339_millis(t)
}
