//! The push path: EventBridge events (direct or through SQS) to destination batches, losing nothing.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::{ConfigError, Env, PushConfig};
use crate::dead_letter::{self, DeadLetter, DeadLetterStore, Kept, S3DeadLetters, StoreError};
use crate::destination::{Destination, HttpDestination};
use crate::event::{format_rfc3339, OktaEvent};
use crate::forward::Forwarder;
use crate::ledger::{Ledger, S3LedgerStore};
use crate::metrics::{Metrics, Unit};
use crate::replay::{ReplayError, ReplayRequest, ReplaySummary};

/// Time kept back from the Lambda deadline for writing dead letters and answering.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// Counts for one invocation; logged as one line and returned to direct invocations.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Messages or events received.
    pub received: usize,
    /// Events the destination accepted.
    pub forwarded: usize,
    /// Events dropped because `published` is older than `MAX_EVENT_AGE_SECONDS`.
    pub dropped_stale: usize,
    /// Repeats of a uuid already in this invocation, forwarded once.
    pub duplicates: usize,
    /// Inputs that were not readable Okta events (kept in the dead letters).
    pub malformed: usize,
    /// Events alone larger than `BATCH_MAX_BYTES` (kept in the dead letters).
    pub oversized: usize,
    /// Items written to the dead letters (malformed, oversized and undeliverable).
    pub dead_lettered: usize,
    /// Items neither delivered nor kept: handed back to SQS or Lambda to retry.
    pub not_kept: usize,
    /// Events the delivery ledger shows were already delivered (by push or pull), skipped.
    pub already_delivered: usize,
    /// Ledger reads or writes that failed (delivery went on; a duplicate becomes possible).
    pub ledger_errors: usize,
    /// HTTP requests made to the destination, retries included.
    pub requests: u32,
    /// Bytes the destination accepted, as sent (compressed if gzip is on).
    pub bytes: usize,
    /// The same bytes before compression.
    pub bytes_uncompressed: usize,
    /// Wall time of the invocation.
    pub ms: u64,
    /// Failed destination requests by kind (metrics only).
    #[serde(skip)]
    pub destination_errors: crate::retry::ErrorCounts,
    /// Published-to-accepted times of delivered events, sampled (metrics only).
    #[serde(skip)]
    pub latencies_ms: Vec<u64>,
}

/// What okta-push answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PushResponse {
    /// For SQS: the messages to retry (`ReportBatchItemFailures`).
    Sqs(SqsBatchResponse),
    /// For a direct EventBridge invocation: the counts.
    Direct(Summary),
    /// For `{"replay": {...}}`: what was re-sent.
    Replay(ReplaySummary),
}

/// Why an invocation failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Nothing could be delivered or kept; Lambda's own retry (and on-failure destination)
    /// takes over.
    #[error("{count} events were neither delivered nor kept in the dead letters: {source}")]
    NotKept {
        /// How many.
        count: usize,
        /// Why the dead-letter write failed.
        source: StoreError,
    },
    /// A replay request that cannot run.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

impl From<PushError> for Diagnostic {
    fn from(e: PushError) -> Self {
        let kind = match e {
            PushError::NotKept { .. } => "NotKept",
            PushError::Replay(_) => "BadRequest",
        };
        Diagnostic {
            error_type: format!("OktaIngest.{kind}"),
            error_message: e.to_string(),
        }
    }
}

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A configuration variable is wrong.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built (TLS roots).
    #[error("HTTP client: {0}")]
    Http(String),
}

/// One input item: an SQS message or a direct invocation's payload.
struct Input<'a> {
    id: Option<&'a str>,
    text: &'a str,
}

/// The push handler with its long-lived clients.
pub struct PushHandler {
    pub(crate) config: PushConfig,
    pub(crate) forwarder: Forwarder,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) dead_letters: Arc<dyn DeadLetterStore>,
    pub(crate) clock: fn() -> OffsetDateTime,
    emit_metrics: bool,
}

impl PushHandler {
    /// A handler over the given adapters.
    pub fn new(
        config: PushConfig,
        destination: Arc<dyn Destination>,
        dead_letters: Arc<dyn DeadLetterStore>,
        ledger: Arc<Ledger>,
    ) -> Self {
        PushHandler {
            forwarder: Forwarder::new(config.destination.clone(), destination),
            ledger,
            config,
            dead_letters,
            clock: OffsetDateTime::now_utc,
            emit_metrics: true,
        }
    }

    /// Turns the metrics line off (in-process benchmarks, where stdout is a terminal).
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.emit_metrics = on;
        self
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: fn() -> OffsetDateTime) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the production handler: configuration from `env`, AWS clients, HTTP client.
    pub async fn from_env(env: &impl Env) -> Result<Self, StartupError> {
        let config = PushConfig::from_env(env)?;
        let aws = crate::aws::sdk_config().await;
        let destination = HttpDestination::with_secrets_manager(
            &config.destination,
            &crate::aws::secrets_client(&aws),
        )
        .map_err(StartupError::Http)?;
        let s3 = crate::aws::s3_client(&aws);
        let ledger = Ledger::new(Arc::new(S3LedgerStore::new(
            s3.clone(),
            config.state_bucket.clone(),
        )));
        let dead_letters = S3DeadLetters::new(s3, config.state_bucket.clone());
        tracing::info!(
            destination = %destination.describe(),
            format = config.destination.platform.name(),
            gzip = config.destination.gzip,
            max_event_age_seconds = config.max_event_age.map_or(0, |d| d.as_secs()),
            state_bucket = %config.state_bucket,
            "okta-push ready"
        );
        Ok(Self::new(
            config,
            Arc::new(destination),
            Arc::new(dead_letters),
            Arc::new(ledger),
        ))
    }

    /// The Lambda entry point: an SQS batch or a single EventBridge event.
    pub async fn handle(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<PushResponse, PushError> {
        let deadline = lambda_deadline(event.context.deadline);
        self.handle_payload(event.payload.get(), &event.context.request_id, deadline)
            .await
    }

    /// Handles `payload` (an SQS event or an EventBridge event) due by `deadline`.
    pub async fn handle_payload(
        &self,
        payload: &str,
        request_id: &str,
        deadline: Instant,
    ) -> Result<PushResponse, PushError> {
        let started = Instant::now();
        if let Some(request) = replay_request(payload) {
            return Ok(PushResponse::Replay(self.replay(&request, deadline).await?));
        }
        // Lambda's SQS events always have `Records`; anything else is a direct invocation.
        let sqs = payload
            .contains("\"Records\"")
            .then(|| serde_json::from_str::<SqsEvent>(payload).ok())
            .flatten();
        match sqs {
            Some(sqs) => {
                let inputs: Vec<Input> = sqs
                    .records
                    .iter()
                    .map(|m| Input {
                        id: m.message_id.as_deref(),
                        text: m.body.as_deref().unwrap_or(""),
                    })
                    .collect();
                let (summary, not_kept) =
                    self.process(&inputs, request_id, deadline, started).await;
                let mut failures: Vec<BatchItemFailure> = Vec::new();
                let mut named = HashSet::new();
                for i in not_kept {
                    if let Some(id) = inputs[i].id.filter(|id| named.insert(*id)) {
                        let mut f = BatchItemFailure::default();
                        f.item_identifier = id.to_owned();
                        failures.push(f);
                    }
                }
                let mut response = SqsBatchResponse::default();
                response.batch_item_failures = failures;
                let _ = summary;
                Ok(PushResponse::Sqs(response))
            }
            None => {
                let id = envelope_id(payload);
                let inputs = [Input {
                    id: id.as_deref(),
                    text: payload,
                }];
                let (summary, not_kept) =
                    self.process(&inputs, request_id, deadline, started).await;
                match not_kept.is_empty() {
                    true => Ok(PushResponse::Direct(summary)),
                    false => Err(self.last_store_error(not_kept.len())),
                }
            }
        }
    }

    fn last_store_error(&self, count: usize) -> PushError {
        PushError::NotKept {
            count,
            source: StoreError {
                location: format!(
                    "s3://{}/{}",
                    self.config.state_bucket,
                    dead_letter::DEAD_LETTER_PREFIX
                ),
                message: "see the preceding error log line".into(),
            },
        }
    }

    /// Filters, batches, delivers and dead-letters `inputs`. Returns the counts and the
    /// indices of inputs that were neither delivered nor kept.
    async fn process(
        &self,
        inputs: &[Input<'_>],
        request_id: &str,
        lambda_deadline: Instant,
        started: Instant,
    ) -> (Summary, Vec<usize>) {
        let now = (self.clock)();
        let mut summary = Summary {
            received: inputs.len(),
            ..Summary::default()
        };
        let mut dead: Vec<(usize, DeadLetter)> = Vec::new();
        let mut events: Vec<(usize, OktaEvent)> = Vec::with_capacity(inputs.len());
        let mut seen: HashSet<Cow<str>> = HashSet::with_capacity(inputs.len());

        for (i, input) in inputs.iter().enumerate() {
            let event = match OktaEvent::from_envelope(input.text) {
                Ok(e) => e,
                Err(m) => {
                    summary.malformed += 1;
                    tracing::warn!(message_id = input.id, reason = %m.reason, "malformed input: keeping it in the dead letters");
                    dead.push((
                        i,
                        DeadLetter {
                            reason: m.to_string(),
                            message_id: input.id,
                            content: Kept::Raw(input.text),
                        },
                    ));
                    continue;
                }
            };
            let age = event.age(now);
            if let Some(max) = self.config.max_event_age {
                if age > max {
                    summary.dropped_stale += 1;
                    tracing::info!(
                        uuid = %event.uuid,
                        published = %format_rfc3339(event.published),
                        age_seconds = age.whole_seconds(),
                        max_event_age_seconds = max.as_secs(),
                        "dropped stale event: older than MAX_EVENT_AGE_SECONDS"
                    );
                    continue;
                }
            }
            if !seen.insert(event.uuid.clone()) {
                summary.duplicates += 1;
                tracing::debug!(uuid = %event.uuid, "duplicate uuid in this invocation: forwarded once");
                continue;
            }
            events.push((i, event));
        }
        self.skip_already_delivered(&mut events, &mut summary).await;

        let jsons: Vec<&str> = events.iter().map(|(_, e)| e.json()).collect();
        let refs: Vec<&OktaEvent> = events.iter().map(|(_, e)| e).collect();
        let forwarded = self
            .forwarder
            .forward(&refs, deadline_with_margin(lambda_deadline))
            .await;
        let max_bytes = self.forwarder.config().batch_max_bytes;
        for &j in &forwarded.oversized {
            let (i, e) = &events[j];
            summary.oversized += 1;
            tracing::warn!(uuid = %e.uuid, bytes = jsons[j].len(), "event larger than BATCH_MAX_BYTES: keeping it in the dead letters");
            dead.push((
                *i,
                DeadLetter {
                    reason: format!(
                        "event is {} bytes, more than BATCH_MAX_BYTES ({max_bytes})",
                        jsons[j].len()
                    ),
                    message_id: inputs[*i].id,
                    content: Kept::Event(e.raw),
                },
            ));
        }
        for (j, failure) in forwarded.failed {
            let (i, e) = &events[j];
            dead.push((
                *i,
                DeadLetter {
                    reason: format!("not delivered: {}", failure.reason),
                    message_id: inputs[*i].id,
                    content: Kept::Event(e.raw),
                },
            ));
        }
        summary.forwarded = forwarded.delivered.len();
        let delivered: Vec<(&str, OffsetDateTime)> = forwarded
            .delivered
            .iter()
            .map(|&j| (events[j].1.uuid.as_ref(), events[j].1.published))
            .collect();
        record_delivered(&self.ledger, &delivered, &mut summary.ledger_errors).await;
        summary.requests = forwarded.requests;
        summary.destination_errors = forwarded.errors;
        summary.latencies_ms = forwarded.latencies_ms.clone();
        summary.bytes = forwarded.bytes;
        summary.bytes_uncompressed = forwarded.bytes_uncompressed;

        let mut not_kept = Vec::new();
        if !dead.is_empty() {
            let records: Vec<DeadLetter> = dead.iter().map(|(_, d)| d.clone()).collect();
            match dead_letter::keep(&*self.dead_letters, "push", request_id, &records, now).await {
                Ok(key) => {
                    summary.dead_lettered = records.len();
                    tracing::warn!(count = records.len(), key = %key, "kept undeliverable items in the dead letters");
                }
                Err(e) => {
                    summary.not_kept = records.len();
                    tracing::error!(count = records.len(), error = %e, "could not keep undeliverable items: returning them for retry");
                    not_kept = dead.iter().map(|(i, _)| *i).collect();
                }
            }
        }
        summary.ms = started.elapsed().as_millis() as u64;
        log_summary(&summary, self.emit_metrics);
        (summary, not_kept)
    }
}

impl PushHandler {
    /// Drops from `events` those the ledger shows were delivered already.
    async fn skip_already_delivered(
        &self,
        events: &mut Vec<(usize, OktaEvent<'_>)>,
        summary: &mut Summary,
    ) {
        if events.is_empty() {
            return;
        }
        let keys: Vec<(&str, OffsetDateTime)> = events
            .iter()
            .map(|(_, e)| (e.uuid.as_ref(), e.published))
            .collect();
        match self.ledger.delivered(&keys).await {
            Ok(done) if done.is_empty() => {}
            Ok(done) => {
                events.retain(|(_, e)| !done.contains(e.uuid.as_ref()));
                summary.already_delivered = done.len();
                tracing::info!(
                    count = done.len(),
                    "skipped events the delivery ledger shows as delivered"
                );
            }
            Err(e) => {
                summary.ledger_errors += 1;
                tracing::warn!(error = %e, "delivery ledger unreadable: forwarding without the duplicate check");
            }
        }
    }
}

/// Records `delivered` in the ledger; a failure is logged and counted, never fatal: the
/// events did reach the destination.
pub(crate) async fn record_delivered(
    ledger: &Ledger,
    delivered: &[(&str, OffsetDateTime)],
    errors: &mut usize,
) {
    if delivered.is_empty() {
        return;
    }
    if let Err(e) = ledger.record(delivered).await {
        *errors += 1;
        tracing::error!(error = %e, count = delivered.len(), "delivered, but could not record it in the delivery ledger: a later duplicate is possible");
    }
}

fn log_summary(s: &Summary, emit_metrics: bool) {
    let mut m = Metrics::default();
    m.count("EventsReceived", s.received as u64)
        .count("EventsForwarded", s.forwarded as u64)
        .count("EventsDroppedStale", s.dropped_stale as u64)
        .count("EventsDuplicate", s.duplicates as u64)
        .count("EventsAlreadyDelivered", s.already_delivered as u64)
        .count("EventsMalformed", s.malformed as u64)
        .count("EventsDeadLettered", s.dead_lettered as u64)
        .count("EventsNotKept", s.not_kept as u64)
        .count("DestinationRequests", s.requests)
        .count("LedgerErrors", s.ledger_errors as u64)
        .destination_errors(&s.destination_errors)
        .values("DeliveryLatency", Unit::Milliseconds, &s.latencies_ms);
    if emit_metrics {
        m.emit();
    }
    tracing::info!(
        received = s.received,
        forwarded = s.forwarded,
        dropped_stale = s.dropped_stale,
        duplicates = s.duplicates,
        malformed = s.malformed,
        oversized = s.oversized,
        dead_lettered = s.dead_lettered,
        not_kept = s.not_kept,
        already_delivered = s.already_delivered,
        ledger_errors = s.ledger_errors,
        requests = s.requests,
        bytes = s.bytes,
        bytes_uncompressed = s.bytes_uncompressed,
        ms = s.ms,
        "invocation summary"
    );
}

/// `{"replay": {...}}`, the manual invocation that re-sends dead letters.
fn replay_request(payload: &str) -> Option<ReplayRequest> {
    #[derive(serde::Deserialize)]
    struct Wrapper {
        replay: ReplayRequest,
    }
    if !payload.contains("\"replay\"") {
        return None;
    }
    serde_json::from_str::<Wrapper>(payload)
        .ok()
        .map(|w| w.replay)
}

/// The `id` of an EventBridge envelope, for naming a direct invocation's dead letter.
fn envelope_id(payload: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<String>,
    }
    serde_json::from_str::<Id>(payload).ok().and_then(|i| i.id)
}

/// The Lambda deadline (epoch milliseconds) as a monotonic instant.
pub fn lambda_deadline(deadline_epoch_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))
}

/// When delivery must stop so dead letters can still be written: [`DEADLINE_MARGIN`]
/// before the deadline, or a third of the time left if that is shorter.
pub fn deadline_with_margin(deadline: Instant) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    deadline - DEADLINE_MARGIN.min(left / 3)
}
