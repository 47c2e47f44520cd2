//! (scaffold)
pub mod local;
