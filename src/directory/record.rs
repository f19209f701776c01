//! One directory record: `{"okta_directory": {...}, "object": <Okta's JSON>}`, its ledger key,
//! and what the walk reads of each object (id, version, group stats).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::kind::{Action, Kind};

/// The longest ledger key kept as written; longer ones (never from Okta's 20-character ids)
/// are hashed, as the ledger refuses keys over 128 bytes.
const MAX_KEY: usize = 128;

/// What every record of one run carries.
#[derive(Debug, Clone)]
pub(super) struct Stamp {
    /// The org's host, as in the System Log events' source.
    pub org: String,
    /// When the run observed it (RFC 3339).
    pub observed: String,
    /// The run's id: a snapshot's, kept across its invocations, or a changes run's.
    pub run: String,
}

#[derive(Serialize)]
struct Header<'a> {
    kind: &'a str,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// The object's version (`lastUpdated`; a membership's, its group's
    /// `lastMembershipUpdated` when it was first seen): with the rest of the header it
    /// gives back the record's ledger key, so a dead-lettered record replays exactly once.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    org: &'a str,
    observed: &'a str,
    run: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct Record<'a> {
    okta_directory: Header<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<&'a RawValue>,
}

fn finish(record: &Record<'_>) -> Box<RawValue> {
    // Serialising borrowed strings and already-valid raw JSON cannot fail.
    serde_json::to_string(record)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
        .unwrap_or_default()
}

/// The record of `object` (Okta's JSON, as returned or filtered): `kind` `id` at
/// `version`, `action`.
pub(super) fn object_record(
    stamp: &Stamp,
    (kind, action): (Kind, Action),
    id: &str,
    version: &str,
    object: &RawValue,
) -> Box<RawValue> {
    finish(&Record {
        okta_directory: Header {
            kind: kind.as_str(),
            action: action.as_str(),
            id: Some(id),
            version: (!version.is_empty()).then_some(version),
            org: &stamp.org,
            observed: &stamp.observed,
            run: &stamp.run,
            detail: None,
        },
        object: Some(object),
    })
}

/// The record of an object or pair gone (last seen at `version`): its ids are all that is
/// left of it.
pub(super) fn deleted_record(stamp: &Stamp, kind: Kind, id: &str, version: &str) -> Box<RawValue> {
    let object = match id.split_once('/') {
        Some((parent, child)) if kind.is_pair() => serde_json::json!({
            "parentId": parent,
            "id": child,
        }),
        _ => serde_json::json!({ "id": id }),
    };
    let object = RawValue::from_string(object.to_string()).unwrap_or_default();
    object_record(stamp, (kind, Action::Deleted), id, version, &object)
}

/// A snapshot's `run` record: `started` or `completed` (with what it sent in `detail`).
pub(super) fn run_record(
    stamp: &Stamp,
    action: &str,
    detail: Option<&serde_json::Value>,
) -> Box<RawValue> {
    finish(&Record {
        okta_directory: Header {
            kind: "run",
            action,
            id: None,
            version: None,
            org: &stamp.org,
            observed: &stamp.observed,
            run: &stamp.run,
            detail,
        },
        object: None,
    })
}

/// A ledger key from its parts, hashed when it would be too long for the ledger.
fn key(parts: &[&str]) -> String {
    let k = format!("okta-directory:{}", parts.join(":"));
    if k.len() <= MAX_KEY && !k.chars().any(char::is_control) {
        return k;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, k.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("okta-directory:h:{hex}")
}

/// A snapshot sends each object once: keyed by the snapshot.
pub(super) fn snapshot_key(run: &str, kind: Kind, id: &str) -> String {
    key(&[run, kind.as_str(), id])
}

/// A changes run sends each object version once, whichever run saw it.
pub(super) fn changed_key(kind: Kind, id: &str, version: &str) -> String {
    key(&["v", kind.as_str(), id, version])
}

/// A deletion is sent once: an object's id is never used again; a pair's last version
/// tells a removal from a later one.
pub(super) fn deleted_key(kind: Kind, id: &str, version: &str) -> String {
    if kind.is_pair() {
        key(&["d", kind.as_str(), id, version])
    } else {
        key(&["d", kind.as_str(), id])
    }
}

/// A snapshot's run record, once per snapshot and action.
pub(super) fn run_key(run: &str, action: &str) -> String {
    key(&[run, "run", action])
}

/// A record read back from the dead letters, as the pipeline takes it: its ledger key (the
/// one it was sent under) and its time. `None` when it is not a directory record.
pub(crate) fn replayed(raw: &RawValue) -> Option<crate::event::OktaEvent<'_>> {
    #[derive(Deserialize)]
    struct Wrapper<'a> {
        #[serde(borrow)]
        okta_directory: Header<'a>,
    }
    #[derive(Deserialize)]
    struct Header<'a> {
        #[serde(borrow)]
        kind: Cow<'a, str>,
        #[serde(borrow)]
        action: Cow<'a, str>,
        #[serde(borrow, default)]
        id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        version: Option<Cow<'a, str>>,
        #[serde(borrow)]
        observed: Cow<'a, str>,
        #[serde(borrow)]
        run: Cow<'a, str>,
    }
    let w: Wrapper = serde_json::from_str(raw.get()).ok()?;
    let h = w.okta_directory;
    let published =
        time::OffsetDateTime::parse(&h.observed, &time::format_description::well_known::Rfc3339)
            .ok()?;
    let version = h.version.as_deref().unwrap_or_default();
    let key = match (h.kind.as_ref(), h.action.as_ref(), h.id.as_deref()) {
        ("run", action @ ("started" | "completed"), None) => run_key(&h.run, action),
        (kind, action, Some(id)) => {
            let kind = Kind::ALL.into_iter().find(|k| k.as_str() == kind)?;
            match action {
                "snapshot" => snapshot_key(&h.run, kind, id),
                "changed" => changed_key(kind, id, version),
                "deleted" => deleted_key(kind, id, version),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(crate::event::OktaEvent {
        uuid: Cow::Owned(key),
        published,
        raw: raw.get(),
        severity: None,
        event_type: None,
        org: None,
        directory: true,
    })
}

/// `object` with its `profile` cut to `fields` (when set), for kinds that carry a user's
/// profile; everything else as Okta sent it.
pub(super) fn filtered<'r>(
    raw: &'r RawValue,
    kind: Kind,
    fields: Option<&[String]>,
) -> Cow<'r, RawValue> {
    let Some(fields) =
        fields.filter(|_| matches!(kind, Kind::User | Kind::GroupMember | Kind::AppUser))
    else {
        return Cow::Borrowed(raw);
    };
    let Ok(mut value) =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw.get())
    else {
        return Cow::Borrowed(raw);
    };
    if let Some(serde_json::Value::Object(profile)) = value.get_mut("profile") {
        profile.retain(|name, _| fields.iter().any(|f| f == name));
    }
    match serde_json::to_string(&value)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
    {
        Some(r) => Cow::Owned(r),
        None => Cow::Borrowed(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            org: "acme.okta.com".into(),
            observed: "2026-12-03T07:00:00.000Z".into(),
            run: "full-20261203T070000Z-ab12".into(),
        }
    }

    #[test]
    fn a_record_wraps_the_object_unchanged() {
        let object =
            RawValue::from_string(r#"{"id":"00u1","profile":{"login":"a@b"}, "z":1}"#.into())
                .unwrap();
        let r = object_record(
            &stamp(),
            (Kind::User, Action::Snapshot),
            "00u1",
            "v1",
            &object,
        );
        let v: serde_json::Value = serde_json::from_str(r.get()).unwrap();
        assert_eq!(v["okta_directory"]["kind"], "user");
        assert_eq!(v["okta_directory"]["action"], "snapshot");
        assert_eq!(v["okta_directory"]["org"], "acme.okta.com");
        assert!(
            r.get()
                .ends_with(r#""object":{"id":"00u1","profile":{"login":"a@b"}, "z":1}}"#),
            "{}",
            r.get()
        );
    }

    #[test]
    fn a_record_read_back_from_the_dead_letters_has_the_key_it_was_sent_under() {
        let object = RawValue::from_string(r#"{"id":"00u1"}"#.into()).unwrap();
        let s = stamp();
        let cases = [
            (
                object_record(&s, (Kind::User, Action::Snapshot), "00u1", "v1", &object),
                snapshot_key(&s.run, Kind::User, "00u1"),
            ),
            (
                object_record(&s, (Kind::User, Action::Changed), "00u1", "v1", &object),
                changed_key(Kind::User, "00u1", "v1"),
            ),
            (
                deleted_record(&s, Kind::GroupMember, "00g1/00u1", "v0"),
                deleted_key(Kind::GroupMember, "00g1/00u1", "v0"),
            ),
            (
                run_record(&s, "completed", None),
                run_key(&s.run, "completed"),
            ),
        ];
        for (record, key) in cases {
            let e = replayed(&record).expect("a directory record");
            assert_eq!(e.uuid, key, "{}", record.get());
            assert!(e.directory);
            assert_eq!(crate::event::format_rfc3339(e.published), s.observed);
        }
        let event =
            RawValue::from_string(r#"{"uuid":"x","published":"2026-12-03T07:00:00Z"}"#.into())
                .unwrap();
        assert!(replayed(&event).is_none());
    }

    #[test]
    fn keys_are_distinct_per_purpose_and_always_fit_the_ledger() {
        let keys = [
            snapshot_key("full-1", Kind::User, "00u1"),
            changed_key(Kind::User, "00u1", "2026-12-03T07:00:00.000Z"),
            deleted_key(Kind::User, "00u1", "2026-12-03T07:00:00.000Z"),
            deleted_key(Kind::GroupMember, "00g1/00u1", "v1"),
            deleted_key(Kind::GroupMember, "00g1/00u1", "v2"),
            run_key("full-1", "started"),
        ];
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        let long = changed_key(Kind::AdminRole, &"x".repeat(300), "v\n");
        assert!(long.len() <= MAX_KEY && !long.contains('\n'), "{long}");
        assert_ne!(long, changed_key(Kind::AdminRole, &"x".repeat(301), "v\n"));
    }

    #[test]
    fn the_profile_allow_list_cuts_only_the_profile() {
        let object = RawValue::from_string(
            r#"{"id":"00u1","status":"ACTIVE","profile":{"login":"a@b","mobilePhone":"555","department":"IT"}}"#.into(),
        )
        .unwrap();
        let fields = vec!["login".to_string(), "department".to_string()];
        let cut = filtered(&object, Kind::User, Some(&fields));
        let v: serde_json::Value = serde_json::from_str(cut.get()).unwrap();
        assert_eq!(
            v["profile"],
            serde_json::json!({"login":"a@b","department":"IT"})
        );
        assert_eq!(v["status"], "ACTIVE");
        // Not a user's profile: untouched.
        assert_eq!(
            filtered(&object, Kind::App, Some(&fields)).get(),
            object.get()
        );
        assert_eq!(filtered(&object, Kind::User, None).get(), object.get());
    }
}
