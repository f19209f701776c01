//! The object store in an S3 bucket, through the AWS SDK.

use aws_sdk_s3::error::DisplayErrorContext;
use futures::future::BoxFuture;
use time::OffsetDateTime;

use super::store::{Condition, Listed, Object, ObjectStore, StoreError};

/// One S3 bucket.
#[derive(Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ObjectStore {
    /// The bucket `bucket`, through `client`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3ObjectStore {
            client,
            bucket: bucket.into(),
        }
    }

    fn failed(&self, key: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Failed {
            location: self.location(key),
            message: e.to_string(),
        }
    }
}

impl ObjectStore for S3ObjectStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Object>, StoreError>> {
        Box::pin(async move {
            let out = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                    return Ok(None)
                }
                Err(e) => return Err(self.failed(key, DisplayErrorContext(&e))),
            };
            let etag = out.e_tag().unwrap_or_default().to_owned();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| self.failed(key, e))?
                .into_bytes()
                .to_vec();
            Ok(Some(Object { body, etag }))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        content_type: &'static str,
        condition: Condition<'a>,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            let mut put = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(body.into());
            put = match condition {
                Condition::None => put,
                Condition::IfAbsent => put.if_none_match("*"),
                Condition::IfMatch(etag) => put.if_match(etag),
            };
            match put.send().await {
                Ok(out) => Ok(out.e_tag().unwrap_or_default().to_owned()),
                Err(e) => {
                    // 412 Precondition Failed, or 409 when a concurrent conditional write won.
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    if condition != Condition::None && matches!(status, Some(412 | 409)) {
                        Err(StoreError::Conflict {
                            location: self.location(key),
                        })
                    } else {
                        Err(self.failed(key, DisplayErrorContext(&e)))
                    }
                }
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<Listed>, StoreError>> {
        Box::pin(async move {
            let mut objects = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.failed(prefix, DisplayErrorContext(&e)))?;
                objects.extend(page.contents().iter().filter_map(|o| {
                    Some(Listed {
                        key: o.key()?.to_owned(),
                        last_modified: o
                            .last_modified()
                            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
                            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    })
                }));
            }
            Ok(objects)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.failed(key, DisplayErrorContext(&e)))?;
            Ok(())
        })
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}
