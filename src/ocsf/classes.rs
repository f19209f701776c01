//! Which OCSF class and activity each Okta `eventType` lands in: explicit rules for the
//! well-known event types, then families by prefix, then the verb of the name.

/// The eight OCSF 1.3.0 classes Okta events map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// 3001: password change and reset, lock and unlock, MFA factor enrolment and removal.
    AccountChange,
    /// 3002: sessions, SSO, token grants, MFA verifications, sign-on policy results.
    Authentication,
    /// 3003: privileges and impersonation granted to a user or session.
    AuthorizeSession,
    /// 3004: lifecycle and configuration of users, apps, policies, zones and the org.
    EntityManagement,
    /// 3005: app assignments (and privileges revoked from a user).
    UserAccess,
    /// 3006: group membership, group lifecycle, roles and apps granted to a group.
    GroupManagement,
    /// 6003: API tokens, and every event that fits nothing more specific.
    ApiActivity,
    /// 2004: threats, blocked requests, risk detections.
    DetectionFinding,
}

/// Every class, in `class_uid` order.
pub const ALL_CLASSES: [Class; 8] = [
    Class::DetectionFinding,
    Class::AccountChange,
    Class::Authentication,
    Class::AuthorizeSession,
    Class::EntityManagement,
    Class::UserAccess,
    Class::GroupManagement,
    Class::ApiActivity,
];

/// Activity 99 in every class.
pub const OTHER: u8 = 99;

impl Class {
    /// OCSF `class_uid`.
    pub const fn uid(self) -> u32 {
        match self {
            Class::DetectionFinding => 2004,
            Class::AccountChange => 3001,
            Class::Authentication => 3002,
            Class::AuthorizeSession => 3003,
            Class::EntityManagement => 3004,
            Class::UserAccess => 3005,
            Class::GroupManagement => 3006,
            Class::ApiActivity => 6003,
        }
    }

    /// OCSF `class_name`.
    pub const fn name(self) -> &'static str {
        match self {
            Class::DetectionFinding => "Detection Finding",
            Class::AccountChange => "Account Change",
            Class::Authentication => "Authentication",
            Class::AuthorizeSession => "Authorize Session",
            Class::EntityManagement => "Entity Management",
            Class::UserAccess => "User Access Management",
            Class::GroupManagement => "Group Management",
            Class::ApiActivity => "API Activity",
        }
    }

    /// A file-name form of the class (`account_change`), as in the schema's `name`.
    pub const fn file_name(self) -> &'static str {
        match self {
            Class::DetectionFinding => "detection_finding",
            Class::AccountChange => "account_change",
            Class::Authentication => "authentication",
            Class::AuthorizeSession => "authorize_session",
            Class::EntityManagement => "entity_management",
            Class::UserAccess => "user_access",
            Class::GroupManagement => "group_management",
            Class::ApiActivity => "api",
        }
    }

    /// OCSF `category_uid` and `category_name`.
    pub const fn category(self) -> (u32, &'static str) {
        match self {
            Class::DetectionFinding => (2, "Findings"),
            Class::ApiActivity => (6, "Application Activity"),
            _ => (3, "Identity & Access Management"),
        }
    }

    /// The schema's caption of `activity_id` in this class (`Other` for 99, `Unknown` else).
    pub fn activity_name(self, activity: u8) -> &'static str {
        let names: &[&str] = match self {
            Class::DetectionFinding => &["Create", "Update", "Close"],
            Class::AccountChange => &[
                "Create",
                "Enable",
                "Password Change",
                "Password Reset",
                "Disable",
                "Delete",
                "Attach Policy",
                "Detach Policy",
                "Lock",
                "MFA Factor Enable",
                "MFA Factor Disable",
            ],
            Class::Authentication => &[
                "Logon",
                "Logoff",
                "Authentication Ticket",
                "Service Ticket Request",
                "Service Ticket Renew",
                "Preauth",
            ],
            Class::AuthorizeSession => &["Assign Privileges", "Assign Groups"],
            Class::EntityManagement => &[
                "Create",
                "Read",
                "Update",
                "Delete",
                "Move",
                "Enroll",
                "Unenroll",
                "Enable",
                "Disable",
                "Activate",
                "Deactivate",
                "Suspend",
                "Resume",
            ],
            Class::UserAccess => &["Assign Privileges", "Revoke Privileges"],
            Class::GroupManagement => &[
                "Assign Privileges",
                "Revoke Privileges",
                "Add User",
                "Remove User",
                "Delete",
                "Create",
            ],
            Class::ApiActivity => &["Create", "Read", "Update", "Delete"],
        };
        match activity {
            OTHER => "Other",
            n => names
                .get(usize::from(n).wrapping_sub(1))
                .copied()
                .unwrap_or("Unknown"),
        }
    }
}

/// The class and `activity_id` of an Okta `eventType`. Total: anything unknown (or empty)
/// is API Activity, with the activity its verb names.
pub fn class_of(event_type: &str) -> (Class, u8) {
    use Class::*;
    if let Some(found) = exact(event_type) {
        return found;
    }
    let last = event_type.rsplit('.').next().unwrap_or("");
    if let Some(rest) = event_type.strip_prefix("user.session.impersonation.") {
        let grants = matches!(rest, "grant" | "initiate" | "extend");
        return (AuthorizeSession, if grants { 1 } else { OTHER });
    }
    if event_type.starts_with("user.authentication.") {
        let logoff = last == "slo" || event_type.contains("universal_logout");
        return (Authentication, if logoff { 2 } else { 1 });
    }
    if event_type.starts_with("user.session.") || event_type.starts_with("user.device_session.") {
        let activity = match last {
            "start" => 1,
            "end" | "clear" | "expire" => 2,
            _ => OTHER,
        };
        return (Authentication, activity);
    }
    if event_type.starts_with("user.mfa.factor.") {
        let activity = match last {
            "activate" | "unsuspend" => 10,
            "deactivate" | "reset_all" | "suspend" => 11,
            _ => OTHER,
        };
        return (AccountChange, activity);
    }
    if event_type.starts_with("user.mfa.") {
        return (Authentication, 1);
    }
    if event_type.starts_with("app.oauth2.")
        && (event_type.contains(".authorize") || event_type.contains("token.grant"))
    {
        return (Authentication, 1);
    }
    if event_type.starts_with("app.oauth2.") && event_type.contains(".consent.") {
        // Scopes a user (or an admin, for all users) grants an app: the user's access.
        let activity = match last {
            "grant" => 1,
            _ if event_type.contains(".consent.revoke") => 2,
            _ => OTHER,
        };
        return (UserAccess, activity);
    }
    if last == "signon" || last == "authentication" || event_type.contains("logout") {
        let logoff = event_type.contains("logout");
        return (Authentication, if logoff { 2 } else { 1 });
    }
    if event_type.contains(".sign_on.") {
        // A sign-on policy's decision (`application.policy.sign_on.deny_access`).
        return (Authentication, OTHER);
    }
    if event_type.starts_with("policy.auth_reevaluate.")
        || event_type.starts_with("policy.continuous_access.")
    {
        return (Authentication, OTHER);
    }
    if event_type.starts_with("user.risk.") {
        return (DetectionFinding, if last == "change" { 2 } else { 1 });
    }
    if let Some(rest) = event_type.strip_prefix("application.user_membership.") {
        return (UserAccess, assignment(rest));
    }
    if let Some(rest) = event_type.strip_prefix("group.application_assignment.") {
        // An app granted to a group: the group's privileges (Assign 1, Revoke 2).
        return (GroupManagement, assignment(rest));
    }
    if let Some(rest) = event_type.strip_prefix("user.lifecycle.") {
        return lifecycle_of_user(rest);
    }
    if event_type.starts_with("system.api_token.") {
        return (ApiActivity, api_verb(event_type));
    }
    match entity_verb(event_type) {
        Some(activity) => (EntityManagement, activity),
        None => (ApiActivity, api_verb(event_type)),
    }
}

/// The event types decided one by one (the rest go by family and verb).
fn exact(event_type: &str) -> Option<(Class, u8)> {
    use Class::*;
    Some(match event_type {
        "user.session.access_admin_app" => (Authentication, 1),
        "policy.evaluate_sign_on" => (Authentication, OTHER),
        "device.platform_sso.authentication" => (Authentication, 1),
        "app.inbound_del_auth.login_success" => (Authentication, 1),
        "app.kerberos_rich_client.user_authentication_successful" => (Authentication, 1),
        "core.user_auth.idp.x509.crl_download_failure" => (Authentication, OTHER),
        "user.account.update_password" => (AccountChange, 3),
        "user.account.reset_password" => (AccountChange, 4),
        "user.account.expire_password" => (AccountChange, OTHER),
        "user.import.password" => (AccountChange, 3),
        "app.ldap.password.change.failed" => (AccountChange, 3),
        "user.account.lock" | "user.account.lock.limit" => (AccountChange, 9),
        "user.account.unlock" | "user.account.unlock_by_admin" | "user.account.unlock_token" => {
            (AccountChange, 2)
        }
        "user.account.unlock_failure" | "user.account.use_token" => (AccountChange, OTHER),
        "user.credential.enroll" => (AccountChange, 10),
        "user.mfa.promote_enrollment" => (AccountChange, 10),
        "user.account.privilege.grant" => (AuthorizeSession, 1),
        "user.account.privilege.revoke" => (UserAccess, 2),
        "group.privilege.grant" => (GroupManagement, 1),
        "group.privilege.revoke" => (GroupManagement, 2),
        "group.user_membership.add" => (GroupManagement, 3),
        "group.user_membership.remove" => (GroupManagement, 4),
        "group.lifecycle.create" => (GroupManagement, 6),
        "group.lifecycle.delete" => (GroupManagement, 5),
        "master_application.user_membership.add" => (UserAccess, 1),
        "security.threat.detected"
        | "security.request.blocked"
        | "security.attack.start"
        | "security.breached_credential.detected"
        | "security.session.detect_client_roaming"
        | "app.oauth2.token.detect_reuse"
        | "app.oauth2.as.token.detect_reuse"
        | "app.generic.unauth_app_access_attempt"
        | "user.account.report_suspicious_activity_by_enduser"
        | "security.events.provider.receive_event" => (DetectionFinding, 1),
        "security.attack.end" => (DetectionFinding, 3),
        _ => return None,
    })
}

/// `application.user_membership.*` and `group.application_assignment.*`: granted or taken.
fn assignment(rest: &str) -> u8 {
    match rest {
        "add" | "provision" | "approve" | "restore" => 1,
        "remove" | "deprovision" | "revoke" => 2,
        _ => OTHER,
    }
}

/// `user.lifecycle.*`: the user entity, except deactivation, the account's "disable".
fn lifecycle_of_user(rest: &str) -> (Class, u8) {
    use Class::*;
    match rest {
        "create" => (EntityManagement, 1),
        "activate" | "reactivate" => (EntityManagement, 10),
        "deactivate" => (AccountChange, 5),
        "suspend" => (EntityManagement, 12),
        "unsuspend" => (EntityManagement, 13),
        "delete.initiated" | "delete.completed" => (EntityManagement, 4),
        "password_mass_expiry" => (EntityManagement, 3),
        _ => (EntityManagement, OTHER),
    }
}

/// The Entity Management activity a segment of the name names, looking from the last
/// segment back (`user.lifecycle.delete.initiated` is a delete); `None` when no segment
/// after the first is a lifecycle or configuration verb.
fn entity_verb(event_type: &str) -> Option<u8> {
    event_type.rsplit('.').take(3).find_map(|segment| {
        Some(match segment {
            "create" | "created" | "add" | "register" | "generate" | "upload" => 1,
            "read" | "view" | "export" | "download" => 2,
            "update" | "updated" | "change" | "modify" | "rotate" | "reset" | "rollover"
            | "overwrite" | "sync" | "preference_update" => 3,
            "delete" | "deleted" | "remove" => 4,
            "enroll" | "enrollment" => 6,
            "unenroll" => 7,
            "enable" | "enabled" => 8,
            "disable" | "disabled" => 9,
            "activate" | "activated" => 10,
            "deactivate" | "deactivated" => 11,
            "suspend" => 12,
            "unsuspend" => 13,
            s if s.starts_with("update_") => 3,
            _ => return None,
        })
    })
}

/// API Activity: Create 1, Read 2, Update 3, Delete 4 by the verb of one of the last
/// three segments (`app.oauth2.token.revoke.implicit.user` is a delete), else Other.
fn api_verb(event_type: &str) -> u8 {
    let verb = |segment: &str| match segment {
        "create" | "created" | "add" => Some(1),
        "read" | "get" | "list" | "view" | "export" | "download" => Some(2),
        "update" | "updated" | "enable" | "activate" | "deactivate" | "disable" => Some(3),
        "delete" | "deleted" | "remove" | "revoke" => Some(4),
        _ => None,
    };
    event_type
        .rsplit('.')
        .take(3)
        .find_map(verb)
        .unwrap_or(OTHER)
}
