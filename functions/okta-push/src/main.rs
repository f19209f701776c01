//! okta-push: Okta Log Streaming events from EventBridge (directly or through SQS) to an HTTP destination.

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{service_fn, Error, LambdaEvent, Runtime};
use okta_ingest::config::ProcessEnv;
use okta_ingest::{PushHandler, RawPayloads};

// One thread: at okta-push's memory size Lambda gives it a fraction of one vCPU, and a
// second worker only adds wake-ups between threads (`make bench`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    okta_ingest::telemetry::logging::init();
    let handler = match PushHandler::from_env(&ProcessEnv).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "okta-push cannot start");
            return Err(e.into());
        }
    };
    let handler = &handler;
    // The handler reads each payload itself, in one pass (see `RawPayloads`).
    let payloads = RawPayloads::default();
    let taken = &payloads;
    Runtime::new(service_fn(move |event: LambdaEvent<()>| async move {
        handler.handle(&taken.take(), &event.context).await
    }))
    .layer(TracingLayer::new())
    .layer(payloads.clone())
    .run()
    .await
}
