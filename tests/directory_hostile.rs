//! The directory runs against a hostile-but-real Okta: a snapshot that does not fit one
//! invocation, two invocations at once, refused roles, a list that never ends, a cursor Okta
//! forgets, a 1 MB profile, 429s without headers, a refused credential. Each ends with what
//! was read delivered once and a clear reason for the rest.

mod support;

use std::time::Duration;

use okta_ingest_testkit::fake_okta::{DirectoryEndpoint, DirectoryFailure, DirectoryRateLimits};
use support::directory::{count, dir, dir_rig, headers, tally};
use tokio::time::Instant;

/// No record twice (run records aside).
fn assert_once(records: &[serde_json::Value]) {
    let mut h: Vec<(String, String, String)> = headers(records)
        .into_iter()
        .filter(|x| x.0 != "run")
        .collect();
    let n = h.len();
    h.sort();
    h.dedup();
    assert_eq!(h.len(), n, "a record was sent twice");
}

#[tokio::test]
async fn a_snapshot_that_does_not_fit_resumes_until_complete_within_its_rate_limits() {
    let rig = dir_rig(&[]).await;
    rig.okta.populate(450, 12, 3, 3, 2);
    // Four requests a second per bucket: a run with under a second gets a few pages only.
    rig.okta.set_directory_rate_limits(DirectoryRateLimits {
        users: 4,
        groups: 4,
        apps: 4,
        window: Duration::from_secs(1),
        ..DirectoryRateLimits::default()
    });
    let mut invocations = 0;
    loop {
        invocations += 1;
        assert!(invocations < 120, "the snapshot never completed");
        let s = rig
            .handler
            .handle_payload(
                r#"{"directory":"full"}"#,
                &format!("run-{invocations}"),
                Instant::now() + Duration::from_millis(900),
            )
            .await
            .unwrap();
        if dir(&s).snapshot_completed {
            break;
        }
        assert!(
            !dir(&s).completed && !dir(&s).stopped.is_empty(),
            "{:?}",
            dir(&s)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(invocations > 2, "it took {invocations} invocations");
    let records = rig.records();
    assert_once(&records);
    let t = tally(&records);
    assert_eq!(count(&t, "user", "snapshot"), 450);
    assert_eq!(count(&t, "group_member", "snapshot"), 36);
    assert!(
        count(&t, "app_user", "snapshot") >= 6,
        "direct, and through groups: {t:?}"
    );
    assert_eq!(count(&t, "run", "started"), 1);
    assert_eq!(count(&t, "run", "completed"), 1);
    assert_eq!(rig.okta.count_status(429), 0, "paced inside every bucket");
}

#[tokio::test]
async fn two_invocations_at_once_never_both_run_the_snapshot() {
    let rig = dir_rig(&[]).await;
    rig.okta.populate(20, 2, 1, 2, 2);
    // The first one's first page is slow: the second starts while it holds the snapshot.
    rig.okta.push_directory_failure(
        DirectoryEndpoint::Users,
        DirectoryFailure::Hang(Duration::from_millis(700)),
    );
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        rig.run("full", "run-b").await
    };
    let (a, b) = tokio::join!(rig.run("full", "run-a"), second);
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(dir(&a).snapshot_completed, "{:?}", dir(&a));
    assert!(
        dir(&b).stopped.contains("holds the snapshot"),
        "{:?}",
        dir(&b)
    );
    assert_eq!(dir(&b).pages, 0);
    assert_once(&rig.records());
}

#[tokio::test]
async fn refused_admin_roles_are_skipped_and_never_reported_deleted() {
    let rig = dir_rig(&[]).await;
    // The fake org's first user is a Super Administrator.
    rig.okta.populate(5, 1, 1, 2, 2);
    rig.run("full", "full-1").await.unwrap();
    assert_eq!(count(&tally(&rig.records()), "admin_role", "snapshot"), 1);
    let first = rig.records().len();

    rig.okta
        .set_directory_forbidden(DirectoryEndpoint::RoleAssignees, true);
    rig.age_snapshot(25).await;
    let s = rig.run("full", "full-2").await.unwrap();
    assert!(dir(&s).snapshot_completed, "{:?}", dir(&s));
    assert!(
        dir(&s).stopped.contains("without admin_role"),
        "{:?}",
        dir(&s)
    );
    let second = rig.records()[first..].to_vec();
    let t = tally(&second);
    assert_eq!(count(&t, "user", "snapshot"), 5, "the rest goes on: {t:?}");
    assert_eq!(
        count(&t, "admin_role", "deleted"),
        0,
        "not readable is not gone"
    );
    let completed = &second.last().unwrap()["okta_directory"]["detail"]["partial"][0];
    assert_eq!(completed["kind"], "admin_role");
    let reason = completed["reason"].as_str().unwrap();
    assert!(
        reason.contains("okta.roles.read") && reason.contains("Super Administrator"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_list_that_never_ends_is_cut_and_its_kind_not_compared() {
    let rig = dir_rig(&[]).await;
    let org = rig.okta.populate(6, 1, 0, 2, 0);
    rig.run("full", "full-1").await.unwrap();
    let first = rig.records().len();
    rig.okta.delete_group(&org.groups[0]);
    rig.okta
        .push_directory_failure(DirectoryEndpoint::Users, DirectoryFailure::NextSelf);
    rig.age_snapshot(25).await;
    let s = rig.run("full", "full-2").await.unwrap();
    assert!(dir(&s).snapshot_completed, "{:?}", dir(&s));
    let second = rig.records()[first..].to_vec();
    assert_once(&second);
    let t = tally(&second);
    assert_eq!(
        count(&t, "user", "snapshot"),
        6,
        "the page read is delivered"
    );
    assert_eq!(count(&t, "user", "deleted"), 0);
    assert_eq!(
        count(&t, "group", "deleted"),
        1,
        "other kinds are compared: {t:?}"
    );
    let partial = &second.last().unwrap()["okta_directory"]["detail"]["partial"];
    assert_eq!(partial[0]["kind"], "user", "{partial}");
}

#[tokio::test]
async fn a_forgotten_cursor_restarts_its_list_without_sending_twice() {
    let rig = dir_rig(&[]).await;
    rig.okta.populate(450, 1, 0, 1, 0);
    // The second users page is refused as Okta refuses a cursor it no longer knows.
    rig.okta.push_directory_failure(
        DirectoryEndpoint::Users,
        DirectoryFailure::Hang(Duration::ZERO),
    );
    rig.okta
        .push_directory_failure(DirectoryEndpoint::Users, DirectoryFailure::Status(400));
    let s = rig.run("full", "full-1").await.unwrap();
    assert!(dir(&s).snapshot_completed, "{:?}", dir(&s));
    let records = rig.records();
    assert_once(&records);
    assert_eq!(count(&tally(&records), "user", "snapshot"), 450);
    assert_eq!(
        s.counts.already_delivered, 200,
        "the first page, read again: {:?}",
        s.counts
    );
}

#[tokio::test]
async fn a_huge_profile_a_bare_429_and_a_deleted_parent_lose_nothing() {
    let rig = dir_rig(&[]).await;
    let org = rig.okta.populate(5, 2, 1, 2, 1);
    rig.okta
        .push_directory_failure(DirectoryEndpoint::Users, DirectoryFailure::HugeProfile);
    rig.okta.push_directory_failure(
        DirectoryEndpoint::Groups,
        DirectoryFailure::TooManyRequestsBare,
    );
    // A group gone between its listing and its members' (404 on its members).
    rig.okta
        .push_directory_failure(DirectoryEndpoint::GroupUsers, DirectoryFailure::Status(404));
    let s = rig.run("full", "full-1").await.unwrap();
    let d = dir(&s);
    assert!(d.snapshot_completed, "{d:?}");
    assert_eq!(d.okta_429, 1);
    let records = rig.records();
    let huge = records
        .iter()
        .find(|r| r["okta_directory"]["id"] == org.users[0].as_str())
        .expect("the user with 1 MB of profile is delivered");
    assert!(huge["object"].to_string().len() > 1_000_000);
    assert_eq!(
        count(&tally(&records), "group_member", "snapshot"),
        2,
        "the other group's members"
    );
}

#[tokio::test]
async fn a_refused_credential_fails_the_run_by_name_and_the_next_one_resumes() {
    let rig = dir_rig(&[]).await;
    rig.okta.populate(5, 1, 0, 1, 0);
    rig.okta
        .set_directory_forbidden(DirectoryEndpoint::Groups, true);
    let e = rig.run("full", "full-1").await.unwrap_err();
    assert!(e.contains("okta.groups.read"), "{e}");
    let users = count(&tally(&rig.records()), "user", "snapshot");
    assert_eq!(users, 5, "what was read before is delivered");
    rig.okta
        .set_directory_forbidden(DirectoryEndpoint::Groups, false);
    let s = rig.run("full", "full-2").await.unwrap();
    assert!(dir(&s).snapshot_completed, "{:?}", dir(&s));
    let records = rig.records();
    assert_once(&records);
    assert_eq!(count(&tally(&records), "group", "snapshot"), 1);
    assert_eq!(
        count(&tally(&records), "run", "started"),
        1,
        "the same snapshot, resumed"
    );
}

#[tokio::test]
async fn a_ledger_that_cannot_decide_stops_the_snapshot_and_it_resumes_without_repeats() {
    use okta_ingest::{LedgerFault, MemoryLedger, TroubleKind};
    use std::sync::Arc;
    let ledger = MemoryLedger::default();
    let rig = support::directory::dir_rig_with_ledger(Arc::new(ledger.sharing())).await;
    rig.okta.populate(450, 2, 1, 3, 2);
    // The table is refused to this function once: the first page's records are undecided.
    rig.run("full", "full-0").await.unwrap();
    let first = rig.records().len();
    ledger.script([LedgerFault::Claims(TroubleKind::Misconfigured)]);
    rig.age_snapshot(25).await;
    let s = rig.run("full", "full-1").await.unwrap();
    let d = dir(&s);
    assert!(
        !d.completed && d.stopped.contains("next invocation"),
        "{d:?}"
    );
    assert!(s.counts.ledger_undecided > 0, "{:?}", s.counts);
    assert_eq!(rig.records().len(), first, "nothing sent on a guess");
    let s = rig.run("full", "full-2").await.unwrap();
    assert!(dir(&s).snapshot_completed, "{:?}", dir(&s));
    let second = rig.records()[first..].to_vec();
    assert_once(&second);
    assert_eq!(count(&tally(&second), "user", "snapshot"), 450);
    assert_eq!(count(&tally(&second), "run", "started"), 1);
}

#[tokio::test]
async fn an_object_deleted_between_two_pages_loses_no_other() {
    let rig = dir_rig(&[]).await;
    let org = rig.okta.populate(450, 1, 0, 1, 0);
    // The second users page is slow; meanwhile a user of the first page and one of the
    // third are deleted.
    rig.okta.push_directory_failure(
        DirectoryEndpoint::Users,
        DirectoryFailure::Hang(Duration::ZERO),
    );
    rig.okta.push_directory_failure(
        DirectoryEndpoint::Users,
        DirectoryFailure::Hang(Duration::from_secs(2)),
    );
    let (early, late) = (org.users[10].clone(), org.users[420].clone());
    let delete = async {
        // Once the second page is asked for (and hangs), the first is read.
        while rig.okta.count_directory_requests(DirectoryEndpoint::Users) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        rig.okta.delete_user(&early);
        rig.okta.delete_user(&late);
    };
    let (s, ()) = tokio::join!(rig.run("full", "full-1"), delete);
    assert!(dir(&s.unwrap()).snapshot_completed);
    let records = rig.records();
    assert_once(&records);
    let users: Vec<String> = headers(&records)
        .into_iter()
        .filter(|(k, a, _)| k == "user" && a == "snapshot")
        .map(|(_, _, id)| id)
        .collect();
    assert!(users.contains(&early), "read before it was deleted");
    assert!(!users.contains(&late), "deleted before its page was read");
    let expected: Vec<&String> = org.users.iter().filter(|u| **u != late).collect();
    assert_eq!(users.len(), expected.len(), "every other user, once");
    assert!(expected.iter().all(|u| users.contains(u)));
}

#[tokio::test]
async fn a_state_bucket_that_fails_fails_the_run_by_name_and_loses_nothing() {
    use std::sync::atomic::Ordering;
    let rig = dir_rig(&[]).await;
    rig.okta.populate(5, 1, 0, 1, 0);
    rig.state.fail.store(true, Ordering::SeqCst);
    for run in ["full", "changes"] {
        let e = rig.run(run, &format!("{run}-down")).await.unwrap_err();
        assert!(
            e.contains("okta-directory/") && e.contains("unavailable"),
            "{e}"
        );
    }
    assert!(
        rig.records().is_empty(),
        "nothing sent without a checkpoint to resume from"
    );
    rig.state.fail.store(false, Ordering::SeqCst);
    let s = rig.run("full", "full-up").await.unwrap();
    assert!(dir(&s).snapshot_completed, "{:?}", dir(&s));
    assert_eq!(count(&tally(&rig.records()), "user", "snapshot"), 5);
}
