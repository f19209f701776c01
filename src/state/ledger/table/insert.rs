//! Fresh claims as PartiQL INSERTs, 25 to a BatchExecuteStatement: an INSERT is a
//! conditional write (it refuses an item that exists, `DuplicateItem`) billed as one write
//! unit, where a put in a transaction is billed as two, and each is answered on its own, so a
//! throttled or conflicting INSERT holds back only its own event.
//!
//! A refused INSERT comes back with the item it met (`ALL_OLD`), decided as a refused put is
//! ([`DynamoLedger::refused`]), except that meeting this claim's own item (a request answered
//! too late, tried again) is a claim: the INSERT cannot say "or mine", so the item says it.
//! An answer without the item is decided by reading the item (strongly consistent).
//!
//! A role that may not INSERT (`dynamodb:PartiQLInsert`, granted by the template since claims
//! became INSERTs) is not an outage: the claims go again at once as transactions, and so do
//! this container's later ones, with one warning.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue, BatchStatementErrorCodeEnum, BatchStatementRequest,
    ReturnValuesOnConditionCheckFailure,
};

use super::super::{Terms, Trouble, TroubleKind};
use super::claim::{Ask, Chunk, Verdict};
use super::{
    epoch_ms, errors, expires, n, s, DynamoLedger, Groups, CLAIMED, EXPIRES, GROUP, LEASE, OWNER,
    STATE, UUID,
};

/// Statements per BatchExecuteStatement (DynamoDB's limit).
pub(super) const INSERTS_PER_BATCH: usize = 25;

/// The attributes of a claim's item, in the order of the statement's parameters.
const COLUMNS: [&str; 6] = [UUID, STATE, LEASE, OWNER, GROUP, EXPIRES];

/// The INSERT of one claim into `table`, its values given as parameters.
pub(super) fn statement(table: &str) -> String {
    let tuple: Vec<String> = COLUMNS.iter().map(|c| format!("'{c}': ?")).collect();
    format!("INSERT INTO \"{table}\" VALUE {{{}}}", tuple.join(", "))
}

impl DynamoLedger {
    /// One BatchExecuteStatement of fresh claims, each with its verdict; a request that fails
    /// or does not answer in time leaves them all undecided.
    pub(super) async fn insert_chunk<'u>(
        &self,
        chunk: &[(&'u str, Ask)],
        groups: &Groups<'u>,
        terms: &Terms,
    ) -> Chunk<'u> {
        let statements = match self.inserts(chunk, groups, terms) {
            Ok(statements) => statements,
            Err(detail) => return Chunk::unsent(chunk, detail),
        };
        let sent = tokio::time::timeout_at(
            terms.give_up_at,
            self.client
                .batch_execute_statement()
                .set_statements(Some(statements))
                .send(),
        )
        .await;
        let out = match sent {
            Err(_) => return Chunk::unanswered(chunk, &self.location),
            Ok(Err(e)) if e.code() == Some("AccessDeniedException") => {
                self.deny_inserts();
                return Chunk::again(chunk);
            }
            Ok(Err(e)) => return Chunk::all(chunk, Some(errors::classify(&self.location, &e))),
            Ok(Ok(out)) => out,
        };
        let now_ms = epoch_ms(terms.now);
        let mut answer = Chunk {
            verdicts: Vec::with_capacity(chunk.len()),
            trouble: Vec::new(),
        };
        let mut unseen = Vec::new();
        if out.responses().len() < chunk.len() {
            answer.trouble.push(Trouble {
                kind: TroubleKind::Unavailable,
                detail: format!(
                    "{}: {} claims asked, {} answered",
                    self.location,
                    chunk.len(),
                    out.responses().len()
                ),
            });
        }
        for (at, (uuid, ask)) in chunk.iter().enumerate() {
            let verdict = match out.responses().get(at) {
                None => Verdict::Undecided(TroubleKind::Unavailable),
                Some(response) => match response.error() {
                    None => Verdict::Claimed,
                    Some(error) => match error.code() {
                        Some(
                            BatchStatementErrorCodeEnum::DuplicateItem
                            | BatchStatementErrorCodeEnum::ConditionalCheckFailed,
                        ) => match error.item() {
                            Some(item) => self.met(item, groups.get(uuid), now_ms),
                            None => {
                                unseen.push((*uuid, ask.clone()));
                                continue;
                            }
                        },
                        Some(BatchStatementErrorCodeEnum::AccessDenied) => {
                            self.deny_inserts();
                            Verdict::Again
                        }
                        code => {
                            let code = code.map(BatchStatementErrorCodeEnum::as_str);
                            let kind = errors::statement_kind(code);
                            if !answer.trouble.iter().any(|t| t.kind == kind) {
                                answer.trouble.push(Trouble {
                                    kind,
                                    detail: errors::statement_detail(&self.location, code),
                                });
                            }
                            Verdict::Undecided(kind)
                        }
                    },
                },
            };
            answer.verdicts.push((*uuid, ask.clone(), verdict));
        }
        if !unseen.is_empty() {
            self.read_what_was_met(unseen, groups, now_ms, &mut answer)
                .await;
        }
        answer
    }

    /// Whether the table refused an INSERT for want of permission.
    pub(super) fn inserts_denied(&self) -> bool {
        self.inserts_denied.load(Ordering::Relaxed)
    }

    /// Claims go as transactions from now on, said once.
    fn deny_inserts(&self) {
        if !self.inserts_denied.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                ledger = %self.location,
                "dynamodb:PartiQLInsert is denied: claims go as transactions (2 write units each \
                 instead of 1) until the function's role allows it; update the stack, whose \
                 template grants it"
            );
        }
    }

    /// What an INSERT under `group` that was refused met: this claim's own item is a claim
    /// (written by an earlier try whose answer came too late); anything else as a refused put.
    fn met(
        &self,
        item: &HashMap<String, AttributeValue>,
        group: Option<&Arc<str>>,
        now_ms: i128,
    ) -> Verdict {
        match self.refused(Some(item), group.map(AsRef::as_ref), now_ms) {
            Verdict::Again => Verdict::Claimed,
            verdict => verdict,
        }
    }

    /// Decides refused INSERTs that came back without the item they met by reading those
    /// items (strongly consistent): an item gone since (released) is tried again.
    async fn read_what_was_met<'u>(
        &self,
        unseen: Vec<(&'u str, Ask)>,
        groups: &Groups<'u>,
        now_ms: i128,
        answer: &mut Chunk<'u>,
    ) {
        let keys = unseen.iter().map(|(u, _)| (*u).to_owned());
        let names = [UUID, STATE, LEASE, OWNER, GROUP];
        let got = match self.get_items(keys, &names, true).await {
            Ok(got) if got.unread == 0 => got,
            outcome => {
                let detail = match outcome {
                    Err(e) => format!("claims refused, items met unread: {e}"),
                    Ok(_) => format!("{}: claims refused, items met left unread", self.location),
                };
                answer.trouble.push(Trouble {
                    kind: TroubleKind::Unavailable,
                    detail,
                });
                let undecided = Verdict::Undecided(TroubleKind::Unavailable);
                for (uuid, ask) in unseen {
                    answer.verdicts.push((uuid, ask, undecided.clone()));
                }
                return;
            }
        };
        let by_uuid: HashMap<&str, &HashMap<String, AttributeValue>> = got
            .items
            .iter()
            .filter_map(|item| Some((item.get(UUID)?.as_s().ok()?.as_str(), item)))
            .collect();
        for (uuid, ask) in unseen {
            let verdict = match by_uuid.get(uuid) {
                Some(item) => self.met(item, groups.get(uuid), now_ms),
                None => Verdict::Again,
            };
            answer.verdicts.push((uuid, ask, verdict));
        }
    }

    /// The INSERTs of one request; what they share is made once and copied.
    fn inserts(
        &self,
        chunk: &[(&str, Ask)],
        groups: &Groups<'_>,
        terms: &Terms,
    ) -> Result<Vec<BatchStatementRequest>, String> {
        let (claimed, owner) = (s(CLAIMED), s(&self.owner));
        let (lease, expires) = (n(epoch_ms(terms.lease_until)), n(expires(terms.now)));
        chunk
            .iter()
            .map(|(uuid, _)| {
                let group = groups
                    .get(uuid)
                    .ok_or_else(|| format!("{}: a claim without a group", self.location))?;
                BatchStatementRequest::builder()
                    .statement(self.insert.as_str())
                    .set_parameters(Some(vec![
                        s(uuid),
                        claimed.clone(),
                        lease.clone(),
                        owner.clone(),
                        s(group),
                        expires.clone(),
                    ]))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|e| format!("{}: {e}", self.location))
            })
            .collect()
    }
}
