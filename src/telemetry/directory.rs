//! What only a directory run has: what it sent per kind, whether its snapshot is whole, and
//! how it read Okta.

use serde::Serialize;

use crate::telemetry::metrics::Metrics;

/// One directory run (`{"directory": "full"}` or `"changes"`) in an invocation's summary.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryRunSummary {
    /// `full` or `changes`.
    pub run: &'static str,
    /// The snapshot's or changes run's id (the `run` of its records).
    pub run_id: String,
    /// Records delivered now, per kind (`{"user": 120, "group_member": 40}`).
    pub kind_counts: serde_json::Value,
    /// Of those, `deleted` records.
    pub deleted: usize,
    /// Okta list pages read.
    pub pages: usize,
    /// Requests to Okta, retries included.
    pub okta_requests: u32,
    /// 429 answers from Okta.
    pub okta_429: u32,
    /// Pauses that kept the rate-limit headroom, and time spent in them and in 429 waits.
    pub rate_limit_waits: u32,
    /// Milliseconds waited on rate limits.
    pub waited_ms: u64,
    /// Whether nothing is left: the snapshot is whole or not due (full), the changes are
    /// read up to now (changes).
    pub completed: bool,
    /// Whether this invocation completed a snapshot.
    pub snapshot_completed: bool,
    /// Why the run ended, or what is left and when it goes on.
    pub stopped: String,
    /// Where a snapshot in progress stands (`groups 1200/5000 members`), for operators.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub progress: String,
}

impl DirectoryRunSummary {
    /// Its EMF metrics.
    pub(crate) fn add_metrics(&self, m: &mut Metrics) {
        let objects: u64 = self
            .kind_counts
            .as_object()
            .map(|o| o.values().filter_map(serde_json::Value::as_u64).sum())
            .unwrap_or(0);
        m.count("DirectoryObjects", objects)
            .count("DirectoryDeleted", self.deleted)
            .count("DirectoryPages", self.pages)
            .count("OktaRequests", self.okta_requests)
            .count("Okta429", self.okta_429)
            .count("OktaRateLimitWaits", self.rate_limit_waits)
            .count(
                "DirectorySnapshotsCompleted",
                u64::from(self.snapshot_completed),
            )
            .count("DirectoryRunsIncomplete", u64::from(!self.completed));
    }
}
