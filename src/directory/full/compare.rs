//! The end of a snapshot: what the last one had and this one lacks is deleted, the state
//! becomes what this one saw, and the completed record says the snapshot is whole.

use super::super::changes::deletion;
use crate::directory::deliver::{Left, Outgoing};
use crate::directory::kind::Kind;
use crate::directory::record::{run_key, run_record, Stamp};
use crate::directory::run::{Ctx, DirectoryError, DirectoryReport};
use crate::directory::state;
use crate::directory::times::{rfc3339 as at, unix};
use crate::directory::walk::{save_json, FullCheckpoint, Step};
use crate::state::{Condition, StoreError};

impl Ctx<'_> {
    /// The comparison, the new state, the completed record; then the snapshot is done.
    pub(super) async fn finish(
        &self,
        cp: &mut FullCheckpoint,
        etag: &mut String,
        report: &mut DirectoryReport,
    ) -> Result<(), DirectoryError> {
        let stamp = self.stamp(&cp.run);
        for kind in Kind::ALL {
            if !cp.is_whole(kind) {
                continue;
            }
            if let Err(Left(why)) = self.compare(cp, kind, &stamp, report).await? {
                report.stopped = format!(
                    "{why}: the comparison with the last snapshot goes on at the next invocation"
                );
                return Ok(());
            }
        }
        let sent: serde_json::Map<String, serde_json::Value> = Kind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), cp.sent[*k as usize].into()))
            .collect();
        let partial: Vec<serde_json::Value> = cp
            .partial
            .iter()
            .map(|(k, why)| serde_json::json!({ "kind": k.as_str(), "reason": why }))
            .collect();
        let detail = serde_json::json!({
            "started": at(cp.started),
            "objects": sent,
            "partial": partial,
        });
        let completed = Outgoing {
            key: run_key(&cp.run, "completed"),
            json: run_record(&stamp, "completed", Some(&detail)),
            kind: None,
            deleted: false,
            malformed: None,
        };
        if let Err(Left(why)) = self.send(&[completed], report).await {
            report.stopped =
                format!("{why}: the snapshot's completion is sent at the next invocation");
            return Ok(());
        }
        cp.step = Step::Done;
        cp.completed_at = Some(unix((self.clock)()));
        *etag = save_json(self.store(), &self.full_key(), cp, Condition::IfMatch(etag)).await?;
        state::delete_chunks(self.store(), self.prefix(), &cp.run).await;
        report.completed = true;
        report.snapshot_completed = true;
        report.stopped = match cp.partial.is_empty() {
            true => "snapshot completed".into(),
            false => format!(
                "snapshot completed without {} (see the completed record)",
                cp.partial
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Ok(())
    }

    /// Sends `kind`'s deletions and replaces its state with what the snapshot saw (plus what
    /// changes runs saw after the snapshot began). Done once per snapshot: a state already
    /// replaced by it is left alone.
    async fn compare(
        &self,
        cp: &FullCheckpoint,
        kind: Kind,
        stamp: &Stamp,
        report: &mut DirectoryReport,
    ) -> Result<Result<(), Left>, DirectoryError> {
        let key = state::state_key(self.prefix(), kind);
        for _ in 0..3 {
            let (prev, prev_etag) = match state::load(self.store(), &key).await? {
                Some((s, e)) => (s, Some(e)),
                None => (state::KindState::default(), None),
            };
            if prev.run == cp.run {
                return Ok(Ok(()));
            }
            let seen = state::load_chunks(self.store(), self.prefix(), &cp.run, kind).await?;
            let gone: Vec<(&str, &str)> = prev
                .entries
                .0
                .iter()
                .filter(|(id, e)| e.observed < cp.started_ms && !seen.0.contains_key(*id))
                .map(|(id, e)| (id.as_ref(), e.version.as_ref()))
                .collect();
            for batch in gone.chunks(500) {
                if !self.has_time() {
                    return Ok(Err(Left("out of time".into())));
                }
                let records: Vec<Outgoing> = batch
                    .iter()
                    .map(|(id, version)| deletion(stamp, kind, id, version))
                    .collect();
                if let Err(left) = self.send(&records, report).await {
                    return Ok(Err(left));
                }
            }
            let mut next = seen;
            for (id, e) in &prev.entries.0 {
                match next.0.get_mut(id) {
                    Some(n) if kind.is_pair() => n.version = e.version.clone(),
                    Some(_) => {}
                    None if e.observed >= cp.started_ms => {
                        next.0.insert(id.clone(), e.clone());
                    }
                    None => {}
                }
            }
            let new = state::KindState {
                run: cp.run.clone(),
                entries: next,
            };
            let condition = prev_etag
                .as_deref()
                .map_or(Condition::IfAbsent, Condition::IfMatch);
            match state::save(self.store(), &key, &new, condition).await {
                Ok(_) => return Ok(Ok(())),
                Err(state::StateError::Store(StoreError::Conflict { .. })) => {
                    tracing::info!(
                        kind = kind.as_str(),
                        "a changes run wrote the state meanwhile: comparing again"
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Err(Left(format!(
            "the {} state kept changing under the comparison",
            kind.as_str()
        ))))
    }
}
