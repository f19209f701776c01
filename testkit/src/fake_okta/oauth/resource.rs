//! Tokens at a protected resource (`/api/v1/logs`): the Bearer and DPoP checks, the `WWW-Authenticate` challenges, the resource nonce.

use super::*;

/// The authentication scheme of an `Authorization` header carrying an OAuth token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

impl Scheme {
    /// As written in `Authorization` and `WWW-Authenticate`.
    fn name(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Dpop => "DPoP",
        }
    }
}

/// A request to a protected resource with an OAuth access token.
pub(crate) struct ResourceCall<'a> {
    pub(crate) scheme: Scheme,
    pub(crate) token: &'a str,
    /// The request's method, for `htm`.
    pub(crate) method: &'a str,
    /// The request URL without query and fragment, for `htu`.
    pub(crate) url: &'a str,
    /// Every `DPoP` header value.
    pub(crate) dpop: &'a [String],
}

impl OAuth {
    /// Whether a resource request's token (and proof) let it through at `now`: 401 with a
    /// `WWW-Authenticate` challenge when not, 403 when the app lacks the role.
    pub(crate) fn authorize(
        &mut self,
        call: &ResourceCall<'_>,
        now: OffsetDateTime,
    ) -> Result<(), Reply> {
        let refuse = |why: &str| challenge(call.scheme, "invalid_token", why);
        let issued = self
            .tokens
            .get(call.token)
            .ok_or_else(|| refuse("The access token is invalid."))?;
        if issued.revoked {
            return Err(refuse("The access token has been revoked."));
        }
        if issued.expires.is_some_and(|e| now >= e) {
            return Err(refuse("The access token is expired."));
        }
        match (&issued.binding, call.scheme) {
            (Binding::Bearer, Scheme::Bearer) => {}
            (Binding::Dpop(jkt), Scheme::Dpop) => {
                let expected = Expected {
                    htm: call.method,
                    htu: call.url,
                    access_token: Some(call.token),
                    jkt: Some(jkt),
                };
                let proof = self
                    .proofs
                    .check(call.dpop, &expected, seconds(now))
                    .map_err(refuse)?;
                if self.settings.nonce_on_logs {
                    let current = self.resource_nonce.get_or_insert_with(random_value);
                    if proof.nonce.as_deref() != Some(current.as_str()) {
                        return Err(resource_nonce_challenge(current.clone()));
                    }
                }
            }
            (Binding::Bearer, Scheme::Dpop) => {
                return Err(refuse(
                    "The access token is a Bearer token, not DPoP-bound.",
                ));
            }
            (Binding::Dpop(_), Scheme::Bearer) => {
                return Err(refuse(
                    "The access token is DPoP-bound: it needs the DPoP scheme and a DPoP proof.",
                ));
            }
        }
        if !self.settings.role_assigned {
            return Err(Reply::forbidden());
        }
        Ok(())
    }

    /// A `use_dpop_nonce` challenge at `/api/v1/logs` with a fresh nonce, which the next
    /// proofs must carry when `nonce_on_logs` is on: Okta rotated its resource nonce.
    pub(crate) fn new_resource_nonce(&mut self) -> Reply {
        let nonce = random_value();
        self.resource_nonce = Some(nonce.clone());
        resource_nonce_challenge(nonce)
    }
}

/// 401 with Okta's invalid token body and a `WWW-Authenticate` challenge for `scheme`.
fn challenge(scheme: Scheme, error: &str, description: &str) -> Reply {
    Reply::invalid_token().with_header(
        header::WWW_AUTHENTICATE,
        format!(
            r#"{} error="{error}", error_description="{description}""#,
            scheme.name()
        ),
    )
}

/// 401 `use_dpop_nonce` at a resource, carrying `nonce`.
fn resource_nonce_challenge(nonce: String) -> Reply {
    challenge(
        Scheme::Dpop,
        "use_dpop_nonce",
        "Resource server requires nonce in DPoP proof",
    )
    .with_header(HeaderName::from_static("dpop-nonce"), nonce)
}
