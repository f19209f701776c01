//! Deciding the puts a claim's transaction refused for what they met: claims of other
//! groups are looked up in their groups' items (delivered, in flight, or run out), and run-out
//! claims are checked against the pending marks before they are taken over.

use std::collections::HashSet;

use super::super::decide::Attempt;
use super::super::{LedgerError, Terms, Trouble, TroubleKind};
use super::claim::Ask;
use super::{digest, DynamoLedger};

impl DynamoLedger {
    /// Decides claims met under other groups by their groups' items: delivered (a member),
    /// in flight (a running lease), or returned as run out.
    pub(super) async fn look_up_groups<'u>(
        &self,
        grouped: Vec<(&'u str, String, bool)>,
        terms: &Terms,
        answer: &mut Attempt<'u>,
    ) -> Vec<(&'u str, Option<String>)> {
        if grouped.is_empty() {
            return Vec::new();
        }
        let names: HashSet<&str> = grouped.iter().map(|(_, g, _)| g.as_str()).collect();
        let names: Vec<&str> = names.into_iter().collect();
        let members = tokio::time::timeout_at(terms.give_up_at, self.members_of(&names))
            .await
            .unwrap_or_else(|_| Err(self.failed("no answer in time")));
        let members = match members {
            Ok(members) => members,
            Err(e) => {
                let uuids: Vec<&'u str> = grouped.iter().map(|(u, _, _)| *u).collect();
                answer.merge(Attempt::failed(
                    &uuids,
                    Trouble {
                        kind: TroubleKind::Unavailable,
                        detail: format!("group marks: {e}"),
                    },
                ));
                return Vec::new();
            }
        };
        let mut run_out = Vec::new();
        for (uuid, group, live) in grouped {
            let delivered = members
                .get(&group)
                .is_some_and(|m| m.contains(&digest(uuid)));
            if delivered {
                answer.delivered.push(uuid.to_owned());
            } else if live {
                answer.in_flight.push(uuid.to_owned());
            } else {
                run_out.push((uuid, Some(group)));
            }
        }
        run_out
    }

    /// Of `run_out`, the claims the pending marks do not show delivered, to take over; the
    /// others are answered delivered.
    pub(super) async fn not_pending<'u>(
        &self,
        run_out: Vec<(&'u str, Option<String>)>,
        terms: &Terms,
        answer: &mut Attempt<'u>,
    ) -> Vec<(&'u str, Ask)> {
        if run_out.is_empty() {
            return Vec::new();
        }
        let uuids: Vec<&'u str> = run_out.iter().map(|(u, _)| *u).collect();
        let pending = tokio::time::timeout_at(terms.give_up_at, self.pending_among(&uuids))
            .await
            .unwrap_or_else(|_| Err(self.failed("no answer in time")));
        match pending {
            Ok(found) => run_out
                .into_iter()
                .filter_map(|(uuid, old)| {
                    if found.contains(uuid) {
                        answer.delivered.push(uuid.to_owned());
                        None
                    } else {
                        Some((uuid, Ask::TakeOver(old)))
                    }
                })
                .collect(),
            Err(e) => {
                answer.merge(Attempt::failed(
                    &uuids,
                    Trouble {
                        kind: TroubleKind::Unavailable,
                        detail: format!("pending marks: {e}"),
                    },
                ));
                Vec::new()
            }
        }
    }

    /// Which of `uuids` (met with run-out claims) the pending marks show delivered.
    async fn pending_among(&self, uuids: &[&str]) -> Result<HashSet<String>, LedgerError> {
        match &self.pending {
            None => Ok(HashSet::new()),
            Some(pending) => pending.among(uuids).await,
        }
    }
}
