//! The real okta-pull binary driven by an operator: a manual backfill, and the connection
//! check (System Log, directory, destination, state) through the Runtime API and locally as
//! `okta-pull check`.

use okta_ingest_testkit::binary_path;
use okta_ingest_testkit::destination::Behaviour;
use okta_ingest_testkit::fake_okta::DirectoryEndpoint;
use okta_ingest_testkit::runtime_api::Invocation;
use serde_json::Value;

mod support;

use support::pull::*;
use support::BUCKET;

#[tokio::test]
async fn a_manual_backfill_sends_its_window_once_and_leaves_the_checkpoint_alone() {
    let org = Org::start(&[("MAX_EVENT_AGE_SECONDS", "0")]).await;
    let start = minutes_ago(24 * 60);
    let uuids = org.okta.add_events(30, start, time::Duration::minutes(1));
    let c = org.container().await;
    let since =
        okta_ingest_testkit::okta_events::rfc3339_millis(start + time::Duration::minutes(10));
    let until =
        okta_ingest_testkit::okta_events::rfc3339_millis(start + time::Duration::minutes(20));
    let payload = format!(r#"{{"since":"{since}","until":"{until}"}}"#);
    let summary = c.run(&payload, T).await.response();
    assert_eq!(
        (summary["mode"].as_str(), summary["forwarded"].as_u64()),
        (Some("backfill"), Some(10)),
        "{summary}"
    );
    let delivered = org.delivered();
    assert!(uuids[10..20].iter().all(|u| delivered.get(u) == Some(&1)));
    assert!(
        org.checkpoint().await.is_none(),
        "a backfill never touches the checkpoint"
    );
    let bad = c
        .run(r#"{"since":"yesterday","until":"2026-11-22T00:00:00Z"}"#, T)
        .await;
    assert!(
        matches!(bad, Invocation::Error { ref error_message, .. } if error_message.contains("RFC 3339")),
        "{bad:?}"
    );
}

#[tokio::test]
async fn the_connection_check_says_what_works_and_what_to_fix() {
    let org = Org::start(&[]).await;
    org.okta
        .add_events(2, minutes_ago(1), time::Duration::seconds(1));
    let c = org.container().await;
    let report = c.run(r#"{"check":true}"#, T).await.response();
    assert_eq!(report["ok"], true, "{report}");
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(
        checks
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [
            "okta",
            "okta directory",
            "destination",
            "state bucket",
            "delivery ledger"
        ]
    );
    assert!(
        checks[0]["detail"]
            .as_str()
            .unwrap()
            .contains("reads the System Log"),
        "{report}"
    );
    let directory = checks[1]["detail"].as_str().unwrap();
    for list in [
        "/api/v1/users",
        "/api/v1/groups",
        "/api/v1/apps",
        "/api/v1/iam/assignees/users",
    ] {
        assert!(directory.contains(list), "{list} not in {directory}");
    }
    for endpoint in [
        DirectoryEndpoint::Users,
        DirectoryEndpoint::Groups,
        DirectoryEndpoint::Apps,
        DirectoryEndpoint::RoleAssignees,
    ] {
        assert_eq!(
            org.okta.count_directory_requests(endpoint),
            1,
            "one request to {endpoint:?}"
        );
    }
    let test_event: Value =
        serde_json::from_str(&org.destination.accepted()[0].json_array_items()[0]).unwrap();
    assert_eq!(test_event["eventType"], "okta-ingest.connection_check");
    assert!(org.checkpoint().await.is_none(), "a check is not a run");

    // A revoked token and a destination refusing the credential, in words an operator can act on.
    org.okta.set_tokens(&["another-token"]);
    org.destination.set_default(Behaviour::Status(401));
    let report = c.run(r#"{"check":true}"#, T).await.response();
    assert_eq!(report["ok"], false);
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks[0]["detail"].as_str().unwrap().contains("expired"),
        "{report}"
    );
    let directory = checks[1]["detail"].as_str().unwrap();
    assert!(
        directory.contains("reads none of the directory")
            && directory.contains("not users, groups, apps, admin role assignments: ")
            && directory.matches("expired").count() == 1,
        "one refusal said once: {directory}"
    );
    assert!(
        checks[2]["detail"]
            .as_str()
            .unwrap()
            .contains("credential was refused"),
        "{report}"
    );
    assert_eq!(checks[3]["ok"], true);
    org.assert_no_token_anywhere(&[&c]).await;
}

#[tokio::test]
async fn the_connection_check_names_a_ledger_table_that_does_not_exist() {
    // GIVEN a function whose LEDGER_TABLE names a table no one created (a typo)
    let org = Org::start(&[("LEDGER_TABLE", "okta-ingest-ledgr")]).await;
    let c = org.container().await;
    // WHEN the operator runs the connection check
    let report = c.run(r#"{"check":true}"#, T).await.response();
    // THEN it fails on the ledger, naming the table, the region and what to check
    assert_eq!(report["ok"], false, "{report}");
    let ledger = &report["checks"][4];
    assert_eq!(ledger["name"], "delivery ledger", "{report}");
    assert_eq!(ledger["ok"], false, "{report}");
    let detail = ledger["detail"].as_str().unwrap();
    for words in [
        "table okta-ingest-ledgr (region us-east-1)",
        "does not exist",
        "check LEDGER_TABLE",
    ] {
        assert!(detail.contains(words), "{words:?} not in {detail}");
    }
}

#[tokio::test]
async fn the_connection_check_names_the_role_the_directory_lacks_and_checks_the_rest() {
    // GIVEN a credential that reads the System Log, users, groups and apps, but not the
    // admin role assignments (a Read-only Administrator)
    let org = Org::start(&[]).await;
    org.okta
        .add_events(2, minutes_ago(1), time::Duration::seconds(1));
    org.okta
        .set_directory_forbidden(DirectoryEndpoint::RoleAssignees, true);
    let c = org.container().await;
    // WHEN the operator runs the connection check
    let report = c.run(r#"{"check":true}"#, T).await.response();
    // THEN the directory line fails naming the scope and the role, says what it does read,
    // and every other check still ran and passed
    assert_eq!(report["ok"], false, "{report}");
    let checks = report["checks"].as_array().unwrap();
    let directory = &checks[1];
    assert_eq!(
        (&directory["name"], &directory["ok"]),
        (&Value::from("okta directory"), &Value::from(false)),
        "{report}"
    );
    let detail = directory["detail"].as_str().unwrap();
    for words in [
        "users (/api/v1/users), groups (/api/v1/groups), apps (/api/v1/apps)",
        "not admin role assignments",
        "/api/v1/iam/assignees/users",
        "HTTP 403",
        "okta.roles.read",
        "Super Administrator",
        "without admin_role records",
    ] {
        assert!(detail.contains(words), "{words:?} not in {detail}");
    }
    assert!(
        checks[0]["detail"]
            .as_str()
            .unwrap()
            .contains("reads the System Log"),
        "{report}"
    );
    for (i, check) in checks.iter().enumerate().filter(|(i, _)| *i != 1) {
        assert_eq!(check["ok"], true, "check {i}: {report}");
    }
}

#[tokio::test]
async fn the_connection_check_runs_locally_as_okta_pull_check() {
    let org = Org::start(&[]).await;
    org.okta.set_forbidden(true);
    let mut env = org.moto.function_env();
    env.extend(
        [
            ("OKTA_DOMAIN", org.okta.base_url()),
            ("ALLOW_INSECURE_HTTP", "true".into()),
            ("OKTA_TOKEN_SECRET_ARN", org.secret_arn.clone()),
            ("STATE_BUCKET", BUCKET.into()),
            ("DESTINATION_URL", org.destination.url()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let output = tokio::process::Command::new(binary_path("okta-pull"))
        .arg("check")
        .env_clear()
        .envs(env)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed check exits 1:\n{stdout}"
    );
    assert!(
        stdout.contains("FAIL okta:") && stdout.contains("Read-Only Administrator"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK   destination:") && stdout.contains("OK   state bucket:"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN) && !String::from_utf8_lossy(&output.stderr).contains(TOKEN));
}

#[tokio::test]
async fn a_stack_without_the_directory_refuses_its_runs_and_checks_without_it() {
    let org = Org::start(&[("DIRECTORY_ENABLED", "false")]).await;
    org.okta.populate(3, 1, 0, 1, 0);
    let c = org.container().await;
    let refused = c.run(r#"{"directory":"full"}"#, T).await;
    assert!(
        matches!(refused, Invocation::Error { ref error_type, ref error_message, .. }
            if error_type == "OktaIngest.BadRequest" && error_message.contains("DIRECTORY_ENABLED")),
        "{refused:?}"
    );
    let report = c.run(r#"{"check":true}"#, T).await.response();
    assert_eq!(
        report["ok"], true,
        "a System Log credential is enough: {report}"
    );
    let directory = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "okta directory")
        .unwrap();
    assert!(
        directory["detail"]
            .as_str()
            .unwrap()
            .contains("not configured"),
        "{directory}"
    );
    let users = okta_ingest_testkit::fake_okta::DirectoryEndpoint::Users;
    assert_eq!(org.okta.count_directory_requests(users), 0);
}
