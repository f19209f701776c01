//! Claiming: conditional puts, 100 to a transaction, each answered with a verdict; puts
//! refused only for another's sake go again at once, run-out claims are checked against the
//! pending marks before they are taken over, and whatever the table did not decide is
//! undecided, with its reason.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use futures::StreamExt;

use super::super::decide::Attempt;
use super::super::{LedgerError, Terms, Trouble, TroubleKind};
use super::{
    epoch_ms, errors, expires, n, s, DynamoLedger, CLAIMED, CLAIMS_PER_TRANSACTION, CONCURRENCY,
    DELIVERED, EXPIRES, FRESH, LEASE, OWNER, ROUNDS, STATE, TAKE_OVER, UUID,
};

/// One transaction's answer: a verdict per put, and what went wrong.
struct Chunk<'u> {
    verdicts: Vec<(&'u str, &'static str, Verdict)>,
    trouble: Vec<Trouble>,
}

/// What one put decided.
enum Verdict {
    Claimed,
    Delivered,
    InFlight,
    /// Claimed by another whose lease ran out.
    RunOut,
    /// Not written only because another put of the transaction was refused.
    Again,
    Undecided(TroubleKind),
}

impl DynamoLedger {
    /// One attempt at `todo`: puts that were refused only because of another put of their
    /// transaction go again at once; run-out claims are checked against the pending marks
    /// and taken over.
    pub(super) async fn attempt<'u>(&self, todo: Vec<&'u str>, terms: &Terms) -> Attempt<'u> {
        let mut answer = Attempt::default();
        let mut fresh = todo;
        let mut take_over: Vec<&'u str> = Vec::new();
        for _ in 0..ROUNDS {
            if fresh.is_empty() && take_over.is_empty() {
                return answer;
            }
            let requests = fresh
                .chunks(CLAIMS_PER_TRANSACTION)
                .map(|c| (c, FRESH))
                .chain(
                    take_over
                        .chunks(CLAIMS_PER_TRANSACTION)
                        .map(|c| (c, TAKE_OVER)),
                );
            let requests: Vec<_> = requests
                .map(|(chunk, condition)| self.claim_chunk(chunk, condition, terms))
                .collect();
            let chunks: Vec<Chunk<'u>> = futures::stream::iter(requests)
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let (mut next_fresh, mut next_take_over, mut run_out) =
                (Vec::new(), Vec::new(), Vec::new());
            let mut verdicts = Vec::new();
            for chunk in chunks {
                answer.trouble.extend(chunk.trouble);
                verdicts.extend(chunk.verdicts);
            }
            for (uuid, condition, verdict) in verdicts {
                match verdict {
                    Verdict::Claimed => {}
                    Verdict::Delivered => answer.delivered.push(uuid.to_owned()),
                    Verdict::InFlight => answer.in_flight.push(uuid.to_owned()),
                    Verdict::RunOut => run_out.push(uuid),
                    Verdict::Again if condition == TAKE_OVER => next_take_over.push(uuid),
                    Verdict::Again => next_fresh.push(uuid),
                    Verdict::Undecided(kind) => answer.undecided.push((uuid, kind)),
                }
            }
            if !run_out.is_empty() {
                let pending =
                    tokio::time::timeout_at(terms.give_up_at, self.pending_among(&run_out))
                        .await
                        .unwrap_or_else(|_| Err(self.failed("no answer in time")));
                match pending {
                    Ok(found) => {
                        for uuid in run_out {
                            if found.contains(uuid) {
                                answer.delivered.push(uuid.to_owned());
                            } else {
                                next_take_over.push(uuid);
                            }
                        }
                    }
                    Err(e) => answer.merge(Attempt::failed(
                        &run_out,
                        Trouble {
                            kind: TroubleKind::Unavailable,
                            detail: format!("pending marks: {e}"),
                        },
                    )),
                }
            }
            (fresh, take_over) = (next_fresh, next_take_over);
        }
        // Still refused for another put's sake after every round: busy, try again later.
        let left: Vec<&'u str> = fresh.into_iter().chain(take_over).collect();
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

    /// Which of `uuids` (met with run-out claims) the pending marks show delivered.
    async fn pending_among(&self, uuids: &[&str]) -> Result<HashSet<String>, LedgerError> {
        match &self.pending {
            None => Ok(HashSet::new()),
            Some(pending) => pending.among(uuids).await,
        }
    }

    /// One transaction of conditional puts, each with its verdict; a request that fails or
    /// does not answer in time leaves them all undecided.
    async fn claim_chunk<'u>(
        &self,
        chunk: &[&'u str],
        condition: &'static str,
        terms: &Terms,
    ) -> Chunk<'u> {
        let all = |kind: Option<TroubleKind>, trouble: Option<Trouble>| Chunk {
            verdicts: chunk
                .iter()
                .map(|u| {
                    let verdict = kind.map_or(Verdict::Claimed, Verdict::Undecided);
                    (*u, condition, verdict)
                })
                .collect(),
            trouble: trouble.into_iter().collect(),
        };
        let items = match self.puts(chunk, condition, terms) {
            Ok(items) => items,
            Err(e) => {
                let trouble = Trouble {
                    kind: TroubleKind::Rejected,
                    detail: e.to_string(),
                };
                return all(Some(TroubleKind::Rejected), Some(trouble));
            }
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
            Err(_) => {
                let trouble = Trouble {
                    kind: TroubleKind::TimedOut,
                    detail: format!("{}: no answer to a claim in time", self.location),
                };
                return all(Some(TroubleKind::TimedOut), Some(trouble));
            }
            Ok(Ok(_)) => return all(None, None),
            Ok(Err(e)) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            let trouble = errors::classify(&self.location, &err);
            return all(Some(trouble.kind), Some(trouble));
        };
        let reasons = cancelled.cancellation_reasons();
        let now_ms = epoch_ms(terms.now);
        let mut trouble: Vec<Trouble> = Vec::new();
        let verdicts = chunk
            .iter()
            .enumerate()
            .map(|(i, uuid)| {
                let reason = reasons.get(i);
                let code = reason.and_then(|r| r.code());
                let verdict = if code == Some("ConditionalCheckFailed") {
                    self.refused(reason.and_then(|r| r.item()), now_ms)
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
                (*uuid, condition, verdict)
            })
            .collect();
        Chunk { verdicts, trouble }
    }

    /// What a refused put met: delivered, a live claim, a run-out claim, or (no item, a
    /// state it does not know) nothing it can decide on.
    fn refused(&self, item: Option<&HashMap<String, AttributeValue>>, now_ms: i128) -> Verdict {
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
            Some(CLAIMED) if text(OWNER) == Some(self.owner.as_str()) => Verdict::Again,
            Some(CLAIMED) => {
                let lease = item
                    .get(LEASE)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i128>().ok());
                match lease {
                    Some(lease) if lease >= now_ms => Verdict::InFlight,
                    Some(_) => Verdict::RunOut,
                    None => Verdict::Undecided(TroubleKind::Unavailable),
                }
            }
            _ => Verdict::Undecided(TroubleKind::Unavailable),
        }
    }

    /// The puts of one transaction; what they share is made once and copied.
    fn puts(
        &self,
        chunk: &[&str],
        condition: &'static str,
        terms: &Terms,
    ) -> Result<Vec<TransactWriteItem>, LedgerError> {
        let (claimed, owner) = (s(CLAIMED), s(&self.owner));
        let (lease, expires) = (n(epoch_ms(terms.lease_until)), n(expires(terms.now)));
        let mut names = HashMap::from([
            ("#u".to_owned(), UUID.to_owned()),
            ("#s".to_owned(), STATE.to_owned()),
            ("#o".to_owned(), OWNER.to_owned()),
        ]);
        let mut values = HashMap::from([
            (":claimed".to_owned(), claimed.clone()),
            (":me".to_owned(), owner.clone()),
        ]);
        if condition == TAKE_OVER {
            names.insert("#l".to_owned(), LEASE.to_owned());
            values.insert(":now".to_owned(), n(epoch_ms(terms.now)));
        }
        chunk
            .iter()
            .map(|uuid| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(HashMap::from([
                        (UUID.to_owned(), s(uuid)),
                        (STATE.to_owned(), claimed.clone()),
                        (LEASE.to_owned(), lease.clone()),
                        (OWNER.to_owned(), owner.clone()),
                        (EXPIRES.to_owned(), expires.clone()),
                    ])))
                    .condition_expression(condition)
                    .set_expression_attribute_names(Some(names.clone()))
                    .set_expression_attribute_values(Some(values.clone()))
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
