//! Directory records through the one delivery pipeline: each with its own ledger key, so a
//! page read again (a resumed snapshot, an overlapping changes run) sends nothing twice.

use std::borrow::Cow;

use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::kind::{Kind, PerKind};
use super::run::{Ctx, DirectoryReport};
use crate::delivery::{Fate, Input, Redelivery, Run, Unreadable};
use crate::event::OktaEvent;
use crate::state::Kept;

/// One record ready to send.
pub(super) struct Outgoing {
    /// Its ledger key.
    pub key: String,
    /// The record.
    pub json: Box<RawValue>,
    /// What it is about (`None` for a run record).
    pub kind: Option<Kind>,
    /// Whether it reports a deletion.
    pub deleted: bool,
    /// Why Okta's item could not be read (then `json` is the item, kept in the dead letters).
    pub malformed: Option<String>,
}

impl Outgoing {
    /// An item Okta listed that cannot be read: kept as it came, with `reason`.
    pub fn malformed(item: &RawValue, reason: String) -> Self {
        Outgoing {
            key: String::new(),
            json: item.to_owned(),
            kind: None,
            deleted: false,
            malformed: Some(reason),
        }
    }
}

/// Why records were left unsent: the run stops there and goes on from there next time.
#[derive(Debug)]
pub(super) struct Left(pub String);

impl Ctx<'_> {
    /// Sends `records`; every one is delivered, known delivered, or kept in the dead letters
    /// (refused for good, oversized), or the first reason one was not is returned.
    pub async fn send(
        &self,
        records: &[Outgoing],
        report: &mut DirectoryReport,
    ) -> Result<(), Left> {
        if records.is_empty() {
            return Ok(());
        }
        let now = (self.clock)();
        let inputs: Vec<Input> = records.iter().map(|r| input(r, now)).collect();
        let run = Run {
            origin: "directory",
            request_id: self.request_id,
            now,
            stop_at: self.stop_at,
            deadline: self.deadline,
            max_age: None,
            // What is not sent is read again from Okta by the next invocation.
            redelivery: Redelivery::OutOfTime,
            known: &|_| false,
            unchecked: &|_| false,
            repeats_likely: true,
        };
        let outcome = self.pipeline.deliver(&inputs, &run).await;
        report.counts.add(&outcome.counts);
        let mut left = None;
        let mut sent = PerKind::default();
        for (record, fate) in records.iter().zip(&outcome.fates) {
            match fate {
                Fate::Delivered => {
                    if let Some(kind) = record.kind {
                        sent.add(kind, 1);
                    }
                    if record.deleted {
                        report.deleted = report.deleted.saturating_add(1);
                    }
                }
                Fate::AlreadyDelivered
                | Fate::Repeat
                | Fate::Stale
                | Fate::Filtered
                | Fate::Kept => {}
                Fate::InFlight => {
                    left.get_or_insert_with(|| "another run is sending the same records".into());
                }
                Fate::Undecided(why) | Fate::Left(why) => {
                    left.get_or_insert_with(|| why.clone());
                }
                Fate::NotKept => {
                    left.get_or_insert_with(|| {
                        "a record the destination refused could not be kept in the dead letters"
                            .into()
                    });
                }
            }
        }
        for k in Kind::ALL {
            report.sent.add(k, sent.0[k.index()]);
        }
        match left {
            None => Ok(()),
            Some(why) => Err(Left(why)),
        }
    }
}

fn input(record: &Outgoing, now: OffsetDateTime) -> Input<'_> {
    if let Some(reason) = &record.malformed {
        return Input {
            message_id: None,
            event: Err(Unreadable {
                reason: reason.clone(),
                content: Kept::Event(record.json.get()),
            }),
        };
    }
    Input {
        message_id: None,
        event: Ok(OktaEvent {
            uuid: Cow::Borrowed(&record.key),
            published: now,
            raw: record.json.get(),
            severity: None,
            event_type: None,
            org: None,
            directory: true,
        }),
    }
}
