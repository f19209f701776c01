//! The credential okta-pull presents to Okta, read from the Okta secret: an API token or an
//! OAuth service app ([`super::oauth`]), with what to do when Okta answers 401 or 403.

use std::sync::{Arc, Mutex as StdMutex, PoisonError};

use reqwest::header::HeaderMap;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::oauth::{
    challenge_error, dpop_nonce, sensitive, Credential, OAuthState, Presented, TokenClient,
};
use super::FetchError;
use crate::secret::{CachedSecret, SecretSource};

/// What was tried already for the current request after a 401.
#[derive(Debug, Default)]
pub(super) struct Tries {
    secret_reread: bool,
    /// The last answer was a `use_dpop_nonce` challenge, and its nonce was taken. A second
    /// challenge right after it means Okta refuses its own nonce: giving up beats looping.
    nonce: bool,
    new_token: bool,
}

impl Tries {
    /// An attempt failed for another reason (5xx, a timeout, a broken body, the token
    /// endpoint unavailable): a nonce challenge after it is not "twice in a row" but a new
    /// one (Okta may rotate its nonce meanwhile), answered once with the new nonce.
    pub(super) fn interrupted(&mut self) {
        self.nonce = false;
    }
}

struct State {
    credential: Option<(u64, Arc<Credential>)>,
    oauth: OAuthState,
}

/// The Okta credential of one container.
pub(super) struct OktaAuth {
    secret: CachedSecret,
    secret_name: String,
    tokens: TokenClient,
    state: Mutex<State>,
    mode: StdMutex<Option<&'static str>>,
}

impl OktaAuth {
    pub(super) fn new(
        secret: Arc<dyn SecretSource>,
        secret_name: String,
        http: reqwest::Client,
        token_url: Url,
    ) -> OktaAuth {
        OktaAuth {
            secret: CachedSecret::new(secret),
            secret_name,
            tokens: TokenClient::new(http, token_url),
            state: Mutex::new(State {
                credential: None,
                oauth: OAuthState::default(),
            }),
            mode: StdMutex::new(None),
        }
    }

    /// `api-token` or `oauth` once the secret has been read.
    pub(super) fn mode(&self) -> Option<&'static str> {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Token requests since the last call.
    pub(super) fn take_token_requests(&self) -> u32 {
        self.tokens.take_requests()
    }

    /// The headers for a GET of `url`.
    pub(super) async fn present(
        &self,
        url: &Url,
        deadline: Instant,
    ) -> Result<Presented, FetchError> {
        let mut state = self.state.lock().await;
        let (generation, credential) = self.credential(&mut state).await?;
        match credential.as_ref() {
            Credential::ApiToken(token) => Ok(Presented {
                authorization: sensitive(format!("SSWS {}", token.expose()))?,
                dpop: None,
                generation,
                scrub: vec![token.expose().to_owned()],
            }),
            Credential::ServiceApp(app) => {
                let mut presented = self
                    .tokens
                    .present(app, &mut state.oauth, url, deadline)
                    .await?;
                presented.generation = generation;
                Ok(presented)
            }
        }
    }

    /// The parsed secret, read again when its generation changed.
    async fn credential(&self, state: &mut State) -> Result<(u64, Arc<Credential>), FetchError> {
        let (generation, raw) = self.secret.get().await?;
        if let Some((g, c)) = &state.credential {
            if *g == generation {
                return Ok((*g, c.clone()));
            }
        }
        let credential = Arc::new(Credential::parse(raw.expose())?);
        // A new secret (a rotated key) gets a new token.
        state.oauth.token = None;
        let first = state.credential.is_none();
        state.credential = Some((generation, credential.clone()));
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = Some(credential.mode());
        if first {
            match credential.as_ref() {
                Credential::ApiToken(_) => {
                    tracing::info!(
                        okta_auth = "api-token",
                        "Okta credential: an API token (SSWS)"
                    );
                }
                Credential::ServiceApp(app) => tracing::info!(
                    okta_auth = "oauth",
                    client_id = %app.client_id,
                    key_id = app.key_id.as_deref().unwrap_or(""),
                    scopes = %app.scopes,
                    "Okta credential: an OAuth service app (private_key_jwt, DPoP when the app requires it)"
                ),
            }
        }
        Ok((generation, credential))
    }

    /// Takes what Okta said about nonces in any answer.
    pub(super) async fn observe(&self, headers: &HeaderMap) {
        if let Some(nonce) = dpop_nonce(headers) {
            self.state.lock().await.oauth.resource_nonce = Some(nonce);
        }
    }

    /// After a 401 to `presented`: `Ok` to try again (a nonce, a new token, the secret read
    /// again), or why not. `detail` is Okta's error, scrubbed.
    pub(super) async fn unauthorized(
        &self,
        presented: &Presented,
        headers: &HeaderMap,
        tries: &mut Tries,
        detail: String,
    ) -> Result<(), FetchError> {
        let credential = {
            let state = self.state.lock().await;
            state.credential.as_ref().map(|(_, c)| c.clone())
        };
        let app = match credential.as_deref() {
            Some(Credential::ServiceApp(app)) => app,
            _ => {
                if tries.secret_reread {
                    return Err(FetchError::Unauthorized {
                        detail,
                        secret: self.secret_name.clone(),
                    });
                }
                tries.secret_reread = true;
                tracing::warn!("Okta answered 401: re-reading the API token secret once");
                self.secret.refresh(presented.generation).await?;
                return Ok(());
            }
        };
        if challenge_error(headers).as_deref() == Some("use_dpop_nonce") {
            if let Some(nonce) = dpop_nonce(headers) {
                if tries.nonce {
                    return Err(FetchError::Auth {
                        message: format!(
                            "Okta asked service app {} for a new DPoP nonce on the System Log twice in a row: giving up rather than looping",
                            app.client_id
                        ),
                    });
                }
                tries.nonce = true;
                self.state.lock().await.oauth.resource_nonce = Some(nonce);
                return Ok(());
            }
        }
        if !tries.new_token {
            tries.new_token = true;
            tracing::warn!(client_id = %app.client_id, "Okta answered 401 to the access token: asking for a new one once");
            self.state.lock().await.oauth.token = None;
            return Ok(());
        }
        if !tries.secret_reread {
            tries.secret_reread = true;
            tracing::warn!(client_id = %app.client_id, "Okta refused a new access token too: re-reading the Okta secret once");
            self.secret.refresh(presented.generation).await?;
            return Ok(());
        }
        Err(FetchError::Auth {
            message: format!(
                "Okta refused new access tokens of service app {} on the System Log (HTTP 401, {detail}): the tokens were revoked or the app was deactivated; check the app in the Admin Console (Applications)",
                app.client_id
            ),
        })
    }

    /// Okta's 403 on the System Log, in words for the credential in use.
    pub(super) async fn forbidden(&self, detail: String) -> FetchError {
        let state = self.state.lock().await;
        match state.credential.as_ref().map(|(_, c)| c.as_ref()) {
            Some(Credential::ServiceApp(app)) => FetchError::Auth {
                message: format!(
                    "Okta refused the System Log to service app {} (HTTP 403, {detail}): assign the Read-only Administrator role to the app (Admin Console > the app > Admin roles > Edit assignments, or Security > Administrators > Add administrator)",
                    app.client_id
                ),
            },
            _ => FetchError::Forbidden { detail },
        }
    }
}
