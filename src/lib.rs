//! Osprey: one process, two planes (OSIS control plane, S3 data plane) over one routing snapshot
//! and one identity store. See docs/architecture.md for the dependency direction between modules.

pub mod alloc;
pub mod authz;
pub mod backend;
pub mod config;
pub mod embedded;
pub mod metrics;
pub mod osis;
pub mod provision;
pub mod proxy;
pub mod reload;
pub mod routing;
pub mod s3;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod version;
