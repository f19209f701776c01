//! What okta-pull can be invoked with, parsed once: a scheduled run (`{}` or the schedule's
//! event), a backfill window, or the connection check. Anything else is refused with a
//! [`BadRequest`] naming the field and the expected form.

use std::time::Duration;

use serde::de::IgnoredAny;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::directory::DirectoryRun;
use crate::lambda::BadRequest;

/// Okta refuses `since` more than 180 days back.
const MAX_BACKFILL_AGE: time::Duration = time::Duration::days(180);

/// One okta-pull invocation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PullInvocation {
    /// Follow the checkpoint (the schedule sends `{}`, or an EventBridge scheduled event).
    Scheduled,
    /// Read one explicit window, without the checkpoint.
    Backfill(Backfill),
    /// `{"check": true}`: the connection check.
    Check,
    /// `{"directory": "full"}` or `{"directory": "changes"}`: a directory run.
    Directory(DirectoryRun),
}

/// A backfill window, checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Backfill {
    /// Start of the window.
    pub since: OffsetDateTime,
    /// End of the window (exclusive).
    pub until: OffsetDateTime,
    /// `max_event_age_seconds`: `Some(None)` keeps all, `None` uses `MAX_EVENT_AGE_SECONDS`.
    pub max_age: Option<Option<Duration>>,
}

/// Every key okta-pull reads; an EventBridge scheduled event's own keys are accepted and
/// ignored, anything else is refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    since: Option<String>,
    until: Option<String>,
    max_event_age_seconds: Option<u64>,
    check: Option<bool>,
    directory: Option<String>,
    #[serde(rename = "version")]
    _version: Option<IgnoredAny>,
    #[serde(rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(rename = "detail-type")]
    _detail_type: Option<IgnoredAny>,
    #[serde(rename = "source")]
    _source: Option<IgnoredAny>,
    #[serde(rename = "account")]
    _account: Option<IgnoredAny>,
    #[serde(rename = "time")]
    _time: Option<IgnoredAny>,
    #[serde(rename = "region")]
    _region: Option<IgnoredAny>,
    #[serde(rename = "resources")]
    _resources: Option<IgnoredAny>,
    #[serde(rename = "detail")]
    _detail: Option<IgnoredAny>,
}

const EXPECTED: &str = "expected {} or the schedule's event (a scheduled run), {\"since\": \"2026-11-21T00:00:00Z\", \"until\": \"2026-11-21T06:00:00Z\"} (a backfill, optionally with \"max_event_age_seconds\"), {\"check\": true} or {\"directory\": \"full\"} / {\"directory\": \"changes\"}";

impl PullInvocation {
    /// Reads `payload`; `now` bounds how far back a backfill may start.
    pub(crate) fn parse(payload: &str, now: OffsetDateTime) -> Result<Self, BadRequest> {
        let p: Payload = serde_json::from_str(payload)
            .map_err(|e| BadRequest(format!("okta-pull request: {e}; {EXPECTED}")))?;
        if let Some(run) = &p.directory {
            if p.check.is_some()
                || p.since.is_some()
                || p.until.is_some()
                || p.max_event_age_seconds.is_some()
            {
                return Err(BadRequest::field(
                    "directory",
                    "must be alone: a directory run takes no other field",
                ));
            }
            return DirectoryRun::parse(run).map(PullInvocation::Directory);
        }
        match (&p.check, &p.since, &p.until, p.max_event_age_seconds) {
            (Some(true), None, None, None) => Ok(PullInvocation::Check),
            (Some(_), _, _, _) => Err(BadRequest::field(
                "check",
                "must be true, alone (the connection check)",
            )),
            (None, None, None, None) => Ok(PullInvocation::Scheduled),
            (None, since, until, max_age) => {
                let since = window_time("since", since.as_deref())?;
                let until = window_time("until", until.as_deref())?;
                if since >= until {
                    return Err(BadRequest::field("since", "must be before until"));
                }
                if now - since > MAX_BACKFILL_AGE {
                    return Err(BadRequest::field(
                        "since",
                        "is more than 180 days back, which Okta refuses (and it keeps only 90 days)",
                    ));
                }
                Ok(PullInvocation::Backfill(Backfill {
                    since,
                    until,
                    max_age: max_age.map(|s| (s > 0).then(|| Duration::from_secs(s))),
                }))
            }
        }
    }
}

fn window_time(name: &str, value: Option<&str>) -> Result<OffsetDateTime, BadRequest> {
    let v = value.ok_or_else(|| {
        BadRequest::field(
            name,
            "is missing; give both since and until as RFC 3339 times",
        )
    })?;
    OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
        BadRequest::field(
            name,
            format!("{v:?} is not an RFC 3339 time like 2026-11-21T00:00:00Z"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-22 09:00 UTC);

    #[test]
    fn reads_the_schedule_a_backfill_and_the_check() {
        let schedule = include_str!("../../events/schedule.json");
        assert_eq!(
            PullInvocation::parse(schedule, NOW),
            Ok(PullInvocation::Scheduled)
        );
        assert_eq!(
            PullInvocation::parse("{}", NOW),
            Ok(PullInvocation::Scheduled)
        );
        assert_eq!(
            PullInvocation::parse(r#"{"check":true}"#, NOW),
            Ok(PullInvocation::Check)
        );
        assert_eq!(
            PullInvocation::parse(include_str!("../../events/directory-full.json"), NOW),
            Ok(PullInvocation::Directory(DirectoryRun::Full))
        );
        assert_eq!(
            PullInvocation::parse(include_str!("../../events/directory-changes.json"), NOW),
            Ok(PullInvocation::Directory(DirectoryRun::Changes))
        );
        let backfill = include_str!("../../events/backfill.json");
        assert_eq!(
            PullInvocation::parse(backfill, NOW),
            Ok(PullInvocation::Backfill(Backfill {
                since: datetime!(2026-11-21 00:00 UTC),
                until: datetime!(2026-11-21 06:00 UTC),
                max_age: None,
            }))
        );
        let keep_all = r#"{"since":"2026-11-21T00:00:00Z","until":"2026-11-21T01:00:00Z","max_event_age_seconds":0}"#;
        assert!(matches!(
            PullInvocation::parse(keep_all, NOW),
            Ok(PullInvocation::Backfill(Backfill {
                max_age: Some(None),
                ..
            }))
        ));
    }

    #[test]
    fn a_mistyped_request_is_refused_never_run_as_something_else() {
        for (payload, expected) in [
            (r#"{"since":"2026-11-21T00:00:00Z"}"#, "until: is missing"),
            (r#"{"until":"2026-11-21T00:00:00Z"}"#, "since: is missing"),
            (
                r#"{"since":"yesterday","until":"2026-11-21T00:00:00Z"}"#,
                "not an RFC 3339 time",
            ),
            (
                r#"{"since":"2026-11-21T06:00:00Z","until":"2026-11-21T00:00:00Z"}"#,
                "since: must be before until",
            ),
            (
                r#"{"since":"2026-01-01T00:00:00Z","until":"2026-01-02T00:00:00Z"}"#,
                "180 days",
            ),
            (
                r#"{"sinse":"2026-11-21T00:00:00Z","until":"2026-11-21T06:00:00Z"}"#,
                "unknown field `sinse`",
            ),
            (
                r#"{"since":20261121,"until":"2026-11-21T06:00:00Z"}"#,
                "invalid type",
            ),
            (r#"{"check":"yes"}"#, "invalid type"),
            (r#"{"check":false}"#, "check: must be true"),
            (r#"{"directory":"delta"}"#, "expected \"full\""),
            (
                r#"{"directory":"full","check":true}"#,
                "directory: must be alone",
            ),
            (r#"{"directory":true}"#, "invalid type"),
            (r#"{"max_event_age_seconds":-1}"#, "invalid value"),
            ("[]", "expected {}"),
        ] {
            let err = PullInvocation::parse(payload, NOW).unwrap_err();
            assert!(err.0.contains(expected), "{payload}: {err}");
        }
    }
}
