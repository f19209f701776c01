//! Launches a private `moto_server` (Python moto) as a loopback S3 / Secrets Manager.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use tokio::process::{Child, Command};

use crate::loopback_http;

/// How long moto may take to answer its first request (Python start-up is slow on small CI boxes).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `moto_server`; killed when dropped.
pub struct Moto {
    addr: SocketAddr,
    child: Option<Child>,
}

impl Moto {
    /// Starts `moto_server` on a free 127.0.0.1 port and waits until it answers.
    ///
    /// Panics with installation advice if `moto_server` is missing or does not come up.
    pub async fn start() -> Moto {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `moto_server` ({e}); install it with `pip install 'moto[server]'` \
                     and make sure it is on PATH"
                )
            });
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = loopback_http::request(addr, "GET", "/moto-api/", &[], b"").await {
                if r.status < 500 {
                    break;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "`moto_server` exited ({status}) before answering on {addr}; check that \
                     `pip install 'moto[server]'` installed a working server"
                );
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "`moto_server` did not answer on http://{addr}/moto-api/ within {} s; \
                     install it with `pip install 'moto[server]'`",
                    START_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Moto {
            addr,
            child: Some(child),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An SDK config aimed at this server: us-east-1, static `testing` credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(self.endpoint())
            .load()
            .await
    }

    /// An S3 client using path-style addressing (moto has no per-bucket host names here).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A Secrets Manager client.
    pub async fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config().await)
    }

    /// Environment for a function process so its AWS SDK talks to this server.
    pub fn function_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Creates bucket `name`; panics on failure.
    pub async fn create_bucket(&self, name: &str) {
        self.s3()
            .await
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto: create_bucket {name}: {e:?}"));
    }

    /// Creates secret `name` holding `value`; returns its ARN. Panics on failure.
    ///
    /// The SDK retries a request whose answer it did not get; when moto had made the secret
    /// on the first try, the retry is answered `ResourceExistsException`. This server is
    /// this test's alone, so that secret is the one asked for: its ARN is read back.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        let secrets = self.secrets().await;
        let created = secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await;
        let arn = match created {
            Ok(out) => out.arn().map(str::to_owned),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                let described = secrets
                    .describe_secret()
                    .secret_id(name)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("moto: describe_secret {name}: {e:?}"));
                described.arn().map(str::to_owned)
            }
            Err(e) => panic!("moto: create_secret {name}: {e:?}"),
        };
        arn.unwrap_or_else(|| panic!("moto: create_secret {name} returned no ARN"))
    }

    /// Stores a new current version of secret `arn`; panics on failure.
    pub async fn put_secret_value(&self, arn: &str, value: &str) {
        self.secrets()
            .await
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value)
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto: put_secret_value {arn}: {e:?}"));
    }

    /// All keys under `prefix` in `bucket`, in S3's (lexicographic) order; panics on failure.
    pub async fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let s3 = self.s3().await;
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .unwrap_or_else(|e| panic!("moto: list_objects_v2 {bucket}/{prefix}: {e:?}"));
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        keys
    }

    /// The bytes of `bucket/key`; panics on failure.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self
            .s3()
            .await
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("moto: get_object {bucket}/{key}: {e:?}"));
        out.body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("moto: reading {bucket}/{key}: {e}"))
            .into_bytes()
            .to_vec()
    }

    /// Stops the server (its state is lost), e.g. to simulate S3 being down.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error only means it already exited.
            let _ = child.kill().await;
        }
    }
}

/// A port that was free a moment ago: bind port 0, read it, release it.
///
/// There is a small window in which another process could take it; moto
/// would then fail to start and `start` panics with a clear message.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0 to find a free port for moto_server")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn s3_and_secrets_round_trip() {
        let mut moto = Moto::start().await;
        moto.create_bucket("okta-ingest-test").await;
        let s3 = moto.s3().await;
        for key in ["a/2.json", "a/1.json", "b/1.json"] {
            s3.put_object()
                .bucket("okta-ingest-test")
                .key(key)
                .body(key.as_bytes().to_vec().into())
                .send()
                .await
                .expect("put_object");
        }
        assert_eq!(
            moto.list_keys("okta-ingest-test", "a/").await,
            vec!["a/1.json", "a/2.json"]
        );
        assert_eq!(
            moto.get_object("okta-ingest-test", "b/1.json").await,
            b"b/1.json"
        );

        let arn = moto.create_secret("okta/token", "v1").await;
        assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:"));
        moto.put_secret_value(&arn, "v2").await;
        let got = moto
            .secrets()
            .await
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .expect("get_secret_value");
        assert_eq!(got.secret_string(), Some("v2"));
        assert_eq!(moto.function_env().len(), 5);

        moto.kill().await;
        let down = loopback_http::request(moto.addr(), "GET", "/moto-api/", &[], b"").await;
        assert!(down.is_err(), "moto still answers after kill");
    }
}
