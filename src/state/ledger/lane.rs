//! One ledger for two destinations: the keys of a second destination's lane (Security Lake
//! beside an HTTP destination) carry the lane's name, so each event is claimed, marked and
//! found delivered once per destination, in the same table and pending marks.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::{Claim, Key, Ledger, LedgerError, Settled, Terms};

/// The ledger of one lane: `inner` with every key prefixed by `<lane>#`.
pub struct LaneLedger {
    inner: Arc<dyn Ledger>,
    prefix: String,
}

impl LaneLedger {
    /// The keys of lane `lane` (`lake`) in `inner`.
    pub fn new(inner: Arc<dyn Ledger>, lane: &str) -> Self {
        LaneLedger {
            inner,
            prefix: format!("{lane}#"),
        }
    }

    fn keyed(&self, events: &[Key<'_>]) -> Vec<(String, OffsetDateTime)> {
        events
            .iter()
            .map(|(uuid, published)| (format!("{}{uuid}", self.prefix), *published))
            .collect()
    }

    fn strip(&self, key: String) -> String {
        match key.strip_prefix(&self.prefix) {
            Some(uuid) => uuid.to_owned(),
            None => key,
        }
    }

    fn strip_all(&self, keys: HashSet<String>) -> HashSet<String> {
        keys.into_iter().map(|k| self.strip(k)).collect()
    }
}

fn borrowed(keyed: &[(String, OffsetDateTime)]) -> Vec<Key<'_>> {
    keyed.iter().map(|(k, p)| (k.as_str(), *p)).collect()
}

impl Ledger for LaneLedger {
    fn describe(&self) -> String {
        format!("{} (keys {}<uuid>)", self.inner.describe(), self.prefix)
    }

    fn claims(&self) -> bool {
        self.inner.claims()
    }

    fn read<'a>(
        &'a self,
        events: &'a [Key<'a>],
    ) -> BoxFuture<'a, Result<HashSet<String>, LedgerError>> {
        Box::pin(async move {
            let keyed = self.keyed(events);
            let found = self.inner.read(&borrowed(&keyed)).await?;
            Ok(self.strip_all(found))
        })
    }

    fn claim<'a>(&'a self, events: &'a [Key<'a>], terms: Terms) -> BoxFuture<'a, Claim> {
        Box::pin(async move {
            let keyed = self.keyed(events);
            let claim = self.inner.claim(&borrowed(&keyed), terms).await;
            Claim {
                delivered: self.strip_all(claim.delivered),
                in_flight: self.strip_all(claim.in_flight),
                undecided: claim
                    .undecided
                    .into_iter()
                    .map(|(k, kind)| (self.strip(k), kind))
                    .collect::<HashMap<_, _>>(),
                trouble: claim.trouble,
            }
        })
    }

    fn settle<'a>(
        &'a self,
        delivered: &'a [Key<'a>],
        released: &'a [&'a str],
        now: OffsetDateTime,
        give_up_at: Instant,
    ) -> BoxFuture<'a, Result<Settled, LedgerError>> {
        Box::pin(async move {
            let delivered = self.keyed(delivered);
            let released: Vec<String> = released
                .iter()
                .map(|uuid| format!("{}{uuid}", self.prefix))
                .collect();
            let released: Vec<&str> = released.iter().map(String::as_str).collect();
            self.inner
                .settle(&borrowed(&delivered), &released, now, give_up_at)
                .await
        })
    }

    fn catch_up(&self, give_up_at: Instant) -> BoxFuture<'_, Result<usize, LedgerError>> {
        self.inner.catch_up(give_up_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryLedger;
    use std::time::Duration;
    use time::macros::datetime;

    fn terms() -> Terms {
        let now = datetime!(2026-12-03 12:00 UTC);
        Terms {
            now,
            lease_until: now + Duration::from_secs(120),
            give_up_at: Instant::now() + Duration::from_secs(5),
            read_first: false,
        }
    }

    #[tokio::test]
    async fn a_lane_claims_and_marks_its_own_keys_beside_the_main_lanes() {
        let table: Arc<dyn Ledger> = Arc::new(MemoryLedger::default());
        let lake = LaneLedger::new(table.clone(), "lake");
        let at = datetime!(2026-12-03 11:59 UTC);
        let events: [Key; 2] = [("e1", at), ("e2", at)];

        // Delivered on the main lane: still the lake's to send.
        assert_eq!(table.claim(&events, terms()).await, Claim::default());
        table
            .settle(&events, &[], at, Instant::now() + Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(lake.claim(&events, terms()).await, Claim::default());
        assert!(lake.read(&events).await.unwrap().is_empty());

        // The lake marks one and releases the other: answers name the bare uuids.
        lake.settle(
            &events[..1],
            &["e2"],
            at,
            Instant::now() + Duration::from_secs(5),
        )
        .await
        .unwrap();
        let again = lake.claim(&events, terms()).await;
        assert_eq!(again.delivered, HashSet::from(["e1".to_owned()]));
        assert!(again.in_flight.is_empty() && again.undecided.is_empty());
        assert_eq!(
            lake.read(&events).await.unwrap(),
            HashSet::from(["e1".to_owned()])
        );
        // And the main lane's items are untouched by the lake's.
        let main = table.read(&events).await.unwrap();
        assert_eq!(main.len(), 2);
        assert!(lake.describe().ends_with("(keys lake#<uuid>)"));
    }
}
