//! `Link` headers: the `rel="next"` page among all of them, tolerant of how they are split.

use reqwest::header::HeaderMap;

/// The `rel="next"` target among all `Link` headers (one per relation, or comma-separated),
/// as written: it may be relative to the request URL (RFC 8288 §3.1).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_links)
        .find(|(_, rels)| rels.iter().any(|r| r.eq_ignore_ascii_case("next")))
        .map(|(target, _)| target)
}

/// `(target, relation types)` of each link in one `Link` header value (RFC 8288): `rel` may
/// be quoted or not and hold several types; quoted parameters may hold commas, semicolons
/// and escaped quotes.
fn parse_links(value: &str) -> Vec<(String, Vec<String>)> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(after_open) = rest.strip_prefix('<') else {
            // Not a link: skip to the next one.
            match top_level_comma(rest) {
                Some(i) => {
                    rest = &rest[i..];
                    continue;
                }
                None => return links,
            }
        };
        let Some(close) = after_open.find('>') else {
            return links;
        };
        let target = after_open[..close].trim().to_owned();
        rest = &after_open[close + 1..];
        let mut rels = Vec::new();
        // Parameters: `; name[=value]` until a top-level comma or the end.
        while let Some(after_semicolon) = rest.trim_start().strip_prefix(';') {
            let (name, value, tail) = parameter(after_semicolon);
            if name.eq_ignore_ascii_case("rel") && rels.is_empty() {
                rels = value.split_whitespace().map(str::to_owned).collect();
            }
            rest = tail;
        }
        links.push((target, rels));
        match top_level_comma(rest) {
            Some(i) => rest = &rest[i..],
            None => return links,
        }
    }
}

/// One parameter after its `;`: its name, its value (unquoted, unescaped), and what follows.
fn parameter(text: &str) -> (String, String, &str) {
    let text = text.trim_start();
    let name_end = text.find(['=', ';', ',']).unwrap_or(text.len());
    let name = text[..name_end].trim().to_owned();
    let Some(after_eq) = text[name_end..].strip_prefix('=') else {
        return (name, String::new(), &text[name_end..]);
    };
    let after_eq = after_eq.trim_start();
    let Some(quoted) = after_eq.strip_prefix('"') else {
        let end = after_eq.find([';', ',']).unwrap_or(after_eq.len());
        return (name, after_eq[..end].trim().to_owned(), &after_eq[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (name, value, &quoted[i + 1..]),
            c => value.push(c),
        }
    }
    (name, value, "")
}

/// Where the next link starts: the first comma outside a quoted string.
fn top_level_comma(text: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in text.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, _, '"') => quoted = !quoted,
            (false, _, ',') => return Some(i),
            _ => {}
        }
    }
    None
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

    #[test]
    fn reads_links_as_rfc_8288_writes_them() {
        let h = headers(&[(
            "link",
            r#"</api/v1/logs?after=1>; title="a, b; \"c\"" ; rel="self", <https://a.okta.com/api/v1/logs?after=2>; rel="last next""#,
        )]);
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://a.okta.com/api/v1/logs?after=2")
        );
        let relative = headers(&[("link", "</api/v1/logs?after=3>;rel=next")]);
        assert_eq!(
            next_link(&relative).as_deref(),
            Some("/api/v1/logs?after=3")
        );
        let garbage = headers(&[("link", r#"nonsense, ; rel=next, <x>; rel"#)]);
        assert_eq!(next_link(&garbage), None);
    }

    #[test]
    fn parameters_are_unquoted_and_unescaped() {
        assert_eq!(
            parameter(r#" title="x \" y, z"; rel=next"#),
            ("title".to_owned(), r#"x " y, z"#.to_owned(), "; rel=next")
        );
        assert_eq!(
            parameter("rel=next"),
            ("rel".to_owned(), "next".to_owned(), "")
        );
    }
}
