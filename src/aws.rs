//! AWS clients built once per container from the standard environment.

/// AWS configuration from the Lambda environment (or `AWS_*` variables locally).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
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
