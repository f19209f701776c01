//! Keeping credentials out of logs and errors: URLs are shown by origin only.

use url::Url;

/// `scheme://host[:port]` of `url`: enough to tell an operator where, never a path token
/// (Sumo Logic and webhook URLs carry their credential in the path or query).
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// A response body shortened to one line for an error message.
pub fn snippet(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > MAX {
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_drops_path_query_and_userinfo() {
        let u =
            Url::parse("https://user:pw@collectors.example.com:8443/receiver/TOKEN?key=K").unwrap();
        assert_eq!(origin(&u), "https://collectors.example.com:8443");
    }

    #[test]
    fn snippet_is_one_bounded_line() {
        let s = snippet(format!("bad\nrequest{}", "x".repeat(500)).as_bytes());
        assert!(!s.contains('\n'));
        assert!(s.chars().count() <= 201);
    }
}
