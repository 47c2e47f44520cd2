//! Session-level advisory locks for work that must run on one replica at a time (the
//! reconciler, issue 15; [`Store::job_lock`]).
//!
//! A held lock owns a connection taken out of the pool: PostgreSQL releases session locks when
//! their connection ends, so dropping the guard — or the process dying, or the network between
//! them failing (TCP keepalive) — frees the lock for another replica without any cleanup step.

use sha2::Digest;

use super::super::*;
use super::{pg_err, PgStore};

/// A held advisory lock; released when dropped.
pub struct AdvisoryLock {
    client: deadpool_postgres::ClientWrapper,
    name: String,
}

impl AdvisoryLock {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the connection holding the lock is gone (the lock with it): work done under the
    /// lock must stop.
    pub fn is_lost(&self) -> bool {
        self.client.is_closed()
    }
}

impl std::fmt::Debug for AdvisoryLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryLock")
            .field("name", &self.name)
            .field("lost", &self.is_lost())
            .finish()
    }
}

impl change::HeldLock for AdvisoryLock {
    fn is_lost(&self) -> bool {
        AdvisoryLock::is_lost(self)
    }
}

/// The 64-bit lock key of a name: the first 8 bytes of its SHA-256 (stable across releases).
pub fn lock_key(name: &str) -> i64 {
    let h = sha2::Sha256::digest(format!("osprey:{name}").as_bytes());
    i64::from_be_bytes(h[..8].try_into().expect("8 bytes of a 32-byte digest"))
}

pub(super) async fn try_lock(s: &PgStore, name: &str) -> Result<Option<AdvisoryLock>> {
    let c = s.client().await?;
    let got: bool = c
        .query_one("SELECT pg_try_advisory_lock($1)", &[&lock_key(name)])
        .await
        .map_err(pg_err)?
        .get(0);
    if !got {
        return Ok(None);
    }
    Ok(Some(AdvisoryLock {
        // out of the pool for good: the lock lives exactly as long as this connection
        client: deadpool_postgres::Object::take(c),
        name: name.to_string(),
    }))
}
