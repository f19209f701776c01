//! The System Log events Okta writes when a directory object is deleted
//! (`user.lifecycle.delete.completed`, `group.lifecycle.delete`, `application.lifecycle.delete`)
//! and when an app is created, activated or deactivated (`application.lifecycle.*`), added to
//! the fake's System Log by the methods that make those changes.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use time::OffsetDateTime;

use super::store::Store;
use crate::fake_okta::{millis, FakeOkta, Inner, StoredEvent};
use crate::okta_events::rfc3339_millis;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// Appends the deletion event of `target_type` `id` at `now`.
fn log_event(
    inner: &mut Inner,
    event_type: &str,
    target_type: &str,
    id: &str,
    now: OffsetDateTime,
) {
    let uuid = format!("lc-{:08}", NEXT.fetch_add(1, Ordering::Relaxed));
    let now = millis(now);
    let published = rfc3339_millis(now);
    let event = json!({
        "uuid": uuid,
        "published": published,
        "eventType": event_type,
        "version": "0",
        "severity": "INFO",
        "displayMessage": event_type,
        "actor": { "id": "00u0admin00000000000", "type": "User", "alternateId": "admin@example.com" },
        "outcome": { "result": "SUCCESS" },
        "target": [{ "id": id, "type": target_type }],
    });
    inner.events.push(StoredEvent {
        uuid,
        published: now,
        json: event.to_string(),
    });
}

impl FakeOkta {
    /// Like `change`, then writes Okta's lifecycle event (a deletion, an app's creation or
    /// activation) of `target_type` `id` to the System Log, as Okta does.
    pub(super) fn logged(
        &self,
        id: &str,
        (event_type, target_type): (&str, &str),
        f: impl FnOnce(&mut Store, OffsetDateTime),
    ) {
        let mut inner = self.shared.lock();
        let now = inner.directory.now(inner.now());
        f(&mut inner.directory.store, now);
        log_event(&mut inner, event_type, target_type, id, now);
    }
}
