//! The one summary of an invocation: the delivery counts every path shares, plus what only a
//! pull run or a replay has. It feeds the summary log line, the EMF metrics and the response.

use serde::Serialize;

use crate::telemetry::directory::DirectoryRunSummary;
use crate::telemetry::metrics::{Metrics, Unit};

/// Delivery latencies kept per invocation, for the `DeliveryLatency` metric.
pub(crate) const LATENCY_SAMPLES: usize = 100;

/// Milliseconds since `started`, for a summary's `ms`.
pub(crate) fn elapsed_ms(started: tokio::time::Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The kind of a failed destination request, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A 4xx other than 429.
    Http4xx,
    /// 429 Too Many Requests.
    Http429,
    /// A 5xx (or a `_bulk` item answering 5xx).
    Http5xx,
    /// No answer in time.
    Timeout,
    /// No connection.
    Connection,
    /// The credential could not be had.
    Credential,
}

/// Failed destination requests by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCounts {
    /// 4xx other than 429.
    pub http_4xx: u32,
    /// 429.
    pub http_429: u32,
    /// 5xx.
    pub http_5xx: u32,
    /// Timeouts.
    pub timeout: u32,
    /// Connection failures and credential errors.
    pub connection: u32,
}

impl ErrorCounts {
    /// Counts one failure of `class`.
    pub fn add(&mut self, class: ErrorClass) {
        let slot = match class {
            ErrorClass::Http4xx => &mut self.http_4xx,
            ErrorClass::Http429 => &mut self.http_429,
            ErrorClass::Http5xx => &mut self.http_5xx,
            ErrorClass::Timeout => &mut self.timeout,
            ErrorClass::Connection | ErrorClass::Credential => &mut self.connection,
        };
        *slot = slot.saturating_add(1);
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: ErrorCounts) {
        self.http_4xx = self.http_4xx.saturating_add(other.http_4xx);
        self.http_429 = self.http_429.saturating_add(other.http_429);
        self.http_5xx = self.http_5xx.saturating_add(other.http_5xx);
        self.timeout = self.timeout.saturating_add(other.timeout);
        self.connection = self.connection.saturating_add(other.connection);
    }
}

/// What the delivery pipeline did with the events of one invocation (push, pull or replay).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Items handed to the pipeline: SQS messages, events of System Log pages, replayed lines.
    pub received: usize,
    /// Events the destination accepted.
    pub forwarded: usize,
    /// Events older than `MAX_EVENT_AGE_SECONDS`, dropped.
    pub dropped_stale: usize,
    /// Events whose `eventType` `EVENT_TYPES_INCLUDE` / `EVENT_TYPES_EXCLUDE` leave out, dropped.
    pub filtered: usize,
    /// Repeats of a uuid already handled in this invocation (or at pull's resume point).
    pub duplicates: usize,
    /// Inputs that were not readable Okta events (kept in the dead letters).
    pub malformed: usize,
    /// Events alone larger than a request may be (kept in the dead letters).
    pub oversized: usize,
    /// Events the delivery ledger shows were already delivered, skipped.
    pub already_delivered: usize,
    /// Events another invocation holds a live ledger claim on: that one sends them; left to
    /// the source (SQS retries the message, pull reads it again) in case it does not.
    pub in_flight: usize,
    /// Items written to the dead letters.
    pub dead_lettered: usize,
    /// Items neither delivered nor kept: handed back to SQS or Lambda to retry.
    pub not_kept: usize,
    /// Ledger claims that left events undecided, and settles whose marks were neither
    /// written nor kept (each a WARN or ERROR line naming the cause; the `LedgerErrors` alarm).
    pub ledger_errors: usize,
    /// Events the ledger could not decide (throttled, conflicting, failing, misconfigured,
    /// too slow): not sent now, handed back to their source, unless sent unchecked.
    pub ledger_undecided: usize,
    /// Of those, undecided because the table throttled or conflicted past every retry.
    pub ledger_throttled: usize,
    /// Undecided events sent without the duplicate check (push, on a message's last receive).
    pub ledger_unchecked: usize,
    /// Delivered marks the ledger table did not take in time, kept as pending marks in the
    /// state bucket (applied by a later run; a later copy is still seen as delivered).
    pub ledger_pending: usize,
    /// HTTP requests made to the destination, retries included.
    pub destination_requests: u32,
    /// Bytes the destination accepted, as sent (compressed if gzip is on).
    pub bytes: usize,
    /// The same bytes before compression.
    pub bytes_uncompressed: usize,
    /// Failed destination requests by kind (metrics only).
    #[serde(skip)]
    pub destination_errors: ErrorCounts,
    /// Published-to-accepted times of delivered events, sampled (metrics only).
    #[serde(skip)]
    pub latencies_ms: Vec<u64>,
}

impl Counts {
    /// Adds `other` (one page, one dead-letter object) to these counts.
    pub fn add(&mut self, other: &Counts) {
        self.received += other.received;
        self.forwarded += other.forwarded;
        self.dropped_stale += other.dropped_stale;
        self.filtered += other.filtered;
        self.duplicates += other.duplicates;
        self.malformed += other.malformed;
        self.oversized += other.oversized;
        self.already_delivered += other.already_delivered;
        self.in_flight += other.in_flight;
        self.dead_lettered += other.dead_lettered;
        self.not_kept += other.not_kept;
        self.ledger_errors += other.ledger_errors;
        self.ledger_undecided += other.ledger_undecided;
        self.ledger_throttled += other.ledger_throttled;
        self.ledger_unchecked += other.ledger_unchecked;
        self.ledger_pending += other.ledger_pending;
        self.destination_requests = self
            .destination_requests
            .saturating_add(other.destination_requests);
        self.bytes += other.bytes;
        self.bytes_uncompressed += other.bytes_uncompressed;
        self.destination_errors.merge(other.destination_errors);
        let room = LATENCY_SAMPLES.saturating_sub(self.latencies_ms.len());
        self.latencies_ms
            .extend(other.latencies_ms.iter().take(room));
    }

    fn add_metrics(&self, m: &mut Metrics) {
        let e = &self.destination_errors;
        m.count("EventsReceived", self.received)
            .count("EventsForwarded", self.forwarded)
            .count("EventsDroppedStale", self.dropped_stale)
            .count("EventsFiltered", self.filtered)
            .count("EventsDuplicate", self.duplicates)
            .count("EventsAlreadyDelivered", self.already_delivered)
            .count("EventsInFlightElsewhere", self.in_flight)
            .count("EventsMalformed", self.malformed)
            .count("EventsDeadLettered", self.dead_lettered)
            .count("EventsNotKept", self.not_kept)
            .count("DestinationRequests", self.destination_requests)
            .count("LedgerErrors", self.ledger_errors)
            .count("LedgerUndecided", self.ledger_undecided)
            .count("LedgerThrottled", self.ledger_throttled)
            .count("LedgerUnchecked", self.ledger_unchecked)
            .count("LedgerPendingMarks", self.ledger_pending)
            .count("DestinationErrors4xx", e.http_4xx)
            .count("DestinationErrors429", e.http_429)
            .count("DestinationErrors5xx", e.http_5xx)
            .count("DestinationErrorsTimeout", e.timeout)
            .count("DestinationErrorsConnection", e.connection)
            .values("DeliveryLatency", Unit::Milliseconds, &self.latencies_ms);
    }
}

/// What only a pull run has: how it read Okta and where it stopped.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PullRun {
    /// `scheduled` or `backfill`.
    pub mode: &'static str,
    /// System Log pages handled.
    pub pages: usize,
    /// How the run authenticated to Okta: `api-token` or `oauth` (service app).
    pub okta_auth: Option<&'static str>,
    /// Requests to Okta, retries included.
    pub okta_requests: u32,
    /// OAuth token requests (about one an hour per container).
    pub okta_token_requests: u32,
    /// Pauses that kept the rate-limit headroom.
    pub rate_limit_waits: u32,
    /// 429 answers from Okta.
    pub okta_429: u32,
    /// Time spent waiting on rate limits.
    pub waited_ms: u64,
    /// Newest `published` among the forwarded events.
    pub newest_published: Option<String>,
    /// Why the run ended.
    pub stopped: String,
    /// Now minus the newest `published` the run handled; 0 when it reached the end of the
    /// log (caught up, or waiting for fresh events to settle).
    pub lag_seconds: Option<u64>,
    /// Events stamped more than 5 minutes after Okta's clock, delivered without settling.
    pub future_stamped: usize,
    /// Settled events a scheduled run delivered because neither push nor anything else had:
    /// about 0 while Log Streaming is healthy, a burst when it missed events.
    pub gap_filled: usize,
}

/// What only a replay has: the dead-letter objects it went through.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayRun {
    /// Dead-letter objects matching the request.
    pub objects: usize,
    /// Objects fully re-sent and deleted.
    pub objects_deleted: usize,
    /// Objects re-sent in part and rewritten with what is left.
    pub objects_rewritten: usize,
    /// Objects not reached before the deadline (or unreadable): invoke again.
    pub objects_remaining: usize,
    /// Lines still kept: not accepted, too old, or not events.
    pub still_kept: usize,
    /// Kept lines that are not Okta events (malformed input), left as they are.
    pub not_events: usize,
    /// Events older than the age limit, left kept.
    pub too_old: usize,
}

/// One invocation, as logged, measured and answered.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The delivery counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// A pull run's reading of Okta.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullRun>,
    /// A replay's dead-letter objects.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayRun>,
    /// A directory run's records and progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryRunSummary>,
    /// What Security Lake's lane beside the HTTP destination did with the same inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake: Option<Counts>,
    /// Wall time of the invocation.
    pub ms: u64,
}

impl Summary {
    /// The EMF metrics of this invocation.
    pub(crate) fn metrics(&self) -> Metrics {
        let mut m = Metrics::default();
        self.counts.add_metrics(&mut m);
        if let Some(p) = &self.pull {
            m.count("OktaRequests", p.okta_requests)
                .count("GapEventsFilled", p.gap_filled)
                .count("OktaRateLimitWaits", p.rate_limit_waits)
                .count("Okta429", p.okta_429);
            if let Some(lag) = p.lag_seconds {
                m.value("PullLagSeconds", Unit::Seconds, lag);
            }
        }
        if let Some(d) = &self.directory {
            d.add_metrics(&mut m);
        }
        if let Some(lake) = &self.lake {
            // The lake's own names: the HTTP destination's alarms and dashboard stay its own.
            m.count("LakeEventsForwarded", lake.forwarded)
                .count("LakeEventsAlreadyDelivered", lake.already_delivered)
                .count("LakeEventsDeadLettered", lake.dead_lettered)
                .count("LakeEventsNotKept", lake.not_kept)
                .count("LakeLedgerErrors", lake.ledger_errors)
                .count("LakeDestinationRequests", lake.destination_requests);
        }
        m
    }

    /// Writes the metrics line (when `emit_metrics`) and the one summary log line.
    pub(crate) fn log(&self, emit_metrics: bool) {
        if emit_metrics {
            self.metrics().emit();
        }
        let c = &self.counts;
        let p = self.pull.as_ref();
        let r = self.replay.as_ref();
        let d = self.directory.as_ref();
        let directory = d.and_then(|d| serde_json::to_string(d).ok());
        let lake = self
            .lake
            .as_ref()
            .and_then(|l| serde_json::to_string(l).ok());
        let message = match (p, r) {
            (_, _) if d.is_some() => "directory run summary",
            (Some(_), _) => "run summary",
            (None, Some(_)) => "replay summary",
            (None, None) => "invocation summary",
        };
        // Fields that are `None` are left out of the line.
        tracing::info!(
            mode = p.map(|p| p.mode),
            pages = p.map(|p| p.pages),
            objects = r.map(|r| r.objects),
            objects_deleted = r.map(|r| r.objects_deleted),
            objects_rewritten = r.map(|r| r.objects_rewritten),
            objects_remaining = r.map(|r| r.objects_remaining),
            received = c.received,
            forwarded = c.forwarded,
            dropped_stale = c.dropped_stale,
            filtered = c.filtered,
            duplicates = c.duplicates,
            malformed = c.malformed,
            oversized = c.oversized,
            already_delivered = c.already_delivered,
            in_flight = c.in_flight,
            dead_lettered = c.dead_lettered,
            not_kept = c.not_kept,
            still_kept = r.map(|r| r.still_kept),
            not_events = r.map(|r| r.not_events),
            too_old = r.map(|r| r.too_old),
            ledger_errors = c.ledger_errors,
            ledger_undecided = c.ledger_undecided,
            ledger_throttled = c.ledger_throttled,
            ledger_unchecked = c.ledger_unchecked,
            ledger_pending = c.ledger_pending,
            destination_requests = c.destination_requests,
            bytes = c.bytes,
            bytes_uncompressed = c.bytes_uncompressed,
            okta_auth = p.and_then(|p| p.okta_auth),
            okta_requests = p.map(|p| p.okta_requests),
            okta_token_requests = p.map(|p| p.okta_token_requests),
            rate_limit_waits = p.map(|p| p.rate_limit_waits),
            okta_429 = p.map(|p| p.okta_429),
            waited_ms = p.map(|p| p.waited_ms),
            newest_published = p.and_then(|p| p.newest_published.as_deref()),
            stopped = p.map(|p| p.stopped.as_str()),
            lag_seconds = p.and_then(|p| p.lag_seconds),
            future_stamped = p.map(|p| p.future_stamped),
            gap_filled = p.map(|p| p.gap_filled),
            directory = directory.as_deref(),
            lake = lake.as_deref(),
            ms = self.ms,
            "{message}"
        );
    }
}

#[cfg(test)]
mod tests;
