//! The Security Lake destination: a batch of OCSF lines becomes one Parquet object per class
//! and day, written into that class's custom source as its provider role.
//!
//! A retried batch writes the same keys again (the name is a digest of the objects'
//! events), so a retry after a partial write replaces what was written, never adds to it.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use futures::future::BoxFuture;

use super::layout::{batch_id, object_key};
use super::parquet::{encode_group, place, LakeObject};
use crate::config::{LakeConfig, LakeSource};
use crate::delivery::destination::{Destination, Rejected, SendError};
use crate::delivery::framing::Body;
use crate::telemetry::ErrorClass;

/// Writes batches into the custom sources of [`LakeConfig`].
pub struct LakeDestination {
    config: LakeConfig,
    /// The `region=` partition: the function's own region.
    region: String,
    /// One client per class: each custom source has its own provider role.
    clients: BTreeMap<u32, aws_sdk_s3::Client>,
}

/// An S3 client that makes one attempt per call: the pipeline's retry (`retry.rs`) paces the
/// attempts within the deadline and keeps S3's own answer (`SlowDown`, a 5xx) as the reason,
/// where the SDK's retries inside one attempt would spend its timeout on their backoff and
/// leave only "timed out" to tell.
fn lake_client(aws: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let one_attempt = aws
        .to_builder()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    crate::aws::s3_client(&one_attempt)
}

impl LakeDestination {
    /// Clients for every source: as its provider role (assumed with the external ID, the
    /// credentials refreshed by the SDK before they expire), or as the function's own role
    /// for a source without one. Refused without a region (the `region=` partition).
    pub async fn new(config: &LakeConfig, aws: &aws_config::SdkConfig) -> Result<Self, String> {
        let region = aws
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or("no AWS region for the Security Lake region= partition: set AWS_REGION")?;
        let mut clients = BTreeMap::new();
        for (class, source) in &config.sources {
            let client = match &source.role_arn {
                None => lake_client(aws),
                Some(role) => {
                    let mut provider = aws_config::sts::AssumeRoleProvider::builder(role)
                        .session_name("okta-ingest")
                        .configure(aws);
                    if let Some(id) = &config.external_id {
                        provider = provider.external_id(id);
                    }
                    let provider = provider.build().await;
                    let assumed = aws.to_builder().credentials_provider(
                        aws_sdk_s3::config::SharedCredentialsProvider::new(provider),
                    );
                    lake_client(&assumed.build())
                }
            };
            clients.insert(*class, client);
        }
        Ok(LakeDestination {
            config: config.clone(),
            region,
            clients,
        })
    }

    async fn put(
        &self,
        source: &LakeSource,
        class: u32,
        key: String,
        object: LakeObject,
    ) -> Result<(), SendError> {
        let Some(client) = self.clients.get(&class) else {
            return Err(SendError::Permanent {
                reason: format!("no client for class {class}"),
                class: ErrorClass::Credential,
            });
        };
        let sent = client
            .put_object()
            .bucket(&source.bucket)
            .key(&key)
            .content_type("application/vnd.apache.parquet")
            .body(object.bytes.into())
            .send()
            .await;
        let Err(e) = sent else { return Ok(()) };
        let status = e.raw_response().map(|r| r.status().as_u16());
        let reason = format!("s3://{}/{key}: {}", source.bucket, DisplayErrorContext(&e));
        Err(match (status, e.code()) {
            // The role may not write there, or the bucket is not there: asking again will
            // not help until the operator fixes the source.
            (Some(403), _)
            | (_, Some("AccessDenied" | "NoSuchBucket" | "InvalidAccessKeyId"))
            | (Some(404), _) => SendError::Permanent {
                reason,
                class: ErrorClass::Http4xx,
            },
            (Some(503), _) | (_, Some("SlowDown")) => SendError::Retryable {
                reason,
                retry_after: None,
                class: ErrorClass::Http429,
            },
            (Some(s), _) if s >= 500 => SendError::Retryable {
                reason,
                retry_after: None,
                class: ErrorClass::Http5xx,
            },
            (Some(s), _) if s >= 400 => SendError::Permanent {
                reason,
                class: ErrorClass::Http4xx,
            },
            // No answer: the connection, the assumed role's credentials, or time.
            _ => SendError::Retryable {
                reason,
                retry_after: None,
                class: ErrorClass::Connection,
            },
        })
    }
}

impl Destination for LakeDestination {
    fn send<'a>(
        &'a self,
        body: &'a Body,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Rejected, SendError>> {
        Box::pin(async move {
            // A line's index is its item's position in the request.
            let lines: Vec<&[u8]> = body
                .bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            // One object per class and UTC day (OCSF's one class per object; eventDay is the
            // events' own day).
            let (groups, unplaced) = place(&lines);
            let mut rejected: Rejected = unplaced
                .into_iter()
                .map(|(index, problem)| (index, format!("not an OCSF event: {problem}")))
                .collect();
            let mut writes = Vec::new();
            let mut written: Vec<&[(i64, usize)]> = Vec::new();
            for ((class, day), order) in &groups {
                let Some(source) = self.config.source(*class) else {
                    rejected.extend(order.iter().map(|&(_, index)| {
                        (index, format!("no Security Lake source for OCSF class {class}: add one to SECURITY_LAKE_SOURCES, then replay"))
                    }));
                    continue;
                };
                match encode_group(*class, *day, order, &lines) {
                    Ok(object) => {
                        let own: Vec<&[u8]> = order.iter().map(|&(_, i)| lines[i]).collect();
                        let key = object_key(
                            &source.prefix,
                            &self.region,
                            &self.config.account,
                            &object,
                            &batch_id(&own),
                        );
                        writes.push(self.put(source, *class, key, object));
                        written.push(order);
                    }
                    // Events this writer cannot put in columns are kept (the raw events in
                    // the dead letters), for a fixed writer to replay.
                    Err(e) => rejected.extend(
                        order
                            .iter()
                            .map(|&(_, index)| (index, format!("not written as Parquet: {e}"))),
                    ),
                }
            }
            let results = tokio::time::timeout(timeout, futures::future::join_all(writes))
                .await
                .map_err(|_| SendError::Retryable {
                    reason: format!(
                        "Security Lake objects not written within {} s",
                        timeout.as_secs()
                    ),
                    retry_after: None,
                    class: ErrorClass::Timeout,
                })?;
            // Any failure worth retrying retries the whole request: the objects written
            // already are written again under the same keys, replacing themselves.
            if let Some(e) = results.iter().find_map(|r| match r {
                Err(e @ SendError::Retryable { .. }) => Some(e.clone()),
                _ => None,
            }) {
                return Err(e);
            }
            // A source that refuses for good keeps its own events; the others are written.
            for (result, order) in results.into_iter().zip(written) {
                if let Err(e) = result {
                    rejected.extend(order.iter().map(|&(_, index)| (index, e.to_string())));
                }
            }
            rejected.sort_unstable_by_key(|(p, _)| *p);
            Ok(rejected)
        })
    }

    fn describe(&self) -> String {
        let buckets: std::collections::BTreeSet<&str> = self
            .config
            .sources
            .values()
            .map(|s| s.bucket.as_str())
            .collect();
        format!(
            "Security Lake ({} sources in s3://{})",
            self.config.sources.len(),
            buckets.into_iter().collect::<Vec<_>>().join(", s3://")
        )
    }
}
