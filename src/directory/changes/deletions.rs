//! What a changes run learns from the System Log: Okta writes an event when a user, group or
//! app is deleted (the object vanishes from every list), and when an app is created, changed,
//! activated or deactivated (apps have no change filter: the log says when to read them).

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Stop, Window};
use crate::directory::deliver::Outgoing;
use crate::directory::kind::Kind;
use crate::directory::record::{deleted_key, deleted_record, Stamp};
use crate::directory::run::{Ctx, DirectoryReport};
use crate::directory::times::rfc3339;

/// The System Log events that report a deletion, and the target type each names.
const DELETIONS: [(&str, &str, Kind); 3] = [
    ("user.lifecycle.delete.completed", "User", Kind::User),
    ("group.lifecycle.delete", "UserGroup", Kind::Group),
    ("application.lifecycle.delete", "AppInstance", Kind::App),
];

/// The System Log events of an app's other changes.
const APP_CHANGES: [&str; 4] = [
    "application.lifecycle.create",
    "application.lifecycle.update",
    "application.lifecycle.activate",
    "application.lifecycle.deactivate",
];

/// What the System Log said since the last run.
#[derive(Debug, Default)]
pub(super) struct LogNews {
    /// Users, groups and apps deleted (their `deleted` records are sent).
    pub deleted: BTreeSet<(Kind, String)>,
    /// Whether an app was created, changed, activated or deactivated.
    pub apps_changed: bool,
}

/// The deletion record of `id` last seen at `version`.
pub(in crate::directory) fn deletion(
    stamp: &Stamp,
    kind: Kind,
    id: &str,
    version: &str,
) -> Outgoing {
    Outgoing {
        key: deleted_key(kind, id, version),
        json: deleted_record(stamp, kind, id, version),
        kind: Some(kind),
        deleted: true,
        malformed: None,
    }
}

impl Ctx<'_> {
    /// Users, groups and apps the System Log reports deleted since the last run (sent now),
    /// and whether an app changed: one filtered request, in the System Log's bucket.
    pub(super) async fn read_log(
        &self,
        w: &Window,
        report: &mut DirectoryReport,
    ) -> Result<LogNews, Stop> {
        let filter = DELETIONS
            .iter()
            .map(|(t, _, _)| *t)
            .chain(APP_CHANGES)
            .map(|t| format!("eventType eq \"{t}\""))
            .collect::<Vec<_>>()
            .join(" or ");
        let url = self.dir.lists.org().api_url(
            "/api/v1/logs",
            &[
                ("since", &rfc3339(w.since)),
                // Whole seconds: the second now is in is read whole.
                ("until", &rfc3339(w.now.saturating_add(1))),
                ("filter", &filter),
                ("limit", "1000"),
            ],
        );
        let mut news = LogNews::default();
        self.each_page(url, report, |_, page| {
            let mut out = Vec::new();
            for event in &page.items {
                news.apps_changed |= is_app_change(event);
                for (kind, id) in deleted_targets(event) {
                    if news.deleted.insert((kind, id.clone())) {
                        out.push(deletion(&w.stamp, kind, &id, ""));
                    }
                }
            }
            out
        })
        .await?;
        Ok(news)
    }
}

/// Whether `event` is one of an app's changes other than its deletion.
fn is_app_change(event: &RawValue) -> bool {
    #[derive(Deserialize)]
    struct Event<'a> {
        #[serde(borrow, default, rename = "eventType")]
        event_type: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<Event>(event.get())
        .ok()
        .and_then(|e| e.event_type)
        .is_some_and(|t| APP_CHANGES.contains(&t.as_ref()))
}

/// `(kind, id)` of what a deletion event of the System Log names.
fn deleted_targets(event: &RawValue) -> Vec<(Kind, String)> {
    #[derive(Deserialize)]
    struct Event {
        #[serde(default, rename = "eventType")]
        event_type: String,
        #[serde(default)]
        target: Vec<Target>,
    }
    #[derive(Deserialize)]
    struct Target {
        #[serde(default)]
        id: String,
        #[serde(default, rename = "type")]
        kind: String,
    }
    let Ok(e) = serde_json::from_str::<Event>(event.get()) else {
        return Vec::new();
    };
    let Some((_, target_type, kind)) = DELETIONS.iter().find(|(t, _, _)| *t == e.event_type) else {
        return Vec::new();
    };
    e.target
        .into_iter()
        .filter(|t| t.kind == *target_type && !t.id.is_empty())
        .map(|t| (*kind, t.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletion_events_name_their_targets_only() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let user = raw(
            r#"{"eventType":"user.lifecycle.delete.completed","target":[{"id":"00u1","type":"User"},{"id":"00a","type":"AppInstance"}]}"#,
        );
        assert_eq!(
            deleted_targets(&user),
            vec![(Kind::User, "00u1".to_string())]
        );
        let group = raw(
            r#"{"eventType":"group.lifecycle.delete","target":[{"id":"00g1","type":"UserGroup"}]}"#,
        );
        assert_eq!(
            deleted_targets(&group),
            vec![(Kind::Group, "00g1".to_string())]
        );
        let created = raw(
            r#"{"eventType":"application.lifecycle.create","target":[{"id":"0oa1","type":"AppInstance"}]}"#,
        );
        assert!(is_app_change(&created) && deleted_targets(&created).is_empty());
        assert!(!is_app_change(&group));
        for other in [
            r#"{"eventType":"user.session.start","target":[{"id":"00u1","type":"User"}]}"#,
            r#"{"eventType":"user.lifecycle.delete.completed","target":"nope"}"#,
            r#"[]"#,
        ] {
            assert!(deleted_targets(&raw(other)).is_empty(), "{other}");
        }
    }
}
