//! A minimal lambda_runtime function used to test the fake Runtime API and FunctionProcess.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// Echoes the payload; `{"fail": true}` makes it return an error instead.
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    println!(
        "{}",
        json!({"level": "INFO", "message": "invoked", "request_id": context.request_id})
    );
    if payload.get("fail").and_then(Value::as_bool) == Some(true) {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "echo": payload,
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
        "greeting": std::env::var("GREETING").unwrap_or_default(),
        "leaked_aws_profile": std::env::var("AWS_PROFILE").is_ok(),
        "deadline_in_future": context.deadline > 0,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    eprintln!("echo-function starting");
    lambda_runtime::run(service_fn(handler)).await
}
