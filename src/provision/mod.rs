//! Provisioning: every OSIS change to a tenant or user fans out, concurrently, to every backend in
//! the tenant's routing table (architecture.md §2.2).
//!
//! Durability by *intent records*: before touching backends, Osprey writes a pending operation
//! naming the tenant/user and backend; it is removed when the backend call succeeded. An intent
//! left behind (backend down, Osprey killed) is completed by the [`Provisioner::reconcile`] loop,
//! which makes the backend match the identity store: if the entity still exists in the store it is
//! (re-)created — drivers are idempotent — with its current status, otherwise it is removed from
//! the backend. So there are no orphans and no lost work, whatever fails when.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::{
    provision_identity, Backend, BackendError, Identity, IdentityScope, SigningKey, TenantRef,
    UserRef,
};
use crate::osis::hooks::{ControlHooks, HookError, StoreHooks};
use crate::osis::model::{BucketMeta, Usage};
use crate::proxy::directory::CachedDirectory;
use crate::proxy::SharedSnapshot;
use crate::store::{BackendIdentity, Change, IdentityRef, Store, Tenant, User};

mod intent;
mod reconciler;

use intent::InlineIntent;
pub use intent::Intent;

pub use reconciler::{
    DELETE_SETTLE, LEADER_RETRY, RECONCILER_LOCK, RECONCILE_CONCURRENCY, RECONCILE_WARN_AFTER,
};

pub struct Provisioner {
    pub store: Arc<dyn Store>,
    pub snapshot: SharedSnapshot,
    pub directory: Arc<CachedDirectory>,
    pub store_hooks: StoreHooks,
    /// Wakes the reconciler early (after deletions, whose backend work runs in the background).
    wake: tokio::sync::Notify,
    /// Backends whose reconciler lane is running ([`LaneClaim`]).
    busy: std::sync::Mutex<HashSet<String>>,
    /// [`RECONCILE_CONCURRENCY`] lanes at once, across all passes.
    lane_slots: tokio::sync::Semaphore,
    /// The reconciler's lock while this replica holds it ([`RECONCILER_LOCK`]).
    leader: std::sync::Mutex<Option<crate::store::JobLock>>,
    /// The loss of that lock was logged (once per loss).
    lost_logged: std::sync::atomic::AtomicBool,
}

impl Provisioner {
    pub fn new(
        store: Arc<dyn Store>,
        snapshot: SharedSnapshot,
        directory: Arc<CachedDirectory>,
    ) -> Self {
        Provisioner {
            store_hooks: StoreHooks {
                store: store.clone(),
            },
            store,
            snapshot,
            directory,
            wake: tokio::sync::Notify::new(),
            busy: std::sync::Mutex::new(HashSet::new()),
            lane_slots: tokio::sync::Semaphore::new(RECONCILE_CONCURRENCY),
            leader: std::sync::Mutex::new(None),
            lost_logged: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The tenant's backends: every backend of its routing table, plus any backend that still
    /// holds its placements or identities (a rule change must not strand them).
    async fn backends_of(&self, t: &Tenant) -> Vec<Arc<dyn Backend>> {
        let snap = self.snapshot.load_full();
        let (table, _) = snap.routing.table_for(crate::routing::TenantKey {
            tenant_id: &t.tenant_id,
            tenant_name: &t.name,
            cd_tenant_ids: &t.cd_tenant_ids,
        });
        let mut names: BTreeSet<String> = table.backends().iter().map(|b| b.to_string()).collect();
        if let Ok(ids) = self.store.identities_of_tenant(&t.tenant_id).await {
            names.extend(ids.into_iter().map(|i| i.backend));
        }
        if let Ok(ps) = self.store.placements(&t.tenant_id).await {
            names.extend(ps.into_iter().map(|p| p.backend));
        }
        names
            .into_iter()
            .filter_map(|n| snap.backend(&n).cloned())
            .collect()
    }

    /// The stored principal of `user_id`'s identity on `backend` (`None`: the shared key).
    fn principal(backend: &dyn Backend, tenant_id: &str, user_id: &str) -> Option<String> {
        let scope = backend.identity_scope();
        scope
            .principal(tenant_id, user_id)
            .stored()
            .map(str::to_string)
    }

    /// Record intents for `backends`, run `work` on each concurrently, clear the intents that
    /// succeeded. Returns the failures (backend name, error); their intents stay for the reconciler.
    async fn fan_out(
        &self,
        backends: &[Arc<dyn Backend>],
        intent: &Intent,
    ) -> Result<Vec<(String, BackendError)>, HookError> {
        // marked inline: the reconciler leaves it to this call until it failed once or its
        // claim ran out (reconciler.rs, `inline_claimed`)
        let json = serde_json::to_string(&InlineIntent {
            intent,
            inline: true,
        })
        .map_err(|e| HookError::Internal(e.to_string()))?;
        let mut ids = Vec::with_capacity(backends.len());
        for b in backends {
            ids.push(self.store.push_pending(b.name(), &json).await?);
        }
        let runs = backends.iter().zip(ids).map(|(b, id)| {
            let intent = intent.clone();
            async move {
                let r = self.apply(b.as_ref(), &intent).await;
                (b.name().to_string(), id, r)
            }
        });
        let mut failures = Vec::new();
        for (name, id, r) in futures::future::join_all(runs).await {
            match r {
                Ok(()) => self.store.finish_pending(id).await?,
                Err(e) => {
                    tracing::warn!(backend = %name, error = %e, ?intent, "provisioning failed; left for the reconciler");
                    self.store.fail_pending(id, &e.to_string()).await?;
                    failures.push((name, e));
                }
            }
        }
        Ok(failures)
    }

    /// Make `backend` match the store for `intent`.
    async fn apply(&self, backend: &dyn Backend, intent: &Intent) -> Result<(), BackendError> {
        let internal = |m: String| BackendError::Internal {
            backend: backend.name().to_string(),
            message: m,
        };
        match intent {
            Intent::PurgeBucket {
                tenant_id,
                owner_user_id,
                backend_bucket,
            } => {
                let p = crate::store::PlacementRow {
                    tenant_id: tenant_id.clone(),
                    bucket: String::new(),
                    backend: backend.name().to_string(),
                    backend_bucket: backend_bucket.clone(),
                    owner_user_id: owner_user_id.clone(),
                    created_at: chrono::Utc::now(),
                };
                let key = self
                    .usage_key(backend, &p)
                    .await
                    .ok_or_else(|| internal("no key to purge the bucket with".into()))?;
                crate::backend::usage::purge_bucket(
                    backend.data_path(),
                    &key,
                    backend_bucket,
                    backend.config().timeout,
                )
                .await
                .map_err(|e| e.into_backend(backend.name()))
            }
            Intent::Tenant {
                tenant_id,
                name,
                purge,
                ..
            } => {
                let t = TenantRef {
                    tenant_id: tenant_id.clone(),
                    name: name.clone(),
                };
                match self
                    .store
                    .tenant(tenant_id)
                    .await
                    .map_err(|e| internal(e.to_string()))?
                {
                    Some(_) => backend.ensure_tenant(&t).await,
                    None => backend.delete_tenant(&t, *purge).await,
                }
            }
            Intent::User {
                tenant_id,
                user_id,
                display_name,
                purge,
                backend_user,
                access_key,
                ..
            } => {
                let Some(principal) = Self::principal(backend, tenant_id, user_id) else {
                    return Ok(()); // shared service key: nothing per user on this backend
                };
                let stored_id = IdentityRef {
                    backend: backend.name(),
                    tenant_id,
                    principal: &principal,
                };
                let user = self
                    .store
                    .user(tenant_id, user_id)
                    .await
                    .map_err(|e| internal(e.to_string()))?;
                let tenant = self
                    .store
                    .tenant(tenant_id)
                    .await
                    .map_err(|e| internal(e.to_string()))?;
                let tref = TenantRef {
                    tenant_id: tenant_id.clone(),
                    name: tenant.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
                };
                match (user, tenant) {
                    (Some(u), Some(t)) => {
                        let active = u.active && t.active;
                        let uref = UserRef {
                            tenant_id: tenant_id.clone(),
                            user_id: user_id.clone(),
                            display_name: u.username.clone(),
                            email: u.email.clone(),
                        };
                        // reuse the identity Osprey holds (some drivers rotate keys on ensure);
                        // make a new one only when there is none or the backend lost it
                        let stored = self
                            .store
                            .identity(stored_id)
                            .await
                            .map_err(|e| internal(e.to_string()))?
                            .map(|i| Identity {
                                backend_user: i.backend_user,
                                key: SigningKey {
                                    access_key: i.access_key,
                                    secret_key: i.secret_key,
                                },
                            });
                        if let Some(id) = &stored {
                            match backend.set_identity_active(id, active).await {
                                Ok(()) => return Ok(()),
                                Err(e @ BackendError::Unavailable { .. }) => return Err(e),
                                Err(e) => {
                                    tracing::warn!(backend = backend.name(), error = %e, "stored identity refused; provisioning it again")
                                }
                            }
                        }
                        let id = provision_identity(backend, &tref, &uref, active).await?;
                        self.store
                            .put_identity(&BackendIdentity {
                                backend: backend.name().to_string(),
                                tenant_id: tenant_id.clone(),
                                principal: principal.clone(),
                                backend_user: id.backend_user.clone(),
                                access_key: id.key.access_key.clone(),
                                secret_key: id.key.secret_key.clone(),
                            })
                            .await
                            .map_err(|e| internal(e.to_string()))?;
                        self.directory.forget_identities_of(tenant_id, &principal);
                        Ok(())
                    }
                    _ => {
                        // gone from the store: remove from the backend
                        let stored = self
                            .store
                            .identity(stored_id)
                            .await
                            .map_err(|e| internal(e.to_string()))?;
                        let (bu, ak) = match (&stored, backend_user) {
                            (Some(s), _) => (s.backend_user.clone(), s.access_key.clone()),
                            (None, Some(bu)) => {
                                (bu.clone(), access_key.clone().unwrap_or_default())
                            }
                            (None, None) => {
                                // never stored (crash before the store write): ask the driver to
                                // find it by the tenant/user names it derives
                                let id = backend
                                    .ensure_identity(
                                        &tref,
                                        &UserRef {
                                            tenant_id: tenant_id.clone(),
                                            user_id: user_id.clone(),
                                            display_name: display_name.clone(),
                                            email: None,
                                        },
                                    )
                                    .await?;
                                (id.backend_user, id.key.access_key)
                            }
                        };
                        backend
                            .delete_identity(
                                &Identity {
                                    backend_user: bu,
                                    key: SigningKey {
                                        access_key: ak,
                                        secret_key: String::new(),
                                    },
                                },
                                *purge,
                            )
                            .await?;
                        let _ = self.store.delete_identity(stored_id).await;
                        self.directory.forget_identities_of(tenant_id, &principal);
                        Ok(())
                    }
                }
            }
        }
    }

    /// Queue the tenant and its users for `backends` (a reload added them to the tenant's table);
    /// returns how many intents were written. [`Self::wake`] runs them.
    pub async fn queue_tenant(&self, t: &Tenant, backends: &[Arc<dyn Backend>]) -> u64 {
        let mut n = 0;
        let users = match self
            .store
            .users(
                &[crate::store::Term::TenantId(t.tenant_id.clone())],
                crate::store::Paging {
                    offset: 0,
                    limit: u64::MAX,
                },
            )
            .await
        {
            Ok(p) => p.items,
            Err(_) => return 0,
        };
        let mut intents = vec![Intent::Tenant {
            tenant_id: t.tenant_id.clone(),
            name: t.name.clone(),
            purge: false,
            delete: false,
        }];
        intents.extend(users.iter().map(|u| Self::user_intent(u, false, None)));
        for b in backends {
            for i in &intents {
                if let Ok(json) = serde_json::to_string(i) {
                    if self.store.push_pending(b.name(), &json).await.is_ok() {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Queue the purge of the tenant's (or one owner's) buckets on shared-namespace backends and
    /// drop their placements; per-tenant-namespace backends purge with the identity (RGW
    /// `purge-data`).
    async fn queue_purges(&self, tenant_id: &str, owner: Option<&str>) -> Result<(), HookError> {
        let snap = self.snapshot.load_full();
        for p in self.store.placements(tenant_id).await? {
            if owner.is_some_and(|o| o != p.owner_user_id) {
                continue;
            }
            let shared = snap
                .backend(&p.backend)
                .map(|b| b.data_path().shared_namespace)
                .unwrap_or(true);
            if shared {
                let json = serde_json::to_string(&Intent::PurgeBucket {
                    tenant_id: p.tenant_id.clone(),
                    owner_user_id: p.owner_user_id.clone(),
                    backend_bucket: p.backend_bucket.clone(),
                })
                .map_err(|e| HookError::Internal(e.to_string()))?;
                self.store.push_pending(&p.backend, &json).await?;
            }
            self.directory.forget_placement(&p.tenant_id, &p.bucket);
            self.store.delete_placement(&p.tenant_id, &p.bucket).await?;
        }
        Ok(())
    }

    /// Run the reconciler now, wherever it runs: here, and on the replica holding its lock
    /// (announced through the shared store, issue 15).
    pub async fn wake(&self) {
        self.wake.notify_one();
        if let Err(e) = self.store.announce(Change::Pending).await {
            tracing::debug!(error = %e, "could not announce pending work to the other replicas");
        }
    }

    /// A change heard on the shared store's feed: queued work wakes the reconciler (a no-op
    /// unless this replica runs it), so another replica's deletion is not left for the next
    /// pass.
    pub fn heard(&self, change: &Change) {
        if matches!(change, Change::Pending | Change::Resync) {
            self.wake.notify_one();
        }
    }

    async fn placements_in_scope(
        &self,
        t: Option<&str>,
        u: Option<&str>,
    ) -> Result<Vec<crate::store::PlacementRow>, HookError> {
        let tenants: Vec<String> = match t {
            Some(t) => vec![t.to_string()],
            None => self
                .store
                .tenants(
                    &[],
                    crate::store::Paging {
                        offset: 0,
                        limit: u64::MAX,
                    },
                )
                .await?
                .items
                .into_iter()
                .map(|t| t.tenant_id)
                .collect(),
        };
        let mut out = Vec::new();
        for t in tenants {
            out.extend(
                self.store
                    .placements(&t)
                    .await?
                    .into_iter()
                    .filter(|p| u.is_none_or(|u| p.owner_user_id == u)),
            );
        }
        Ok(out)
    }

    /// A key that can read the bucket on its backend: the service key, or the owner's identity
    /// (any identity of the tenant there as a fallback).
    async fn usage_key(
        &self,
        backend: &dyn Backend,
        p: &crate::store::PlacementRow,
    ) -> Option<SigningKey> {
        if backend.identity_scope() == IdentityScope::Shared {
            let t = TenantRef {
                tenant_id: p.tenant_id.clone(),
                name: String::new(),
            };
            let u = UserRef {
                tenant_id: p.tenant_id.clone(),
                user_id: p.owner_user_id.clone(),
                display_name: String::new(),
                email: None,
            };
            return backend.ensure_identity(&t, &u).await.ok().map(|i| i.key);
        }
        let principal = Self::principal(backend, &p.tenant_id, &p.owner_user_id)?;
        if let Ok(Some(i)) = self
            .store
            .identity(IdentityRef {
                backend: backend.name(),
                tenant_id: &p.tenant_id,
                principal: &principal,
            })
            .await
        {
            return Some(SigningKey {
                access_key: i.access_key,
                secret_key: i.secret_key,
            });
        }
        let any = self
            .store
            .identities_of_tenant(&p.tenant_id)
            .await
            .ok()?
            .into_iter()
            .find(|i| i.backend == backend.name())
            .map(|i| SigningKey {
                access_key: i.access_key,
                secret_key: i.secret_key,
            });
        // last resort (e.g. purging after the tenant's identities are gone): the platform admin
        // key from the configuration, which on IAM platforms is the account's own key
        any.or_else(|| backend.config().spec.credentials().map(SigningKey::from))
    }

    fn user_intent(u: &User, purge: bool, id: Option<&BackendIdentity>) -> Intent {
        Intent::User {
            tenant_id: u.tenant_id.clone(),
            user_id: u.user_id.clone(),
            display_name: u.username.clone(),
            purge,
            backend_user: id.map(|i| i.backend_user.clone()),
            access_key: id.map(|i| i.access_key.clone()),
            // only `user_deleting` names the stored identity
            delete: id.is_some(),
        }
    }

    fn describe(failures: &[(String, BackendError)]) -> HookError {
        let retryable = failures.iter().all(|(_, e)| e.retryable());
        let msg = failures
            .iter()
            .map(|(_, e)| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        HookError::Backends {
            message: if retryable {
                format!("{msg} (nothing was kept; retry when the backend is back)")
            } else {
                msg
            },
            // the status of the first failure, as it always was
            retryable: failures[0].1.retryable(),
        }
    }
}

#[async_trait]
impl ControlHooks for Provisioner {
    async fn unsupported_s3_operations(
        &self,
        tenant: Option<&Tenant>,
    ) -> Vec<(String, Vec<String>)> {
        let backends = match tenant {
            Some(t) => self.backends_of(t).await,
            None => self
                .snapshot
                .load_full()
                .backends
                .values()
                .cloned()
                .collect(),
        };
        let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for b in backends {
            for op in &b.config().profile.unsupported_operations {
                out.entry(op.clone())
                    .or_default()
                    .push(b.name().to_string());
            }
        }
        for names in out.values_mut() {
            names.sort();
        }
        out.into_iter().collect()
    }

    async fn tenant_created(&self, t: &Tenant) -> Result<(), HookError> {
        let backends = self.backends_of(t).await;
        let intent = Intent::Tenant {
            tenant_id: t.tenant_id.clone(),
            name: t.name.clone(),
            purge: false,
            delete: false,
        };
        let failures = self.fan_out(&backends, &intent).await?;
        if failures.is_empty() {
            return Ok(());
        }
        // The handler deletes the tenant row on error; the intents left make the reconciler
        // remove whatever part of it reached a backend.
        Err(Self::describe(&failures))
    }

    async fn tenant_changed(&self, t: &Tenant) -> Result<(), HookError> {
        self.directory.forget_keys_of(&t.tenant_id, None);
        // tenant (de)activation reaches every user identity; a new org id may change the table
        let backends = self.backends_of(t).await;
        let intent = Intent::Tenant {
            tenant_id: t.tenant_id.clone(),
            name: t.name.clone(),
            purge: false,
            delete: false,
        };
        let failures = self.fan_out(&backends, &intent).await?;
        let users = self
            .store
            .users(
                &[crate::store::Term::TenantId(t.tenant_id.clone())],
                crate::store::Paging {
                    offset: 0,
                    limit: u64::MAX,
                },
            )
            .await?;
        let mut all = failures;
        for u in users.items {
            all.extend(
                self.fan_out(&backends, &Self::user_intent(&u, false, None))
                    .await?,
            );
        }
        if all.is_empty() {
            Ok(())
        } else {
            Err(Self::describe(&all))
        }
    }

    async fn tenant_deleting(&self, t: &Tenant, purge: bool) -> Result<(), HookError> {
        self.directory.forget_tenant(&t.tenant_id);
        let backends = self.backends_of(t).await;
        // users first (their intents carry the stored principals), then the tenant itself; the
        // intents are written now and completed after the store rows are gone
        let ids = self.store.identities_of_tenant(&t.tenant_id).await?;
        let json_t = serde_json::to_string(&Intent::Tenant {
            tenant_id: t.tenant_id.clone(),
            name: t.name.clone(),
            purge,
            delete: true,
        })
        .map_err(|e| HookError::Internal(e.to_string()))?;
        for id in &ids {
            let intent = Intent::User {
                tenant_id: t.tenant_id.clone(),
                user_id: id.principal.clone(),
                display_name: String::new(),
                purge,
                backend_user: Some(id.backend_user.clone()),
                access_key: Some(id.access_key.clone()),
                delete: true,
            };
            let json =
                serde_json::to_string(&intent).map_err(|e| HookError::Internal(e.to_string()))?;
            self.store.push_pending(&id.backend, &json).await?;
        }
        for b in &backends {
            self.store.push_pending(b.name(), &json_t).await?;
        }
        if purge {
            self.queue_purges(&t.tenant_id, None).await?;
        }
        Ok(())
    }

    async fn user_created(&self, t: &Tenant, u: &User) -> Result<(), HookError> {
        let backends = self.backends_of(t).await;
        let failures = self
            .fan_out(&backends, &Self::user_intent(u, false, None))
            .await?;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Self::describe(&failures))
        }
    }

    async fn user_changed(&self, u: &User) -> Result<(), HookError> {
        self.directory
            .forget_keys_of(&u.tenant_id, Some(&u.user_id));
        let Some(t) = self.store.tenant(&u.tenant_id).await? else {
            return Ok(());
        };
        let backends = self.backends_of(&t).await;
        let failures = self
            .fan_out(&backends, &Self::user_intent(u, false, None))
            .await?;
        if failures.is_empty() {
            Ok(())
        } else {
            // the status change stays recorded and is pushed by the reconciler when the backend
            // is back; the handler restores the old status so OSIS and backends agree meanwhile
            Err(Self::describe(&failures))
        }
    }

    async fn user_deleting(&self, u: &User, purge: bool) -> Result<(), HookError> {
        self.directory
            .forget_keys_of(&u.tenant_id, Some(&u.user_id));
        self.directory
            .forget_identities_of(&u.tenant_id, &u.user_id);
        let ids = self.store.identities_of_tenant(&u.tenant_id).await?;
        for id in ids.iter().filter(|i| i.principal == u.user_id) {
            let json = serde_json::to_string(&Self::user_intent(u, purge, Some(id)))
                .map_err(|e| HookError::Internal(e.to_string()))?;
            self.store.push_pending(&id.backend, &json).await?;
        }
        if purge {
            self.queue_purges(&u.tenant_id, Some(&u.user_id)).await?;
        }
        Ok(())
    }

    async fn after_delete(&self, tenant_id: &str, user_id: Option<&str>) {
        match user_id {
            None => self.directory.forget_tenant(tenant_id),
            Some(u) => {
                self.directory.forget_keys_of(tenant_id, Some(u));
                self.directory.forget_identities_of(tenant_id, u);
            }
        }
        // deletions were recorded as intents; the reconciler completes them now, in the
        // background, so a slow or down backend does not hold the OSIS DELETE
        self.wake().await;
    }

    async fn credential_changed(&self, access_key: &str) {
        self.directory.forget_key(access_key);
    }

    async fn usage(&self, t: Option<&str>, u: Option<&str>) -> Result<Usage, HookError> {
        // bucket count from placements; objects and bytes measured on each bucket's backend,
        // all buckets concurrently, within the fan-out deadline
        let base = self.store_hooks.usage(t, u).await?;
        let placements = self.placements_in_scope(t, u).await?;
        let snap = self.snapshot.load_full();
        let deadline = snap.config.s3.fanout_timeout;
        let runs = placements.into_iter().map(|p| {
            let snap = snap.clone();
            async move {
                let backend = snap.backend(&p.backend).cloned()?;
                if let Some(r) = backend.admin_bucket_usage(&p.tenant_id, &p.backend_bucket).await {
                    return match r {
                        Ok(u) => Some(u),
                        Err(e) => {
                            tracing::warn!(backend = %p.backend, bucket = %p.bucket, error = %e, "usage: admin stats failed");
                            None
                        }
                    };
                }
                let key = self.usage_key(backend.as_ref(), &p).await?;
                match tokio::time::timeout(
                    deadline,
                    crate::backend::usage::bucket_usage(
                        backend.data_path(),
                        &key,
                        &p.backend_bucket,
                        backend.config().timeout,
                    ),
                )
                .await
                {
                    Ok(Ok(u)) => Some(u),
                    Ok(Err(e)) => {
                        tracing::warn!(backend = %p.backend, bucket = %p.bucket, error = %e, "usage: bucket not measured");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(backend = %p.backend, bucket = %p.bucket, "usage: backend missed the fan-out deadline");
                        None
                    }
                }
            }
        });
        let mut out = base;
        for u in futures::future::join_all(runs).await.into_iter().flatten() {
            out.object_count = out.object_count.saturating_add(u.objects as i64);
            out.used_bytes = out.used_bytes.saturating_add(u.bytes as i64);
        }
        Ok(out)
    }

    async fn bucket_list(&self, t: &str) -> Result<Vec<BucketMeta>, HookError> {
        self.store_hooks.bucket_list(t).await
    }

    async fn status(&self) -> &'static str {
        match self.store.pending().await {
            Ok(p) if p.iter().any(|p| p.attempts >= 1) => "WARNING",
            Ok(_) => "NORMAL",
            Err(_) => "ERROR",
        }
    }
}
