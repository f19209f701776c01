//! The delivery ledger in memory, for local runs and tests: the same claims as the DynamoDB
//! table (one item per uuid, leases, owners, take-over of run-out claims, pending marks), over
//! one table that several "containers" can share, and faults a test scripts: claims throttled,
//! conflicting, refused, failing or slow, delivered marks left unprocessed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::decide::{until_decided, Attempt};
use super::{Claim, Key, Ledger, LedgerError, PendingMarks, Settled, Terms, Trouble, TroubleKind};

/// A fault the memory ledger plays, once per attempt, in the order scripted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerFault {
    /// The next claim attempt leaves every event undecided for this reason.
    Claims(TroubleKind),
    /// The next claim attempt answers only after this long.
    SlowClaims(Duration),
    /// The next settle leaves every delivered mark unwritten (DynamoDB's `UnprocessedItems`).
    Unprocessed,
}

#[derive(Debug, Clone)]
enum Item {
    Claimed { owner: String, lease_ms: i128 },
    Delivered,
}

#[derive(Default)]
struct Shared {
    items: HashMap<String, Item>,
    faults: VecDeque<LedgerFault>,
    /// Claim attempts made (each a round of requests to a real table).
    attempts: usize,
}

/// The ledger in memory, as one container sees it.
pub struct MemoryLedger {
    shared: Arc<Mutex<Shared>>,
    owner: String,
    pending: Option<PendingMarks>,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        MemoryLedger {
            shared: Arc::default(),
            owner: format!("{:016x}", fastrand::u64(..)),
            pending: None,
        }
    }
}

impl MemoryLedger {
    /// Another container over the same table (and the same script).
    pub fn sharing(&self) -> Self {
        MemoryLedger {
            shared: self.shared.clone(),
            owner: format!("{:016x}", fastrand::u64(..)),
            pending: self.pending.clone(),
        }
    }

    /// Marks that cannot be written are kept in `pending`.
    pub fn with_pending(mut self, pending: PendingMarks) -> Self {
        self.pending = Some(pending);
        self
    }

    /// Plays `faults`, one per attempt, after those already scripted.
    pub fn script(&self, faults: impl IntoIterator<Item = LedgerFault>) {
        self.lock().faults.extend(faults);
    }

    /// `claimed` or `delivered`, as the table holds `uuid`.
    pub fn state(&self, uuid: &str) -> Option<&'static str> {
        self.lock().items.get(uuid).map(|i| match i {
            Item::Claimed { .. } => "claimed",
            Item::Delivered => "delivered",
        })
    }

    /// Claim attempts made so far.
    pub fn attempts(&self) -> usize {
        self.lock().attempts
    }

    /// Every claim's lease runs out now (its claimer died, or time passed).
    pub fn run_out_claims(&self) {
        for item in self.lock().items.values_mut() {
            if let Item::Claimed { lease_ms, .. } = item {
                *lease_ms = i128::MIN;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next fault, if it is of the kind `wanted` picks.
    fn next_fault(&self, wanted: fn(&LedgerFault) -> bool) -> Option<LedgerFault> {
        let mut shared = self.lock();
        if shared.faults.front().is_some_and(wanted) {
            shared.faults.pop_front()
        } else {
            None
        }
    }

    async fn attempt<'u>(&self, todo: Vec<&'u str>, terms: &Terms) -> Attempt<'u> {
        self.lock().attempts += 1;
        let fault =
            self.next_fault(|f| matches!(f, LedgerFault::Claims(_) | LedgerFault::SlowClaims(_)));
        match fault {
            Some(LedgerFault::Claims(kind)) => {
                let detail = format!("memory ledger: scripted {}", kind.as_str());
                return Attempt::failed(&todo, Trouble { kind, detail });
            }
            Some(LedgerFault::SlowClaims(d))
                if tokio::time::timeout_at(terms.give_up_at, tokio::time::sleep(d))
                    .await
                    .is_err() =>
            {
                let detail = "memory ledger: no answer in time".to_owned();
                let kind = TroubleKind::TimedOut;
                return Attempt::failed(&todo, Trouble { kind, detail });
            }
            _ => {}
        }
        let now_ms = terms.now.unix_timestamp_nanos() / 1_000_000;
        let lease_ms = terms.lease_until.unix_timestamp_nanos() / 1_000_000;
        let mut answer = Attempt::default();
        let mut run_out = Vec::new();
        {
            let mut shared = self.lock();
            for uuid in todo {
                match shared.items.get(uuid) {
                    Some(Item::Delivered) => answer.delivered.push(uuid.to_owned()),
                    Some(Item::Claimed { owner, lease_ms }) if *owner != self.owner => {
                        if *lease_ms >= now_ms {
                            answer.in_flight.push(uuid.to_owned());
                        } else {
                            run_out.push(uuid);
                        }
                    }
                    _ => self.take(&mut shared, uuid, lease_ms),
                }
            }
        }
        if !run_out.is_empty() {
            let found = match &self.pending {
                Some(p) => match p.among(&run_out).await {
                    Ok(found) => found,
                    Err(e) => {
                        let kind = TroubleKind::Unavailable;
                        let detail = e.to_string();
                        answer.merge(Attempt::failed(&run_out, Trouble { kind, detail }));
                        return answer;
                    }
                },
                None => HashSet::new(),
            };
            let mut shared = self.lock();
            for uuid in run_out {
                if found.contains(uuid) {
                    answer.delivered.push(uuid.to_owned());
                } else {
                    self.take(&mut shared, uuid, lease_ms);
                }
            }
        }
        answer
    }

    fn take(&self, shared: &mut Shared, uuid: &str, lease_ms: i128) {
        let owner = self.owner.clone();
        shared
            .items
            .insert(uuid.to_owned(), Item::Claimed { owner, lease_ms });
    }

    /// Writes delivered marks, unless a fault leaves them unwritten.
    fn mark(&self, uuids: &[&str]) -> bool {
        if self
            .next_fault(|f| matches!(f, LedgerFault::Unprocessed))
            .is_some()
        {
            return false;
        }
        let mut shared = self.lock();
        for uuid in uuids {
            shared.items.insert((*uuid).to_owned(), Item::Delivered);
        }
        true
    }
}

impl Ledger for MemoryLedger {
    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn read<'a>(
        &'a self,
        events: &'a [Key<'a>],
    ) -> BoxFuture<'a, Result<HashSet<String>, LedgerError>> {
        Box::pin(async move {
            let shared = self.lock();
            Ok(events
                .iter()
                .filter(|(u, _)| matches!(shared.items.get(*u), Some(Item::Delivered)))
                .map(|(u, _)| (*u).to_owned())
                .collect())
        })
    }

    fn claim<'a>(&'a self, events: &'a [Key<'a>], terms: Terms) -> BoxFuture<'a, Claim> {
        Box::pin(async move {
            let uuids: Vec<&str> = events.iter().map(|(u, _)| *u).collect();
            until_decided(uuids, terms.give_up_at, |todo| async move {
                self.attempt(todo, &terms).await
            })
            .await
        })
    }

    fn settle<'a>(
        &'a self,
        delivered: &'a [Key<'a>],
        released: &'a [&'a str],
        now: time::OffsetDateTime,
        _give_up_at: Instant,
    ) -> BoxFuture<'a, Result<Settled, LedgerError>> {
        Box::pin(async move {
            {
                let mut shared = self.lock();
                for uuid in released {
                    if matches!(shared.items.get(*uuid), Some(Item::Claimed { owner, .. }) if *owner == self.owner)
                    {
                        shared.items.remove(*uuid);
                    }
                }
            }
            let uuids: Vec<&str> = delivered.iter().map(|(u, _)| *u).collect();
            if uuids.is_empty() || self.mark(&uuids) {
                return Ok(Settled::default());
            }
            match &self.pending {
                Some(p) => {
                    p.keep(&uuids, now).await?;
                    Ok(Settled {
                        pending: uuids.len(),
                    })
                }
                None => Err(LedgerError::at(
                    "memory ledger",
                    format!("{} delivered marks left unprocessed", uuids.len()),
                )),
            }
        })
    }

    fn catch_up(&self, _give_up_at: Instant) -> BoxFuture<'_, Result<usize, LedgerError>> {
        Box::pin(async move {
            let Some(pending) = &self.pending else {
                return Ok(0);
            };
            let mut applied = 0;
            for (key, uuids) in pending.load().await? {
                let refs: Vec<&str> = uuids.iter().map(String::as_str).collect();
                if self.mark(&refs) {
                    pending.remove(&key).await?;
                    applied += refs.len();
                }
            }
            Ok(applied)
        })
    }
}

/// The wall clock as the memory ledger's tests use it.
#[cfg(test)]
pub(super) fn terms_for(give_up_in: Duration) -> Terms {
    let now = time::OffsetDateTime::now_utc();
    Terms {
        now,
        lease_until: now + give_up_in + Duration::from_secs(10),
        give_up_at: Instant::now() + give_up_in,
        read_first: false,
    }
}
