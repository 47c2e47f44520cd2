//! The S3 data plane on pingora: authenticate → route → re-sign → stream (architecture.md §2.1).
//! (The pingora service itself lands with the SigV4 module; see CHANGELOG "Known issues".)

pub mod directory;
pub mod translate;
