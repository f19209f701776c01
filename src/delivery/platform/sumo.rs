//! Sumo Logic HTTP source: raw events, one per line, named by headers.

/// `X-Sumo-Name` and, when set, `X-Sumo-Category`.
pub(super) fn headers(category: Option<&str>, name: &str) -> Vec<(&'static str, String)> {
    let mut h = vec![("x-sumo-name", name.to_owned())];
    if let Some(c) = category {
        h.push(("x-sumo-category", c.to_owned()));
    }
    h
}
