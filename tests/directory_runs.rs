//! The directory runs through the pull handler: the real HTTP client against the fake Okta's
//! directory, records through the one pipeline. A snapshot sends every object once with its
//! run records; a changes run sends exactly what changed; the next snapshot reports what
//! disappeared, once; nothing is sent twice, whatever runs overlap.

mod support;

use okta_ingest_testkit::fake_okta::UserStatus;
use support::directory::{count, dir, dir_rig, headers, tally};

#[tokio::test]
async fn a_snapshot_sends_every_object_once_between_its_run_records() {
    let rig = dir_rig(&[("OKTA_ORG_LABEL", "acme")]).await;
    let org = rig.okta.populate(30, 4, 3, 5, 4);
    let gone = rig
        .okta
        .add_user_with_status("left@example.com", UserStatus::Deprovisioned);
    rig.okta.assign_group(&org.apps[0], &org.groups[0]);
    rig.okta.grant_user_role(&org.users[0], "SUPER_ADMIN");
    rig.okta.grant_group_role(&org.groups[1], "READ_ONLY_ADMIN");

    let summary = rig.run("full", "full-1").await.unwrap();
    let d = dir(&summary);
    assert!(d.completed && d.snapshot_completed, "{d:?}");
    let records = rig.records();
    let t = tally(&records);
    assert_eq!(
        count(&t, "user", "snapshot"),
        31,
        "DEPROVISIONED users too: {t:?}"
    );
    assert_eq!(count(&t, "group", "snapshot"), 4);
    assert_eq!(count(&t, "group_member", "snapshot"), 20);
    assert_eq!(count(&t, "app", "snapshot"), 3);
    // Each app's direct users, and (scope GROUP) the members of its assigned group.
    let app_users: Vec<&str> = records
        .iter()
        .filter(|r| r["okta_directory"]["kind"] == "app_user")
        .map(|r| r["okta_directory"]["id"].as_str().unwrap())
        .collect();
    assert!(app_users.len() >= 12, "{app_users:?}");
    for (_, _, pair) in headers(&records).iter().filter(|x| x.0 == "group_member") {
        if let Some(user) = pair.strip_prefix(&format!("{}/", org.groups[0])) {
            assert!(
                app_users.contains(&format!("{}/{user}", org.apps[0]).as_str()),
                "{user}"
            );
        }
    }
    assert_eq!(count(&t, "app_group", "snapshot"), 3, "one group per app");
    assert_eq!(
        count(&t, "admin_role", "snapshot"),
        3,
        "two of a user's and a group's: {t:?}"
    );
    let h = headers(&records);
    assert_eq!(
        h.first().map(|x| (x.0.as_str(), x.1.as_str())),
        Some(("run", "started"))
    );
    assert_eq!(
        h.last().map(|x| (x.0.as_str(), x.1.as_str())),
        Some(("run", "completed"))
    );
    let mut ids: Vec<&(String, String, String)> = h.iter().filter(|x| x.0 != "run").collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no object twice");
    assert!(h.iter().any(|x| x.0 == "user" && x.2 == gone));
    assert!(h
        .iter()
        .any(|x| x.0 == "group_member" && x.2 == format!("{}/{}", org.groups[0], org.users[0])));
    // Every record names its org and run; the object is Okta's, without credentials.
    let run = records[0]["okta_directory"]["run"]
        .as_str()
        .unwrap()
        .to_owned();
    for r in &records {
        assert_eq!(r["okta_directory"]["run"], run.as_str());
        assert_eq!(
            r["okta_directory"]["org"], "acme",
            "OKTA_ORG_LABEL, as the events name it: {r}"
        );
        assert!(r["okta_directory"]["observed"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
        assert!(!r.to_string().contains("\"credentials\""), "{r}");
    }
    let completed = &records.last().unwrap()["okta_directory"]["detail"];
    assert_eq!(completed["objects"]["user"], 31, "{completed}");
    assert_eq!(d.kind_counts["user"], 31);

    // Not due again for a day: nothing read, nothing sent.
    let before = rig.okta.requests().len();
    let again = rig.run("full", "full-2").await.unwrap();
    assert!(dir(&again).stopped.contains("not due"), "{:?}", dir(&again));
    assert_eq!(rig.records().len(), records.len());
    assert_eq!(rig.okta.requests().len(), before);
}

#[tokio::test]
async fn a_changes_run_sends_exactly_the_edits_memberships_and_deletions_once() {
    let rig = dir_rig(&[]).await;
    // The org was built ten minutes ago; the snapshot sends it, the changes run leaves it.
    let now = time::OffsetDateTime::now_utc();
    rig.okta
        .set_directory_clock(now - time::Duration::minutes(10));
    let org = rig.okta.populate(20, 3, 2, 4, 2);
    rig.run("full", "full-1").await.unwrap();
    let first = rig.records().len();
    rig.okta
        .set_directory_clock(time::OffsetDateTime::now_utc());
    rig.okta.update_user(&org.users[5], "department", "Finance");
    rig.okta.update_user(&org.users[6], "firstName", "Ada");
    rig.okta.deactivate_user(&org.users[7]);
    let joiner = rig.okta.add_user("joiner@example.com");
    rig.okta.add_member(&org.groups[0], &joiner);
    rig.okta.remove_member(&org.groups[1], &org.users[4]);
    rig.okta
        .update_group(&org.groups[2], "renamed", "now with a description");
    rig.okta.delete_user(&org.users[19]);
    rig.okta.delete_app(&org.apps[1]);
    let new_app = rig.okta.add_app("New app");

    let summary = rig.run("changes", "changes-1").await.unwrap();
    assert!(dir(&summary).completed, "{:?}", dir(&summary));
    let changes = rig.records()[first..].to_vec();
    let mut got: Vec<(String, String, String)> = headers(&changes);
    got.sort();
    let member = |g: &str, u: &str| format!("{g}/{u}");
    let mut expected: Vec<(String, String, String)> = vec![
        ("user".into(), "changed".into(), org.users[5].clone()),
        ("user".into(), "changed".into(), org.users[6].clone()),
        ("user".into(), "changed".into(), org.users[7].clone()),
        ("user".into(), "changed".into(), joiner.clone()),
        ("group".into(), "changed".into(), org.groups[2].clone()),
        (
            "group_member".into(),
            "changed".into(),
            member(&org.groups[0], &joiner),
        ),
        (
            "group_member".into(),
            "deleted".into(),
            member(&org.groups[1], &org.users[4]),
        ),
        ("user".into(), "deleted".into(), org.users[19].clone()),
        ("app".into(), "deleted".into(), org.apps[1].clone()),
        ("app".into(), "changed".into(), new_app.clone()),
    ];
    // The deleted user was a member of the groups that held it.
    for (g, group) in org.groups.iter().enumerate() {
        let held = (0..4).any(|k| (g * 4 + k) % 20 == 19);
        if held {
            expected.push((
                "group_member".into(),
                "deleted".into(),
                member(group, &org.users[19]),
            ));
        }
    }
    expected.sort();
    assert_eq!(got, expected);
    let deprovisioned = changes
        .iter()
        .find(|r| r["okta_directory"]["id"] == org.users[7].as_str())
        .unwrap();
    assert_eq!(deprovisioned["object"]["status"], "DEPROVISIONED");

    // Read again (the next run overlaps by five minutes): nothing new.
    let again = rig.run("changes", "changes-2").await.unwrap();
    assert_eq!(
        rig.records().len(),
        first + changes.len(),
        "{:?}",
        dir(&again)
    );

    // The next snapshot sends everything again as snapshot, and no deletion a second time:
    // only the deleted app's assignments, which changes runs do not follow.
    rig.age_snapshot(25).await;
    rig.run("full", "full-2").await.unwrap();
    let last = rig.records()[first + changes.len()..].to_vec();
    let t = tally(&last);
    assert_eq!(count(&t, "user", "snapshot"), 20, "{t:?}");
    let deleted: Vec<(String, String, String)> = headers(&last)
        .into_iter()
        .filter(|(_, a, _)| a == "deleted")
        .collect();
    assert!(!deleted.is_empty());
    for (kind, _, id) in &deleted {
        assert!(
            (kind == "app_user" || kind == "app_group")
                && id.starts_with(&format!("{}/", org.apps[1])),
            "reported once already, by the changes run: {deleted:?}"
        );
    }
}

#[tokio::test]
async fn the_next_snapshot_reports_what_disappeared_since_the_last_once() {
    let rig = dir_rig(&[]).await;
    let org = rig.okta.populate(10, 2, 2, 3, 2);
    rig.okta.grant_user_role(&org.users[1], "ORG_ADMIN");
    let assignment = rig.okta.grant_user_role(&org.users[2], "HELP_DESK_ADMIN");
    rig.run("full", "full-1").await.unwrap();
    let first = rig.records().len();
    // Gone without any changes run in between.
    rig.okta.remove_member(&org.groups[0], &org.users[0]);
    rig.okta.unassign_user(&org.apps[0], &org.users[0]);
    rig.okta.delete_group(&org.groups[1]);
    rig.okta.revoke_role(&assignment);
    rig.age_snapshot(25).await;
    let summary = rig.run("full", "full-2").await.unwrap();
    assert!(dir(&summary).snapshot_completed);
    let second = rig.records()[first..].to_vec();
    let mut deleted: Vec<(String, String)> = headers(&second)
        .into_iter()
        .filter(|(_, a, _)| a == "deleted")
        .map(|(k, _, id)| (k, id))
        .collect();
    deleted.sort();
    let mut expected = vec![
        (
            "group_member".to_string(),
            format!("{}/{}", org.groups[0], org.users[0]),
        ),
        (
            "app_user".to_string(),
            format!("{}/{}", org.apps[0], org.users[0]),
        ),
        ("group".to_string(), org.groups[1].clone()),
        (
            "admin_role".to_string(),
            format!("{}/{assignment}", org.users[2]),
        ),
    ];
    // The deleted group's members went with it, and its app assignment, and the app users
    // it alone gave the app (the fake's org: app 1 has users 2 and 3, and group 1: 3, 4, 5).
    for k in 3..6 {
        expected.push((
            "group_member".into(),
            format!("{}/{}", org.groups[1], org.users[k]),
        ));
    }
    expected.push((
        "app_group".into(),
        format!("{}/{}", org.apps[1], org.groups[1]),
    ));
    for k in 4..6 {
        expected.push((
            "app_user".into(),
            format!("{}/{}", org.apps[1], org.users[k]),
        ));
    }
    expected.sort();
    assert_eq!(deleted, expected);
    assert_eq!(dir(&summary).deleted, expected.len());

    // A third snapshot finds nothing more gone.
    rig.age_snapshot(25).await;
    rig.run("full", "full-3").await.unwrap();
    let third = rig.records()[first + second.len()..].to_vec();
    assert!(headers(&third).iter().all(|(_, a, _)| a != "deleted"));
}

#[tokio::test]
async fn only_the_allowed_profile_attributes_leave() {
    let rig = dir_rig(&[("DIRECTORY_USER_FIELDS", "login,department")]).await;
    let org = rig.okta.populate(3, 1, 0, 3, 0);
    rig.okta.update_user(&org.users[0], "department", "Finance");
    rig.okta
        .update_user(&org.users[0], "homeAddress", "1 Main St");
    rig.run("full", "full-1").await.unwrap();
    let records = rig.records();
    let user = records
        .iter()
        .find(|r| {
            r["okta_directory"]["kind"] == "user"
                && r["okta_directory"]["id"] == org.users[0].as_str()
        })
        .unwrap();
    let profile = user["object"]["profile"].as_object().unwrap();
    let mut names: Vec<&str> = profile.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["department", "login"]);
    assert_eq!(
        user["object"]["status"], "ACTIVE",
        "the rest of the object stays"
    );
    for r in records
        .iter()
        .filter(|r| r["okta_directory"]["kind"] == "group_member")
    {
        assert!(r["object"]["profile"].get("firstName").is_none(), "{r}");
    }
}

#[tokio::test]
async fn records_the_destination_refused_are_kept_and_replay_exactly_once() {
    use okta_ingest::{ErrorClass, PushResponse, SendError};
    let rig = dir_rig(&[]).await;
    rig.okta.populate(4, 1, 0, 2, 0);
    // The snapshot's start and its first page of users are refused for good.
    for _ in 0..2 {
        rig.destination.fail_next(SendError::Permanent {
            reason: "destination answered HTTP 400".into(),
            class: ErrorClass::Http4xx,
        });
    }
    let s = rig.run("full", "full-1").await.unwrap();
    assert!(dir(&s).snapshot_completed, "{:?}", dir(&s));
    assert_eq!(s.counts.dead_lettered, 5, "{:?}", s.counts);
    assert!(!rig.state.keys("dead-letter/directory/").is_empty());
    let before = rig.records().len();

    let push = rig.push();
    for attempt in ["replay-1", "replay-2"] {
        let response = push
            .handle_payload(r#"{"replay":{}}"#, attempt, support::handler::deadline())
            .await
            .unwrap();
        let PushResponse::Replay(summary) = response else {
            panic!("a replay summary")
        };
        let expected = if attempt == "replay-1" { 5 } else { 0 };
        assert_eq!(summary.counts.forwarded, expected, "{summary:?}");
    }
    let records = rig.records();
    assert_eq!(records.len(), before + 5);
    assert!(
        rig.state.keys("dead-letter/").is_empty(),
        "nothing left kept"
    );
    let t = tally(&records);
    assert_eq!(
        (count(&t, "run", "started"), count(&t, "user", "snapshot")),
        (1, 4)
    );
}
