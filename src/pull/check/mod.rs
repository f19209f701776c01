//! The connection check: does the Okta token read the System Log and the directory, does the
//! destination take a request, can the state bucket and the delivery ledger be read. Answers
//! in words an operator can act on.

mod directory;

use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::PullHandler;
use crate::delivery::Forwarder;
use crate::event::{format_rfc3339, OktaEvent};
use crate::lambda;
use crate::okta::FetchError;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `okta`, `okta directory`, `destination`, `state bucket` or `delivery ledger`.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, and what to do if it failed.
    pub detail: String,
}

/// All checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Every check passed.
    pub ok: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl CheckReport {
    /// One line per check, for a terminal.
    pub fn lines(&self) -> Vec<String> {
        self.checks
            .iter()
            .map(|c| {
                format!(
                    "{} {}: {}",
                    if c.ok { "OK  " } else { "FAIL" },
                    c.name,
                    c.detail
                )
            })
            .collect()
    }
}

impl PullHandler {
    /// Runs the connection check, every check whatever the others found. The destination
    /// receives one clearly labelled test event (`eventType` `okta-ingest.connection_check`),
    /// which is not recorded in the ledger. The report is `ok` only when every check passed.
    pub async fn check(&self, deadline: Instant) -> CheckReport {
        let mut checks = vec![
            self.check_okta(deadline).await,
            self.check_directory(deadline).await,
            self.check_destination("destination", self.lanes.main().forwarder(), deadline)
                .await,
            self.check_state().await,
            self.check_ledger(deadline).await,
        ];
        if let Some(lake) = self.lanes.lake() {
            // Beside the HTTP destination: the lake is checked the same way, on its own line.
            checks.push(
                self.check_destination("security lake", lake.forwarder(), deadline)
                    .await,
            );
        }
        let report = CheckReport {
            ok: checks.iter().all(|c| c.ok),
            checks,
        };
        for line in report.lines() {
            tracing::info!(check = %line, "connection check");
        }
        report
    }

    async fn check_okta(&self, deadline: Instant) -> Check {
        let url = self
            .config
            .org
            .polling_url(OffsetDateTime::now_utc() - time::Duration::minutes(5));
        let fetched = self.log.fetch(&url, deadline).await;
        let who = match self.log.take_stats().auth {
            Some("oauth") => "the OAuth service app (okta_auth: oauth)",
            Some(_) => "the API token (okta_auth: api-token)",
            None => "the Okta credential",
        };
        let detail = match fetched {
            Ok(page) => {
                return Check {
                    name: "okta",
                    ok: true,
                    detail: format!(
                        "{who} reads the System Log of {} ({} events in the last 5 minutes)",
                        self.config.org.authority(),
                        page.events.len()
                    ),
                };
            }
            Err(
                e @ (FetchError::Unauthorized { .. }
                | FetchError::Forbidden { .. }
                | FetchError::Auth { .. }),
            ) => format!("{who}: {e}"),
            Err(FetchError::Token(e)) => format!(
                "could not read or use the Okta secret ({e}); check OKTA_TOKEN_SECRET_ARN, its shape (an API token, or a service app's client_id and private_key) and that the function may call secretsmanager:GetSecretValue on it"
            ),
            Err(e) => format!("{e}; check OKTA_DOMAIN ({}) and the network path to Okta", self.config.org.authority()),
        };
        Check {
            name: "okta",
            ok: false,
            detail,
        }
    }

    async fn check_destination(
        &self,
        name: &'static str,
        forwarder: &Forwarder,
        deadline: Instant,
    ) -> Check {
        let now = OffsetDateTime::now_utc();
        let uuid = format!("okta-ingest-check-{:016x}", fastrand::u64(..));
        let text = serde_json::json!({
            "uuid": uuid,
            "published": format_rfc3339(now),
            "eventType": "okta-ingest.connection_check",
            "displayMessage": "okta-ingest connection check: safe to ignore",
            "severity": "INFO",
            "version": "0",
        })
        .to_string();
        let raw: Box<RawValue> = match RawValue::from_string(text) {
            Ok(r) => r,
            Err(e) => {
                return Check {
                    name,
                    ok: false,
                    detail: format!("could not build the test event: {e}"),
                }
            }
        };
        let event = match OktaEvent::from_raw(&raw) {
            Ok(e) => e,
            Err(e) => {
                return Check {
                    name,
                    ok: false,
                    detail: e.to_string(),
                }
            }
        };
        let forwarded = forwarder
            .forward(&[&event], lambda::deadline_with_margin(deadline))
            .await;
        let target = format!(
            "{} ({}, schema {})",
            forwarder.describe(),
            forwarder.config().platform.name(),
            forwarder.config().schema.name()
        );
        if forwarded.delivered.len() == 1 {
            return Check {
                name,
                ok: true,
                detail: format!(
                    "{target} accepted a test event (eventType okta-ingest.connection_check)"
                ),
            };
        }
        let reason = forwarded.failed.first().map_or_else(
            || "the test event was not sent".to_owned(),
            |(_, f)| f.reason.clone(),
        );
        let lake = matches!(
            forwarder.config().platform,
            crate::config::Platform::SecurityLake(_)
        );
        let hint = if lake {
            "check SECURITY_LAKE_SOURCES (each source's location and provider role, as Security Lake reports them) and SECURITY_LAKE_EXTERNAL_ID"
        } else if reason.contains("HTTP 401") || reason.contains("HTTP 403") {
            "the credential was refused: check the secret in DESTINATION_SECRET_ARN and DESTINATION_AUTH_HEADER/DESTINATION_AUTH_SCHEME"
        } else if reason.contains("HTTP 404") {
            "the URL's path is wrong for this platform: check DESTINATION_URL"
        } else if reason.contains("HTTP 400") || reason.contains("HTTP 422") {
            "the destination does not accept this request shape: check DESTINATION_FORMAT"
        } else if reason.contains("timed out") || reason.contains("connection") {
            "the destination could not be reached: check DESTINATION_URL and the network path (VPC, proxy, firewall)"
        } else {
            "see the reason"
        };
        Check {
            name,
            ok: false,
            detail: format!("{target} did not accept a test event: {reason}; {hint}"),
        }
    }

    async fn check_state(&self) -> Check {
        match self.checkpoints.load().await {
            Ok(stored) => Check {
                name: "state bucket",
                ok: true,
                detail: match stored {
                    Some(s) => format!("{} is readable; the checkpoint was last written {}", self.checkpoints.location(), s.checkpoint.updated_at),
                    None => format!("{} is readable; no checkpoint yet (the first run starts INITIAL_LOOKBACK_SECONDS back)", self.checkpoints.location()),
                },
            },
            Err(e) => Check { name: "state bucket", ok: false, detail: format!("{e}; check STATE_BUCKET and the function's S3 permissions") },
        }
    }

    /// Reads one uuid from the ledger: a missing table, a wrong region or a missing
    /// permission shows here, before events are held back for it.
    async fn check_ledger(&self, deadline: Instant) -> Check {
        let ledger = self.lanes.main().ledger();
        let probe = [("okta-ingest-connection-check", OffsetDateTime::now_utc())];
        let budget = deadline.saturating_duration_since(Instant::now()) / 4;
        let read = tokio::time::timeout(budget, ledger.read(&probe)).await;
        let (ok, detail) = match read {
            Ok(Ok(_)) => (true, format!("{} is readable", ledger.describe())),
            Ok(Err(e)) => (
                false,
                format!("{e}; check LEDGER_TABLE (or the template's LedgerStore), the region and the function's DynamoDB permissions"),
            ),
            Err(_) => (
                false,
                format!(
                    "{} did not answer within {} ms",
                    ledger.describe(),
                    budget.as_millis()
                ),
            ),
        };
        Check {
            name: "delivery ledger",
            ok,
            detail,
        }
    }
}
