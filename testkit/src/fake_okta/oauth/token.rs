//! The token endpoint, `POST /oauth2/v1/token`: the form, the checks in Okta's order (form, client, DPoP and its nonce, scope), the refusals, and a new token.

use super::*;

/// A token request as the endpoint reads it.
pub(crate) struct TokenCall<'a> {
    /// `Content-Type`, if any.
    pub(crate) content_type: Option<&'a str>,
    /// The form body.
    pub(crate) body: &'a [u8],
    /// Every `DPoP` header value.
    pub(crate) dpop: &'a [String],
}

/// A refused token request (RFC 6749 section 5.2, RFC 9449 section 8).
struct Refusal {
    status: u16,
    error: &'static str,
    description: String,
    /// A `DPoP-Nonce` to send along.
    nonce: Option<String>,
}

impl Refusal {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Refusal {
        Refusal {
            status,
            error,
            description: description.into(),
            nonce: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Refusal {
        Refusal::new(400, "invalid_request", description)
    }

    fn into_reply(self) -> Reply {
        let body = json!({"error": self.error, "error_description": self.description});
        let reply = token_reply(self.status, &body);
        match self.nonce {
            Some(nonce) => reply.with_header(HeaderName::from_static("dpop-nonce"), nonce),
            None => reply,
        }
    }
}

impl OAuth {
    /// Answers one `POST` to `token_url` at `now` on the fake clock, and records it.
    pub(crate) fn token(
        &mut self,
        token_url: &str,
        call: &TokenCall<'_>,
        now: OffsetDateTime,
    ) -> Reply {
        let answer = match self.scripted.pop_front() {
            Some(TokenFailure::Status(status)) => Err(Refusal::new(
                status,
                "server_error",
                "The authorization server is temporarily unavailable.",
            )),
            Some(TokenFailure::NewNonce) => Err(self.token_nonce_challenge()),
            None => self.grant(token_url, call, now),
        };
        let (reply, error) = match answer {
            Ok(body) => (token_reply(200, &body), None),
            Err(refusal) => {
                let error = refusal.error.to_string();
                (refusal.into_reply(), Some(error))
            }
        };
        self.requests.push(TokenRequest {
            status: reply.status,
            error,
            dpop: !call.dpop.is_empty(),
        });
        reply
    }

    /// The checks in Okta's order (form, client, DPoP, scope), then a new token.
    fn grant(
        &mut self,
        token_url: &str,
        call: &TokenCall<'_>,
        now: OffsetDateTime,
    ) -> Result<Value, Refusal> {
        let form = Form::parse(call)?;
        self.clients
            .authenticate(
                &form.assertion,
                form.client_id.as_deref(),
                token_url,
                seconds(now),
            )
            .map_err(|why| Refusal::new(401, "invalid_client", why))?;
        let binding = if self.settings.dpop_required {
            Binding::Dpop(self.token_proof(call.dpop, token_url, now)?)
        } else {
            Binding::Bearer
        };
        let refused: Vec<&str> = form
            .scopes
            .iter()
            .map(String::as_str)
            .filter(|s| !(self.settings.scope_granted && *s == LOGS_SCOPE))
            .collect();
        if !refused.is_empty() {
            return Err(Refusal::new(
                400,
                "invalid_scope",
                format!(
                    "The following scopes are not allowed: [{}]",
                    refused.join(", ")
                ),
            ));
        }
        let token_type = match binding {
            Binding::Bearer => "Bearer",
            Binding::Dpop(_) => "DPoP",
        };
        let access_token = random_value();
        let lifetime = self.settings.token_lifetime;
        let expires = time::Duration::try_from(lifetime)
            .ok()
            .and_then(|d| now.checked_add(d));
        self.tokens.insert(
            access_token.clone(),
            Issued {
                binding,
                expires,
                revoked: false,
            },
        );
        Ok(json!({
            "token_type": token_type,
            "expires_in": lifetime.as_secs(),
            "access_token": access_token,
            "scope": form.scopes.join(" "),
        }))
    }

    /// The thumbprint of the token request's DPoP key, once its proof (and nonce) pass.
    fn token_proof(
        &mut self,
        headers: &[String],
        token_url: &str,
        now: OffsetDateTime,
    ) -> Result<String, Refusal> {
        let expected = Expected {
            htm: "POST",
            htu: token_url,
            access_token: None,
            jkt: None,
        };
        let proof = self
            .proofs
            .check(headers, &expected, seconds(now))
            .map_err(|why| Refusal::new(400, "invalid_dpop_proof", why))?;
        if self.settings.refuse_dpop_proofs {
            return Err(Refusal::new(
                400,
                "invalid_dpop_proof",
                "The DPoP proof JWT is not accepted for this client.",
            ));
        }
        if self.settings.nonce_every_time
            || (self.settings.nonce_on_token
                && (self.token_nonce.is_none() || proof.nonce != self.token_nonce))
        {
            return Err(self.token_nonce_challenge());
        }
        Ok(proof.jkt)
    }

    /// `use_dpop_nonce` with a new nonce, which the token endpoint expects from now on.
    fn token_nonce_challenge(&mut self) -> Refusal {
        let nonce = random_value();
        self.token_nonce = Some(nonce.clone());
        Refusal {
            nonce: Some(nonce),
            ..Refusal::new(
                400,
                "use_dpop_nonce",
                "Authorization server requires nonce in DPoP proof.",
            )
        }
    }
}

/// The token request's form, once it is complete and well formed.
struct Form {
    /// The requested scopes, each once, in order.
    scopes: Vec<String>,
    assertion: String,
    client_id: Option<String>,
}

impl Form {
    /// Step 1: a form body with each field once, the grant and assertion types right.
    fn parse(call: &TokenCall<'_>) -> Result<Form, Refusal> {
        let is_form = call.content_type.is_some_and(|c| {
            c.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(FORM_TYPE))
        });
        if !is_form {
            return Err(Refusal::invalid_request(format!(
                "The request must have Content-Type {FORM_TYPE}."
            )));
        }
        let body = std::str::from_utf8(call.body)
            .map_err(|_| Refusal::invalid_request("The request body is not valid form data."))?;
        let pairs = parse_query(body);
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(Refusal::invalid_request(format!(
                    "The '{name}' parameter must not be repeated."
                )));
            }
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str| {
            get(name).ok_or_else(|| {
                Refusal::invalid_request(format!("The '{name}' parameter is required."))
            })
        };
        let grant_type = required("grant_type")?;
        if grant_type != GRANT_TYPE {
            return Err(Refusal::new(
                400,
                "unsupported_grant_type",
                format!(
                    "The authorization grant type is not supported by the authorization server. \
                     Configured grant types: [{GRANT_TYPE}]."
                ),
            ));
        }
        let mut scopes: Vec<String> = Vec::new();
        for scope in required("scope")?.split(' ').filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_string());
            }
        }
        if scopes.is_empty() {
            return Err(Refusal::invalid_request(
                "The 'scope' parameter is required.",
            ));
        }
        if required("client_assertion_type")? != ASSERTION_TYPE {
            return Err(Refusal::invalid_request(format!(
                "The 'client_assertion_type' parameter must be {ASSERTION_TYPE}."
            )));
        }
        Ok(Form {
            scopes,
            assertion: required("client_assertion")?.to_string(),
            client_id: get("client_id").map(str::to_string),
        })
    }
}

/// A token endpoint answer: JSON that no cache may keep.
fn token_reply(status: u16, body: &Value) -> Reply {
    Reply::new(status, body.to_string().into_bytes())
        .with_header(header::CACHE_CONTROL, "no-store".to_string())
        .with_header(header::PRAGMA, "no-cache".to_string())
}
