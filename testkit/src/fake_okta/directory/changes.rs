//! `FakeOkta`'s methods that build an org and change it between runs: every change stamps the directory clock, a profile or status change bumps `lastUpdated`, a membership change only the group's `lastMembershipUpdated`, a deletion removes the object from every list.

use time::OffsetDateTime;

use super::store::{id_of, seq_of, App, Group, Kind, RoleAssignment, Store, User, UserStatus};
use crate::fake_okta::FakeOkta;

/// The ids [`FakeOkta::populate`] created, in creation order.
#[derive(Debug, Clone, Default)]
pub struct PopulatedOrg {
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub apps: Vec<String>,
}

fn must(kind: Kind, id: &str) -> u64 {
    seq_of(kind, id).unwrap_or_else(|| panic!("fake Okta: {id} is not a {} id", kind.noun()))
}

fn user_mut<'a>(s: &'a mut Store, id: &str) -> &'a mut User {
    let seq = must(Kind::User, id);
    s.users
        .get_mut(&seq)
        .unwrap_or_else(|| panic!("fake Okta: no user {id}"))
}

fn group_mut<'a>(s: &'a mut Store, id: &str) -> &'a mut Group {
    let seq = must(Kind::Group, id);
    s.groups
        .get_mut(&seq)
        .unwrap_or_else(|| panic!("fake Okta: no group {id}"))
}

fn app_mut<'a>(s: &'a mut Store, id: &str) -> &'a mut App {
    let seq = must(Kind::App, id);
    s.apps
        .get_mut(&seq)
        .unwrap_or_else(|| panic!("fake Okta: no app {id}"))
}

pub(super) fn new_user(login: &str, status: UserStatus, now: OffsetDateTime) -> User {
    let (first, last) = login
        .split_once('@')
        .map_or((login, ""), |(local, domain)| (local, domain));
    User {
        login: login.into(),
        first_name: first.into(),
        last_name: last.into(),
        extra: Vec::new(),
        status,
        created: now,
        status_changed: now,
        last_updated: now,
        roles: Vec::new(),
    }
}

pub(super) fn new_group(name: &str, now: OffsetDateTime) -> Group {
    Group {
        name: name.into(),
        description: "".into(),
        created: now,
        last_updated: now,
        last_membership_updated: now,
        members: Default::default(),
        roles: Vec::new(),
    }
}

pub(super) fn new_app(label: &str, now: OffsetDateTime) -> App {
    App {
        label: label.into(),
        active: true,
        created: now,
        last_updated: now,
        users: Default::default(),
        groups: Default::default(),
    }
}

impl FakeOkta {
    /// Runs `f` on the org's objects with the directory clock's time.
    pub(super) fn change<R>(&self, f: impl FnOnce(&mut Store, OffsetDateTime) -> R) -> R {
        let mut inner = self.shared.lock();
        let now = inner.directory.now(inner.now());
        f(&mut inner.directory.store, now)
    }

    /// Pins the directory clock (what changes stamp in `created`, `lastUpdated`, ...) at `t`,
    /// cut to milliseconds as the JSON shows it. Until pinned it follows the fake clock.
    pub fn set_directory_clock(&self, t: OffsetDateTime) {
        self.shared.lock().directory.clock = Some(crate::fake_okta::millis(t));
    }

    /// Moves the directory clock on by `by` (pinning it); returns the new time.
    pub fn advance_directory_clock(&self, by: time::Duration) -> OffsetDateTime {
        let mut inner = self.shared.lock();
        let t = inner.directory.now(inner.now()) + by;
        inner.directory.clock = Some(t);
        t
    }

    /// The directory clock now.
    pub fn directory_now(&self) -> OffsetDateTime {
        let inner = self.shared.lock();
        inner.directory.now(inner.now())
    }

    /// Adds an ACTIVE user; returns its id.
    pub fn add_user(&self, login: &str) -> String {
        self.add_user_with_status(login, UserStatus::Active)
    }

    /// Adds a user in `status`; returns its id.
    pub fn add_user_with_status(&self, login: &str, status: UserStatus) -> String {
        self.change(|s, now| {
            let seq = s.next_seq();
            s.users.insert(seq, new_user(login, status, now));
            id_of(Kind::User, seq)
        })
    }

    /// Sets one profile attribute (`login`, `firstName`, `lastName` or any other); bumps `lastUpdated`.
    pub fn update_user(&self, id: &str, attribute: &str, value: &str) {
        self.change(|s, now| {
            let u = user_mut(s, id);
            match attribute {
                "login" | "email" => u.login = value.into(),
                "firstName" => u.first_name = value.into(),
                "lastName" => u.last_name = value.into(),
                other => match u.extra.iter_mut().find(|(n, _)| n.as_ref() == other) {
                    Some((_, v)) => *v = value.into(),
                    None => u.extra.push((other.into(), value.into())),
                },
            }
            u.last_updated = now;
        });
    }

    /// Moves a user to `status`; bumps `statusChanged` and `lastUpdated`.
    pub fn set_user_status(&self, id: &str, status: UserStatus) {
        self.change(|s, now| {
            let u = user_mut(s, id);
            u.status = status;
            u.status_changed = now;
            u.last_updated = now;
        });
    }

    /// What Okta's "deactivate" does: the user becomes DEPROVISIONED.
    pub fn deactivate_user(&self, id: &str) {
        self.set_user_status(id, UserStatus::Deprovisioned);
    }

    /// Deletes a user: gone from every list, group (bumping its `lastMembershipUpdated`) and app.
    pub fn delete_user(&self, id: &str) {
        self.logged(id, ("user.lifecycle.delete.completed", "User"), |s, now| {
            let seq = must(Kind::User, id);
            s.users
                .remove(&seq)
                .unwrap_or_else(|| panic!("fake Okta: no user {id}"));
            for g in s.groups.values_mut().filter(|g| g.members.contains(&seq)) {
                g.members.remove(&seq);
                g.last_membership_updated = now;
            }
            for a in s.apps.values_mut() {
                a.users.remove(&seq);
            }
        });
    }

    /// Adds a group; returns its id.
    pub fn add_group(&self, name: &str) -> String {
        self.change(|s, now| {
            let seq = s.next_seq();
            s.groups.insert(seq, new_group(name, now));
            id_of(Kind::Group, seq)
        })
    }

    /// Changes a group's profile; bumps `lastUpdated` (not `lastMembershipUpdated`).
    pub fn update_group(&self, id: &str, name: &str, description: &str) {
        self.change(|s, now| {
            let g = group_mut(s, id);
            g.name = name.into();
            g.description = description.into();
            g.last_updated = now;
        });
    }

    /// Deletes a group: gone from every list and app; its members stay.
    pub fn delete_group(&self, id: &str) {
        self.logged(id, ("group.lifecycle.delete", "UserGroup"), |s, _| {
            let seq = must(Kind::Group, id);
            s.groups
                .remove(&seq)
                .unwrap_or_else(|| panic!("fake Okta: no group {id}"));
            for a in s.apps.values_mut() {
                a.groups.remove(&seq);
            }
        });
    }

    /// Adds `user` to `group`; bumps only the group's `lastMembershipUpdated`.
    pub fn add_member(&self, group: &str, user: &str) {
        self.change(|s, now| {
            let u = must(Kind::User, user);
            assert!(s.users.contains_key(&u), "fake Okta: no user {user}");
            let g = group_mut(s, group);
            g.members.insert(u);
            g.last_membership_updated = now;
        });
    }

    /// Removes `user` from `group`; bumps only the group's `lastMembershipUpdated`.
    pub fn remove_member(&self, group: &str, user: &str) {
        self.change(|s, now| {
            let u = must(Kind::User, user);
            let g = group_mut(s, group);
            g.members.remove(&u);
            g.last_membership_updated = now;
        });
    }

    /// Adds an ACTIVE app; returns its id.
    pub fn add_app(&self, label: &str) -> String {
        let id = self.change(|s, now| {
            let seq = s.next_seq();
            s.apps.insert(seq, new_app(label, now));
            id_of(Kind::App, seq)
        });
        self.logged(
            &id,
            ("application.lifecycle.create", "AppInstance"),
            |_, _| {},
        );
        id
    }

    /// Activates or deactivates an app; bumps its `lastUpdated`.
    pub fn set_app_active(&self, id: &str, active: bool) {
        let event = if active {
            "application.lifecycle.activate"
        } else {
            "application.lifecycle.deactivate"
        };
        self.logged(id, (event, "AppInstance"), |s, now| {
            let a = app_mut(s, id);
            a.active = active;
            a.last_updated = now;
        });
    }

    /// Deletes an app: gone from the list for good, with its assignments.
    pub fn delete_app(&self, id: &str) {
        self.logged(
            id,
            ("application.lifecycle.delete", "AppInstance"),
            |s, _| {
                let seq = must(Kind::App, id);
                s.apps
                    .remove(&seq)
                    .unwrap_or_else(|| panic!("fake Okta: no app {id}"));
            },
        );
    }

    /// Assigns `user` to `app` directly (`scope` USER).
    pub fn assign_user(&self, app: &str, user: &str) {
        self.change(|s, now| {
            let u = must(Kind::User, user);
            assert!(s.users.contains_key(&u), "fake Okta: no user {user}");
            app_mut(s, app).users.insert(u, now);
        });
    }

    /// Removes the direct assignment (the user stays an app user if a group still assigns it).
    pub fn unassign_user(&self, app: &str, user: &str) {
        self.change(|s, _| {
            app_mut(s, app).users.remove(&must(Kind::User, user));
        });
    }

    /// Assigns `group` to `app`: its members become app users with `scope` GROUP.
    pub fn assign_group(&self, app: &str, group: &str) {
        self.change(|s, now| {
            let g = must(Kind::Group, group);
            assert!(s.groups.contains_key(&g), "fake Okta: no group {group}");
            app_mut(s, app).groups.insert(g, now);
        });
    }

    /// Removes a group's assignment to an app.
    pub fn unassign_group(&self, app: &str, group: &str) {
        self.change(|s, _| {
            app_mut(s, app).groups.remove(&must(Kind::Group, group));
        });
    }

    /// Gives `user` the admin role `role_type` (`SUPER_ADMIN`, `READ_ONLY_ADMIN`, ...);
    /// returns the role assignment's id.
    pub fn grant_user_role(&self, user: &str, role_type: &str) -> String {
        self.change(|s, now| {
            let seq = s.next_seq();
            user_mut(s, user).roles.push(RoleAssignment {
                seq,
                role_type: role_type.into(),
                created: now,
            });
            id_of(Kind::Role, seq)
        })
    }

    /// Gives `group` the admin role `role_type`; returns the role assignment's id.
    pub fn grant_group_role(&self, group: &str, role_type: &str) -> String {
        self.change(|s, now| {
            let seq = s.next_seq();
            group_mut(s, group).roles.push(RoleAssignment {
                seq,
                role_type: role_type.into(),
                created: now,
            });
            id_of(Kind::Role, seq)
        })
    }

    /// Removes a role assignment from whoever holds it.
    pub fn revoke_role(&self, assignment: &str) {
        self.change(|s, _| {
            let seq = must(Kind::Role, assignment);
            for roles in s
                .users
                .values_mut()
                .map(|u| &mut u.roles)
                .chain(s.groups.values_mut().map(|g| &mut g.roles))
            {
                roles.retain(|r| r.seq != seq);
            }
        });
    }
}
