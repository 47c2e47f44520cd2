//! The reconciler: every pending intent is re-run until its backend matches the identity store
//! (drivers are idempotent), one lane per backend so a stalled backend delays only itself.
//!
//! Replicas on one shared store (issue 15) run it on exactly one of them at a time: the replica
//! holding the store's [`RECONCILER_LOCK`] (PostgreSQL: a session advisory lock, freed when its
//! connection ends — also when the replica is killed). The others try to take the lock every
//! [`LEADER_RETRY`], so a killed leader's pending work is picked up by another replica within
//! that time plus one pass. Intents are rows in the store, so nothing a dead replica queued is
//! lost.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::{Intent, Provisioner};
use crate::store::{PendingOp, StoreError};

/// Most attempts the reconciler makes for one intent before it only logs it at each pass (it keeps
/// trying: giving up would leave an orphan, but the log line tells an operator what is stuck).
pub const RECONCILE_WARN_AFTER: i64 = 10;

/// Backends the reconciler works on at once (issue 12), each on its own lane. Default 8: enough
/// that a few backends down at the same time (each lane waiting its `timeout_ms` per intent) leave
/// slots for the healthy ones; it stops a configuration with many backends from opening a burst of
/// admin-API calls on every pass.
pub const RECONCILE_CONCURRENCY: usize = 8;

/// How long a deletion's intent waits for its deletion to commit (default 30 s). A deleting
/// OSIS call writes its intents first and removes the store row after (so a crash in between
/// loses nothing); a pass that runs in that gap — another replica's, woken by anything — would
/// find the row still there and make the backend match it, then finish the intent, and the
/// row's removal a moment later would leave an orphan (found by the issue 15 drill: 4–5 per
/// minute with three replicas). So while the row is there and not newer than the intent, the
/// intent waits; past this, the deletion evidently failed (the OSIS call answered an error) and
/// the backend is made to match the row that stayed.
pub const DELETE_SETTLE: Duration = Duration::from_secs(30);

/// How many of its backend's timeouts (`timeout_ms`) an intent that an OSIS call is applying
/// itself stays that call's (default 4: an apply makes up to three admin calls). Before, a
/// reconciler pass that ran meanwhile applied it a second time, concurrently — with three
/// replicas often enough that RGW answered one of the two writes to the same user with
/// `500 UnknownError` (issue 15 drill). If the call fails the intent is the reconciler's at
/// once; if its replica dies, once the claim is over.
pub const INLINE_CLAIM_TIMEOUTS: u32 = 4;

/// What the reconciler reads beside the intent itself.
#[derive(serde::Deserialize)]
struct Marks {
    #[serde(default)]
    inline: bool,
}

/// Name of the job lock that makes one replica the reconciler's (issue 15).
pub const RECONCILER_LOCK: &str = "reconciler";

/// How often a replica that does not run the reconciler tries to take over (default 2 s, or
/// the reconcile interval when shorter). It bounds how long work waits after the replica that
/// ran the reconciler died.
pub const LEADER_RETRY: Duration = Duration::from_secs(2);

/// A backend's reconciler lane, marked busy for as long as this lives (dropped at the end of the
/// lane, also when its pass is cancelled): one backend never has two lanes, which would break the
/// order of its intents.
pub(super) struct LaneClaim<'a> {
    busy: &'a std::sync::Mutex<HashSet<String>>,
    backend: String,
}

impl<'a> LaneClaim<'a> {
    pub(super) fn take(busy: &'a std::sync::Mutex<HashSet<String>>, backend: &str) -> Option<Self> {
        let mut set = busy.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(backend.to_string()).then(|| LaneClaim {
            busy,
            backend: backend.to_string(),
        })
    }
}

impl Drop for LaneClaim<'_> {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.backend);
    }
}

/// An intent its OSIS call is still applying: marked inline, never tried by the reconciler
/// (a failed inline apply counts as an attempt), and younger than its claim.
fn inline_claimed(p: &PendingOp, timeout: Duration) -> bool {
    let inline = serde_json::from_str::<Marks>(&p.op).is_ok_and(|m| m.inline);
    let age = (chrono::Utc::now() - p.created_at)
        .to_std()
        .unwrap_or_default();
    inline && p.attempts == 0 && age < timeout * INLINE_CLAIM_TIMEOUTS
}

impl Provisioner {
    /// Whether this replica runs the reconciler: still holds the lock, or takes it now. A lost
    /// lock stays in place (so running lanes see it lost) until a new one replaces it.
    async fn lead(&self) -> bool {
        let lost = {
            let held = self.leader.lock().unwrap_or_else(|e| e.into_inner());
            match held.as_ref() {
                Some(l) if !l.is_lost() => return true,
                Some(_) => true,
                None => false,
            }
        };
        if lost
            && !self
                .lost_logged
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!("lost the reconciler lock (its store connection closed); another replica may run the reconciler now");
        }
        let got = match self.store.job_lock(RECONCILER_LOCK).await {
            Ok(Some(l)) => {
                tracing::info!(lock = l.name(), "this replica runs the reconciler");
                *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = Some(l);
                self.lost_logged
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::debug!(error = %e, "cannot take the reconciler lock");
                false
            }
        };
        crate::metrics::global().reconciler_leader(got);
        got
    }

    /// Whether the lock this replica's passes ran under was lost (a pass started without one —
    /// a direct call of [`Self::reconcile`] — never stops for it).
    fn lock_lost(&self) -> bool {
        self.leader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|l| l.is_lost())
    }

    /// A deletion's intent whose store row is still there and not newer than the intent, within
    /// [`DELETE_SETTLE`]: its deletion has not committed yet.
    async fn deletion_pending(&self, p: &PendingOp, intent: &Intent) -> bool {
        let since = match intent {
            Intent::User {
                tenant_id,
                user_id,
                delete: true,
                ..
            } => match self.store.user(tenant_id, user_id).await {
                Ok(u) => u.map(|u| u.created_at),
                Err(_) => return true, // cannot tell: try again later
            },
            Intent::Tenant {
                tenant_id,
                delete: true,
                ..
            } => match self.store.tenant(tenant_id).await {
                Ok(t) => t.map(|t| t.created_at),
                Err(_) => return true,
            },
            _ => return false,
        };
        let Some(created) = since else {
            return false; // the row is gone: delete from the backend now
        };
        let age = (chrono::Utc::now() - p.created_at)
            .to_std()
            .unwrap_or_default();
        created <= p.created_at && age < DELETE_SETTLE
    }

    /// One reconciler pass over every pending intent. Returns how many remain, or the store error
    /// that kept it from reading them.
    ///
    /// Each backend's intents run in order (store order) on one *lane*; lanes of different
    /// backends run concurrently, at most [`RECONCILE_CONCURRENCY`] at once (issue 12: the pass
    /// used to be one loop, so a backend that accepts connections and never answers held every
    /// other backend's provisioning for its full timeout per intent). A backend whose lane is still
    /// running from an earlier pass is skipped: its lane picks up the new intents itself.
    pub async fn reconcile(&self) -> Result<usize, StoreError> {
        let pending = self.store.pending().await.inspect_err(|e| {
            tracing::error!(error = %e, "reconciler cannot read pending work");
        })?;
        let snap = self.snapshot.load_full();
        let mut by_backend: BTreeMap<String, Vec<(PendingOp, Intent)>> = BTreeMap::new();
        for p in pending {
            let Ok(intent) = serde_json::from_str::<Intent>(&p.op) else {
                tracing::error!(id = p.id, op = %p.op, "unreadable pending operation dropped");
                let _ = self.store.finish_pending(p.id).await;
                continue;
            };
            by_backend
                .entry(p.backend.clone())
                .or_default()
                .push((p, intent));
        }
        let mut left = 0;
        let mut lanes = Vec::new();
        for (name, ops) in by_backend {
            if snap.backend(&name).is_none() {
                // the backend left the configuration (a reload refuses that while it holds
                // identities, so this is work for a backend that never got any)
                left += ops.len();
                continue;
            }
            let Some(claim) = LaneClaim::take(&self.busy, &name) else {
                left += ops.len(); // its lane from an earlier pass is still running
                continue;
            };
            lanes.push(self.lane(claim, ops));
        }
        Ok(left
            + futures::future::join_all(lanes)
                .await
                .into_iter()
                .sum::<usize>())
    }

    /// Work through one backend's intents in order, then through any that arrived for it
    /// meanwhile (so a wake-up during a long lane is not lost). Returns how many failed.
    async fn lane(&self, claim: LaneClaim<'_>, mut ops: Vec<(PendingOp, Intent)>) -> usize {
        let Ok(_slot) = self.lane_slots.acquire().await else {
            return ops.len(); // the semaphore is never closed
        };
        let name = claim.backend.as_str();
        let mut failed = 0;
        let mut seen = 0;
        while !ops.is_empty() {
            let Some(backend) = self.snapshot.load().backend(name).cloned() else {
                return failed + ops.len();
            };
            let mut batch = ops.into_iter();
            while let Some((p, intent)) = batch.next() {
                if self.lock_lost() {
                    // another replica may hold the lock now and run these itself
                    return failed + 1 + batch.len();
                }
                seen = seen.max(p.id);
                if inline_claimed(&p, backend.config().timeout)
                    || self.deletion_pending(&p, &intent).await
                {
                    // not tried, not failed: the next pass (or the deletion's wake-up) takes it
                    failed += 1;
                    continue;
                }
                match self.apply(backend.as_ref(), &intent).await {
                    Ok(()) => {
                        tracing::info!(backend = %p.backend, ?intent, attempts = p.attempts + 1, "reconciler completed pending provisioning");
                        let _ = self.store.finish_pending(p.id).await;
                    }
                    Err(e) => {
                        failed += 1;
                        if p.attempts + 1 >= RECONCILE_WARN_AFTER {
                            tracing::warn!(backend = %p.backend, error = %e, attempts = p.attempts + 1, ?intent, "provisioning still pending");
                        }
                        let _ = self.store.fail_pending(p.id, &e.to_string()).await;
                    }
                }
            }
            // only intents newer than those just tried: a failed one waits for the next pass
            ops = match self.store.pending().await {
                Ok(all) => all
                    .into_iter()
                    .filter(|p| p.backend == name && p.id > seen)
                    .filter_map(|p| {
                        let intent = serde_json::from_str::<Intent>(&p.op).ok()?;
                        Some((p, intent))
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
        }
        failed
    }

    /// Run [`Self::reconcile`] now and then every `every` (or when woken), until the process
    /// ends, while this replica holds [`RECONCILER_LOCK`]. Each pass runs on a task of its own,
    /// so a lane stalled on one backend keeps running while later passes serve the others
    /// (issue 12).
    pub fn spawn_reconciler(self: Arc<Self>, every: Duration) {
        tokio::spawn(async move {
            loop {
                if !self.lead().await {
                    tokio::select! {
                        _ = tokio::time::sleep(LEADER_RETRY.min(every)) => {}
                        _ = self.wake.notified() => {}
                    }
                    continue;
                }
                let me = self.clone();
                tokio::spawn(async move {
                    let result = match me.reconcile().await {
                        Ok(0) => "done",
                        Ok(left) => {
                            tracing::debug!(left, "pending provisioning after reconciler pass");
                            "work_left"
                        }
                        Err(_) => "error",
                    };
                    crate::metrics::global().reconciler_run(result);
                });
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = self.wake.notified() => {}
                }
            }
        });
    }
}
