//! The push path: EventBridge events (through SQS, or invoked directly) into the delivery
//! pipeline, answering SQS with exactly the messages that were neither delivered nor kept.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::Diagnostic;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::DestinationConfig;
use crate::config::{Env, PushConfig};
use crate::delivery::{
    Destination, Fate, Forwarder, Input, Lanes, Outcome, Pipeline, Redelivery, Run, Unreadable,
};
use crate::event::OktaEvent;
use crate::lambda::{self, BadRequest, StartupError};
use crate::state::{DeadLetterError, DeadLetters, Kept, Ledger, ObjectStore};
use crate::telemetry::{elapsed_ms, Summary};
pub use invocation::PushPayload;
use invocation::{Body, PushInvocation};

mod invocation;
mod quick;
mod replay;

pub use replay::ReplayRequest;

/// What okta-push answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PushResponse {
    /// For SQS: the messages to retry (`ReportBatchItemFailures`).
    Sqs(SqsBatchResponse),
    /// For a direct EventBridge invocation: the counts.
    Direct(Summary),
    /// For `{"replay": {...}}`: what was re-sent.
    Replay(Summary),
}

/// Why an invocation failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Nothing could be delivered or kept; Lambda's own retry takes over.
    #[error("{count} events were neither delivered nor kept in the dead letters: {source}")]
    NotKept {
        /// How many.
        count: usize,
        /// Why the dead-letter write failed.
        source: DeadLetterError,
    },
    /// A payload that is not an invocation okta-push reads, or a replay request that cannot
    /// run as sent.
    #[error("bad request: {0}")]
    BadRequest(#[from] BadRequest),
}

impl From<PushError> for Diagnostic {
    fn from(e: PushError) -> Self {
        let kind = match e {
            PushError::NotKept { .. } => "NotKept",
            PushError::BadRequest(_) => "BadRequest",
        };
        Diagnostic {
            error_type: lambda::error_type(kind),
            error_message: e.to_string(),
        }
    }
}

/// The push handler with its long-lived clients.
pub struct PushHandler {
    config: PushConfig,
    lanes: Lanes,
    clock: fn() -> OffsetDateTime,
    emit_metrics: bool,
}

impl PushHandler {
    /// A handler over the given adapters: dead letters go to `dead_letters`.
    pub fn new(
        config: PushConfig,
        destination: Arc<dyn Destination>,
        dead_letters: Arc<dyn ObjectStore>,
        ledger: Arc<dyn Ledger>,
    ) -> Self {
        let forwarder = Forwarder::new(config.destination.clone(), destination);
        PushHandler {
            lanes: Lanes::one(Pipeline::new(
                forwarder,
                ledger,
                DeadLetters::new(dead_letters),
            )),
            config,
            clock: OffsetDateTime::now_utc,
            emit_metrics: true,
        }
    }

    /// Also writes every event, as OCSF, into Security Lake through `destination` (configured
    /// by `lake`), each exactly once beside the HTTP destination.
    pub fn with_lake(mut self, lake: DestinationConfig, destination: Arc<dyn Destination>) -> Self {
        self.lanes = self.lanes.with_lake(Forwarder::new(lake, destination));
        self
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
    pub async fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, StartupError> {
        let config = PushConfig::from_env(env)?;
        let aws = crate::aws::sdk_config().await;
        let destination = crate::delivery::destination_for(&config.destination, &aws)
            .await
            .map_err(StartupError::Http)?;
        let (state, ledger) =
            crate::aws::state(&aws, &config.state_bucket, config.ledger_table.as_deref());
        let lake = crate::delivery::lake_beside_for(config.lake.as_ref(), &aws)
            .await
            .map_err(StartupError::Http)?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            destination = %destination.describe(),
            lake_beside = lake.as_ref().map(|(_, d)| d.describe()),
            format = config.destination.platform.name(),
            schema = config.destination.schema.name(),
            gzip = config.destination.gzip,
            max_event_age_seconds = config.max_event_age.map_or(0, |d| d.as_secs()),
            state_bucket = %config.state_bucket,
            ledger = %ledger.describe(),
            "okta-push ready"
        );
        let handler = Self::new(config, destination, state, ledger);
        Ok(match lake {
            Some((config, destination)) => handler.with_lake(config, destination),
            None => handler,
        })
    }

    /// The Lambda entry point: `payload` is the invocation's body as the runtime received it
    /// (see [`crate::RawPayloads`]), read here in one pass, SQS bodies unescaped on
    /// the way ([`PushPayload::from_slice`]).
    pub async fn handle(
        &self,
        payload: &[u8],
        context: &lambda_runtime::Context,
    ) -> Result<PushResponse, PushError> {
        let deadline = lambda::lambda_deadline(context.deadline);
        let payload = PushPayload::from_slice(payload).inspect_err(|e| {
            tracing::error!(error = %e, "okta-push was invoked with a payload it does not read");
        })?;
        self.respond(&payload, &context.request_id, deadline).await
    }

    /// Handles `payload` (an SQS event, an EventBridge event or a replay request, as text)
    /// due by `deadline`.
    pub async fn handle_payload(
        &self,
        payload: &str,
        request_id: &str,
        deadline: Instant,
    ) -> Result<PushResponse, PushError> {
        let payload = PushPayload::parse(payload).inspect_err(|e| {
            tracing::error!(error = %e, "okta-push was invoked with a payload it does not read");
        })?;
        self.respond(&payload, request_id, deadline).await
    }

    async fn respond(
        &self,
        payload: &PushPayload,
        request_id: &str,
        deadline: Instant,
    ) -> Result<PushResponse, PushError> {
        let started = Instant::now();
        let invocation = PushInvocation::of(payload).inspect_err(|e| {
            tracing::error!(error = %e, "okta-push was invoked with a payload it does not read");
        })?;
        match invocation {
            PushInvocation::Replay(request) => {
                Ok(PushResponse::Replay(self.replay(&request, deadline).await?))
            }
            PushInvocation::Sqs(records) => {
                let bodies: Vec<Result<Cow<str>, String>> =
                    records.iter().map(|m| body_text(m.body)).collect();
                let inputs: Vec<Input> = records
                    .iter()
                    .zip(&bodies)
                    .map(|(m, body)| match (body, m.body) {
                        (Ok(text), _) => envelope(m.message_id, text),
                        (Err(reason), raw) => Input {
                            message_id: m.message_id,
                            event: Err(Unreadable {
                                reason: format!("malformed Okta event: {reason}"),
                                content: Kept::Raw(match raw {
                                    Some(Body::Encoded(raw)) => raw.get(),
                                    Some(Body::Text(text)) => text,
                                    None => "",
                                }),
                            }),
                        },
                    })
                    .collect();
                // A message on its last receive goes out even if the ledger cannot decide
                // it: handing it back once more would move it to the DLQ.
                let last = self.config.max_receive_count.get();
                let unchecked = |i: usize| {
                    records
                        .get(i)
                        .and_then(|r| r.receive_count)
                        .is_some_and(|n| n >= last)
                };
                let (_, outcome) = self
                    .deliver(&inputs, &unchecked, request_id, deadline, started)
                    .await;
                Ok(PushResponse::Sqs(retry_these(&inputs, &outcome)))
            }
            PushInvocation::EventBridge { id, envelope: text } => {
                let inputs = [envelope(id.as_deref(), &text)];
                // Invoked directly, nothing gives the event again for sure (Lambda's async
                // retries are 0 to 2): an undecided ledger does not hold it back.
                let (summary, outcome) = self
                    .deliver(&inputs, &|_| true, request_id, deadline, started)
                    .await;
                match outcome.dead_letter_error {
                    None => Ok(PushResponse::Direct(summary)),
                    Some(source) => Err(PushError::NotKept {
                        count: summary.counts.not_kept,
                        source,
                    }),
                }
            }
        }
    }

    /// Runs `inputs` through the pipeline and logs the invocation's summary.
    async fn deliver(
        &self,
        inputs: &[Input<'_>],
        unchecked: &dyn Fn(usize) -> bool,
        request_id: &str,
        deadline: Instant,
        started: Instant,
    ) -> (Summary, Outcome) {
        let run = Run {
            origin: "push",
            request_id,
            now: (self.clock)(),
            stop_at: lambda::deadline_with_margin(deadline),
            deadline,
            max_age: self.config.max_event_age,
            redelivery: Redelivery::Never,
            known: &|_| false,
            unchecked,
            repeats_likely: false,
        };
        let outcome = self.lanes.deliver(inputs, &run).await;
        let summary = Summary {
            counts: outcome.counts.clone(),
            lake: outcome.lake.clone(),
            ms: elapsed_ms(started),
            ..Summary::default()
        };
        summary.log(self.emit_metrics);
        (summary, outcome)
    }
}

/// One input from an EventBridge envelope's text; unreadable ones are kept as received.
fn envelope<'a>(message_id: Option<&'a str>, text: &'a str) -> Input<'a> {
    Input {
        message_id,
        event: OktaEvent::from_envelope(text).map_err(|m| Unreadable {
            reason: m.to_string(),
            content: Kept::Raw(text),
        }),
    }
}

/// An SQS body's text, or why it has none.
fn body_text(body: Option<&Body>) -> Result<Cow<'_, str>, String> {
    match body.ok_or("the SQS message has no body")? {
        Body::Text(text) => Ok(Cow::Borrowed(text)),
        Body::Encoded(raw) => serde_json::from_str::<Cow<str>>(raw.get())
            .map_err(|e| format!("the SQS message body is not a valid JSON string ({e})")),
    }
}

/// Whether `fate` is final for an SQS message: nothing is left to do, so the message may be
/// deleted. Every other fate (neither delivered nor kept, in flight elsewhere, undecided by
/// the ledger, not reached) hands the message back, including any added later.
fn is_final(fate: &Fate) -> bool {
    match fate {
        Fate::Delivered
        | Fate::AlreadyDelivered
        | Fate::Repeat
        | Fate::Stale
        | Fate::Filtered
        | Fate::Kept => true,
        Fate::InFlight | Fate::Undecided(_) | Fate::Left(_) | Fate::NotKept => false,
    }
}

/// The SQS answer: every message with an event whose fate is not final, once. SQS gives it
/// again after the visibility timeout: by then the ledger shows it delivered, or decides it,
/// or its claim has run out and this copy is sent.
fn retry_these(inputs: &[Input<'_>], outcome: &Outcome) -> SqsBatchResponse {
    let mut named = HashSet::new();
    let mut response = SqsBatchResponse::default();
    for (input, fate) in inputs.iter().zip(&outcome.fates) {
        if let (false, Some(id)) = (is_final(fate), input.message_id) {
            if named.insert(id) {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.to_owned();
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_fates_let_sqs_delete_a_message() {
        let fates = [
            Fate::Delivered,
            Fate::AlreadyDelivered,
            Fate::InFlight,
            Fate::Undecided("throttled".into()),
            Fate::Repeat,
            Fate::Stale,
            Fate::Filtered,
            Fate::Kept,
            Fate::Left("not reached".into()),
            Fate::NotKept,
        ];
        let ids: Vec<String> = (0..fates.len()).map(|i| format!("m{i}")).collect();
        let inputs: Vec<Input> = ids
            .iter()
            .map(|id| Input {
                message_id: Some(id),
                event: Err(Unreadable {
                    reason: String::new(),
                    content: Kept::Raw(""),
                }),
            })
            .collect();
        let outcome = Outcome {
            fates: fates.to_vec(),
            counts: Default::default(),
            lake: None,
            newest_delivered: None,
            dead_letter_error: None,
        };
        let retried: Vec<String> = retry_these(&inputs, &outcome)
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        assert_eq!(retried, ["m2", "m3", "m8", "m9"]);
    }
}
