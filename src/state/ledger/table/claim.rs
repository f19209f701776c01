//! Claiming: fresh claims as INSERTs, 25 to a request ([`super::insert`]), take-overs as
//! conditional puts, 100 to a transaction, each answered with a verdict; puts refused only
//! for another's sake go again at once, claims of other groups are looked up in
//! their groups' items, run-out claims are checked against the pending marks before they are
//! taken over, and whatever the table did not decide is undecided, with its reason.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use futures::{FutureExt, StreamExt};

use super::super::decide::Attempt;
use super::super::{LedgerError, Terms, Trouble, TroubleKind};
use super::insert::INSERTS_PER_BATCH;
use super::{
    epoch_ms, errors, expires, n, s, DynamoLedger, Groups, CLAIMED, CLAIMS_PER_TRANSACTION,
    CLAIM_CONCURRENCY, DELIVERED, EXPIRES, FRESH, GROUP, LEASE, OWNER, ROUNDS, STATE, TAKE_OVER,
    TAKE_OVER_UNGROUPED, UUID,
};

/// One request's answer: a verdict per claim, and what went wrong.
pub(super) struct Chunk<'u> {
    pub(super) verdicts: Vec<(&'u str, Ask, Verdict)>,
    pub(super) trouble: Vec<Trouble>,
}

impl<'u> Chunk<'u> {
    /// Every claim of `chunk` to be asked again at once.
    pub(super) fn again(chunk: &[(&'u str, Ask)]) -> Chunk<'u> {
        Chunk {
            verdicts: chunk
                .iter()
                .map(|(u, ask)| (*u, ask.clone(), Verdict::Again))
                .collect(),
            trouble: Vec::new(),
        }
    }

    /// Every claim of `chunk` undecided: its request could not be made (`detail` says why).
    pub(super) fn unsent(chunk: &[(&'u str, Ask)], detail: String) -> Chunk<'u> {
        let kind = TroubleKind::Rejected;
        Chunk::all(chunk, Some(Trouble { kind, detail }))
    }

    /// Every claim of `chunk` undecided: its request to the table at `location` got no answer
    /// in time (it may have been written all the same).
    pub(super) fn unanswered(chunk: &[(&'u str, Ask)], location: &str) -> Chunk<'u> {
        let trouble = Trouble {
            kind: TroubleKind::TimedOut,
            detail: format!("{location}: no answer to a claim in time"),
        };
        Chunk::all(chunk, Some(trouble))
    }

    /// The same verdict for every claim of `chunk`: claimed, or (with `trouble`) undecided.
    pub(super) fn all(chunk: &[(&'u str, Ask)], trouble: Option<Trouble>) -> Chunk<'u> {
        let verdict = trouble
            .as_ref()
            .map_or(Verdict::Claimed, |t| Verdict::Undecided(t.kind));
        Chunk {
            verdicts: chunk
                .iter()
                .map(|(u, ask)| (*u, ask.clone(), verdict.clone()))
                .collect(),
            trouble: trouble.into_iter().collect(),
        }
    }
}

/// What a put asks of the item it meets.
#[derive(Clone)]
pub(super) enum Ask {
    /// New, or already this claim's ([`FRESH`]).
    Fresh,
    /// Still the run-out claim of the group named (`None`: a claim without a group, written
    /// before groups), or this container's ([`TAKE_OVER`]).
    TakeOver(Option<String>),
}

/// What one put decided.
#[derive(Clone)]
pub(super) enum Verdict {
    Claimed,
    /// Marked delivered on its own item.
    Delivered,
    /// Claimed under a running lease, without a group.
    InFlight,
    /// Claimed under another group (another invocation's, or this container's earlier one):
    /// its group's item says whether it was delivered; if not, `live` says whether the
    /// claimer may still be sending it.
    Grouped {
        group: String,
        live: bool,
    },
    /// Claimed by another whose lease ran out, not delivered by its group.
    RunOut(Option<String>),
    /// Not written only because another put of the transaction was refused.
    Again,
    Undecided(TroubleKind),
}

impl DynamoLedger {
    /// One attempt at `todo`, each claimed under its group in `groups`: puts that were
    /// refused only because of another put of their transaction go again at once; claims of
    /// other groups are looked up in their groups; run-out claims are checked against the
    /// pending marks and taken over.
    pub(super) async fn attempt<'u>(
        &self,
        todo: Vec<&'u str>,
        groups: &Groups<'u>,
        terms: &Terms,
    ) -> Attempt<'u> {
        let mut answer = Attempt::default();
        let mut asks: Vec<(&'u str, Ask)> = todo.into_iter().map(|u| (u, Ask::Fresh)).collect();
        for _ in 0..ROUNDS {
            if asks.is_empty() {
                return answer;
            }
            let by_insert = !self.inserts_denied();
            let (fresh, take_overs): (Vec<_>, Vec<_>) = asks
                .into_iter()
                .partition(|(_, ask)| by_insert && matches!(ask, Ask::Fresh));
            let inserts = fresh
                .chunks(INSERTS_PER_BATCH)
                .map(|chunk| self.insert_chunk(chunk, groups, terms).boxed());
            let puts = take_overs
                .chunks(CLAIMS_PER_TRANSACTION)
                .map(|chunk| self.claim_chunk(chunk, groups, terms).boxed());
            let requests: Vec<_> = inserts.chain(puts).collect();
            let chunks: Vec<Chunk<'u>> = futures::stream::iter(requests)
                .buffer_unordered(CLAIM_CONCURRENCY)
                .collect()
                .await;
            let (mut next, mut grouped, mut run_out) = (Vec::new(), Vec::new(), Vec::new());
            for chunk in chunks {
                answer.trouble.extend(chunk.trouble);
                for (uuid, ask, verdict) in chunk.verdicts {
                    match verdict {
                        Verdict::Claimed => {}
                        Verdict::Delivered => answer.delivered.push(uuid.to_owned()),
                        Verdict::InFlight => answer.in_flight.push(uuid.to_owned()),
                        Verdict::Grouped { group, live } => grouped.push((uuid, group, live)),
                        Verdict::RunOut(old) => run_out.push((uuid, old)),
                        Verdict::Again => next.push((uuid, ask)),
                        Verdict::Undecided(kind) => answer.undecided.push((uuid, kind)),
                    }
                }
            }
            run_out.extend(self.look_up_groups(grouped, terms, &mut answer).await);
            next.extend(self.not_pending(run_out, terms, &mut answer).await);
            asks = next;
        }
        // Still refused for another put's sake after every round: busy, try again later.
        let left: Vec<&'u str> = asks.into_iter().map(|(u, _)| u).collect();
        if !left.is_empty() {
            answer.merge(Attempt::failed(
                &left,
                Trouble {
                    kind: TroubleKind::Conflict,
                    detail: format!("{}: claims contended round after round", self.location),
                },
            ));
        }
        answer
    }

    /// One transaction of conditional puts (take-overs), each with its verdict; a request
    /// that fails or does not answer in time leaves them all undecided.
    async fn claim_chunk<'u>(
        &self,
        chunk: &[(&'u str, Ask)],
        groups: &Groups<'u>,
        terms: &Terms,
    ) -> Chunk<'u> {
        let items = match self.puts(chunk, groups, terms) {
            Ok(items) => items,
            Err(e) => return Chunk::unsent(chunk, e.to_string()),
        };
        let sent = tokio::time::timeout_at(
            terms.give_up_at,
            self.client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send(),
        )
        .await;
        let err = match sent {
            Err(_) => return Chunk::unanswered(chunk, &self.location),
            Ok(Ok(_)) => return Chunk::all(chunk, None),
            Ok(Err(e)) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            return Chunk::all(chunk, Some(errors::classify(&self.location, &err)));
        };
        let reasons = cancelled.cancellation_reasons();
        let now_ms = epoch_ms(terms.now);
        let mut trouble: Vec<Trouble> = Vec::new();
        let verdicts = chunk
            .iter()
            .enumerate()
            .map(|(i, (uuid, ask))| {
                let reason = reasons.get(i);
                let code = reason.and_then(|r| r.code());
                let verdict = if code == Some("ConditionalCheckFailed") {
                    let group = groups.get(uuid).map(AsRef::as_ref);
                    self.refused(reason.and_then(|r| r.item()), group, now_ms)
                } else {
                    match errors::reason_kind(code) {
                        None => Verdict::Again,
                        Some(kind) => {
                            if !trouble.iter().any(|t| t.kind == kind) {
                                trouble.push(Trouble {
                                    kind,
                                    detail: format!(
                                        "{}: claim cancelled with reason {}",
                                        self.location,
                                        code.unwrap_or("(none given)")
                                    ),
                                });
                            }
                            Verdict::Undecided(kind)
                        }
                    }
                };
                (*uuid, ask.clone(), verdict)
            })
            .collect();
        Chunk { verdicts, trouble }
    }

    /// What a put under `group` that was refused met: delivered, a claim of another group
    /// (looked up next), a claim without a group (live or run out), or (no item, a state it
    /// does not know) nothing it can decide on.
    pub(super) fn refused(
        &self,
        item: Option<&HashMap<String, AttributeValue>>,
        group: Option<&str>,
        now_ms: i128,
    ) -> Verdict {
        let Some(item) = item else {
            return Verdict::Undecided(TroubleKind::Unavailable);
        };
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        };
        match text(STATE) {
            Some(DELIVERED) => Verdict::Delivered,
            Some(CLAIMED) => {
                let lease = item
                    .get(LEASE)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i128>().ok());
                let Some(lease) = lease else {
                    return Verdict::Undecided(TroubleKind::Unavailable);
                };
                // This container runs one invocation at a time: a claim of its own is
                // never being sent elsewhere.
                let mine = text(OWNER) == Some(self.owner.as_str());
                let live = lease >= now_ms && !mine;
                match text(GROUP) {
                    Some(met) if mine && Some(met) == group => Verdict::Again,
                    Some(met) => Verdict::Grouped {
                        group: met.to_owned(),
                        live,
                    },
                    None if live => Verdict::InFlight,
                    None => Verdict::RunOut(None),
                }
            }
            _ => Verdict::Undecided(TroubleKind::Unavailable),
        }
    }

    /// The puts of one transaction; what they share is made once and copied.
    fn puts(
        &self,
        chunk: &[(&str, Ask)],
        groups: &Groups<'_>,
        terms: &Terms,
    ) -> Result<Vec<TransactWriteItem>, LedgerError> {
        let (claimed, owner) = (s(CLAIMED), s(&self.owner));
        let (lease, expires) = (n(epoch_ms(terms.lease_until)), n(expires(terms.now)));
        let now = n(epoch_ms(terms.now));
        let names = |take_over: bool| {
            let mut names = HashMap::from([
                ("#u".to_owned(), UUID.to_owned()),
                ("#s".to_owned(), STATE.to_owned()),
                ("#o".to_owned(), OWNER.to_owned()),
                ("#g".to_owned(), GROUP.to_owned()),
            ]);
            if take_over {
                names.insert("#l".to_owned(), LEASE.to_owned());
            }
            names
        };
        let (fresh_names, take_over_names) = (names(false), names(true));
        chunk
            .iter()
            .map(|(uuid, ask)| {
                let group = groups
                    .get(uuid)
                    .ok_or_else(|| self.failed("a claim without a group"))?;
                let group = s(group);
                let mut values = HashMap::from([
                    (":claimed".to_owned(), claimed.clone()),
                    (":me".to_owned(), owner.clone()),
                ]);
                let (condition, names) = match ask {
                    Ask::Fresh => {
                        values.insert(":g".to_owned(), group.clone());
                        (FRESH, &fresh_names)
                    }
                    Ask::TakeOver(old) => {
                        values.insert(":now".to_owned(), now.clone());
                        match old {
                            Some(old) => {
                                values.insert(":old".to_owned(), s(old));
                                (TAKE_OVER, &take_over_names)
                            }
                            None => (TAKE_OVER_UNGROUPED, &take_over_names),
                        }
                    }
                };
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(HashMap::from([
                        (UUID.to_owned(), s(uuid)),
                        (STATE.to_owned(), claimed.clone()),
                        (LEASE.to_owned(), lease.clone()),
                        (OWNER.to_owned(), owner.clone()),
                        (GROUP.to_owned(), group),
                        (EXPIRES.to_owned(), expires.clone()),
                    ])))
                    .condition_expression(condition)
                    .set_expression_attribute_names(Some(names.clone()))
                    .set_expression_attribute_values(Some(values))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|e| self.failed(e))?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }
}
