//! Access tokens from the org authorization server: the request (client assertion, DPoP
//! proof, at most one nonce round), the answer, the refusals in words, and the headers a
//! System Log request carries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use tokio::time::Instant;
use url::Url;

use super::{epoch_now, DpopKey, ServiceApp, RENEW_BEFORE, TOKEN_BODY_CAP, TOKEN_TIMEOUT};
use crate::http_body::{read_prefix, read_whole, BodyError};
use crate::okta::FetchError;
use crate::secret::Secret;
use crate::telemetry::redact;

/// An access token and how it is presented.
pub struct AccessToken {
    value: Secret,
    dpop: bool,
    /// When it is asked for again, before Okta would refuse it.
    pub(crate) renew_at: Instant,
}

/// The `Authorization` (and `DPoP`) headers for one request, and what to scrub from answers.
pub struct Presented {
    /// `Authorization`.
    pub authorization: HeaderValue,
    /// `DPoP`, for a DPoP-bound token.
    pub dpop: Option<HeaderValue>,
    /// The credential's generation (API token mode), for a re-read after a 401.
    pub generation: u64,
    /// Values that must never be echoed into an error.
    pub scrub: Vec<String>,
}

/// A header value marked sensitive (never printed by the HTTP stack).
pub(crate) fn sensitive(value: String) -> Result<HeaderValue, FetchError> {
    let mut v = HeaderValue::try_from(value).map_err(|_| FetchError::Auth {
        message: "the Okta credential contains characters not allowed in an HTTP header".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The token endpoint's error answer.
#[derive(serde::Deserialize, Default)]
struct OAuthErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// The token endpoint's answer.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The nonces Okta asked for, the token in use, and counters.
#[derive(Default)]
pub(crate) struct OAuthState {
    pub(crate) token: Option<AccessToken>,
    token_nonce: Option<String>,
    pub(crate) resource_nonce: Option<String>,
}

/// Asks Okta's org authorization server for tokens.
pub struct TokenClient {
    http: reqwest::Client,
    token_url: Url,
    /// Made at the first token request: API-token containers never make one.
    dpop: std::sync::OnceLock<DpopKey>,
    requests: AtomicU32,
}

impl TokenClient {
    /// For the token endpoint at `token_url`.
    pub fn new(http: reqwest::Client, token_url: Url) -> TokenClient {
        TokenClient {
            http,
            token_url,
            dpop: std::sync::OnceLock::new(),
            requests: AtomicU32::new(0),
        }
    }

    /// This container's DPoP key, made on first use.
    fn dpop(&self) -> Result<&DpopKey, FetchError> {
        if let Some(key) = self.dpop.get() {
            return Ok(key);
        }
        let key = DpopKey::generate().map_err(|message| FetchError::Auth { message })?;
        Ok(self.dpop.get_or_init(|| key))
    }

    /// Token requests made since the last call.
    pub fn take_requests(&self) -> u32 {
        self.requests.swap(0, Ordering::SeqCst)
    }

    /// Headers for a GET of `url` with `app`'s token, asking for one if none is fresh.
    pub(crate) async fn present(
        &self,
        app: &ServiceApp,
        state: &mut OAuthState,
        url: &Url,
        deadline: Instant,
    ) -> Result<Presented, FetchError> {
        let fresh = state
            .token
            .as_ref()
            .is_some_and(|t| Instant::now() < t.renew_at);
        if !fresh {
            state.token = Some(self.request(app, state, deadline).await?);
        }
        let Some(token) = state.token.as_ref() else {
            return Err(FetchError::Auth {
                message: "no access token".into(),
            });
        };
        let value = token.value.expose();
        let mut scrub = vec![value.to_owned()];
        if token.dpop {
            let proof = self
                .dpop()?
                .proof("GET", url, state.resource_nonce.as_deref(), Some(value))
                .map_err(|message| FetchError::Auth { message })?;
            scrub.push(proof.clone());
            Ok(Presented {
                authorization: sensitive(format!("DPoP {value}"))?,
                dpop: Some(sensitive(proof)?),
                generation: 0,
                scrub,
            })
        } else {
            Ok(Presented {
                authorization: sensitive(format!("Bearer {value}"))?,
                dpop: None,
                generation: 0,
                scrub,
            })
        }
    }

    /// One token, through at most one nonce round. A 5xx or a transport failure ends it as
    /// [`FetchError::Unavailable`], which the System Log reader retries after a backoff with
    /// a new call, so a nonce challenge after such a failure is a first one again.
    async fn request(
        &self,
        app: &ServiceApp,
        state: &mut OAuthState,
        deadline: Instant,
    ) -> Result<AccessToken, FetchError> {
        let mut asked_nonce = false;
        loop {
            let assertion = app
                .assertion(self.token_url.as_str(), epoch_now())
                .map_err(|message| FetchError::Auth { message })?;
            let proof = self
                .dpop()?
                .proof("POST", &self.token_url, state.token_nonce.as_deref(), None)
                .map_err(|message| FetchError::Auth { message })?;
            let form = [
                ("grant_type", "client_credentials"),
                ("scope", app.scopes.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ];
            let body: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            let timeout = TOKEN_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
            self.requests.fetch_add(1, Ordering::SeqCst);
            let sent = self
                .http
                .post(self.token_url.clone())
                .header("DPoP", sensitive(proof.clone())?)
                .header(reqwest::header::ACCEPT, "application/json")
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| FetchError::Unavailable {
                    attempts: 1,
                    reason: format!("token request failed: {}", e.without_url()),
                })?;
            let status = sent.status();
            let headers = sent.headers().clone();
            let failed = |e: reqwest::Error| FetchError::Unavailable {
                attempts: 1,
                reason: format!("reading the token answer failed: {}", e.without_url()),
            };
            // A token must be read whole (a cut one does not parse, and would be refused
            // with a misleading reason); a refusal needs only its first bytes.
            let body = if status.is_success() {
                read_whole(sent, TOKEN_BODY_CAP).await.map_err(|e| match e {
                    BodyError::Transport(e) => failed(e),
                    BodyError::OverCap { cap } => FetchError::Auth {
                        message: format!(
                            "Okta's token endpoint answered service app {} with more than {} KiB, the most a token answer may take: refusing it",
                            app.client_id,
                            cap / 1024
                        ),
                    },
                })?
            } else {
                match read_prefix(sent, TOKEN_BODY_CAP).await {
                    (body, None) => body,
                    (_, Some(e)) => return Err(failed(e)),
                }
            };
            if let Some(nonce) = dpop_nonce(&headers) {
                state.token_nonce = Some(nonce);
            }
            if status.is_success() {
                return self.accept(&body);
            }
            if status.is_server_error() {
                return Err(FetchError::Unavailable {
                    attempts: 1,
                    reason: format!("the token endpoint answered HTTP {}", status.as_u16()),
                });
            }
            let error: OAuthErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            if error.error == "use_dpop_nonce" && dpop_nonce(&headers).is_some() && !asked_nonce {
                asked_nonce = true;
                continue;
            }
            let scrub = [assertion.as_str(), proof.as_str()];
            return Err(refusal(app, status.as_u16(), &error, &scrub, asked_nonce));
        }
    }

    fn accept(&self, body: &[u8]) -> Result<AccessToken, FetchError> {
        let answer: TokenAnswer = serde_json::from_slice(body).map_err(|_| FetchError::Auth {
            message: "Okta's token endpoint answered 200 without a readable access_token".into(),
        })?;
        let dpop = match answer.token_type.to_ascii_lowercase().as_str() {
            "dpop" => true,
            "bearer" | "" => false,
            _ => {
                return Err(FetchError::Auth {
                    message: "Okta issued a token of an unknown token_type".into(),
                })
            }
        };
        let life = Duration::from_secs(answer.expires_in.unwrap_or(3600).min(86_400));
        let renew_at = Instant::now() + life.saturating_sub(RENEW_BEFORE.min(life / 10));
        Ok(AccessToken {
            value: Secret::new(answer.access_token),
            dpop,
            renew_at,
        })
    }
}

/// The `DPoP-Nonce` header, if it reads.
pub(crate) fn dpop_nonce(headers: &HeaderMap) -> Option<String> {
    headers
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|n| !n.is_empty())
}

/// The `error` of a `WWW-Authenticate: DPoP error="..."` (or Bearer) challenge.
pub(crate) fn challenge_error(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let start = v.find("error=\"")? + 7;
            let end = v[start..].find('"')?;
            Some(v[start..start + end].to_owned())
        })
}

/// The token endpoint's refusal, in words an operator can act on.
fn refusal(
    app: &ServiceApp,
    status: u16,
    error: &OAuthErrorBody,
    scrub: &[&str],
    asked_nonce: bool,
) -> FetchError {
    let description = redact::snippet(redact::scrub(&error.error_description, scrub).as_bytes());
    let kid = app.key_id.as_deref().unwrap_or("none given");
    let client = &app.client_id;
    let message = match error.error.as_str() {
        "invalid_client" => {
            let lower = description.to_ascii_lowercase();
            let clock = if ["iat", "exp", "expired", "future", "not yet valid"]
                .iter()
                .any(|w| lower.contains(w))
            {
                " The assertion's time was refused: check this function's clock against Okta's (clock skew)."
            } else {
                ""
            };
            format!(
                "Okta refused the client assertion of service app {client} with key id {kid} (HTTP {status}, invalid_client: {description}).{clock} Check that client_id is the app's Client ID and that the public key with this key id is registered on the app (Admin Console > Applications > the app > General > Client Credentials > Public keys)."
            )
        }
        "invalid_scope" | "unauthorized_client" | "access_denied" => format!(
            "Okta refused the scope {} to service app {client} (HTTP {status}, {}: {description}). Grant it on the app's Okta API Scopes tab (okta.logs.read > Grant).",
            app.scopes, error.error
        ),
        "invalid_dpop_proof" => format!(
            "Okta refused the DPoP proof of service app {client} (HTTP {status}, invalid_dpop_proof: {description}). The app requires DPoP; check the function's clock, and that nothing between it and Okta alters the DPoP header."
        ),
        "use_dpop_nonce" if asked_nonce => format!(
            "Okta asked service app {client} for a new DPoP nonce twice in a row (HTTP {status}): giving up rather than looping."
        ),
        "" => format!("Okta's token endpoint refused service app {client} (HTTP {status}, no OAuth error body)."),
        other => format!(
            "Okta's token endpoint refused service app {client} (HTTP {status}, {other}: {description})."
        ),
    };
    FetchError::Auth { message }
}
