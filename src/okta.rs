//! The Okta System Log API: the org's address, `Link` paging, rate-limit headers, errors.

use std::time::Duration;

use reqwest::header::HeaderMap;
use time::OffsetDateTime;
use tokio::time::Instant;
use url::Url;

use crate::event::format_rfc3339;

/// Events per page: the API's maximum, so a backfill spends as few requests as possible.
pub const PAGE_LIMIT: usize = 1000;

/// The Okta org every request goes to, and the only host the token is ever sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaOrg {
    base: Url,
}

impl OktaOrg {
    /// Reads `OKTA_DOMAIN`: `acme.okta.com`, `https://acme.okta.com`, a preview, EMEA or
    /// custom domain. Paths, queries, credentials and other schemes are refused.
    /// `allow_http` admits `http://` for local fakes only.
    pub fn parse(value: &str, allow_http: bool) -> Result<Self, String> {
        let value = value.trim();
        let with_scheme = if value.contains("://") {
            value.to_owned()
        } else {
            format!("https://{value}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| {
            format!("{value:?} is not a host name ({e}); expected e.g. acme.okta.com")
        })?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http => {}
            other => {
                return Err(format!(
                    "scheme {other}:// is not allowed; the API token must only travel over https (expected e.g. acme.okta.com)"
                ))
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "must not contain credentials; give only the host, e.g. acme.okta.com".into(),
            );
        }
        if url.path() != "/" || value.trim_end_matches('/').ends_with("/api/v1/logs") {
            return Err(format!(
                "must be the org's host only, without a path (got path {:?}); expected e.g. acme.okta.com",
                url.path()
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not contain a query or fragment; expected e.g. acme.okta.com".into());
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if host.is_empty() || !host.contains('.') && host != "localhost" {
            return Err(format!(
                "{value:?} is not a fully qualified host name; expected e.g. acme.okta.com"
            ));
        }
        for suffix in [
            ".okta.com",
            ".oktapreview.com",
            ".okta-emea.com",
            ".okta-gov.com",
        ] {
            if let Some(org) = host
                .strip_suffix(suffix)
                .and_then(|h| h.strip_suffix("-admin"))
            {
                return Err(format!(
                    "{host} is the Admin Console address; use the org address {org}{suffix}"
                ));
            }
        }
        let mut base = url;
        base.set_path("");
        Ok(OktaOrg { base })
    }

    /// `host[:port]`, for logs and the default checkpoint key.
    pub fn authority(&self) -> String {
        match self.base.port() {
            Some(port) => format!("{}:{port}", self.base.host_str().unwrap_or_default()),
            None => self.base.host_str().unwrap_or_default().to_owned(),
        }
    }

    /// A polling request from `since`: ascending, full pages, no `until`.
    pub fn polling_url(&self, since: OffsetDateTime) -> Url {
        let mut url = self.logs_url();
        url.query_pairs_mut()
            .append_pair("since", &format_rfc3339(since))
            .append_pair("limit", &PAGE_LIMIT.to_string())
            .append_pair("sortOrder", "ASCENDING");
        url
    }

    /// A bounded request for `[since, until)`: finite pages ordered by `published`.
    pub fn bounded_url(&self, since: OffsetDateTime, until: OffsetDateTime) -> Url {
        let mut url = self.logs_url();
        url.query_pairs_mut()
            .append_pair("since", &format_rfc3339(since))
            .append_pair("until", &format_rfc3339(until))
            .append_pair("limit", &PAGE_LIMIT.to_string())
            .append_pair("sortOrder", "ASCENDING");
        url
    }

    fn logs_url(&self) -> Url {
        let mut url = self.base.clone();
        url.set_path("/api/v1/logs");
        url
    }

    /// Whether `url` is on this org (same scheme, host and port): the only URLs the token
    /// may be sent to.
    pub fn owns(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str().map(str::to_ascii_lowercase)
                == self.base.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == self.base.port_or_known_default()
    }
}

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

/// The rate-limit state Okta reported on a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `X-Rate-Limit-Limit`: requests per window.
    pub limit: u32,
    /// `X-Rate-Limit-Remaining`: requests left in this window.
    pub remaining: u32,
    /// Time from the response until the window resets, by Okta's own clock
    /// (`X-Rate-Limit-Reset` minus `Date`), never negative.
    pub until_reset: Duration,
    /// When the response arrived, locally.
    pub received_at: Instant,
}

impl RateLimit {
    /// Reads the headers; `None` when they are missing or unreadable.
    pub fn from_headers(headers: &HeaderMap, received_at: Instant) -> Option<Self> {
        let number =
            |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let limit = u32::try_from(number("x-rate-limit-limit")?).ok()?;
        let remaining = u32::try_from(number("x-rate-limit-remaining")?.max(0)).ok()?;
        let reset = number("x-rate-limit-reset")?;
        // Okta's clock, not ours: a skewed Lambda clock must not shorten or stretch waits.
        let server_now = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
        let until_reset = Duration::from_secs(u64::try_from(reset - server_now).unwrap_or(0));
        Some(RateLimit {
            limit,
            remaining,
            until_reset,
            received_at,
        })
    }

    /// When the window resets, locally.
    pub fn reset_at(&self) -> Instant {
        self.received_at + self.until_reset
    }

    /// Requests always left to other clients: `headroom` of the window's budget, at least one
    /// when headroom is above zero.
    pub fn reserved(&self, headroom: f64) -> u32 {
        (f64::from(self.limit) * headroom).ceil() as u32
    }

    /// Whether another request now would eat into the reserved share.
    pub fn must_wait(&self, headroom: f64) -> bool {
        self.remaining <= self.reserved(headroom)
    }
}

/// An Okta error body: `{"errorCode":"E0000047","errorSummary":"…",…}`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaErrorBody {
    /// `E00000xx`.
    #[serde(default)]
    pub error_code: String,
    /// Okta's one-line description.
    #[serde(default)]
    pub error_summary: String,
}

impl OktaErrorBody {
    /// Reads an error body; anything unreadable gives empty fields.
    pub fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// `E0000047 (API call exceeded rate limit…)`, or a placeholder.
    pub fn describe(&self) -> String {
        match (self.error_code.is_empty(), self.error_summary.is_empty()) {
            (true, true) => "no Okta error body".into(),
            (false, true) => self.error_code.clone(),
            (true, false) => self.error_summary.clone(),
            (false, false) => format!("{} ({})", self.error_code, self.error_summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn accepts_the_domain_forms_okta_uses() {
        for (input, authority) in [
            ("acme.okta.com", "acme.okta.com"),
            ("https://acme.okta.com", "acme.okta.com"),
            ("https://acme.okta.com/", "acme.okta.com"),
            ("ACME.oktapreview.com", "acme.oktapreview.com"),
            ("acme.okta-emea.com", "acme.okta-emea.com"),
            ("login.acme.example", "login.acme.example"),
        ] {
            assert_eq!(
                OktaOrg::parse(input, false).unwrap().authority(),
                authority,
                "{input}"
            );
        }
        assert_eq!(
            OktaOrg::parse("http://127.0.0.1:8080", true)
                .unwrap()
                .authority(),
            "127.0.0.1:8080"
        );
    }

    #[test]
    fn refuses_paths_queries_credentials_and_other_schemes_with_a_reason() {
        for (input, expected) in [
            ("acme.okta.com/api/v1/logs", "without a path"),
            ("https://acme.okta.com/admin", "without a path"),
            ("https://acme.okta.com?x=1", "query"),
            ("https://admin:pw@acme.okta.com", "credentials"),
            ("http://acme.okta.com", "https"),
            ("ftp://acme.okta.com", "https"),
            ("acme", "fully qualified"),
            ("acme-admin.okta.com", "use the org address acme.okta.com"),
            ("", "not a host name"),
        ] {
            let err = OktaOrg::parse(input, false).unwrap_err();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }

    #[test]
    fn only_urls_on_the_org_are_owned() {
        let org = OktaOrg::parse("acme.okta.com", false).unwrap();
        assert!(org.owns(&Url::parse("https://acme.okta.com/api/v1/logs?after=x").unwrap()));
        assert!(org.owns(&Url::parse("https://ACME.okta.com:443/api/v1/logs").unwrap()));
        for foreign in [
            "https://evil.example.com/api/v1/logs",
            "http://acme.okta.com/api/v1/logs",
            "https://acme.okta.com:8443/api/v1/logs",
            "https://acme.okta.com.evil.example/api/v1/logs",
        ] {
            assert!(!org.owns(&Url::parse(foreign).unwrap()), "{foreign}");
        }
    }

    #[test]
    fn builds_polling_and_bounded_requests() {
        let org = OktaOrg::parse("acme.okta.com", false).unwrap();
        let since = time::macros::datetime!(2026-11-21 09:00 UTC);
        assert_eq!(
            org.polling_url(since).as_str(),
            "https://acme.okta.com/api/v1/logs?since=2026-11-21T09%3A00%3A00.000Z&limit=1000&sortOrder=ASCENDING"
        );
        assert!(org
            .bounded_url(since, since + time::Duration::HOUR)
            .as_str()
            .contains("until=2026-11-21T10%3A00%3A00.000Z"));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

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
    fn rate_limit_waits_are_measured_on_oktas_clock() {
        // Okta's clock is an hour ahead of ours; the reset is 20 s after its Date.
        let okta_now = std::time::SystemTime::now() + Duration::from_secs(3600);
        let reset = okta_now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 20;
        let h = headers(&[
            ("x-rate-limit-limit", "20"),
            ("x-rate-limit-remaining", "4"),
            ("x-rate-limit-reset", &reset.to_string()),
            ("date", &httpdate::fmt_http_date(okta_now)),
        ]);
        let rl = RateLimit::from_headers(&h, Instant::now()).unwrap();
        assert_eq!((rl.limit, rl.remaining), (20, 4));
        assert!(
            rl.until_reset >= Duration::from_secs(20) && rl.until_reset <= Duration::from_secs(21),
            "{rl:?}"
        );
        assert_eq!(rl.reserved(0.25), 5);
        assert!(rl.must_wait(0.25), "4 left is inside the 5 kept for others");
        assert!(!rl.must_wait(0.1));
    }

    #[test]
    fn a_reset_in_the_past_never_gives_a_negative_wait() {
        let now = std::time::SystemTime::now();
        let past = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 30;
        let h = headers(&[
            ("x-rate-limit-limit", "20"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", &past.to_string()),
            ("date", &httpdate::fmt_http_date(now)),
        ]);
        assert_eq!(
            RateLimit::from_headers(&h, Instant::now())
                .unwrap()
                .until_reset,
            Duration::ZERO
        );
    }

    #[test]
    fn reads_okta_error_bodies() {
        let e = OktaErrorBody::parse(br#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit","errorCauses":[]}"#);
        assert_eq!(e.describe(), "E0000047 (API call exceeded rate limit)");
        assert_eq!(
            OktaErrorBody::parse(b"<html>").describe(),
            "no Okta error body"
        );
    }
}
