//! Sending a list of events to the destination: platform items, batches, bounded
//! concurrency, retries.

use std::borrow::Cow;
use std::sync::Arc;

use futures::StreamExt;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::destination::{Destination, Rejected};
use super::framing::{encode, Body};
use super::retry::{self, Failure};
use super::{batch, platform};
use crate::config::{is_org_label, DestinationConfig};
use crate::event::OktaEvent;
use crate::telemetry::summary::LATENCY_SAMPLES;
use crate::telemetry::ErrorCounts;

/// What happened to each event handed to [`Forwarder::forward`], by index.
#[derive(Debug, Default)]
pub struct Forwarded {
    /// Accepted by the destination.
    pub delivered: Vec<usize>,
    /// Not delivered, with why.
    pub failed: Vec<(usize, Failure)>,
    /// Larger than a request (or than the platform's item limit) on its own: never sent.
    pub oversized: Vec<usize>,
    /// HTTP requests made, retries included.
    pub requests: u32,
    /// Failed requests by kind.
    pub errors: ErrorCounts,
    /// Bytes accepted, as sent.
    pub bytes: usize,
    /// Bytes accepted, before compression.
    pub bytes_uncompressed: usize,
    /// Milliseconds from `published` to acceptance, for up to 100 delivered events.
    pub latencies_ms: Vec<u64>,
}

/// Request bodies encoded ahead of sending, by [`Forwarder::prepare`].
pub struct Prepared {
    /// Each batch: its events' indices, and its body.
    batches: Vec<(Vec<usize>, Body)>,
    /// Events too large to send.
    oversized: Vec<usize>,
}

/// The destination with its platform, batching and delivery settings.
pub struct Forwarder {
    config: DestinationConfig,
    destination: Arc<dyn Destination>,
}

impl Forwarder {
    /// Forwards to `destination` as `config` says.
    pub fn new(config: DestinationConfig, destination: Arc<dyn Destination>) -> Self {
        Forwarder {
            config,
            destination,
        }
    }

    /// The destination settings.
    pub fn config(&self) -> &DestinationConfig {
        &self.config
    }

    /// Where events go, safe to log.
    pub fn describe(&self) -> String {
        self.destination.describe()
    }

    /// Sends `events` as the platform's items (each Okta event byte for byte inside, or its
    /// OCSF mapping with `DESTINATION_SCHEMA=ocsf`), in order-preserving batches,
    /// `DESTINATION_CONCURRENCY` requests at a time, retrying until `deadline`.
    pub async fn forward(&self, events: &[&OktaEvent<'_>], deadline: Instant) -> Forwarded {
        self.forward_reporting(events, None, deadline, |_| {}).await
    }

    /// Encodes every batch of `events` before anything is sent, yielding between batches so
    /// that requests already under way (the ledger claim) go out and are answered meanwhile.
    pub async fn prepare(&self, events: &[&OktaEvent<'_>]) -> Prepared {
        let items = self.items(events);
        let plan = self.plan(events, &items);
        let mut batches = Vec::with_capacity(plan.batches.len());
        for indices in plan.batches {
            tokio::task::yield_now().await;
            let body = self.body(events, &items, &indices);
            batches.push((indices, body));
        }
        Prepared {
            batches,
            oversized: plan.oversized,
        }
    }

    /// As [`Forwarder::forward`], sending the bodies of `prepared` (from [`Forwarder::prepare`]
    /// over the same `events`) when given, and calling `accepted` with the indices of each
    /// batch's delivered events as soon as the destination has taken it, while other
    /// batches are still being sent.
    pub async fn forward_reporting(
        &self,
        events: &[&OktaEvent<'_>],
        prepared: Option<Prepared>,
        deadline: Instant,
        mut accepted: impl FnMut(&[usize]),
    ) -> Forwarded {
        let config = &self.config;
        let (items, batches, oversized) = match prepared {
            Some(p) => (
                Vec::new(),
                p.batches.into_iter().map(|(i, b)| (i, Some(b))).collect(),
                p.oversized,
            ),
            None => {
                let items = self.items(events);
                let plan = self.plan(events, &items);
                let batches: Vec<(Vec<usize>, Option<Body>)> =
                    plan.batches.into_iter().map(|i| (i, None)).collect();
                (items, batches, plan.oversized)
            }
        };
        let mut out = Forwarded {
            oversized,
            ..Forwarded::default()
        };
        let items = &items;
        // Bodies not prepared are encoded as their turn comes, so at most `concurrency`
        // exist at once.
        let deliveries = futures::stream::iter(batches)
            .map(|(indices, body)| async move {
                let body = body.unwrap_or_else(|| self.body(events, items, &indices));
                let delivery =
                    retry::deliver(&*self.destination, &body, config.timeout, deadline).await;
                (indices, delivery, body.bytes.len(), body.uncompressed_len)
            })
            .buffer_unordered(config.concurrency.get());
        let mut deliveries = std::pin::pin!(deliveries);
        while let Some((indices, delivery, bytes, uncompressed)) = deliveries.next().await {
            out.requests = out.requests.saturating_add(delivery.attempts);
            out.errors.merge(delivery.errors);
            match delivery.result {
                Ok(rejected) => {
                    out.bytes += bytes;
                    out.bytes_uncompressed += uncompressed;
                    let before = out.delivered.len();
                    out.taken(events, &indices, rejected, OffsetDateTime::now_utc());
                    accepted(&out.delivered[before..]);
                }
                Err(failure) => out
                    .failed
                    .extend(indices.into_iter().map(|i| (i, failure.clone()))),
            }
        }
        out
    }

    /// Each event as the platform's item, carrying what `DESTINATION_SCHEMA` says. Batches are
    /// planned on these bytes, so an OCSF item counts at its own size, not the Okta event's.
    fn items<'e>(&self, events: &[&'e OktaEvent<'_>]) -> Vec<Cow<'e, [u8]>> {
        let config = &self.config;
        let label = config.org_label.as_deref();
        if label.is_none() {
            warn_unlabelled(events);
        }
        events
            .iter()
            .map(|e| {
                platform::item(
                    &config.platform,
                    config.schema,
                    &config.ocsf,
                    e,
                    org(label, e),
                )
            })
            .collect()
    }

    /// The request body of the batch of `items` at `indices`.
    fn body(&self, events: &[&OktaEvent<'_>], items: &[Cow<[u8]>], indices: &[usize]) -> Body {
        let config = &self.config;
        let mut body = encode(
            platform::framing(&config.platform),
            platform::content_type(&config.platform),
            config.gzip,
            indices.iter().map(|&i| &*items[i]),
        );
        // Every event of a batch has the same org when the platform labels requests (`plan`).
        body.org = indices
            .first()
            .and_then(|&i| org(config.org_label.as_deref(), events[i]))
            .map(str::to_owned);
        body
    }

    /// The batches for `items`. An item over the platform's own limit is made to look larger
    /// than a batch, so the planner sets it aside with the others that cannot be sent. When
    /// the platform labels the org per request rather than per item, each batch holds the
    /// events of one org.
    fn plan(&self, events: &[&OktaEvent<'_>], items: &[Cow<[u8]>]) -> batch::BatchPlan {
        let config = &self.config;
        let item_limit = config
            .platform
            .limits()
            .max_item_bytes
            .unwrap_or(usize::MAX);
        let lens: Vec<usize> = items
            .iter()
            .map(|i| {
                if i.len() > item_limit {
                    usize::MAX / 2
                } else {
                    i.len()
                }
            })
            .collect();
        let framing = platform::framing(&config.platform);
        let (max_events, max_bytes) = (config.batch_max_events.get(), config.batch_max_bytes.get());
        if platform::org_per_request(&config.platform) {
            let label = config.org_label.as_deref();
            let orgs: Vec<Option<&str>> = events.iter().map(|e| org(label, e)).collect();
            batch::plan_grouped(&lens, &orgs, framing, max_events, max_bytes)
        } else {
            batch::plan(&lens, framing, max_events, max_bytes)
        }
    }
}

/// The org an event is labelled with: `OKTA_ORG_LABEL` (or pull's org), else the org of
/// its partner event source when that is a valid label. The label goes into headers, tags
/// and index names, so a source naming anything else (a line break, non-ASCII, 10 KB) labels
/// nothing: the event goes unlabelled rather than making a request that cannot be built or
/// is refused.
fn org<'x>(label: Option<&'x str>, event: &'x OktaEvent<'_>) -> Option<&'x str> {
    label.or_else(|| event.org.as_deref().filter(|o| is_org_label(o)))
}

/// Logs once per call, not per event, when events name an org that is not a valid label.
fn warn_unlabelled(events: &[&OktaEvent<'_>]) {
    let mut invalid = events
        .iter()
        .filter_map(|e| e.org.as_deref())
        .filter(|o| !is_org_label(o));
    if let Some(first) = invalid.next() {
        let count = 1 + invalid.count();
        let shown: String = first.chars().take(40).collect();
        tracing::warn!(
            events = count,
            org = ?shown,
            org_bytes = first.len(),
            "event source names an org that is not a valid label (1 to 100 letters, digits, '.', '-' or '_'); those events are sent without an org label"
        );
    }
}

impl Forwarded {
    /// A batch the destination took: its items are delivered, except those it `rejected`
    /// (by position), which are refused for good.
    fn taken(
        &mut self,
        events: &[&OktaEvent<'_>],
        indices: &[usize],
        rejected: Rejected,
        now: OffsetDateTime,
    ) {
        let mut refused = vec![None; indices.len()];
        for (position, reason) in rejected {
            if let Some(slot) = refused.get_mut(position) {
                *slot = Some(reason);
            }
        }
        for (&i, refusal) in indices.iter().zip(refused) {
            match refusal {
                None => {
                    if self.latencies_ms.len() < LATENCY_SAMPLES {
                        let age = now - events[i].published;
                        self.latencies_ms
                            .push(u64::try_from(age.whole_milliseconds()).unwrap_or(0));
                    }
                    self.delivered.push(i);
                }
                Some(reason) => self.failed.push((i, Failure::permanent(reason))),
            }
        }
    }
}
