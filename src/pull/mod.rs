//! The pull path: System Log pages into the delivery pipeline, resuming exactly where the
//! last run stopped (scheduled runs), or reading one window (backfills).

use std::sync::Arc;

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::{DestinationConfig, Env, PullConfig};
use crate::delivery::{Destination, Forwarder, Lanes, Outcome, Pipeline};
use crate::directory::{Directory, DirectoryReport, DirectoryRun};
use crate::event::format_rfc3339;
use crate::lambda::{self, BadRequest, StartupError};
use crate::okta::{HttpSystemLog, OktaLists, SystemLog};
use crate::secret::{SecretSource, SecretsManagerSource};
use crate::state::{CheckpointStore, DeadLetters, Ledger, ObjectStore};
use crate::telemetry::{elapsed_ms, Counts, PullRun, Summary};
use invocation::PullInvocation;

mod backfill;
mod check;
mod error;
mod invocation;
mod page;
mod scheduled;
mod stopped;

pub use check::CheckReport;
pub use error::PullError;
use stopped::Stopped;

/// What okta-pull answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PullResponse {
    /// A scheduled run or a backfill.
    Run(Box<Summary>),
    /// `{"check": true}`: the connection check.
    Check(CheckReport),
}

/// Which kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Scheduled,
    Backfill,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Scheduled => "scheduled",
            Mode::Backfill => "backfill",
        }
    }
}

/// What one run has done so far.
#[derive(Debug, Default)]
struct Tally {
    counts: Counts,
    /// The Security Lake lane's counts, beside the HTTP destination.
    lake: Option<Counts>,
    pages: usize,
    /// Newest `published` among the events handled.
    newest_seen: Option<OffsetDateTime>,
    /// Newest `published` among the events delivered.
    newest_delivered: Option<OffsetDateTime>,
    /// Newest `published` of the pages handled whole (a backfill's resume point).
    newest_done: Option<OffsetDateTime>,
    stopped: Option<Stopped>,
    /// Events stamped in the future, delivered without settling.
    future_stamped: usize,
}

impl Tally {
    fn add(&mut self, outcome: &Outcome) {
        self.pages += 1;
        self.counts.add(&outcome.counts);
        crate::delivery::add_lake(&mut self.lake, outcome.lake.as_ref());
        self.newest_delivered = self.newest_delivered.max(outcome.newest_delivered);
    }

    fn stop(&mut self, why: Stopped) {
        self.stopped = Some(why);
    }

    /// The newest `published` delivered, as Okta writes it.
    fn newest_published(&self) -> Option<String> {
        self.newest_delivered.map(format_rfc3339)
    }
}

/// The pull handler with its long-lived clients.
pub struct PullHandler {
    config: PullConfig,
    log: Arc<dyn SystemLog>,
    lanes: Lanes,
    checkpoints: CheckpointStore,
    /// The state bucket (dead letters, and the directory's state).
    state: Arc<dyn ObjectStore>,
    directory: Option<Directory>,
    clock: fn() -> OffsetDateTime,
}

impl PullHandler {
    /// A handler over the given adapters: dead letters go to `dead_letters`.
    pub fn new(
        config: PullConfig,
        log: Arc<dyn SystemLog>,
        destination: Arc<dyn Destination>,
        checkpoints: CheckpointStore,
        dead_letters: Arc<dyn ObjectStore>,
        ledger: Arc<dyn Ledger>,
    ) -> Self {
        let forwarder = Forwarder::new(config.destination.clone(), destination);
        PullHandler {
            config,
            log,
            lanes: Lanes::one(Pipeline::new(
                forwarder,
                ledger,
                DeadLetters::new(dead_letters.clone()),
            )),
            checkpoints,
            state: dead_letters,
            directory: None,
            clock: OffsetDateTime::now_utc,
        }
    }

    /// Also writes every event, as OCSF, into Security Lake through `destination` (configured
    /// by `lake`), each exactly once beside the HTTP destination.
    pub fn with_lake(mut self, lake: DestinationConfig, destination: Arc<dyn Destination>) -> Self {
        self.lanes = self.lanes.with_lake(Forwarder::new(lake, destination));
        self
    }

    /// Adds the directory runs, reading Okta's lists through `lists` (in production the
    /// same client as the System Log, so both keep to the same rate limits).
    pub fn with_directory(mut self, lists: Arc<dyn OktaLists>) -> Self {
        let org_label = self
            .config
            .destination
            .org_label
            .clone()
            .unwrap_or_else(|| self.config.org.label());
        self.directory = Some(Directory::new(
            lists,
            self.state.clone(),
            self.config.directory.clone(),
            org_label,
        ));
        self
    }

    /// Builds the production handler: configuration from `env`, AWS and HTTP clients.
    pub async fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, StartupError> {
        let config = PullConfig::from_env(env)?;
        let aws = crate::aws::sdk_config().await;
        let secrets = crate::aws::secrets_client(&aws);
        // Raw: the secret's shape decides API token or service app (okta::Credential).
        let token: Arc<dyn SecretSource> = Arc::new(SecretsManagerSource::raw(
            secrets.clone(),
            config.token_secret_arn.clone(),
        ));
        let log = HttpSystemLog::new(
            config.org.clone(),
            token,
            config.token_secret_arn.clone(),
            config.rate_limit_headroom,
            config.okta_timeout,
        )
        .map_err(StartupError::Http)?;
        let destination = crate::delivery::destination_for(&config.destination, &aws)
            .await
            .map_err(StartupError::Http)?;
        let (state, ledger) =
            crate::aws::state(&aws, &config.state_bucket, config.ledger_table.as_deref());
        let checkpoints = CheckpointStore::new(state.clone(), config.checkpoint_key.clone());
        let lake = crate::delivery::lake_beside_for(config.lake.as_ref(), &aws)
            .await
            .map_err(StartupError::Http)?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            org = %config.org.authority(),
            settle_delay_seconds = config.settle_delay.as_secs(),
            destination = %destination.describe(),
            lake_beside = lake.as_ref().map(|(_, d)| d.describe()),
            format = config.destination.platform.name(),
            schema = config.destination.schema.name(),
            checkpoint = %checkpoints.location(),
            initial_lookback_seconds = config.initial_lookback.as_secs(),
            max_event_age_seconds = config.max_event_age.map_or(0, |d| d.as_secs()),
            rate_limit_headroom = config.rate_limit_headroom,
            ledger = %ledger.describe(),
            "okta-pull ready"
        );
        let log = Arc::new(log);
        let directory = config.directory.enabled;
        let mut handler = Self::new(config, log.clone(), destination, checkpoints, state, ledger);
        if let Some((config, destination)) = lake {
            handler = handler.with_lake(config, destination);
        }
        Ok(if directory {
            handler.with_directory(log)
        } else {
            handler
        })
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    /// The Lambda entry point: a scheduled run, a backfill, or the connection check.
    pub async fn handle(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<PullResponse, PullError> {
        let deadline = lambda::lambda_deadline(event.context.deadline);
        match self.parse(event.payload.get())? {
            PullInvocation::Check => Ok(PullResponse::Check(self.check(deadline).await)),
            run => self
                .run(run, &event.context.request_id, deadline)
                .await
                .map(|s| PullResponse::Run(Box::new(s))),
        }
    }

    /// Runs `payload` (`{}`, a schedule event, or `{"since","until"}`) due by `deadline`.
    pub async fn handle_payload(
        &self,
        payload: &str,
        request_id: &str,
        deadline: Instant,
    ) -> Result<Summary, PullError> {
        let invocation = self.parse(payload)?;
        self.run(invocation, request_id, deadline).await
    }

    fn parse(&self, payload: &str) -> Result<PullInvocation, PullError> {
        PullInvocation::parse(payload, (self.clock)())
            .inspect_err(|e| {
                tracing::error!(error = %e, "okta-pull was invoked with a payload it does not read");
            })
            .map_err(PullError::from)
    }

    /// A scheduled run or a backfill, with its summary logged and returned.
    async fn run(
        &self,
        invocation: PullInvocation,
        request_id: &str,
        deadline: Instant,
    ) -> Result<Summary, PullError> {
        let started = Instant::now();
        let mut tally = Tally::default();
        let (mode, result) = match invocation {
            PullInvocation::Directory(run) => {
                return self.run_directory(run, request_id, deadline, started).await
            }
            PullInvocation::Check => {
                return Err(PullError::BadRequest(BadRequest(
                    "{\"check\": true} is answered by the connection check, not a run".into(),
                )))
            }
            PullInvocation::Scheduled => (
                Mode::Scheduled,
                self.run_scheduled(request_id, deadline, &mut tally).await,
            ),
            PullInvocation::Backfill(window) => (
                Mode::Backfill,
                self.run_backfill(&window, request_id, deadline, &mut tally)
                    .await,
            ),
        };
        let summary = self.summary(mode, &tally, result.as_ref().err(), started);
        summary.log(true);
        result.map(|()| summary)
    }

    /// A directory run, with its summary logged and returned.
    async fn run_directory(
        &self,
        run: DirectoryRun,
        request_id: &str,
        deadline: Instant,
        started: Instant,
    ) -> Result<Summary, PullError> {
        let Some(directory) = &self.directory else {
            return Err(PullError::BadRequest(BadRequest(
                "this okta-pull reads no directory: DIRECTORY_ENABLED is false (the stack's DirectoryEnabled parameter)".into(),
            )));
        };
        let mut report = DirectoryReport::default();
        let result = directory
            .run(
                run,
                self.lanes.main(),
                request_id,
                self.clock,
                deadline,
                &mut report,
            )
            .await;
        let mut part = report.summary(run, directory.lists());
        if let Err(e) = &result {
            tracing::error!(error = %e, "directory run failed");
            part.stopped = format!("error: {e}");
            part.completed = false;
        }
        let summary = Summary {
            counts: report.counts,
            directory: Some(part),
            ms: elapsed_ms(started),
            ..Summary::default()
        };
        summary.log(true);
        result.map(|()| summary).map_err(PullError::from)
    }

    /// The run's summary, with its lag: 0 when it reached the end of the log.
    fn summary(
        &self,
        mode: Mode,
        tally: &Tally,
        error: Option<&PullError>,
        started: Instant,
    ) -> Summary {
        let stats = self.log.take_stats();
        let lag_seconds = match (error, mode, &tally.stopped) {
            (Some(_), _, _) | (None, Mode::Backfill, _) => None,
            (None, Mode::Scheduled, Some(Stopped::CaughtUp)) => Some(0),
            (None, Mode::Scheduled, stopped) => match tally.newest_seen {
                Some(newest) => {
                    Some(u64::try_from(((self.clock)() - newest).whole_seconds()).unwrap_or(0))
                }
                None => matches!(stopped, Some(Stopped::Settling | Stopped::InFlight)).then_some(0),
            },
        };
        if let Some(e) = error {
            tracing::error!(error = %e, "okta-pull run failed");
        }
        Summary {
            counts: tally.counts.clone(),
            lake: tally.lake.clone(),
            pull: Some(PullRun {
                mode: mode.as_str(),
                pages: tally.pages,
                okta_auth: stats.auth,
                okta_requests: stats.requests,
                okta_token_requests: stats.token_requests,
                rate_limit_waits: stats.rate_limit_waits,
                okta_429: stats.http_429,
                waited_ms: stats.waited_ms,
                newest_published: tally.newest_published(),
                stopped: match (error, &tally.stopped) {
                    (Some(e), _) => format!("error: {e}"),
                    (None, Some(s)) => s.to_string(),
                    (None, None) => String::new(),
                },
                lag_seconds,
                future_stamped: tally.future_stamped,
                gap_filled: match mode {
                    Mode::Scheduled => tally.counts.forwarded,
                    Mode::Backfill => 0,
                },
            }),
            replay: None,
            directory: None,
            ms: elapsed_ms(started),
        }
    }
}
