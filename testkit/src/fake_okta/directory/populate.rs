//! `FakeOkta::populate`: a whole org in one call, users, groups with members, apps with
//! users and a group each, and a Super Administrator.

use super::changes::{new_app, new_group, new_user, PopulatedOrg};
use super::store::{id_of, Kind, RoleAssignment, UserStatus};
use crate::fake_okta::FakeOkta;

impl FakeOkta {
    /// Builds a large org at once, deterministically: `users` ACTIVE users
    /// (`user{n}@example.com`), `groups` groups of `members_per_group` consecutive users
    /// (wrapping), `apps` apps with `assignments_per_app` direct users each and group
    /// `a % groups` assigned to app `a`, and the first user a `SUPER_ADMIN`.
    pub fn populate(
        &self,
        users: usize,
        groups: usize,
        apps: usize,
        members_per_group: usize,
        assignments_per_app: usize,
    ) -> PopulatedOrg {
        self.change(|s, now| {
            let user_seqs: Vec<u64> = (0..users)
                .map(|_| {
                    let seq = s.next_seq();
                    s.users.insert(
                        seq,
                        new_user(&format!("user{seq}@example.com"), UserStatus::Active, now),
                    );
                    seq
                })
                .collect();
            let pick = |start: usize, k: usize| user_seqs[(start + k) % user_seqs.len()];
            let group_seqs: Vec<u64> = (0..groups)
                .map(|g| {
                    let seq = s.next_seq();
                    let mut group = new_group(&format!("group{seq}"), now);
                    if !user_seqs.is_empty() {
                        let n = members_per_group.min(users);
                        group
                            .members
                            .extend((0..n).map(|k| pick(g * members_per_group, k)));
                    }
                    s.groups.insert(seq, group);
                    seq
                })
                .collect();
            let app_seqs: Vec<u64> = (0..apps)
                .map(|a| {
                    let seq = s.next_seq();
                    let mut app = new_app(&format!("App {seq}"), now);
                    if !user_seqs.is_empty() {
                        let n = assignments_per_app.min(users);
                        app.users
                            .extend((0..n).map(|k| (pick(a * assignments_per_app, k), now)));
                    }
                    if !group_seqs.is_empty() {
                        app.groups.insert(group_seqs[a % group_seqs.len()], now);
                    }
                    s.apps.insert(seq, app);
                    seq
                })
                .collect();
            if let Some(first) = user_seqs.first() {
                let seq = s.next_seq();
                if let Some(u) = s.users.get_mut(first) {
                    u.roles.push(RoleAssignment {
                        seq,
                        role_type: "SUPER_ADMIN".into(),
                        created: now,
                    });
                }
            }
            PopulatedOrg {
                users: user_seqs.iter().map(|&q| id_of(Kind::User, q)).collect(),
                groups: group_seqs.iter().map(|&q| id_of(Kind::Group, q)).collect(),
                apps: app_seqs.iter().map(|&q| id_of(Kind::App, q)).collect(),
            }
        })
    }
}
