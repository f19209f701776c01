//! `Link` headers: the `rel="next"` page among all of them, tolerant of how they are split.

use reqwest::header::HeaderMap;

/// The `rel="next"` target among all `Link` headers (one per relation, or comma-separated).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_links)
        .find(|(_, rels)| {
            rels.split_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"))
        })
        .map(|(url, _)| url)
}

/// `(target, rel)` pairs of one `Link` header value (RFC 8288), tolerant of spacing.
fn parse_links(value: &str) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let target = rest[open + 1..open + close].trim().to_owned();
        rest = &rest[open + close + 1..];
        // Parameters run to the next link (a comma followed by '<'), or the end.
        let params_end = rest
            .find(",")
            .filter(|&c| rest[c..].trim_start_matches([',', ' ']).starts_with('<'));
        let params = &rest[..params_end.unwrap_or(rest.len())];
        let rel = params
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("rel"))
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            .unwrap_or_default();
        links.push((target, rel));
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okta::test_headers as headers;

    #[test]
    fn finds_next_among_separate_and_combined_link_headers() {
        let separate = headers(&[
            (
                "link",
                r#"<https://a.okta.com/api/v1/logs?limit=1000&after=1>; rel="self""#,
            ),
            (
                "link",
                r#"<https://a.okta.com/api/v1/logs?limit=1000&after=2>; rel="next""#,
            ),
        ]);
        assert_eq!(
            next_link(&separate).unwrap(),
            "https://a.okta.com/api/v1/logs?limit=1000&after=2"
        );
        let combined = headers(&[(
            "link",
            r#"<https://a.okta.com/x?a=1,2>; rel="self", <https://a.okta.com/x?after=3>;rel=next"#,
        )]);
        assert_eq!(
            next_link(&combined).unwrap(),
            "https://a.okta.com/x?after=3"
        );
        assert_eq!(
            next_link(&headers(&[("link", r#"<https://a/x>; rel="self""#)])),
            None
        );
    }
}
