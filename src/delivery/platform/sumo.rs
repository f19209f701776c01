//! Sumo Logic HTTP source: raw events, one per line, named by headers.

/// `X-Sumo-Name`, and when known `X-Sumo-Category` and `X-Sumo-Host` (the org).
pub(super) fn headers(
    category: Option<&str>,
    name: &str,
    org: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut h = vec![("x-sumo-name", name.to_owned())];
    if let Some(c) = category {
        h.push(("x-sumo-category", c.to_owned()));
    }
    if let Some(org) = org {
        h.push(("x-sumo-host", org.to_owned()));
    }
    h
}
