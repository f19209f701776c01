//! What the walk reads of each object Okta lists: its id, its version and, for groups, their
//! type and whether they hold admin roles. Read leniently: any field may hold anything (an
//! object Okta adds a field to, or changes the type of, is still sent), only a string `id`
//! is needed.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The fields of an object the walk uses, as raw JSON.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Head<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "lastUpdated")]
    last_updated: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "lastMembershipUpdated")]
    last_membership_updated: Option<&'a RawValue>,
    /// A group's type is a string (`OKTA_GROUP`, `BUILT_IN`), a user's an object.
    #[serde(borrow, default, rename = "type")]
    object_type: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "_embedded")]
    embedded: Option<&'a RawValue>,
}

/// A JSON string without escapes (Okta's ids and times have none), borrowed.
fn plain(raw: Option<&RawValue>) -> Option<&str> {
    raw?.get()
        .strip_prefix('"')?
        .strip_suffix('"')
        .filter(|t| !t.contains('\\'))
}

impl<'a> Head<'a> {
    /// Reads an object; why not, when it is not a JSON object with a plain string `id`.
    pub fn of(raw: &'a RawValue) -> Result<Head<'a>, String> {
        let head: Head = serde_json::from_str(raw.get())
            .map_err(|e| format!("Okta listed an item that is not a JSON object ({e})"))?;
        match plain(head.id) {
            Some(id) if !id.is_empty() => Ok(head),
            _ => Err("Okta listed an object without a string id".into()),
        }
    }

    /// The object's id.
    pub fn id(&self) -> &str {
        plain(self.id).unwrap_or_default()
    }

    /// `lastUpdated`, or empty.
    pub fn version(&self) -> &str {
        plain(self.last_updated).unwrap_or_default()
    }

    /// A group's `lastMembershipUpdated`, or empty.
    pub fn membership_version(&self) -> &str {
        plain(self.last_membership_updated).unwrap_or_default()
    }

    /// Whether a group is Okta's own (`Everyone`, type `BUILT_IN`), whose members are every
    /// user: listing them would repeat the user list (500 pages for 100,000 users).
    pub fn is_built_in(&self) -> bool {
        plain(self.object_type) == Some("BUILT_IN")
    }

    /// Whether a group listed with `expand=stats` holds an admin role.
    pub fn has_admin_privilege(&self) -> bool {
        #[derive(Deserialize)]
        struct Embedded {
            stats: Stats,
        }
        #[derive(Deserialize)]
        struct Stats {
            #[serde(rename = "hasAdminPrivilege")]
            has_admin_privilege: bool,
        }
        self.embedded
            .and_then(|e| serde_json::from_str::<Embedded>(e.get()).ok())
            .is_some_and(|e| e.stats.has_admin_privilege)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_read_ids_versions_and_admin_stats() {
        let g = RawValue::from_string(r#"{"id":"00g1","lastUpdated":"t1","lastMembershipUpdated":"t2","_embedded":{"stats":{"hasAdminPrivilege":true}}}"#.into()).unwrap();
        let h = Head::of(&g).unwrap();
        assert_eq!((h.id(), h.version()), ("00g1", "t1"));
        assert_eq!(h.membership_version(), "t2");
        assert!(h.has_admin_privilege());
        assert!(!h.is_built_in());
        let user = RawValue::from_string(r#"{"id":"00u1","type":{"id":"oty1"}}"#.into()).unwrap();
        assert_eq!(
            Head::of(&user).map(|h| h.is_built_in()),
            Ok(false),
            "a user's type is an object"
        );
        let everyone = RawValue::from_string(r#"{"id":"00g0","type":"BUILT_IN"}"#.into()).unwrap();
        assert!(Head::of(&everyone).unwrap().is_built_in());
        for bad in [
            r#"[1]"#,
            r#"{"id":5}"#,
            r#"{"id":""}"#,
            r#"{}"#,
            r#"{"id":"a\u0062"}"#,
        ] {
            let raw = RawValue::from_string(bad.into()).unwrap();
            assert!(Head::of(&raw).is_err(), "{bad}");
        }
        // Fields of another type than Okta documents do not make the object unreadable.
        let odd = RawValue::from_string(
            r#"{"id":"00g2","lastUpdated":5,"_embedded":{"stats":"x"},"type":[1]}"#.into(),
        )
        .unwrap();
        let h = Head::of(&odd).unwrap();
        assert_eq!(
            (
                h.id(),
                h.version(),
                h.has_admin_privilege(),
                h.is_built_in()
            ),
            ("00g2", "", false, false)
        );
    }
}
