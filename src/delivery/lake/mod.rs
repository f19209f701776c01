//! Amazon Security Lake, beside the HTTP destination: OCSF events as Parquet objects, one
//! per class and day, in the custom sources' locations ([`LakeDestination`]).

pub mod layout;
pub mod parquet;
mod sink;

pub use sink::LakeDestination;
