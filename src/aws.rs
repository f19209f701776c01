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

/// An object's bytes. Errors are the SDK's, with their context, for the caller to wrap.
pub async fn get_object_bytes(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, String> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())?;
    let bytes = out.body.collect().await.map_err(|e| e.to_string())?;
    Ok(bytes.into_bytes().to_vec())
}

/// Every object under `prefix`: key and last-modified time (Unix seconds), in key order.
pub async fn list_objects(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<(String, i64)>, String> {
    let mut objects = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())?;
        objects.extend(page.contents().iter().filter_map(|o| {
            Some((
                o.key()?.to_owned(),
                o.last_modified().map_or(0, |t| t.secs()),
            ))
        }));
    }
    Ok(objects)
}
