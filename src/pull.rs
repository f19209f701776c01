//! The pull path: System Log pages to the destination, resuming exactly where the last run stopped.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::time::Instant;
use url::Url;

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, Lease, S3CheckpointStore, CHECKPOINT_VERSION,
    MAX_REMEMBERED_UUIDS,
};
use crate::config::{self, ConfigError, DestinationConfig, Env};
use crate::dead_letter::{self, DeadLetter, DeadLetterStore, Kept, S3DeadLetters, StoreError};
use crate::destination::{Destination, HttpDestination};
use crate::event::{format_rfc3339, OktaEvent};
use crate::forward::Forwarder;
use crate::ledger::{Ledger, S3LedgerStore};
use crate::metrics::{Metrics, Unit};
use crate::okta::{OktaOrg, PAGE_LIMIT};
use crate::push::record_delivered;
use crate::push::{deadline_with_margin, lambda_deadline, StartupError};
use crate::secret::{SecretSource, SecretsManagerSource};
use crate::system_log::{FetchError, Page, SystemLog};

/// Default for `INITIAL_LOOKBACK_SECONDS`: the first run starts a day back.
pub const DEFAULT_INITIAL_LOOKBACK: Duration = Duration::from_secs(86_400);
/// Okta keeps 90 days of System Log.
pub const MAX_LOOKBACK: Duration = Duration::from_secs(90 * 86_400);
/// Default for `RATE_LIMIT_HEADROOM`: a quarter of each window is left to other clients.
pub const DEFAULT_RATE_LIMIT_HEADROOM: f64 = 0.25;
/// Default for `OKTA_TIMEOUT_SECONDS`: Okta ends a slow query itself after 30 s (E0000009).
pub const DEFAULT_OKTA_TIMEOUT: Duration = Duration::from_secs(40);
/// Default for `SETTLE_DELAY_SECONDS`: how long push gets to deliver an event before pull
/// treats it as missed.
pub const DEFAULT_SETTLE_DELAY: Duration = Duration::from_secs(600);
/// Okta refuses `since` more than 180 days back.
const MAX_BACKFILL_AGE: time::Duration = time::Duration::days(180);

/// Everything `okta-pull` needs.
#[derive(Clone, Debug)]
pub struct PullConfig {
    /// `OKTA_DOMAIN`: the org.
    pub org: OktaOrg,
    /// `OKTA_TOKEN_SECRET_ARN`: the secret with the SSWS API token.
    pub token_secret_arn: String,
    /// `STATE_BUCKET`: checkpoint and dead letters.
    pub state_bucket: String,
    /// `CHECKPOINT_KEY`: the checkpoint object's key.
    pub checkpoint_key: String,
    /// `INITIAL_LOOKBACK_SECONDS`: how far back the very first run starts.
    pub initial_lookback: Duration,
    /// `MAX_EVENT_AGE_SECONDS`: older events are skipped; `None` keeps all.
    pub max_event_age: Option<Duration>,
    /// `RATE_LIMIT_HEADROOM`: share of each rate-limit window left to other clients.
    pub rate_limit_headroom: f64,
    /// `OKTA_TIMEOUT_SECONDS`: limit for one Okta request.
    pub okta_timeout: Duration,
    /// `SETTLE_DELAY_SECONDS`: pull never reads past an event younger than this, leaving it
    /// to push; zero when Log Streaming is not used.
    pub settle_delay: Duration,
    /// Where events go.
    pub destination: DestinationConfig,
}

impl PullConfig {
    /// Reads and validates the whole pull configuration.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let allow_http = config::bool_var(env, "ALLOW_INSECURE_HTTP", false)?;
        let org = OktaOrg::parse(
            &env.get("OKTA_DOMAIN").ok_or_else(|| {
                ConfigError::new(
                    "OKTA_DOMAIN",
                    "required: the Okta org's host name, e.g. acme.okta.com",
                )
            })?,
            allow_http,
        )
        .map_err(|e| ConfigError::new("OKTA_DOMAIN", e))?;
        let token_secret_arn = env
            .get("OKTA_TOKEN_SECRET_ARN")
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| {
                ConfigError::new(
                    "OKTA_TOKEN_SECRET_ARN",
                    "required: the ARN of the Secrets Manager secret holding the Okta API token",
                )
            })?;
        let checkpoint_key = match env.get("CHECKPOINT_KEY") {
            Some(k) => {
                let k = k.trim().trim_start_matches('/').to_owned();
                if k.is_empty() || k.len() > 1024 || k.starts_with(dead_letter::DEAD_LETTER_PREFIX)
                {
                    return Err(ConfigError::new(
                        "CHECKPOINT_KEY",
                        "must be an S3 key of 1 to 1024 characters outside dead-letter/",
                    ));
                }
                k
            }
            None => default_checkpoint_key(&org),
        };
        let initial_lookback = config::seconds_var(
            env,
            "INITIAL_LOOKBACK_SECONDS",
            DEFAULT_INITIAL_LOOKBACK,
            false,
        )?;
        if initial_lookback > MAX_LOOKBACK {
            return Err(ConfigError::new(
                "INITIAL_LOOKBACK_SECONDS",
                format!(
                    "{} is more than Okta's 90-day retention (7776000)",
                    initial_lookback.as_secs()
                ),
            ));
        }
        let rate_limit_headroom = match env.get("RATE_LIMIT_HEADROOM") {
            None => DEFAULT_RATE_LIMIT_HEADROOM,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(h) if (0.0..=0.9).contains(&h) => h,
                _ => {
                    return Err(ConfigError::new(
                        "RATE_LIMIT_HEADROOM",
                        format!("{v:?} is not a share between 0 and 0.9 (e.g. 0.25 leaves a quarter of each rate-limit window to other clients)"),
                    ))
                }
            },
        };
        Ok(PullConfig {
            org,
            token_secret_arn,
            state_bucket: config::state_bucket(env)?,
            checkpoint_key,
            initial_lookback,
            max_event_age: config::max_event_age(env)?,
            rate_limit_headroom,
            settle_delay: config::seconds_var(
                env,
                "SETTLE_DELAY_SECONDS",
                DEFAULT_SETTLE_DELAY,
                true,
            )?,
            okta_timeout: config::seconds_var(
                env,
                "OKTA_TIMEOUT_SECONDS",
                DEFAULT_OKTA_TIMEOUT,
                false,
            )?,
            destination: DestinationConfig::from_env(env)?,
        })
    }
}

/// `checkpoint/pull/acme.okta.com.json`: one per org, so stacks can share a bucket.
pub fn default_checkpoint_key(org: &OktaOrg) -> String {
    format!("checkpoint/pull/{}.json", org.authority().replace(':', "_"))
}

/// Counts for one run; logged as one line and returned as the invocation's result.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PullSummary {
    /// `scheduled` or `backfill`.
    pub mode: &'static str,
    /// System Log pages handled.
    pub pages: usize,
    /// Events in those pages.
    pub received: usize,
    /// Events the destination accepted.
    pub forwarded: usize,
    /// Events older than `MAX_EVENT_AGE_SECONDS`, skipped.
    pub dropped_stale: usize,
    /// Events already handled (seen at the resume point, or twice in a page), skipped.
    pub duplicates: usize,
    /// Events without a readable uuid or published (kept in the dead letters).
    pub malformed: usize,
    /// Events the delivery ledger shows push (or replay) already delivered, skipped.
    pub already_delivered: usize,
    /// Ledger reads or writes that failed (delivery went on; a duplicate becomes possible).
    pub ledger_errors: usize,
    /// Items written to the dead letters.
    pub dead_lettered: usize,
    /// Requests to Okta, retries included.
    pub okta_requests: u32,
    /// Pauses that kept the rate-limit headroom.
    pub rate_limit_waits: u32,
    /// 429 answers from Okta.
    pub okta_429: u32,
    /// Time spent waiting on rate limits.
    pub waited_ms: u64,
    /// Requests to the destination, retries included.
    pub destination_requests: u32,
    /// Bytes the destination accepted, as sent.
    pub bytes: usize,
    /// Newest `published` among the forwarded events.
    pub newest_published: Option<String>,
    /// Why the run ended.
    pub stopped: String,
    /// Now minus the newest `published` the run handled; 0 when it reached the end of the
    /// log (caught up, or waiting for fresh events to settle).
    pub lag_seconds: Option<u64>,
    /// Newest `published` among the events handled (metrics only).
    #[serde(skip)]
    pub newest_seen: Option<OffsetDateTime>,
    /// Failed destination requests by kind (metrics only).
    #[serde(skip)]
    pub destination_errors: crate::retry::ErrorCounts,
    /// Published-to-accepted times of delivered events, sampled (metrics only).
    #[serde(skip)]
    pub latencies_ms: Vec<u64>,
    /// Wall time of the run.
    pub ms: u64,
}

/// What okta-pull answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PullResponse {
    /// A scheduled run or a backfill.
    Run(Box<PullSummary>),
    /// `{"check": true}`: the connection check.
    Check(crate::check::CheckReport),
}

/// `{"check": true}`, the connection check invocation.
pub fn is_check(payload: &str) -> bool {
    #[derive(Deserialize)]
    struct Check {
        check: Option<bool>,
    }
    payload.contains("\"check\"")
        && serde_json::from_str::<Check>(payload).is_ok_and(|c| c.check == Some(true))
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Okta could not be read (401, 403, foreign link, persistent failure).
    #[error(transparent)]
    Okta(#[from] FetchError),
    /// The checkpoint could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Dead letters could not be written; the page stays unacknowledged.
    #[error("{0}; the page will be read again next run")]
    DeadLetters(#[from] StoreError),
    /// The checkpoint belongs to another org.
    #[error("the checkpoint at {location} belongs to {found}, not {expected}: set CHECKPOINT_KEY to a key of its own")]
    WrongOrg {
        /// Where.
        location: String,
        /// The org in it.
        found: String,
        /// The configured org.
        expected: String,
    },
    /// Okta returned a full page whose `next` is the same URL: following it would loop.
    #[error("Okta returned a full page whose next link is the request itself ({url}); stopping instead of looping")]
    Loop {
        /// The URL.
        url: String,
    },
    /// A manual backfill request is not usable.
    #[error("backfill request: {0}")]
    BadRequest(String),
    /// A backfill could not finish in this invocation.
    #[error("backfill stopped before the end of its window: {reason}. Events up to {delivered_until} are delivered; invoke again with since={delivered_until} to finish")]
    BackfillIncomplete {
        /// Why.
        reason: String,
        /// The newest `published` delivered, or the window start.
        delivered_until: String,
    },
}

impl From<PullError> for Diagnostic {
    fn from(e: PullError) -> Self {
        let kind = match &e {
            PullError::Okta(FetchError::Unauthorized { .. }) => "Unauthorized",
            PullError::Okta(FetchError::Forbidden { .. }) => "Forbidden",
            PullError::Okta(FetchError::ForeignLink { .. }) => "ForeignLink",
            PullError::Okta(_) => "OktaUnavailable",
            PullError::Checkpoint(_) | PullError::WrongOrg { .. } => "Checkpoint",
            PullError::DeadLetters(_) => "NotKept",
            PullError::Loop { .. } => "Loop",
            PullError::BadRequest(_) => "BadRequest",
            PullError::BackfillIncomplete { .. } => "BackfillIncomplete",
        };
        Diagnostic {
            error_type: format!("OktaIngest.{kind}"),
            error_message: e.to_string(),
        }
    }
}

/// A manual invocation: `{"since": "...", "until": "..."}`.
#[derive(Debug, Default, Deserialize)]
struct Invocation {
    since: Option<String>,
    until: Option<String>,
    /// Overrides `MAX_EVENT_AGE_SECONDS` for this backfill (0 = keep all).
    max_event_age_seconds: Option<u64>,
}

/// How a page's events are chosen.
#[derive(Clone, Copy)]
struct PageRules {
    /// Skip events older than this.
    max_age: Option<Duration>,
    /// Stop at the first event younger than this.
    settle: Option<Duration>,
}

/// What handling one page achieved.
struct PageOutcome {
    /// uuids now handled (forwarded, kept, skipped), in page order.
    handled: Vec<String>,
    /// Set when some events were neither delivered nor kept.
    incomplete: Option<Incomplete>,
}

/// Why part of a page is left for the next run.
enum Incomplete {
    /// The next event is younger than the settle delay: push may still be delivering it.
    Settling,
    /// The destination stayed unavailable until the deadline: not an error, the next run resends.
    Destination(String),
    /// What the destination refused could not be written to the dead letters: an error.
    DeadLetters(StoreError),
}

/// The uuids already handled at the resume point, oldest first, bounded.
#[derive(Default)]
struct Handled {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Handled {
    fn from_vec(uuids: Vec<String>) -> Self {
        let mut h = Handled::default();
        h.extend(uuids);
        h
    }

    fn extend(&mut self, uuids: impl IntoIterator<Item = String>) {
        for u in uuids {
            if self.set.insert(u.clone()) {
                self.order.push_back(u);
            }
        }
        while self.order.len() > MAX_REMEMBERED_UUIDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn contains(&self, uuid: &str) -> bool {
        self.set.contains(uuid)
    }

    fn to_vec(&self) -> Vec<String> {
        self.order.iter().cloned().collect()
    }
}

/// The pull handler with its long-lived clients.
pub struct PullHandler {
    pub(crate) config: PullConfig,
    pub(crate) log: SystemLog,
    pub(crate) forwarder: Forwarder,
    ledger: Arc<Ledger>,
    pub(crate) checkpoints: Arc<dyn CheckpointStore>,
    dead_letters: Arc<dyn DeadLetterStore>,
    clock: fn() -> OffsetDateTime,
}

impl PullHandler {
    /// A handler over the given adapters.
    pub fn new(
        config: PullConfig,
        log: SystemLog,
        forwarder: Forwarder,
        checkpoints: Arc<dyn CheckpointStore>,
        dead_letters: Arc<dyn DeadLetterStore>,
        ledger: Arc<Ledger>,
    ) -> Self {
        PullHandler {
            config,
            log,
            forwarder,
            ledger,
            checkpoints,
            dead_letters,
            clock: OffsetDateTime::now_utc,
        }
    }

    /// Builds the production handler: configuration from `env`, AWS and HTTP clients.
    pub async fn from_env(env: &impl Env) -> Result<Self, StartupError> {
        let config = PullConfig::from_env(env)?;
        let aws = crate::aws::sdk_config().await;
        let secrets = crate::aws::secrets_client(&aws);
        let token: Arc<dyn SecretSource> = Arc::new(SecretsManagerSource::new(
            secrets.clone(),
            config.token_secret_arn.clone(),
        ));
        let log = SystemLog::new(
            config.org.clone(),
            token,
            config.token_secret_arn.clone(),
            config.rate_limit_headroom,
            config.okta_timeout,
        )
        .map_err(|e| StartupError::Http(e.without_url().to_string()))?;
        let destination = HttpDestination::with_secrets_manager(&config.destination, &secrets)
            .map_err(StartupError::Http)?;
        let s3 = crate::aws::s3_client(&aws);
        let checkpoints = S3CheckpointStore::new(
            s3.clone(),
            config.state_bucket.clone(),
            config.checkpoint_key.clone(),
        );
        let ledger = Ledger::new(Arc::new(S3LedgerStore::new(
            s3.clone(),
            config.state_bucket.clone(),
        )));
        let dead_letters = S3DeadLetters::new(s3, config.state_bucket.clone());
        tracing::info!(
            org = %config.org.authority(),
            settle_delay_seconds = config.settle_delay.as_secs(),
            destination = %destination.describe(),
            checkpoint = %checkpoints.location(),
            initial_lookback_seconds = config.initial_lookback.as_secs(),
            max_event_age_seconds = config.max_event_age.map_or(0, |d| d.as_secs()),
            rate_limit_headroom = config.rate_limit_headroom,
            "okta-pull ready"
        );
        let forwarder = Forwarder::new(config.destination.clone(), Arc::new(destination));
        Ok(Self::new(
            config,
            log,
            forwarder,
            Arc::new(checkpoints),
            Arc::new(dead_letters),
            Arc::new(ledger),
        ))
    }

    fn scheduled_rules(&self) -> PageRules {
        PageRules {
            max_age: self.config.max_event_age,
            settle: (!self.config.settle_delay.is_zero()).then_some(self.config.settle_delay),
        }
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    /// The Lambda entry point: a scheduled run, or a manual backfill.
    pub async fn handle(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<PullResponse, PullError> {
        let deadline = lambda_deadline(event.context.deadline);
        if is_check(event.payload.get()) {
            return Ok(PullResponse::Check(self.check(deadline).await));
        }
        self.handle_payload(event.payload.get(), &event.context.request_id, deadline)
            .await
            .map(|s| PullResponse::Run(Box::new(s)))
    }

    /// Handles `payload` (a schedule event, `{}`, or `{"since","until"}`) due by `deadline`.
    pub async fn handle_payload(
        &self,
        payload: &str,
        request_id: &str,
        deadline: Instant,
    ) -> Result<PullSummary, PullError> {
        let started = Instant::now();
        let invocation: Invocation = serde_json::from_str(payload).unwrap_or_default();
        let mut summary = PullSummary::default();
        let result = match (&invocation.since, &invocation.until) {
            (None, None) => {
                summary.mode = "scheduled";
                self.run_scheduled(request_id, deadline, &mut summary).await
            }
            _ => {
                summary.mode = "backfill";
                self.run_backfill(&invocation, request_id, deadline, &mut summary)
                    .await
            }
        };
        let stats = self.log.take_stats();
        summary.okta_requests = stats.requests;
        summary.rate_limit_waits = stats.rate_limit_waits;
        summary.okta_429 = stats.http_429;
        summary.waited_ms = stats.waited_ms;
        summary.ms = started.elapsed().as_millis() as u64;
        if let Err(e) = &result {
            summary.stopped = format!("error: {e}");
            tracing::error!(error = %e, "okta-pull run failed");
        } else if summary.mode == "scheduled" {
            summary.lag_seconds = if summary.stopped == "caught up" {
                Some(0)
            } else if let Some(newest) = summary.newest_seen {
                Some(((self.clock)() - newest).whole_seconds().max(0) as u64)
            } else if summary.stopped.starts_with("settling") {
                Some(0)
            } else {
                None
            };
        }
        log_summary(&summary);
        result.map(|()| summary)
    }

    async fn run_scheduled(
        &self,
        request_id: &str,
        deadline: Instant,
        summary: &mut PullSummary,
    ) -> Result<(), PullError> {
        let now = (self.clock)();
        let org = self.config.org.authority();
        let lease = Lease {
            owner: request_id.to_owned(),
            until_unix: now.unix_timestamp()
                + deadline.saturating_duration_since(Instant::now()).as_secs() as i64
                + 1,
        };
        let (mut checkpoint, expected) = match self.checkpoints.load().await? {
            None => {
                let since = now - self.config.initial_lookback;
                tracing::info!(since = %format_rfc3339(since), "no checkpoint yet: starting INITIAL_LOOKBACK_SECONDS back");
                let fresh = Checkpoint {
                    version: CHECKPOINT_VERSION,
                    org: org.clone(),
                    next: self.config.org.polling_url(since).to_string(),
                    handled_at_next: Vec::new(),
                    updated_at: format_rfc3339(now),
                    lease: None,
                };
                (fresh, None)
            }
            Some(stored) => {
                if stored.checkpoint.org != org {
                    return Err(PullError::WrongOrg {
                        location: self.checkpoints.location(),
                        found: stored.checkpoint.org,
                        expected: org,
                    });
                }
                if let Some(held) = stored
                    .checkpoint
                    .lease
                    .as_ref()
                    .filter(|l| l.until_unix > now.unix_timestamp())
                {
                    summary.stopped = format!("another run ({}) holds the checkpoint", held.owner);
                    tracing::warn!(holder = %held.owner, "another run holds the checkpoint: stopping without reading");
                    return Ok(());
                }
                (stored.checkpoint, Some(stored.etag))
            }
        };
        checkpoint.lease = Some(lease);
        let mut etag = match self
            .checkpoints
            .save(&checkpoint, expected.as_deref())
            .await
        {
            Ok(etag) => etag,
            Err(CheckpointError::Conflict) => {
                summary.stopped = "another run claimed the checkpoint first".into();
                tracing::warn!(
                    "another run claimed the checkpoint first: stopping without reading"
                );
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };

        let result = self
            .follow(&mut checkpoint, &mut etag, request_id, deadline, summary)
            .await;
        // Release the claim whatever happened, so the next run need not wait for it to lapse.
        checkpoint.lease = None;
        checkpoint.updated_at = format_rfc3339((self.clock)());
        if let Err(e) = self.checkpoints.save(&checkpoint, Some(&etag)).await {
            tracing::warn!(error = %e, "could not release the checkpoint claim; it lapses at the deadline");
        }
        result
    }

    /// Reads from the checkpoint onwards, saving it after every handled page.
    async fn follow(
        &self,
        checkpoint: &mut Checkpoint,
        etag: &mut String,
        request_id: &str,
        deadline: Instant,
        summary: &mut PullSummary,
    ) -> Result<(), PullError> {
        let stop_at = deadline_with_margin(deadline);
        let mut url = self.log.check_link(&checkpoint.next)?;
        let mut handled = Handled::from_vec(std::mem::take(&mut checkpoint.handled_at_next));
        let mut page = match self.log.fetch(&url, stop_at).await {
            Ok(p) => p,
            Err(FetchError::OutOfTime { reason }) => {
                checkpoint.handled_at_next = handled.to_vec();
                summary.stopped = reason;
                return Ok(());
            }
            Err(e) => {
                checkpoint.handled_at_next = handled.to_vec();
                return Err(e.into());
            }
        };
        loop {
            let full = page.events.len() >= PAGE_LIMIT;
            if full && page.next.as_ref() == Some(&url) {
                checkpoint.handled_at_next = handled.to_vec();
                return Err(PullError::Loop {
                    url: url.to_string(),
                });
            }
            // The next page is read while this one is delivered.
            let prefetch = page.next.clone().filter(|_| full);
            let (outcome, prefetched) = tokio::join!(
                self.handle_page(
                    &page,
                    &handled,
                    request_id,
                    stop_at,
                    self.scheduled_rules(),
                    summary
                ),
                async {
                    match &prefetch {
                        Some(next) => Some(self.log.fetch(next, stop_at).await),
                        None => None,
                    }
                }
            );
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => {
                    checkpoint.handled_at_next = handled.to_vec();
                    return Err(e);
                }
            };
            let moved_on =
                outcome.incomplete.is_none() && page.next.as_ref().is_some_and(|n| n != &url);
            if moved_on {
                // A new cursor: only this page's events can come back (defensively kept).
                handled = Handled::from_vec(outcome.handled);
                if let Some(next) = &page.next {
                    url = next.clone();
                }
            } else {
                handled.extend(outcome.handled);
            }
            checkpoint.next = url.to_string();
            checkpoint.handled_at_next = handled.to_vec();
            checkpoint.updated_at = format_rfc3339((self.clock)());
            match self.checkpoints.save(checkpoint, Some(etag)).await {
                Ok(new) => *etag = new,
                Err(CheckpointError::Conflict) => {
                    summary.stopped = "lost the checkpoint to another run".into();
                    tracing::error!("the checkpoint changed under this run: stopping");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
            match outcome.incomplete {
                Some(Incomplete::Settling) => {
                    summary.stopped =
                        "settling: the next events are younger than SETTLE_DELAY_SECONDS".into();
                    return Ok(());
                }
                Some(Incomplete::Destination(reason)) => {
                    summary.stopped = format!("destination: {reason}");
                    return Ok(());
                }
                Some(Incomplete::DeadLetters(e)) => return Err(e.into()),
                None => {}
            }
            if !full {
                summary.stopped = "caught up".into();
                return Ok(());
            }
            match prefetched {
                Some(Ok(next_page)) => page = next_page,
                Some(Err(FetchError::OutOfTime { reason })) => {
                    summary.stopped = reason;
                    return Ok(());
                }
                Some(Err(e)) => return Err(e.into()),
                None => {
                    summary.stopped = "no next link".into();
                    return Ok(());
                }
            }
        }
    }

    async fn run_backfill(
        &self,
        request: &Invocation,
        request_id: &str,
        deadline: Instant,
        summary: &mut PullSummary,
    ) -> Result<(), PullError> {
        let now = (self.clock)();
        let parse = |name: &str, v: &Option<String>| -> Result<OffsetDateTime, PullError> {
            let v = v.as_deref().ok_or_else(|| {
                PullError::BadRequest(format!(
                    "{name} is missing; give both since and until as RFC 3339 times"
                ))
            })?;
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                PullError::BadRequest(format!(
                    "{name} {v:?} is not an RFC 3339 time like 2026-11-21T00:00:00Z"
                ))
            })
        };
        let since = parse("since", &request.since)?;
        let until = parse("until", &request.until)?;
        if since >= until {
            return Err(PullError::BadRequest("since must be before until".into()));
        }
        if now - since > MAX_BACKFILL_AGE {
            return Err(PullError::BadRequest(
                "since is more than 180 days back, which Okta refuses (and it keeps only 90 days)"
                    .into(),
            ));
        }
        let max_age = match request.max_event_age_seconds {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => self.config.max_event_age,
        };
        if max_age.is_some_and(|m| now - since > m) {
            tracing::warn!("the backfill window starts before MAX_EVENT_AGE_SECONDS: older events will be skipped (pass \"max_event_age_seconds\": 0 to keep them)");
        }
        let stop_at = deadline_with_margin(deadline);
        let incomplete = |reason: String, summary: &PullSummary| PullError::BackfillIncomplete {
            reason,
            delivered_until: summary
                .newest_published
                .clone()
                .unwrap_or_else(|| format_rfc3339(since)),
        };
        let mut handled = Handled::default();
        let mut page = self
            .log
            .fetch(&self.config.org.bounded_url(since, until), stop_at)
            .await
            .map_err(|e| match e {
                FetchError::OutOfTime { reason } => incomplete(reason, summary),
                e => e.into(),
            })?;
        loop {
            let next = page
                .next
                .clone()
                .filter(|n| n != &page.url && !page.events.is_empty());
            let (outcome, prefetched) = tokio::join!(
                self.handle_page(
                    &page,
                    &handled,
                    request_id,
                    stop_at,
                    PageRules {
                        max_age,
                        settle: None
                    },
                    summary
                ),
                async {
                    match &next {
                        Some(n) => Some(self.log.fetch(n, stop_at).await),
                        None => None,
                    }
                }
            );
            let outcome = outcome?;
            handled.extend(outcome.handled);
            match outcome.incomplete {
                Some(Incomplete::Destination(reason)) => {
                    return Err(incomplete(format!("destination: {reason}"), summary))
                }
                Some(Incomplete::DeadLetters(e)) => return Err(incomplete(e.to_string(), summary)),
                // A backfill window is explicit: it never waits for push.
                Some(Incomplete::Settling) | None => {}
            }
            match prefetched {
                None => {
                    summary.stopped = "backfill window done".into();
                    return Ok(());
                }
                Some(Ok(p)) => page = p,
                Some(Err(FetchError::OutOfTime { reason })) => {
                    return Err(incomplete(reason, summary))
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Forwards one page's new events; keeps what cannot be delivered. Events already in
    /// `handled`, and those the ledger shows as delivered, are skipped; with `rules.settle`,
    /// the page is read only up to the first event younger than that.
    async fn handle_page(
        &self,
        page: &Page,
        handled: &Handled,
        request_id: &str,
        stop_at: Instant,
        rules: PageRules,
        summary: &mut PullSummary,
    ) -> Result<PageOutcome, PullError> {
        let PageRules { max_age, settle } = rules;
        let now = (self.clock)();
        summary.pages += 1;
        summary.received += page.events.len();
        let mut done: Vec<String> = Vec::with_capacity(page.events.len());
        let mut dead: Vec<(Option<String>, DeadLetter)> = Vec::new();
        let mut in_page: HashSet<std::borrow::Cow<str>> = HashSet::with_capacity(page.events.len());
        let mut to_send: Vec<OktaEvent> = Vec::with_capacity(page.events.len());
        if let Some(body) = &page.unreadable {
            dead.push((
                None,
                DeadLetter {
                    reason: "System Log page body is not a JSON array of events".into(),
                    message_id: None,
                    content: Kept::Raw(body),
                },
            ));
        }
        let mut settling = false;
        for raw in &page.events {
            let event = match OktaEvent::from_raw(raw) {
                Ok(e) => e,
                Err(m) => {
                    summary.malformed += 1;
                    tracing::warn!(reason = %m.reason, "malformed System Log event: keeping it in the dead letters");
                    dead.push((
                        None,
                        DeadLetter {
                            reason: m.to_string(),
                            message_id: None,
                            content: Kept::Event(raw),
                        },
                    ));
                    continue;
                }
            };
            if settle.is_some_and(|s| event.age(now) < s) {
                // Push may still be carrying this event, and the events after it were stored
                // later still: leave the rest of the page to a later run.
                settling = true;
                break;
            }
            if summary.newest_seen.is_none_or(|n| n < event.published) {
                summary.newest_seen = Some(event.published);
            }
            if handled.contains(&event.uuid) || !in_page.insert(event.uuid.clone()) {
                summary.duplicates += 1;
                continue;
            }
            if max_age.is_some_and(|max| event.age(now) > max) {
                summary.dropped_stale += 1;
                tracing::debug!(uuid = %event.uuid, published = %format_rfc3339(event.published), "skipped stale event");
                done.push(event.uuid.into_owned());
                continue;
            }
            to_send.push(event);
        }
        if !to_send.is_empty() {
            let keys: Vec<(&str, OffsetDateTime)> = to_send
                .iter()
                .map(|e| (e.uuid.as_ref(), e.published))
                .collect();
            match self.ledger.delivered(&keys).await {
                Ok(delivered) => {
                    summary.already_delivered += delivered.len();
                    done.extend(delivered.iter().cloned());
                    to_send.retain(|e| !delivered.contains(e.uuid.as_ref()));
                }
                Err(e) => {
                    summary.ledger_errors += 1;
                    tracing::warn!(error = %e, "delivery ledger unreadable: forwarding without the duplicate check");
                }
            }
        }
        let jsons: Vec<&str> = to_send.iter().map(OktaEvent::json).collect();
        let refs: Vec<&OktaEvent> = to_send.iter().collect();
        let forwarded = self.forwarder.forward(&refs, stop_at).await;
        summary.destination_requests += forwarded.requests;
        summary.destination_errors.merge(forwarded.errors);
        let room = 100usize.saturating_sub(summary.latencies_ms.len());
        summary
            .latencies_ms
            .extend(forwarded.latencies_ms.iter().take(room));
        summary.bytes += forwarded.bytes;
        summary.forwarded += forwarded.delivered.len();
        let delivered: Vec<(&str, OffsetDateTime)> = forwarded
            .delivered
            .iter()
            .map(|&i| (to_send[i].uuid.as_ref(), to_send[i].published))
            .collect();
        record_delivered(&self.ledger, &delivered, &mut summary.ledger_errors).await;
        for &i in &forwarded.delivered {
            let e = &to_send[i];
            let published = format_rfc3339(e.published);
            if summary
                .newest_published
                .as_ref()
                .is_none_or(|n| *n < published)
            {
                summary.newest_published = Some(published);
            }
            done.push(e.uuid.to_string());
        }
        let max_bytes = self.forwarder.config().batch_max_bytes;
        for &i in &forwarded.oversized {
            let e = &to_send[i];
            dead.push((
                Some(e.uuid.to_string()),
                DeadLetter {
                    reason: format!(
                        "event is {} bytes, more than BATCH_MAX_BYTES ({max_bytes})",
                        jsons[i].len()
                    ),
                    message_id: None,
                    content: Kept::Event(e.raw),
                },
            ));
        }
        let mut incomplete = settling.then_some(Incomplete::Settling);
        for (i, failure) in &forwarded.failed {
            let e = &to_send[*i];
            if failure.permanent {
                dead.push((
                    Some(e.uuid.to_string()),
                    DeadLetter {
                        reason: format!("not delivered: {}", failure.reason),
                        message_id: None,
                        content: Kept::Event(e.raw),
                    },
                ));
            } else {
                // Left for the next run, which reads this page again from the checkpoint.
                // An outage outranks settling: the run should say the destination is down.
                if !matches!(incomplete, Some(Incomplete::Destination(_))) {
                    incomplete = Some(Incomplete::Destination(failure.reason.clone()));
                }
            }
        }
        if !dead.is_empty() {
            let records: Vec<DeadLetter> = dead.iter().map(|(_, d)| d.clone()).collect();
            match dead_letter::keep(&*self.dead_letters, "pull", request_id, &records, now).await {
                Ok(key) => {
                    summary.dead_lettered += records.len();
                    tracing::warn!(count = records.len(), key = %key, "kept undeliverable items in the dead letters");
                    done.extend(dead.into_iter().filter_map(|(uuid, _)| uuid));
                }
                // What was delivered stays recorded as handled; the rest is read again next run.
                Err(e) => incomplete = Some(Incomplete::DeadLetters(e)),
            }
        }
        Ok(PageOutcome {
            handled: done,
            incomplete,
        })
    }
}

fn log_summary(s: &PullSummary) {
    let mut m = Metrics::default();
    m.count("EventsReceived", s.received as u64)
        .count("EventsForwarded", s.forwarded as u64)
        .count("EventsDroppedStale", s.dropped_stale as u64)
        .count("EventsDuplicate", s.duplicates as u64)
        .count("EventsAlreadyDelivered", s.already_delivered as u64)
        .count("EventsMalformed", s.malformed as u64)
        .count("EventsDeadLettered", s.dead_lettered as u64)
        .count("DestinationRequests", s.destination_requests)
        .count("LedgerErrors", s.ledger_errors as u64)
        .count("OktaRequests", s.okta_requests)
        .count("OktaRateLimitWaits", s.rate_limit_waits)
        .count("Okta429", s.okta_429)
        .destination_errors(&s.destination_errors)
        .values("DeliveryLatency", Unit::Milliseconds, &s.latencies_ms);
    if let Some(lag) = s.lag_seconds {
        m.value("PullLagSeconds", Unit::Seconds, lag);
    }
    m.emit();
    tracing::info!(
        mode = s.mode,
        pages = s.pages,
        received = s.received,
        forwarded = s.forwarded,
        dropped_stale = s.dropped_stale,
        duplicates = s.duplicates,
        malformed = s.malformed,
        already_delivered = s.already_delivered,
        ledger_errors = s.ledger_errors,
        dead_lettered = s.dead_lettered,
        okta_requests = s.okta_requests,
        rate_limit_waits = s.rate_limit_waits,
        okta_429 = s.okta_429,
        waited_ms = s.waited_ms,
        destination_requests = s.destination_requests,
        bytes = s.bytes,
        newest_published = s.newest_published.as_deref(),
        stopped = %s.stopped,
        lag_seconds = s.lag_seconds,
        ms = s.ms,
        "run summary"
    );
}

/// The checkpoint's next URL, parsed (for tests and tools).
pub fn checkpoint_url(c: &Checkpoint) -> Option<Url> {
    Url::parse(&c.next).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: [(&str, &str); 4] = [
        ("OKTA_DOMAIN", "acme.okta.com"),
        (
            "OKTA_TOKEN_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-AbCdEf",
        ),
        ("STATE_BUCKET", "okta-ingest-state"),
        ("DESTINATION_URL", "https://logs.example.com/in"),
    ];

    fn config(overrides: &[(&'static str, &'static str)]) -> Result<PullConfig, ConfigError> {
        let mut env: Vec<(String, String)> = MINIMAL
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in overrides {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.to_string()));
        }
        PullConfig::from_env(&env)
    }

    #[test]
    fn defaults_and_the_checkpoint_key_follow_the_org() {
        let c = config(&[]).unwrap();
        assert_eq!(c.checkpoint_key, "checkpoint/pull/acme.okta.com.json");
        assert_eq!(c.initial_lookback, DEFAULT_INITIAL_LOOKBACK);
        assert_eq!(c.rate_limit_headroom, DEFAULT_RATE_LIMIT_HEADROOM);
        assert_eq!(c.max_event_age, Some(config::DEFAULT_MAX_EVENT_AGE));
        assert_eq!(
            config(&[("MAX_EVENT_AGE_SECONDS", "0")])
                .unwrap()
                .max_event_age,
            None
        );
    }

    #[test]
    fn errors_name_the_variable_and_the_expected_form() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "OKTA_DOMAIN",
                "https://acme.okta.com/api/v1/logs",
                "without a path",
            ),
            ("OKTA_DOMAIN", "http://acme.okta.com", "https"),
            ("OKTA_DOMAIN", "", "required"),
            ("OKTA_TOKEN_SECRET_ARN", "", "required"),
            ("INITIAL_LOOKBACK_SECONDS", "9999999", "90-day"),
            ("INITIAL_LOOKBACK_SECONDS", "0", "more than 0"),
            ("RATE_LIMIT_HEADROOM", "0.95", "between 0 and 0.9"),
            ("RATE_LIMIT_HEADROOM", "half", "between 0 and 0.9"),
            (
                "CHECKPOINT_KEY",
                "dead-letter/x.json",
                "outside dead-letter/",
            ),
            ("OKTA_TIMEOUT_SECONDS", "soon", "number of seconds"),
        ];
        for (var, value, expected) in cases {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(&err.variable, var, "{var}={value}: {err}");
            assert!(err.to_string().contains(expected), "{var}={value}: {err}");
        }
    }

    #[test]
    fn handled_uuids_are_bounded_and_forget_the_oldest() {
        let mut h = Handled::from_vec((0..MAX_REMEMBERED_UUIDS).map(|i| i.to_string()).collect());
        h.extend(["new".to_string(), "0".to_string()]);
        assert_eq!(h.to_vec().len(), MAX_REMEMBERED_UUIDS);
        // "0" was already known, so re-adding it changes nothing; "new" pushes it out.
        assert!(h.contains("new") && h.contains("1") && !h.contains("0"));
    }
}
