//! okta-pull: scheduled catch-up from the Okta System Log API to an HTTP destination.
//!
//! `okta-pull check` runs the connection check locally with the same environment and exits
//! non-zero if anything fails.

use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use okta_ingest::config::ProcessEnv;
use okta_ingest::PullHandler;
use serde_json::value::RawValue;

/// How long the local connection check may take.
const CHECK_TIME: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> Result<(), Error> {
    okta_ingest::telemetry::logging::init();
    let handler = match PullHandler::from_env(&ProcessEnv).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "okta-pull cannot start");
            return Err(e.into());
        }
    };
    if std::env::args().nth(1).as_deref() == Some("check") {
        let report = handler
            .check(tokio::time::Instant::now() + CHECK_TIME)
            .await;
        for line in report.lines() {
            println!("{line}");
        }
        std::process::exit(if report.ok { 0 } else { 1 });
    }
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move { handler.handle(event).await },
    ))
    .await
}
