//! Sending a list of events to the destination: batches, bounded concurrency, retries.

use std::sync::Arc;

use futures::StreamExt;
use tokio::time::Instant;

use crate::batch;
use crate::config::DestinationConfig;
use crate::destination::Destination;
use crate::encode::encode;
use crate::retry::{self, Failure};

/// What happened to each event handed to [`Forwarder::forward`], by index.
#[derive(Debug, Default)]
pub struct Forwarded {
    /// Accepted by the destination.
    pub delivered: Vec<usize>,
    /// Not delivered, with why.
    pub failed: Vec<(usize, Failure)>,
    /// Alone larger than `BATCH_MAX_BYTES`: never sent.
    pub oversized: Vec<usize>,
    /// HTTP requests made, retries included.
    pub requests: u32,
    /// Bytes accepted, as sent.
    pub bytes: usize,
    /// Bytes accepted, before compression.
    pub bytes_uncompressed: usize,
}

/// The destination with its batching and delivery settings.
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

    /// Sends `events` (complete JSON texts, sent verbatim) in order-preserving batches,
    /// `DESTINATION_CONCURRENCY` requests at a time, retrying until `deadline`.
    pub async fn forward(&self, events: &[&str], deadline: Instant) -> Forwarded {
        let config = &self.config;
        let lens: Vec<usize> = events.iter().map(|e| e.len()).collect();
        let plan = batch::plan(
            &lens,
            config.format,
            config.batch_max_events.get(),
            config.batch_max_bytes.get(),
        );
        let mut out = Forwarded {
            oversized: plan.oversized,
            ..Forwarded::default()
        };
        // Bodies are encoded as their turn comes, so at most `concurrency` exist at once.
        let deliveries: Vec<_> = futures::stream::iter(plan.batches)
            .map(|indices| async move {
                let body = encode(
                    config.format,
                    config.gzip,
                    indices.iter().map(|&i| events[i]),
                );
                let delivery =
                    retry::deliver(&*self.destination, &body, config.timeout, deadline).await;
                (indices, delivery, body.bytes.len(), body.uncompressed_len)
            })
            .buffer_unordered(config.concurrency.get())
            .collect()
            .await;
        for (indices, delivery, bytes, uncompressed) in deliveries {
            out.requests += delivery.attempts;
            match delivery.result {
                Ok(()) => {
                    out.delivered.extend(indices);
                    out.bytes += bytes;
                    out.bytes_uncompressed += uncompressed;
                }
                Err(failure) => out
                    .failed
                    .extend(indices.into_iter().map(|i| (i, failure.clone()))),
            }
        }
        out
    }
}
