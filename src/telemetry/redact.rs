//! Keeping credentials out of logs, errors, responses and dead letters: URLs are shown by
//! origin only, and any text a server sent back is scrubbed of every secret in play, in every
//! spelling it could have been echoed in, and cut to a bounded size.

use url::Url;

/// What replaces a secret.
const REDACTED: &str = "[redacted]";
/// Secrets shorter than this are not scrubbed (they would match ordinary words).
const MIN_SECRET_LEN: usize = 6;
/// Path segments at least this long are taken for URL tokens (Sumo Logic, webhook URLs).
const MIN_PATH_TOKEN_LEN: usize = 16;
/// Shorter path segments are taken for tokens when they hold a digit.
const MIN_PATH_TOKEN_WITH_DIGIT_LEN: usize = 8;
/// Most characters of a server's answer kept for a reason.
pub(crate) const MAX_SNIPPET_CHARS: usize = 200;

/// `scheme://host[:port]` of `url`: enough to tell an operator where, never a path token
/// (Sumo Logic and webhook URLs carry their credential in the path or query).
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The parts of `url` that may be a credential: the password, long path segments, and every
/// query value.
pub(crate) fn url_secrets(url: &Url) -> Vec<String> {
    let mut secrets: Vec<String> = url.password().map(str::to_owned).into_iter().collect();
    if let Some(segments) = url.path_segments() {
        secrets.extend(
            segments
                .filter(|s| {
                    s.len() >= MIN_PATH_TOKEN_LEN
                        || (s.len() >= MIN_PATH_TOKEN_WITH_DIGIT_LEN
                            && s.bytes().any(|b| b.is_ascii_digit()))
                })
                .map(percent_decoded),
        );
    }
    secrets.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    if let Some(q) = url.query().filter(|q| !q.contains('=')) {
        secrets.push(q.to_owned());
    }
    secrets
}

fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map_or_else(|| s.to_owned(), |(_, v)| v.into_owned())
}

/// `text` with every spelling of every secret in `secrets` replaced: as is, URL-encoded,
/// JSON-escaped and base64 (standard and URL-safe, padded or not).
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        for spelling in spellings(secret) {
            if out.contains(spelling.as_str()) {
                out = out.replace(spelling.as_str(), REDACTED);
            }
        }
    }
    out
}

fn spellings(secret: &str) -> Vec<String> {
    let mut all = vec![secret.to_owned()];
    all.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    all.push(
        secret
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect(),
    );
    if let Ok(json) = serde_json::to_string(secret) {
        all.push(json.trim_matches('"').to_owned());
    }
    let b64 = base64(secret.as_bytes());
    all.push(b64.trim_end_matches('=').to_owned());
    all.push(
        b64.replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_owned(),
    );
    all.push(b64);
    // Longest first, so that a spelling containing another is replaced whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    all.dedup();
    all
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A server's answer as one bounded line, scrubbed of `secrets`, for a reason or a log.
pub(crate) fn answer(body: &[u8], secrets: &[&str]) -> String {
    // Scrub the whole (already bounded) body first, so a secret cut by the limit still goes.
    let text = scrub(&String::from_utf8_lossy(body), secrets);
    snippet(text.as_bytes())
}

/// A response body shortened to one line for an error message.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut line: String = text
        .chars()
        .take(MAX_SNIPPET_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_SNIPPET_CHARS {
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
        assert!(s.chars().count() <= MAX_SNIPPET_CHARS + 1);
    }

    #[test]
    fn every_spelling_of_a_secret_is_scrubbed() {
        let secret = "s3cr/t+to=ken\"42";
        let spellings = [
            secret.to_owned(),
            "s3cr%2Ft%2Bto%3Dken%2242".to_owned(),
            r#"s3cr/t+to=ken\"42"#.to_owned(),
            base64(secret.as_bytes()),
            base64(secret.as_bytes())
                .replace('+', "-")
                .replace('/', "_"),
        ];
        for s in &spellings {
            let echoed = format!("{{\"headers\":{{\"authorization\":\"Bearer {s}\"}}}}");
            let clean = scrub(&echoed, &[secret]);
            assert!(!clean.contains(s.as_str()), "{s}: {clean}");
            assert!(clean.contains(REDACTED), "{clean}");
        }
        assert_eq!(
            scrub("short abc", &["abc"]),
            "short abc",
            "too short to scrub"
        );
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn url_tokens_are_the_long_path_segments_and_the_query() {
        let u = Url::parse(
            "https://collectors.sumologic.com/receiver/v1/http/ZaVnC4dhaV2ZlYzs1c2VjcmV0Cg==?key=abc123&sig=zzz",
        )
        .unwrap();
        let secrets = url_secrets(&u);
        assert!(
            secrets.contains(&"ZaVnC4dhaV2ZlYzs1c2VjcmV0Cg==".to_owned()),
            "{secrets:?}"
        );
        assert!(secrets.contains(&"abc123".to_owned()));
        assert!(!secrets.iter().any(|s| s == "receiver" || s == "http"));
    }
}
