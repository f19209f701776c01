//! okta-pull: scheduled catch-up from the Okta System Log API to an HTTP destination.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use okta_ingest::config::ProcessEnv;
use okta_ingest::pull::PullHandler;
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    okta_ingest::logging::init();
    let handler = match PullHandler::from_env(&ProcessEnv).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "okta-pull cannot start");
            return Err(e.into());
        }
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move { handler.handle(event).await },
    ))
    .await
}
