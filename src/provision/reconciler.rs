//! The reconciler: every pending intent is re-run until its backend matches the identity store
//! (drivers are idempotent), one lane per backend so a stalled backend delays only itself.

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

impl Provisioner {
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
            for (p, intent) in ops {
                seen = seen.max(p.id);
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
    /// ends. Each pass runs on a task of its own, so a lane stalled on one backend keeps running
    /// while later passes serve the others (issue 12).
    pub fn spawn_reconciler(self: Arc<Self>, every: Duration) {
        tokio::spawn(async move {
            loop {
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
