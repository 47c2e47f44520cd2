//! The S3 data plane on pingora: authenticate → route → re-sign → stream (architecture.md §2.1).
//!
//! Each request reads one immutable [`Snapshot`] (config, routing, backends) from an `ArcSwap`
//! at its start and keeps it to the end, so a hot reload never changes a request half-way
//! (s3s `HotReloadConfigProvider` style). Request bodies stream through pingora's body filter
//! untouched, or through a [`crate::s3::chunked::ChunkedStream`] when the aws-chunked framing must
//! be verified, re-chained or decoded; nothing plans to replay an upload body (pingora keeps at most
//! 64 KiB for retries).

pub mod access;
mod authn;
mod body;
mod chunk_hashing;
pub mod connect;
pub mod directory;
mod form;
pub mod gateway;
pub mod identity;
mod keys;
mod list_buckets;
mod principals;
pub mod request;
mod respond;
mod rewrite;
mod route;
pub mod translate;
pub mod upstream;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::backend::Backend;
use crate::config::Config;
use crate::routing::Routing;

pub use gateway::Gateway;
pub use request::RequestCtx;

/// Everything a request needs from configuration, swapped atomically on reload.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub routing: Routing,
    pub backends: HashMap<String, Arc<dyn Backend>>,
    /// Monotonic generation number (logged with each request and each reload).
    pub generation: u64,
}

impl Snapshot {
    pub fn backend(&self, name: &str) -> Option<&Arc<dyn Backend>> {
        self.backends.get(name)
    }
}

pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;
