//! The Okta org: its address, the System Log and Management API URLs on it, and the only
//! host the credential is ever sent to.

use time::OffsetDateTime;
use url::Url;

use crate::event::format_rfc3339;

/// Events per page: the API's maximum, so a backfill spends as few requests as possible.
pub const PAGE_LIMIT: usize = 1000;

/// The domains Okta's own org addresses end in.
const OKTA_DOMAINS: [&str; 4] = [
    ".okta.com",
    ".oktapreview.com",
    ".okta-emea.com",
    ".okta-gov.com",
];

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
        for suffix in OKTA_DOMAINS {
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

    /// The org's label for platform metadata: `acme` of `acme.okta.com` (as Log Streaming
    /// names the org in its event source), or the whole host of a custom domain.
    pub fn label(&self) -> String {
        let host = self.base.host_str().unwrap_or_default();
        OKTA_DOMAINS
            .iter()
            .find_map(|suffix| host.strip_suffix(suffix))
            .filter(|sub| !sub.is_empty() && !sub.contains('.'))
            .unwrap_or(host)
            .to_owned()
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

    /// The org authorization server's token endpoint, for OAuth service apps.
    pub fn token_url(&self) -> Url {
        let mut url = self.base.clone();
        url.set_path("/oauth2/v1/token");
        url
    }

    /// `path` on the org with `query`, each name and value percent-encoded (a space as
    /// `%20`, as Okta's documentation writes `search` and `filter` expressions).
    pub fn api_url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        let encode = |s: &str| -> String {
            // Form encoding writes a space as `+` and a `+` as `%2B`: every `+` is a space.
            url::form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        };
        let pairs: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
            .collect();
        url.set_query((!pairs.is_empty()).then(|| pairs.join("&")).as_deref());
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_label_is_the_subdomain_of_okta_domains_and_the_host_of_custom_ones() {
        for (domain, label) in [
            ("acme.okta.com", "acme"),
            ("acme.oktapreview.com", "acme"),
            ("login.acme.example", "login.acme.example"),
            ("http://127.0.0.1:8080", "127.0.0.1"),
        ] {
            assert_eq!(
                OktaOrg::parse(domain, true).unwrap().label(),
                label,
                "{domain}"
            );
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
    fn api_urls_encode_their_query() {
        let org = OktaOrg::parse("acme.okta.com", false).unwrap();
        let url = org.api_url(
            "/api/v1/users",
            &[
                (
                    "search",
                    r#"lastUpdated gt "2026-11-21T09:00:00.000Z" & a+b"#,
                ),
                ("limit", "200"),
            ],
        );
        assert_eq!(
            url.as_str(),
            "https://acme.okta.com/api/v1/users?search=lastUpdated%20gt%20%222026-11-21T09%3A00%3A00.000Z%22%20%26%20a%2Bb&limit=200"
        );
        let decoded: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            decoded[0].1,
            r#"lastUpdated gt "2026-11-21T09:00:00.000Z" & a+b"#
        );
        assert!(org.owns(&url));
        assert_eq!(
            org.api_url("/api/v1/apps", &[]).as_str(),
            "https://acme.okta.com/api/v1/apps"
        );
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
}
