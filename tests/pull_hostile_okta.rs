//! The pull handler in process against an Okta that misbehaves: a System Log page over the
//! byte cap, DPoP nonces rotated around 5xx answers at the token endpoint and at the logs.

mod support;

use okta_ingest::{FetchError, PullError};
use okta_ingest_testkit::fake_okta::{Failure, OAuthSettings, TokenFailure};
use okta_ingest_testkit::oauth_keys::ec_key;
use okta_ingest_testkit::FakeOkta;
use serde_json::json;
use support::handler::{deadline, delivered, minutes_ago, rig, rig_with_secret, Rig};

/// More than the reader's 32 MiB page cap.
const OVER_THE_PAGE_CAP: usize = 33 * 1024 * 1024;

#[tokio::test]
async fn a_page_over_the_byte_cap_fails_the_run_and_leaves_the_checkpoint_where_it_was() {
    // GIVEN a run that caught up, then new events whose page goes on past the cap
    let rig = rig(&[]).await;
    rig.okta
        .add_events(2, minutes_ago(30), time::Duration::seconds(1));
    rig.handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();
    let before = rig.checkpoints.load().await.unwrap().unwrap().checkpoint;
    let late = rig
        .okta
        .add_events(2, minutes_ago(20), time::Duration::seconds(1));
    rig.okta
        .push_failure(Failure::OversizedPage(OVER_THE_PAGE_CAP));
    let sent_before = delivered(&rig.destination).len();

    // WHEN the next run reads that page
    let err = rig
        .handler
        .handle_payload("{}", "run-2", deadline())
        .await
        .unwrap_err();

    // THEN the run fails naming the cap and the page (without its query), handles nothing of
    // it, and the checkpoint still points at it
    assert!(
        matches!(err, PullError::Okta(FetchError::PageTooLarge { .. })),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("more than 32 MiB"), "{message}");
    assert!(message.contains("/api/v1/logs"), "{message}");
    assert!(!message.contains("after="), "no query: {message}");
    let after = rig.checkpoints.load().await.unwrap().unwrap().checkpoint;
    assert_eq!(
        (&after.next, &after.handled_at_next),
        (&before.next, &before.handled_at_next)
    );
    assert_eq!(delivered(&rig.destination).len(), sent_before);
    assert!(rig.dead_letters.objects_under("dead-letter/").is_empty());
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "OktaIngest.OktaPageTooLarge");

    // AND the next run reads the same page again, whole this time
    let summary = rig
        .handler
        .handle_payload("{}", "run-3", deadline())
        .await
        .unwrap();
    assert_eq!(summary.counts.forwarded, late.len(), "{summary:?}");
}

#[tokio::test]
async fn a_backfill_answers_an_error_for_a_page_over_the_byte_cap() {
    // GIVEN a window whose first page goes on past the cap
    let rig = rig(&[]).await;
    rig.okta
        .add_events(2, minutes_ago(30), time::Duration::seconds(1));
    rig.okta
        .push_failure(Failure::OversizedPage(OVER_THE_PAGE_CAP));
    let rfc3339 = okta_ingest_testkit::okta_events::rfc3339_millis;
    let payload = format!(
        r#"{{"since":"{}","until":"{}"}}"#,
        rfc3339(minutes_ago(60)),
        rfc3339(minutes_ago(10))
    );

    // WHEN a backfill reads it
    let err = rig
        .handler
        .handle_payload(&payload, "backfill-1", deadline())
        .await
        .unwrap_err();

    // THEN it answers the error, and nothing of the page was sent
    assert!(
        matches!(err, PullError::Okta(FetchError::PageTooLarge { .. })),
        "{err}"
    );
    assert!(delivered(&rig.destination).is_empty());
}

const CLIENT: &str = "0oa1testserviceapp";

/// A handler reading the fake Okta as a DPoP service app, with `settings` on the fake's
/// authorization server, and three events to read.
async fn service_app_rig(settings: OAuthSettings) -> Rig {
    let okta = FakeOkta::start().await;
    let key = ec_key();
    okta.register_client(CLIENT, &key.public_jwk);
    okta.set_oauth(settings);
    okta.add_events(3, minutes_ago(30), time::Duration::seconds(1));
    let secret = json!({ "client_id": CLIENT, "private_key": key.pkcs8_pem }).to_string();
    rig_with_secret(okta, &secret, &[])
}

#[tokio::test]
async fn a_token_nonce_challenge_after_a_503_is_answered_once_more_with_the_new_nonce() {
    // GIVEN a token endpoint that asks for a nonce, is briefly unavailable, then asks for a
    // new nonce (rotated meanwhile)
    let rig = service_app_rig(OAuthSettings::default()).await;
    rig.okta.push_token_failure(TokenFailure::NewNonce);
    rig.okta.push_token_failure(TokenFailure::Status(503));
    rig.okta.push_token_failure(TokenFailure::NewNonce);

    // WHEN a run reads the log
    let summary = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();

    // THEN each challenge was answered with its nonce, and the run read everything
    let answered: Vec<(u16, Option<String>)> = rig
        .okta
        .token_requests()
        .into_iter()
        .map(|r| (r.status, r.error))
        .collect();
    let nonce = Some("use_dpop_nonce".to_owned());
    assert_eq!(
        answered,
        [
            (400, nonce.clone()),
            (503, Some("server_error".to_owned())),
            (400, nonce),
            (200, None)
        ]
    );
    assert_eq!(summary.counts.forwarded, 3, "{summary:?}");
}

#[tokio::test]
async fn a_log_nonce_challenge_after_a_503_is_answered_once_more_with_the_new_nonce() {
    // GIVEN a System Log that asks for a nonce, answers 503, then asks for a new nonce
    let rig = service_app_rig(OAuthSettings {
        nonce_on_logs: true,
        ..OAuthSettings::default()
    })
    .await;
    rig.okta.push_failure(Failure::NewDpopNonce);
    rig.okta.push_failure(Failure::Status(503));
    rig.okta.push_failure(Failure::NewDpopNonce);

    // WHEN a run reads the log
    let summary = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap();

    // THEN the second challenge was answered like the first, and the run read everything
    let statuses: Vec<u16> = rig.okta.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses[..4], [401, 503, 401, 200], "{statuses:?}");
    assert_eq!(summary.counts.forwarded, 3, "{summary:?}");
}

#[tokio::test]
async fn two_log_nonce_challenges_in_a_row_still_stop_the_run() {
    // GIVEN a System Log that asks for a new nonce twice in a row
    let rig = service_app_rig(OAuthSettings {
        nonce_on_logs: true,
        ..OAuthSettings::default()
    })
    .await;
    rig.okta.push_failure(Failure::NewDpopNonce);
    rig.okta.push_failure(Failure::NewDpopNonce);

    // WHEN a run reads the log
    let err = rig
        .handler
        .handle_payload("{}", "run-1", deadline())
        .await
        .unwrap_err();

    // THEN it stops rather than loop, having sent nothing
    assert!(err.to_string().contains("twice in a row"), "{err}");
    assert_eq!(rig.okta.requests().len(), 2);
    assert!(delivered(&rig.destination).is_empty());
}
