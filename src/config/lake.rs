//! Amazon Security Lake as the destination (`DESTINATION_FORMAT=securitylake`): the custom
//! sources to write to, one per OCSF class, each with its S3 location and provider role.

use std::collections::BTreeMap;

use super::{ConfigError, Env};
use crate::ocsf::{Class, ALL_CLASSES};

/// `DESTINATION_FORMAT` value that writes OCSF Parquet objects into Security Lake.
pub const LAKE_FORMAT: &str = "securitylake";

/// The custom sources, the account the objects are partitioned by, and the external ID the
/// provider roles ask for.
#[derive(Clone, PartialEq, Eq)]
pub struct LakeConfig {
    /// `SECURITY_LAKE_SOURCES`: where each class goes, by `class_uid`.
    pub sources: BTreeMap<u32, LakeSource>,
    /// `SECURITY_LAKE_EXTERNAL_ID`: given when assuming a provider role.
    pub external_id: Option<String>,
    /// `SECURITY_LAKE_ACCOUNT_ID`: the `accountId=` partition, the account the events
    /// belong to (the stack's). The `region=` partition is the function's region, as the
    /// AWS SDK resolves it.
    pub account: String,
}

/// One custom source: its location as Security Lake reports it, and the role that writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeSource {
    /// The lake's bucket.
    pub bucket: String,
    /// The source's key prefix (`ext/okta-auth/1.0/`), ending in `/` unless empty.
    pub prefix: String,
    /// The provider role to assume; none: the function's own role writes.
    pub role_arn: Option<String>,
}

impl std::fmt::Debug for LakeConfig {
    // The external ID is not a secret by AWS's definition, but it is half of what lets a
    // caller assume the provider role: it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeConfig")
            .field("sources", &self.sources)
            .field("external_id", &self.external_id.as_ref().map(|_| "<set>"))
            .field("account", &self.account)
            .finish()
    }
}

impl LakeConfig {
    /// Reads the `SECURITY_LAKE_*` variables.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        const SOURCES: &str = "SECURITY_LAKE_SOURCES";
        const ACCOUNT: &str = "SECURITY_LAKE_ACCOUNT_ID";
        let raw = env.get(SOURCES).ok_or_else(|| {
            ConfigError::new(
                SOURCES,
                r#"required with DESTINATION_FORMAT=securitylake: a JSON object from class_uid to its custom source, e.g. {"3002":{"location":"s3://aws-security-data-lake-us-east-1-abc/ext/okta-auth/1.0/","role_arn":"arn:aws:iam::111122223333:role/..."}}"#,
            )
        })?;
        let account = env
            .get(ACCOUNT)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::new(
                ACCOUNT,
                "required with Security Lake (DESTINATION_FORMAT=securitylake, or SECURITY_LAKE_SOURCES beside an HTTP destination): the 12-digit AWS account the events belong to (the accountId= partition)",
            ));
        }
        Ok(LakeConfig {
            sources: sources(SOURCES, &raw)?,
            external_id: env
                .get("SECURITY_LAKE_EXTERNAL_ID")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            account,
        })
    }

    /// The source of `class_uid`, if one is configured.
    pub fn source(&self, class_uid: u32) -> Option<&LakeSource> {
        self.sources.get(&class_uid)
    }
}

/// The lake as a second destination beside an HTTP one (`SECURITY_LAKE_SOURCES` set while
/// `DESTINATION_FORMAT` is not `securitylake`): the same events go to `DESTINATION_URL` as
/// configured and, as OCSF, to the lake, each exactly once to each. `None` when the lake is
/// not asked for, or is the destination itself.
///
/// The lake's settings are read as if `DESTINATION_FORMAT=securitylake` were set alone:
/// the HTTP destination's URL, credential, schema, gzip and batch limits are its own, while
/// the filters, the org label, `OCSF_RAW_DATA` and the request timeout and concurrency are
/// shared.
pub fn lake_beside(
    env: &(impl Env + ?Sized),
) -> Result<Option<super::DestinationConfig>, ConfigError> {
    let format = env
        .get("DESTINATION_FORMAT")
        .map(|v| v.trim().to_ascii_lowercase());
    if format.as_deref() == Some(LAKE_FORMAT) || env.get("SECURITY_LAKE_SOURCES").is_none() {
        return Ok(None);
    }
    let lake = AsLake(env);
    super::DestinationConfig::from_env(&lake).map(Some)
}

/// `env` as the lake beside it reads it: the HTTP destination's own variables unset.
struct AsLake<'e, E: ?Sized>(&'e E);

/// The variables that belong to the HTTP destination alone.
const HTTP_ONLY: &[&str] = &[
    "DESTINATION_URL",
    "DESTINATION_SCHEMA",
    "DESTINATION_GZIP",
    "DESTINATION_SECRET_ARN",
    "DESTINATION_AUTH_HEADER",
    "DESTINATION_AUTH_SCHEME",
    "BATCH_MAX_EVENTS",
    "BATCH_MAX_BYTES",
];

impl<E: Env + ?Sized> Env for AsLake<'_, E> {
    fn get_raw(&self, name: &str) -> Option<String> {
        match name {
            "DESTINATION_FORMAT" => Some(LAKE_FORMAT.to_owned()),
            n if HTTP_ONLY.contains(&n) => None,
            n => self.0.get_raw(n),
        }
    }
}

fn sources(var: &'static str, raw: &str) -> Result<BTreeMap<u32, LakeSource>, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        location: String,
        #[serde(default)]
        role_arn: Option<String>,
    }
    // Only the shape is reported: the text is the operator's, and may be long.
    let entries: BTreeMap<String, Entry> = serde_json::from_str(raw).map_err(|e| {
        ConfigError::new(
            var,
            format!("is not a JSON object of {{\"<class_uid>\": {{\"location\": \"s3://...\", \"role_arn\": \"arn:...\"}}}} (line {}, column {}: {})", e.line(), e.column(), match e.classify() { serde_json::error::Category::Data => "not that shape", serde_json::error::Category::Eof => "ends early", _ => "not JSON" }),
        )
    })?;
    if entries.is_empty() {
        return Err(ConfigError::new(
            var,
            "names no source; expected at least one class_uid",
        ));
    }
    let known = || {
        ALL_CLASSES
            .iter()
            .map(|c| c.uid().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    entries
        .into_iter()
        .map(|(key, entry)| {
            let class: Option<Class> = key
                .trim()
                .parse::<u32>()
                .ok()
                .and_then(|uid| ALL_CLASSES.into_iter().find(|c| c.uid() == uid));
            let class = class.ok_or_else(|| {
                ConfigError::new(
                    var,
                    format!("{key:?} is not a class okta-ingest writes; expected one of {}", known()),
                )
            })?;
            let (bucket, prefix) = s3_location(&entry.location).ok_or_else(|| {
                ConfigError::new(
                    var,
                    format!("the location of {} is not s3://bucket/prefix/ (as the custom source reports it)", class.uid()),
                )
            })?;
            let role_arn = entry.role_arn.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
            if let Some(role) = &role_arn {
                if !(role.starts_with("arn:aws") && role.contains(":iam::") && role.contains(":role/")) {
                    return Err(ConfigError::new(
                        var,
                        format!("the role_arn of {} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", class.uid()),
                    ));
                }
            }
            Ok((class.uid(), LakeSource { bucket, prefix, role_arn }))
        })
        .collect()
}

/// `s3://bucket/prefix` as (bucket, prefix ending in `/`, or empty).
fn s3_location(location: &str) -> Option<(String, String)> {
    let rest = location.trim().strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !bucket_ok || prefix.contains("//") || prefix.starts_with('/') {
        return None;
    }
    let prefix = match prefix {
        "" => String::new(),
        p if p.ends_with('/') => p.to_owned(),
        p => format!("{p}/"),
    };
    Some((bucket.to_owned(), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> &'a [(&'a str, &'a str)] {
        pairs
    }

    const ROLE: &str = "arn:aws:iam::111122223333:role/AmazonSecurityLake-Provider-okta-auth";

    fn lake(sources: &str) -> Result<LakeConfig, ConfigError> {
        LakeConfig::from_env(env(&[
            ("SECURITY_LAKE_SOURCES", sources),
            ("SECURITY_LAKE_ACCOUNT_ID", "444455556666"),
            ("SECURITY_LAKE_EXTERNAL_ID", "okta-ingest-ext"),
        ]))
    }

    #[test]
    fn reads_each_classes_location_and_role_as_the_custom_source_reports_them() {
        let config = lake(&format!(
            r#"{{"3002":{{"location":"s3://aws-security-data-lake-eu-west-1-abc/ext/okta-auth/1.0/","role_arn":"{ROLE}"}},
                "6003":{{"location":"s3://aws-security-data-lake-eu-west-1-abc/ext/okta-api/1.0"}}}}"#
        ))
        .unwrap();
        let auth = config.source(3002).unwrap();
        assert_eq!(auth.bucket, "aws-security-data-lake-eu-west-1-abc");
        assert_eq!(auth.prefix, "ext/okta-auth/1.0/");
        assert_eq!(auth.role_arn.as_deref(), Some(ROLE));
        let api = config.source(6003).unwrap();
        assert_eq!(
            api.prefix, "ext/okta-api/1.0/",
            "a missing final slash is added"
        );
        assert_eq!(api.role_arn, None);
        assert!(config.source(3001).is_none());
        assert_eq!(config.account, "444455556666");
        let debug = format!("{config:?}");
        assert!(!debug.contains("okta-ingest-ext"), "{debug}");
    }

    #[test]
    fn mistakes_are_refused_by_name() {
        let cases = [
            ("not json", "SECURITY_LAKE_SOURCES", "JSON object"),
            ("{}", "SECURITY_LAKE_SOURCES", "names no source"),
            (
                r#"{"3999":{"location":"s3://bucket-a/x/"}}"#,
                "SECURITY_LAKE_SOURCES",
                "3002",
            ),
            (
                r#"{"3002":{"location":"https://bucket-a/x/"}}"#,
                "SECURITY_LAKE_SOURCES",
                "s3://",
            ),
            (
                r#"{"3002":{"location":"s3://Bucket_A/x/"}}"#,
                "SECURITY_LAKE_SOURCES",
                "s3://",
            ),
            (
                r#"{"3002":{"location":"s3://bucket-a/x/","role_arn":"okta"}}"#,
                "SECURITY_LAKE_SOURCES",
                "IAM role ARN",
            ),
            (
                r#"{"3002":{"locaton":"s3://bucket-a/x/"}}"#,
                "SECURITY_LAKE_SOURCES",
                "JSON object",
            ),
        ];
        for (sources, var, says) in cases {
            let err = lake(sources).unwrap_err();
            assert_eq!(err.variable, var, "{sources}");
            assert!(err.to_string().contains(says), "{sources}: {err}");
        }
        let no_account = LakeConfig::from_env(env(&[
            (
                "SECURITY_LAKE_SOURCES",
                r#"{"3002":{"location":"s3://bucket-a/x/"}}"#,
            ),
            ("SECURITY_LAKE_ACCOUNT_ID", "4444-5555-6666"),
        ]))
        .unwrap_err();
        assert_eq!(no_account.variable, "SECURITY_LAKE_ACCOUNT_ID");
    }

    /// What a whole function configuration says with `DESTINATION_FORMAT=securitylake`.
    fn with_lake(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let env: Vec<(String, String)> = [
            ("DESTINATION_FORMAT", "securitylake"),
            (
                "SECURITY_LAKE_SOURCES",
                r#"{"3002":{"location":"s3://lake-bucket/ext/okta-auth/1.0/"}}"#,
            ),
            ("SECURITY_LAKE_ACCOUNT_ID", "444455556666"),
            ("STATE_BUCKET", "okta-ingest-state"),
            ("OKTA_DOMAIN", "acme.okta.com"),
            (
                "OKTA_TOKEN_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-AbCdEf",
            ),
        ]
        .iter()
        .filter(|(k, _)| extra.iter().all(|(e, _)| e != k))
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env
    }

    #[test]
    fn the_lake_carries_ocsf_uncompressed_and_refuses_what_contradicts_it() {
        use crate::config::{Platform, PullConfig, PushConfig, Schema};
        let push = PushConfig::from_env(&with_lake(&[])).unwrap();
        assert!(matches!(
            push.destination.platform,
            Platform::SecurityLake(_)
        ));
        assert_eq!(push.destination.schema, Schema::Ocsf);
        assert!(!push.destination.gzip, "Parquet is compressed already");
        assert_eq!(push.destination.url.as_str(), "s3://lake-bucket/");
        let gzip = PushConfig::from_env(&with_lake(&[("DESTINATION_GZIP", "true")])).unwrap();
        assert!(!gzip.destination.gzip);
        // The directory is off unless asked for, and asking for it is refused.
        let pull = PullConfig::from_env(&with_lake(&[])).unwrap();
        assert!(!pull.directory.enabled);
        for (extra, variable) in [
            (
                ("DESTINATION_URL", "https://logs.example.com/in"),
                "DESTINATION_URL",
            ),
            (("DESTINATION_SCHEMA", "okta"), "DESTINATION_SCHEMA"),
            (("DIRECTORY_ENABLED", "true"), "DIRECTORY_ENABLED"),
        ] {
            let err = PullConfig::from_env(&with_lake(&[extra])).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
        }
        let err = PushConfig::from_env(&with_lake(&[("SECURITY_LAKE_SOURCES", "")])).unwrap_err();
        assert_eq!(err.variable, "SECURITY_LAKE_SOURCES");
    }
}
