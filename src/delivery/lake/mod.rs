//! The Amazon Security Lake sink's encoding: OCSF JSON lines (from `crate::ocsf`) into the
//! objects a Security Lake custom source reads, Parquet (zstd), one OCSF class and one UTC day
//! per object, records sorted by time ([`parquet`]), under the keys Security Lake expects,
//! named after the batch's content so that a retry overwrites instead of duplicating
//! ([`layout`]). Pure code: the object writer that will put them into S3 goes beside it.

// Ahead of the Security Lake destination that will call it, as `ocsf` is in lib.rs.
#![allow(dead_code)]

pub mod layout;
pub mod parquet;
