//! Credentials from AWS Secrets Manager: a redacting wrapper, the source trait and its adapters.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::Mutex;

/// A credential. Its `Debug` never shows the value and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret string: either the credential itself, or a JSON object with a `token`
    /// field (what the Secrets Manager console's key/value editor produces).
    pub fn from_secret_string(text: &str) -> Result<Self, SecretError> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(trimmed).map_err(|_| {
                SecretError::Format("the secret looks like JSON but does not parse".into())
            })?;
            return match value.get("token").and_then(|t| t.as_str()) {
                Some(t) if !t.trim().is_empty() => Ok(Secret::new(t.trim())),
                _ => Err(SecretError::Format(
                    "the secret is a JSON object without a non-empty string field \"token\"".into(),
                )),
            };
        }
        if trimmed.is_empty() {
            return Err(SecretError::Format("the secret is empty".into()));
        }
        Ok(Secret::new(trimmed))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Why a credential could not be had. Never contains the credential.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    /// The secret store refused or failed.
    #[error("could not read secret {arn}: {message}")]
    Fetch {
        /// Which secret.
        arn: String,
        /// The store's error, without the value.
        message: String,
    },
    /// The secret exists but holds nothing usable.
    #[error("secret has an unusable value: {0}")]
    Format(String),
}

/// Somewhere a credential can be read from.
pub trait SecretSource: Send + Sync {
    /// Reads the current value.
    fn fetch(&self) -> BoxFuture<'_, Result<Secret, SecretError>>;
}

/// A secret in AWS Secrets Manager.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    /// Give the secret string as it is, for a consumer that reads its shape itself.
    raw: bool,
}

impl SecretsManagerSource {
    /// The secret `arn`, read through `client` as a credential ([`Secret::from_secret_string`]).
    pub fn new(client: aws_sdk_secretsmanager::Client, arn: impl Into<String>) -> Self {
        SecretsManagerSource {
            client,
            arn: arn.into(),
            raw: false,
        }
    }

    /// The secret `arn`'s string as it is stored.
    pub fn raw(client: aws_sdk_secretsmanager::Client, arn: impl Into<String>) -> Self {
        SecretsManagerSource {
            raw: true,
            ..SecretsManagerSource::new(client, arn)
        }
    }
}

impl SecretSource for SecretsManagerSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Secret, SecretError>> {
        Box::pin(async move {
            let out = self
                .client
                .get_secret_value()
                .secret_id(&self.arn)
                .send()
                .await
                .map_err(|e| SecretError::Fetch {
                    arn: self.arn.clone(),
                    message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                })?;
            let text = out.secret_string().ok_or_else(|| {
                SecretError::Format(format!(
                    "{} has no SecretString (binary secrets are not supported)",
                    self.arn
                ))
            })?;
            if self.raw {
                Ok(Secret::new(text))
            } else {
                Secret::from_secret_string(text)
            }
        })
    }
}

/// A fixed credential, for local runs and tests.
pub struct StaticSecret(pub Secret);

impl SecretSource for StaticSecret {
    fn fetch(&self) -> BoxFuture<'_, Result<Secret, SecretError>> {
        let s = self.0.clone();
        Box::pin(async move { Ok(s) })
    }
}

/// A credential read once per container and re-read on demand after the far side rejects it.
pub struct CachedSecret {
    source: Arc<dyn SecretSource>,
    current: Mutex<Option<(u64, Secret)>>,
}

impl CachedSecret {
    /// Caches what `source` gives.
    pub fn new(source: Arc<dyn SecretSource>) -> Self {
        CachedSecret {
            source,
            current: Mutex::new(None),
        }
    }

    /// The cached credential with its generation, reading it on first use.
    pub async fn get(&self) -> Result<(u64, Secret), SecretError> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref() {
            return Ok(c.clone());
        }
        let fresh = (1, self.source.fetch().await?);
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Re-reads the credential because generation `rejected` was refused. Concurrent callers
    /// that saw the same rejection share one re-read.
    pub async fn refresh(&self, rejected: u64) -> Result<(u64, Secret), SecretError> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref() {
            if c.0 > rejected {
                return Ok(c.clone());
            }
        }
        let fresh = (rejected + 1, self.source.fetch().await?);
        *current = Some(fresh.clone());
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:?}", Some(&s)).contains("hunter2"));
    }

    #[test]
    fn reads_plain_and_json_secret_strings() {
        assert_eq!(
            Secret::from_secret_string(" abc \n").unwrap().expose(),
            "abc"
        );
        assert_eq!(
            Secret::from_secret_string(r#"{"token":"xyz","note":"rotated"}"#)
                .unwrap()
                .expose(),
            "xyz"
        );
        let err = Secret::from_secret_string(r#"{"apiKey":"leaked-value"}"#).unwrap_err();
        assert!(err.to_string().contains("\"token\""));
        assert!(!err.to_string().contains("leaked-value"));
        assert!(Secret::from_secret_string("  ").is_err());
    }

    struct Counting(AtomicUsize);
    impl SecretSource for Counting {
        fn fetch(&self) -> BoxFuture<'_, Result<Secret, SecretError>> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { Ok(Secret::new(format!("v{n}"))) })
        }
    }

    #[tokio::test]
    async fn reads_once_and_re_reads_once_per_rejection() {
        let source = Arc::new(Counting(AtomicUsize::new(0)));
        let cache = CachedSecret::new(source.clone());
        let (g1, s1) = cache.get().await.unwrap();
        let _ = cache.get().await.unwrap();
        assert_eq!(source.0.load(Ordering::SeqCst), 1);
        let (g2, s2) = cache.refresh(g1).await.unwrap();
        // A second caller that saw the same rejection gets the new value without a fetch.
        let (g3, _) = cache.refresh(g1).await.unwrap();
        assert_eq!(source.0.load(Ordering::SeqCst), 2);
        assert_ne!(s1, s2);
        assert_eq!(g2, g3);
        assert_eq!(cache.get().await.unwrap().1, s2);
    }
}
