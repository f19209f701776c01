//! The delivery ledger's table as okta-ingest reads it, for tests: each uuid's state, where
//! `delivered` is either the uuid's own item (`state = delivered`) or a claim whose group's
//! item (`group#<id>`) holds the uuid's digest (the first 16 bytes of its SHA-256).
//! Written from the table's documented layout (docs/exactly-once.md), not from the crate's
//! code, so a test reading it checks the layout too.

use std::collections::{HashMap, HashSet};

/// One item of the table, as the view needs it.
#[derive(Debug, Default, Clone)]
pub struct Row {
    /// `uuid`: an event's uuid, or `group#<id>`.
    pub key: String,
    pub state: Option<String>,
    pub group: Option<String>,
    /// A group's `members`.
    pub members: Vec<Vec<u8>>,
}

/// The digest a group's item holds for `uuid`.
pub fn digest(uuid: &str) -> Vec<u8> {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, uuid.as_bytes());
    hash.as_ref()[..16].to_vec()
}

/// uuid -> `delivered`, `claimed` (not delivered by its group), or its state; groups' items
/// are not listed.
pub fn view(rows: &[Row]) -> HashMap<String, String> {
    let groups: HashMap<&str, HashSet<&[u8]>> = rows
        .iter()
        .filter_map(|r| {
            let group = r.key.strip_prefix("group#")?;
            Some((group, r.members.iter().map(Vec::as_slice).collect()))
        })
        .collect();
    rows.iter()
        .filter(|r| !r.key.starts_with("group#"))
        .map(|r| {
            let state = r.state.clone().unwrap_or_default();
            let in_group = r.group.as_deref().and_then(|g| groups.get(g));
            let delivered =
                state == "claimed" && in_group.is_some_and(|m| m.contains(&*digest(&r.key)));
            let state = if delivered {
                "delivered".to_owned()
            } else {
                state
            };
            (r.key.clone(), state)
        })
        .collect()
}

/// How many items are groups' items.
pub fn groups(rows: &[Row]) -> usize {
    rows.iter().filter(|r| r.key.starts_with("group#")).count()
}
