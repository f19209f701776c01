//! AWS clients built once per container from the standard environment.

use std::time::Duration;

use std::sync::Arc;

use aws_config::timeout::TimeoutConfig;

use crate::state::{DynamoLedger, Ledger, ObjectLedger, ObjectStore, PendingMarks, S3ObjectStore};

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
/// every chunk of every body, about 3% of okta-push's CPU in `perf`) is off. The ledger
/// retries throttling, conflicts and failures itself, with jitter, within the invocation's
/// time and per item (`state::ledger`), so the SDK makes one attempt: its own retries would
/// hide a throttle behind a timeout and spend the time the ledger has.
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(config)
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        )
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(dynamodb)
}

/// The state bucket `bucket` and the delivery ledger: claims in `table` when one is set
/// (with its pending marks in the bucket), else objects in the bucket.
pub fn state(
    config: &aws_config::SdkConfig,
    bucket: &str,
    table: Option<&str>,
) -> (Arc<dyn ObjectStore>, Arc<dyn Ledger>) {
    let store: Arc<dyn ObjectStore> =
        Arc::new(S3ObjectStore::new(s3_client(config), bucket.to_owned()));
    let ledger: Arc<dyn Ledger> = match table {
        Some(table) => Arc::new(DynamoLedger::new(
            dynamodb_client(config),
            table.to_owned(),
            Some(PendingMarks::new(store.clone())),
        )),
        None => Arc::new(ObjectLedger::new(store.clone())),
    };
    (store, ledger)
}
