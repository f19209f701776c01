//! AWS clients built once per container from the standard environment.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

/// Connecting to an AWS endpoint: far longer than a healthy one ever takes.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One attempt of an AWS call.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// One AWS call, its retries included. Callers bound it further by the time they have.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(12);

/// AWS configuration from the Lambda environment (or `AWS_*` variables locally), with
/// timeouts: an endpoint that accepts the connection and never answers must not hold the
/// function (the SDK's defaults wait without limit).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// An S3 client. With a custom endpoint (`AWS_ENDPOINT_URL`, as for moto, MinIO or
/// LocalStack) it uses path-style addressing, which those emulators need.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom_endpoint = config.endpoint_url().is_some();
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(custom_endpoint)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// A Secrets Manager client.
pub fn secrets_client(config: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// A DynamoDB client. Its requests and answers are a few kilobytes, bounded by the attempt
/// and operation timeouts above, so the SDK's stalled-stream check (a timer polled with
/// every chunk of every body, about 3% of okta-push's CPU in `perf`) is off.
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(config)
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(dynamodb)
}

/// The state bucket `bucket` and the delivery ledger: claims in `table` when one is set,
/// else objects in the bucket.
pub fn state(
    config: &aws_config::SdkConfig,
    bucket: &str,
    table: Option<&str>,
) -> (
    std::sync::Arc<dyn crate::state::ObjectStore>,
    std::sync::Arc<crate::state::Ledger>,
) {
    let store: std::sync::Arc<dyn crate::state::ObjectStore> = std::sync::Arc::new(
        crate::state::S3ObjectStore::new(s3_client(config), bucket.to_owned()),
    );
    let ledger = match table {
        Some(table) => crate::state::Ledger::table(crate::state::DynamoClaims::new(
            dynamodb_client(config),
            table.to_owned(),
        )),
        None => crate::state::Ledger::new(store.clone()),
    };
    (store, std::sync::Arc::new(ledger))
}
