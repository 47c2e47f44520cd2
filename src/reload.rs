//! Hot reload of the configuration file (architecture.md §2.3): on a file change (watch), SIGHUP,
//! or `POST /api/v1/admin/reload`, the file is parsed → validated → checked against live state →
//! compiled, and the new [`Snapshot`] swapped in atomically. Requests hold the snapshot they
//! started with, so in-flight requests finish on the old one. A rejected file changes nothing; the
//! old snapshot keeps serving and the rejection is logged and counted.
//!
//! What reloads: backends (added, changed, or removed when nothing lives on them), routing tables
//! and tenant assignments, and the `[s3]` settings. Listeners, TLS, the store and the OSIS admin
//! pair need a restart; a reload that changes them is applied for the rest and says so in the log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::backend::Backend;
use crate::config::{Config, Env};
use crate::osis::hooks::{ConfigControl, ConfigRejected};
use crate::provision::Provisioner;
use crate::proxy::{SharedSnapshot, Snapshot};
use crate::routing::{Routing, TenantKey};
use crate::store::{Paging, Store};

/// File events closer together than this are one reload (editors write, rename and chmod).
pub const WATCH_DEBOUNCE: Duration = Duration::from_millis(150);

#[derive(Default)]
pub struct ReloadStats {
    pub ok: AtomicU64,
    pub rejected: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    pub digest: Mutex<String>,
    pub last_ms: AtomicU64,
}

pub struct Reloader {
    pub path: PathBuf,
    pub snapshot: SharedSnapshot,
    pub store: Arc<dyn Store>,
    pub provisioner: Arc<Provisioner>,
    pub stats: ReloadStats,
    lock: tokio::sync::Mutex<()>,
}

pub fn digest(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        initial_text_digest: String,
        snapshot: SharedSnapshot,
        store: Arc<dyn Store>,
        provisioner: Arc<Provisioner>,
    ) -> Self {
        let stats = ReloadStats::default();
        if let Ok(mut d) = stats.digest.lock() {
            *d = initial_text_digest;
        }
        Reloader {
            path,
            snapshot,
            store,
            provisioner,
            stats,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn generation(&self) -> u64 {
        self.snapshot.load().generation
    }

    /// One reload attempt. `Ok(generation)` when the new file is serving (or was already).
    pub async fn reload(&self, trigger: &str) -> Result<u64, ConfigRejected> {
        let _one_at_a_time = self.lock.lock().await;
        let started = Instant::now();
        let r = self.try_reload().await;
        let took = started.elapsed();
        let ms = took.as_millis() as u64;
        self.stats.last_ms.store(ms, Ordering::Relaxed);
        let metrics = crate::metrics::global();
        match &r {
            Ok((generation, true)) => {
                self.stats.ok.fetch_add(1, Ordering::Relaxed);
                self.clear_last_error();
                metrics.reload("ok", took);
                metrics.set_generation(*generation);
                tracing::info!(trigger, generation, ms, file = %self.path.display(), "configuration reloaded");
            }
            Ok((generation, false)) => {
                // the file is the one serving again (e.g. a rejected edit was undone): the
                // earlier rejection no longer describes it (issue 14: `last_error` stayed set)
                self.clear_last_error();
                tracing::debug!(
                    trigger,
                    generation,
                    "configuration unchanged; nothing to reload"
                );
            }
            Err(e) => {
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                metrics.reload("rejected", took);
                if let Ok(mut l) = self.stats.last_error.lock() {
                    *l = Some(e.to_string());
                }
                tracing::warn!(trigger, ms, file = %self.path.display(), "configuration rejected, previous configuration keeps serving: {e}");
            }
        }
        r.map(|(g, _)| g)
    }

    fn clear_last_error(&self) {
        if let Ok(mut e) = self.stats.last_error.lock() {
            *e = None;
        }
    }

    /// Why the file on disk is not what serves (its last reload was rejected); `None` when it is.
    pub fn last_error(&self) -> Option<String> {
        self.stats.last_error.lock().ok().and_then(|e| e.clone())
    }

    async fn try_reload(&self) -> Result<(u64, bool), ConfigRejected> {
        let (text, cfg) = crate::config::load_text(&self.path, &Env::from_process())
            .map_err(|e| ConfigRejected(e.to_string()))?;
        let d = digest(&text);
        let old = self.snapshot.load_full();
        if self.stats.digest.lock().map(|g| *g == d).unwrap_or(false) {
            return Ok((old.generation, false));
        }
        // live-state check: never strand buckets or identities on a backend that disappears
        let mut stranded = Vec::new();
        for name in old.backends.keys() {
            if cfg.backend(name).is_some() {
                continue;
            }
            let p = self
                .store
                .placements_on_backend(name)
                .await
                .map_err(|e| ConfigRejected(e.to_string()))?;
            let i = self
                .store
                .identities_on_backend(name)
                .await
                .map_err(|e| ConfigRejected(e.to_string()))?;
            if p + i > 0 {
                stranded.push(format!(
                    "backend `{name}` still holds {p} bucket placement(s) and {i} identity(ies)"
                ));
            }
        }
        if !stranded.is_empty() {
            return Err(ConfigRejected(format!(
                "{}: removing backends would strand data: {}; delete those buckets/users (or keep the backend) first",
                self.path.display(),
                stranded.join("; ")
            )));
        }
        restart_only_changes(&old.config, &cfg);
        let backends = self.build_backends(&old, &cfg).await?;
        let routing = Routing::compile(&cfg.routing);
        let generation = old.generation + 1;
        let new = Arc::new(Snapshot {
            config: Arc::new(cfg),
            routing,
            backends,
            generation,
        });
        self.snapshot.store(new.clone());
        if let Ok(mut g) = self.stats.digest.lock() {
            *g = d;
        }
        self.provision_added_backends(old, new);
        Ok((generation, true))
    }

    async fn build_backends(
        &self,
        old: &Snapshot,
        cfg: &Config,
    ) -> Result<HashMap<String, Arc<dyn Backend>>, ConfigRejected> {
        let mut out = HashMap::new();
        for b in &cfg.backends {
            let reuse = old.backends.get(&b.name).filter(|o| {
                o.config().same_as(b)
                    // the embedded store keeps running under its name whatever else changed
                    || (o.kind() == crate::config::BackendKind::Local
                        && b.kind() == crate::config::BackendKind::Local)
            });
            let backend = match reuse {
                Some(o) => o.clone(),
                None => crate::backend::factory::build_backend(cfg, b)
                    .await
                    .map_err(|e| ConfigRejected(e.to_string()))?,
            };
            out.insert(b.name.clone(), backend);
        }
        Ok(out)
    }

    /// A backend newly in a tenant's table gets the tenant's identities (in the background, by the
    /// reconciler, so a reload never waits on backends).
    fn provision_added_backends(&self, old: Arc<Snapshot>, new: Arc<Snapshot>) {
        let store = self.store.clone();
        let provisioner = self.provisioner.clone();
        tokio::spawn(async move {
            let mut offset = 0;
            let mut queued = 0u64;
            loop {
                let Ok(page) = store
                    .tenants(
                        &[],
                        Paging {
                            offset,
                            limit: 1000,
                        },
                    )
                    .await
                else {
                    return;
                };
                if page.items.is_empty() {
                    break;
                }
                offset += page.items.len() as u64;
                for t in page.items {
                    let key = TenantKey {
                        tenant_id: &t.tenant_id,
                        tenant_name: &t.name,
                        cd_tenant_ids: &t.cd_tenant_ids,
                    };
                    let before = old.routing.table_for(key).0.backends();
                    let added: Vec<Arc<dyn Backend>> = new
                        .routing
                        .table_for(key)
                        .0
                        .backends()
                        .into_iter()
                        .filter(|b| !before.contains(b))
                        .filter_map(|b| new.backend(&b).cloned())
                        .collect();
                    if !added.is_empty() {
                        queued += provisioner.queue_tenant(&t, &added).await;
                    }
                }
            }
            if queued > 0 {
                tracing::info!(
                    queued,
                    "identities queued for backends newly in tenants' tables"
                );
                provisioner.wake().await;
            }
        });
    }

    /// Reload on every change of the file (its directory is watched: editors replace files).
    pub fn watch(self: &Arc<Self>) -> anyhow::Result<notify::RecommendedWatcher> {
        use notify::Watcher;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let name = self.path.file_name().map(|n| n.to_os_string());
        let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            if let Ok(ev) = ev {
                let ours = ev
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
                if ours && !matches!(ev.kind, notify::EventKind::Access(_)) {
                    let _ = tx.send(());
                }
            }
        })?;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        w.watch(dir, notify::RecursiveMode::NonRecursive)?;
        let me = self.clone();
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // debounce a burst of events into one reload
                tokio::time::sleep(WATCH_DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
                let _ = me.reload("file change").await;
            }
        });
        Ok(w)
    }

    /// Reload on SIGHUP (pingora does not use it; its default action would end the process).
    pub fn on_sighup(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let me = self.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = me.reload("SIGHUP").await;
            }
        });
        Ok(())
    }

    pub fn status_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.path.display().to_string(),
            "generation": self.generation(),
            "digest": self.stats.digest.lock().map(|d| d.clone()).unwrap_or_default(),
            "reloads_ok": self.stats.ok.load(Ordering::Relaxed),
            "reloads_rejected": self.stats.rejected.load(Ordering::Relaxed),
            "last_error": self.stats.last_error.lock().ok().and_then(|e| e.clone()),
        })
    }
}

/// Log settings a reload cannot apply to a running process.
fn restart_only_changes(old: &Config, new: &Config) {
    let mut needs = Vec::new();
    if old.server.osis_listen != new.server.osis_listen
        || old.server.s3_listen != new.server.s3_listen
    {
        needs.push("listen addresses");
    }
    if old.server.data_dir != new.server.data_dir {
        needs.push("server.data_dir");
    }
    if old.server.tls.as_ref().map(|t| (&t.cert_file, &t.key_file))
        != new.server.tls.as_ref().map(|t| (&t.cert_file, &t.key_file))
    {
        needs.push("server.tls");
    }
    if old.osis.admin_access_key != new.osis.admin_access_key
        || old.osis.admin_secret_key != new.osis.admin_secret_key
        || old.osis.bearer != new.osis.bearer
    {
        needs.push("osis admin credentials / bearer");
    }
    if old.store != new.store {
        needs.push("[store]");
    }
    if !needs.is_empty() {
        tracing::warn!(
            settings = needs.join(", "),
            "these settings changed in the file and take effect only after a restart"
        );
    }
}

#[async_trait::async_trait]
impl ConfigControl for Reloader {
    async fn reload(&self, trigger: &'static str) -> Result<u64, ConfigRejected> {
        Reloader::reload(self, trigger).await
    }
    fn status_json(&self) -> serde_json::Value {
        Reloader::status_json(self)
    }
    fn last_error(&self) -> Option<String> {
        Reloader::last_error(self)
    }
    fn backend_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.snapshot.load().backends.keys().cloned().collect();
        names.sort();
        names
    }
}
