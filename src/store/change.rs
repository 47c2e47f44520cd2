//! What one replica tells the others when it changes the shared store (issue 15): which cached
//! answers are stale. The PostgreSQL store announces each change on a LISTEN/NOTIFY channel when
//! it commits ([`super::postgres::CHANGE_CHANNEL`]) and hands what it hears to
//! [`super::Store::changes`]; the SQLite store has no other writer (the data directory's
//! `run/osprey.lock` keeps a second process out), so it announces nothing.
//!
//! A change names the cached entries to drop, never their new state: a replica reads the new
//! state from the store on its next use, so a change heard twice, late, or from itself costs one
//! store read and can never install a stale answer.

use serde::{Deserialize, Serialize};

/// Changes a subscriber may fall behind by before it hears [`Change::Resync`] instead (default
/// 4 096; a change is a few dozen bytes). It stops a stalled subscriber from holding an
/// unbounded backlog: past it the oldest changes are dropped and the subscriber told to forget
/// everything.
pub const CHANGE_FEED_CAPACITY: usize = 4096;

/// One committed change, as announced (JSON in the NOTIFY payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The tenant was created, changed or deleted (with its users, keys and identities).
    Tenant { tenant_id: String },
    /// The user was created, enabled, disabled or deleted (with its keys and identities).
    User { tenant_id: String, user_id: String },
    /// The key was created, enabled, disabled or deleted.
    Credential { access_key: String },
    /// The bucket's placement or its access record (ACL, policy, public access block) changed.
    Bucket { tenant_id: String, bucket: String },
    /// An object's access record changed.
    Object {
        tenant_id: String,
        bucket: String,
        key: String,
    },
    /// A backend identity of `principal` (a user id, or the tenant's shared principal) changed.
    Identity {
        tenant_id: String,
        principal: String,
    },
    /// A counter moved (e.g. the OSIS token generation: tokens issued before are revoked).
    Counter { name: String, value: i64 },
    /// Provisioning work was queued (the replica running the reconciler starts on it now).
    Pending,
    /// Changes may have been missed (the feed reconnected, or this subscriber fell behind):
    /// forget everything cached.
    Resync,
}

impl Change {
    /// The NOTIFY payload (PostgreSQL's limit is 8 000 bytes; an object change over
    /// [`MAX_PAYLOAD`] is announced as its bucket's change, which drops more, never less).
    pub fn payload(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        if json.len() <= MAX_PAYLOAD {
            return json;
        }
        match self {
            Change::Object {
                tenant_id, bucket, ..
            } => Change::Bucket {
                tenant_id: tenant_id.clone(),
                bucket: bucket.clone(),
            }
            .payload(),
            _ => serde_json::to_string(&Change::Resync).unwrap_or_default(),
        }
    }

    /// A payload heard on the channel; one this build cannot read (a newer replica's) is
    /// [`Change::Resync`], which is always safe.
    pub fn from_payload(payload: &str) -> Change {
        serde_json::from_str(payload).unwrap_or(Change::Resync)
    }
}

/// Longest payload sent as is (PostgreSQL refuses payloads of 8 000 bytes or more).
pub const MAX_PAYLOAD: usize = 7900;

/// What a subscriber receives: every change after it subscribed, in commit order.
pub struct ChangeFeed {
    rx: tokio::sync::broadcast::Receiver<Change>,
}

impl ChangeFeed {
    pub fn new(rx: tokio::sync::broadcast::Receiver<Change>) -> Self {
        ChangeFeed { rx }
    }

    /// The next change; `None` once the store is gone. Falling behind by more than
    /// [`CHANGE_FEED_CAPACITY`] yields one [`Change::Resync`].
    pub async fn next(&mut self) -> Option<Change> {
        use tokio::sync::broadcast::error::RecvError;
        match self.rx.recv().await {
            Ok(c) => Some(c),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "change feed subscriber fell behind; dropping every cached answer"
                );
                Some(Change::Resync)
            }
            Err(RecvError::Closed) => None,
        }
    }
}

/// Work only one replica may do at a time (the reconciler), held while this lives.
pub struct JobLock {
    name: String,
    held: Box<dyn HeldLock>,
}

/// How a store holds a [`JobLock`].
pub trait HeldLock: Send + Sync {
    /// Whether the lock was lost (PostgreSQL: its connection closed): work under it must stop.
    fn is_lost(&self) -> bool;
}

/// The lock of a store only one process uses (SQLite): always held.
pub struct Sole;

impl HeldLock for Sole {
    fn is_lost(&self) -> bool {
        false
    }
}

impl JobLock {
    pub fn new(name: &str, held: Box<dyn HeldLock>) -> Self {
        JobLock {
            name: name.to_string(),
            held,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_lost(&self) -> bool {
        self.held.is_lost()
    }
}

impl std::fmt::Debug for JobLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLock")
            .field("name", &self.name)
            .field("lost", &self.is_lost())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payloads round-trip, a payload from a newer build is a resync, and an over-long object
    /// change degrades to its bucket's (issue 15).
    #[test]
    fn payloads() {
        let all = [
            Change::Tenant {
                tenant_id: "t".into(),
            },
            Change::User {
                tenant_id: "t".into(),
                user_id: "u/1".into(),
            },
            Change::Credential {
                access_key: "AK".into(),
            },
            Change::Bucket {
                tenant_id: "t".into(),
                bucket: "b".into(),
            },
            Change::Object {
                tenant_id: "t".into(),
                bucket: "b".into(),
                key: "k\"ey".into(),
            },
            Change::Identity {
                tenant_id: "t".into(),
                principal: "u".into(),
            },
            Change::Counter {
                name: "n".into(),
                value: 3,
            },
            Change::Pending,
            Change::Resync,
        ];
        for c in all {
            assert_eq!(Change::from_payload(&c.payload()), c);
        }
        assert_eq!(
            Change::from_payload(r#"{"change":"quota","tenant_id":"t"}"#),
            Change::Resync
        );
        let long = Change::Object {
            tenant_id: "t".into(),
            bucket: "b".into(),
            key: "\u{1}".repeat(1500),
        };
        let p = long.payload();
        assert!(p.len() <= MAX_PAYLOAD);
        assert_eq!(
            Change::from_payload(&p),
            Change::Bucket {
                tenant_id: "t".into(),
                bucket: "b".into()
            }
        );
    }
}
