//! Tests of the OCSF mapping: the class of each well-known event type, golden files per
//! class validated against the vendored OCSF 1.3.0 schema, the Okta catalog's coverage,
//! the table in docs/ocsf.md, and property tests over arbitrary Okta-like events.

mod catalog;
mod golden;
mod props;
mod schema;

use serde_json::value::RawValue;
use serde_json::Value;

use super::{class_of, Class};
use crate::event::OktaEvent;

/// GIVEN an Okta LogEvent's text, WHEN it is read as the pipeline reads it, THEN this.
fn okta_event(raw: &RawValue) -> OktaEvent<'_> {
    OktaEvent::from_raw(raw).unwrap_or_else(|e| panic!("not a LogEvent: {e}"))
}

fn raw(value: &Value) -> Box<RawValue> {
    RawValue::from_string(value.to_string()).expect("a JSON value is valid JSON")
}

#[test]
fn well_known_event_types_land_in_the_issue_classes() {
    use Class::*;
    let cases = [
        ("user.session.start", Authentication, 1),
        ("user.session.end", Authentication, 2),
        ("user.authentication.sso", Authentication, 1),
        ("user.authentication.auth_via_mfa", Authentication, 1),
        ("user.mfa.okta_verify.deny_push", Authentication, 1),
        ("policy.evaluate_sign_on", Authentication, 99),
        ("app.oauth2.as.token.grant.access_token", Authentication, 1),
        ("app.oauth2.signon", Authentication, 1),
        (
            "device.desktop_mfa.device_logout.completed",
            Authentication,
            2,
        ),
        ("application.policy.sign_on.deny_access", Authentication, 99),
        ("user.account.update_password", AccountChange, 3),
        ("user.account.reset_password", AccountChange, 4),
        ("user.account.lock", AccountChange, 9),
        ("user.mfa.factor.activate", AccountChange, 10),
        ("user.mfa.factor.deactivate", AccountChange, 11),
        ("user.lifecycle.deactivate", AccountChange, 5),
        ("user.account.privilege.grant", AuthorizeSession, 1),
        ("user.session.impersonation.grant", AuthorizeSession, 1),
        ("user.lifecycle.create", EntityManagement, 1),
        ("user.lifecycle.suspend", EntityManagement, 12),
        ("application.lifecycle.update", EntityManagement, 3),
        ("policy.rule.deactivate", EntityManagement, 11),
        ("application.user_membership.add", UserAccess, 1),
        ("application.user_membership.remove", UserAccess, 2),
        ("group.user_membership.add", GroupManagement, 3),
        ("group.user_membership.remove", GroupManagement, 4),
        ("group.application_assignment.add", GroupManagement, 1),
        ("group.lifecycle.create", GroupManagement, 6),
        ("system.api_token.create", ApiActivity, 1),
        ("system.api_token.revoke", ApiActivity, 4),
        ("app.oauth2.token.revoke.implicit.user", ApiActivity, 4),
        ("app.oauth2.as.consent.grant", UserAccess, 1),
        ("app.oauth2.as.consent.revoke.implicit.scope", UserAccess, 2),
        (
            "app.office365.graph.api.error.rate-limit.exceeded",
            ApiActivity,
            99,
        ),
        ("", ApiActivity, 99),
        ("security.threat.detected", DetectionFinding, 1),
        ("security.request.blocked", DetectionFinding, 1),
        ("user.risk.detect", DetectionFinding, 1),
        ("user.risk.change", DetectionFinding, 2),
    ];
    for (event_type, class, activity) in cases {
        assert_eq!(class_of(event_type), (class, activity), "{event_type}");
        assert_ne!(class.activity_name(activity), "Unknown", "{event_type}");
    }
}

#[test]
fn an_event_of_unexpected_shapes_is_api_activity_with_everything_in_unmapped() {
    let input = serde_json::json!({
        "uuid": "2f3c1f9e-8f3a-11ef-9a3c-0b1c2d3e4f50",
        "published": "2026-11-30T09:15:42.123Z",
        "eventType": 42,
        "actor": "someone",
        "client": { "ipAddress": ["198.51.100.23"] },
        "target": { "id": 7 },
    });
    let text = raw(&input);
    let event = okta_event(&text);
    let (class, ocsf) = super::to_ocsf(&event, &super::OcsfOptions { raw_data: true });
    assert_eq!(class, Class::ApiActivity);
    let errors = schema::Schema::load().validate(class, &ocsf);
    assert!(errors.is_empty(), "{errors:?}");
    let unmapped = &ocsf["unmapped"];
    assert_eq!(unmapped["eventType"], 42);
    assert_eq!(unmapped["actor"], "someone");
    assert_eq!(unmapped["client"]["ipAddress"][0], "198.51.100.23");
    assert_eq!(unmapped["target"]["id"], 7);
    assert_eq!(ocsf["raw_data"].as_str(), Some(text.get()));
}
