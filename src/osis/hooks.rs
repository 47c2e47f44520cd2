//! The seam between the OSIS control plane and everything that must follow its changes: backend
//! provisioning (issue 4), data-plane caches, usage and bucket listings.
//!
//! OSIS handlers write the identity store and then call these hooks; a hook error makes the
//! handler undo its store change (or leave a durable retry record) and answer with an error that
//! names the backend.

use std::sync::Arc;

use async_trait::async_trait;

use super::error::ApiError;
use super::model::{BucketMeta, Usage};
use crate::store::StoreError;
use crate::store::{Store, Tenant, User};

/// What a hook reports (issue 12: provisioning answers with its own error, not the HTTP type;
/// the OSIS handlers turn it into their answer through `From`).
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Backends refused or failed the call; `retryable` when any of them was unavailable.
    #[error("{message}")]
    Backends { message: String, retryable: bool },
    #[error("{0}")]
    Internal(String),
}

impl From<HookError> for ApiError {
    fn from(e: HookError) -> Self {
        match e {
            HookError::Store(e) => e.into(),
            HookError::Backends { message, retryable } => ApiError::backend(message, retryable),
            HookError::Internal(m) => ApiError::internal(m),
        }
    }
}

/// Cache invalidation belongs to the hooks: `tenant_changed` and `after_delete` drop the tenant's
/// (or user's) cached facts, keys and identities — after the store change, so no concurrent
/// request can re-cache what was just removed — and `credential_changed` one key. Handlers never
/// walk keys themselves.
#[async_trait]
pub trait ControlHooks: Send + Sync + 'static {
    /// After the tenant row exists; provision it on the tenant's backends.
    async fn tenant_created(&self, _t: &Tenant) -> Result<(), HookError> {
        Ok(())
    }
    /// After `active` or `cd_tenant_ids` changed (a new org id may move the tenant to another
    /// routing table).
    async fn tenant_changed(&self, _t: &Tenant) -> Result<(), HookError> {
        Ok(())
    }
    /// Before the tenant row goes; remove it (and, with `purge`, its data) from the backends.
    async fn tenant_deleting(&self, _t: &Tenant, _purge: bool) -> Result<(), HookError> {
        Ok(())
    }
    async fn user_created(&self, _t: &Tenant, _u: &User) -> Result<(), HookError> {
        Ok(())
    }
    async fn user_changed(&self, _u: &User) -> Result<(), HookError> {
        Ok(())
    }
    async fn user_deleting(&self, _u: &User, _purge: bool) -> Result<(), HookError> {
        Ok(())
    }
    /// After a tenant's (`user_id` None) or a user's rows were deleted from the store: drop what is
    /// cached of them (backend removal may complete in the background).
    async fn after_delete(&self, _tenant_id: &str, _user_id: Option<&str>) {}
    /// A key was created, disabled, enabled or deleted: drop cached copies.
    async fn credential_changed(&self, _access_key: &str) {}
    async fn usage(
        &self,
        tenant_id: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<Usage, HookError>;
    async fn bucket_list(&self, tenant_id: &str) -> Result<Vec<BucketMeta>, HookError>;
    /// S3 operations a backend cannot serve, each with the backends that cannot (their
    /// profiles' `unsupported_operations`): of the backends `tenant`'s routing table and
    /// buckets use, or of every configured backend when no tenant is named (issue 11).
    async fn unsupported_s3_operations(
        &self,
        _tenant: Option<&Tenant>,
    ) -> Vec<(String, Vec<String>)> {
        Vec::new()
    }
    /// `Information.status`: NORMAL, WARNING (a backend is unreachable) or ERROR.
    async fn status(&self) -> &'static str {
        "NORMAL"
    }
}

/// Hooks that know only the identity store: bucket counts and listings come from placements;
/// object counts and bytes are unknown to the store and reported as 0 (total/available as -1,
/// "cannot compute", as Scality's adapter does).
pub struct StoreHooks {
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl ControlHooks for StoreHooks {
    async fn usage(
        &self,
        tenant_id: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<Usage, HookError> {
        let placements = match tenant_id {
            Some(t) => self.store.placements(t).await?,
            None => {
                let mut all = Vec::new();
                let mut offset = 0;
                loop {
                    let page = self
                        .store
                        .tenants(
                            &[],
                            crate::store::Paging {
                                offset,
                                limit: 1000,
                            },
                        )
                        .await?;
                    if page.items.is_empty() {
                        break;
                    }
                    offset += page.items.len() as u64;
                    for t in page.items {
                        all.extend(self.store.placements(&t.tenant_id).await?);
                    }
                }
                all
            }
        };
        let count = placements
            .iter()
            .filter(|p| user_id.is_none_or(|u| p.owner_user_id == u))
            .count();
        Ok(Usage {
            bucket_count: count as i64,
            object_count: 0,
            total_bytes: -1,
            available_bytes: -1,
            used_bytes: 0,
        })
    }

    async fn bucket_list(&self, tenant_id: &str) -> Result<Vec<BucketMeta>, HookError> {
        Ok(self
            .store
            .placements(tenant_id)
            .await?
            .into_iter()
            .map(|p| BucketMeta {
                name: p.bucket,
                creation_date: p
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                user_id: p.owner_user_id,
            })
            .collect())
    }
}

/// A configuration file Osprey refused to load (the previous one keeps serving).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConfigRejected(pub String);

/// Osprey's administration endpoints' view of the configuration hot reload (issue 12: the seam
/// that keeps `osis` below `reload`, which implements it).
#[async_trait]
pub trait ConfigControl: Send + Sync + 'static {
    /// Reload the file now; `Ok(generation)` once it serves (or already did).
    async fn reload(&self, trigger: &'static str) -> Result<u64, ConfigRejected>;
    /// The reload state (`GET /api/v1/admin/config`).
    fn status_json(&self) -> serde_json::Value;
    /// Why the file on disk is not what serves (its last reload was rejected); `None` when it is.
    fn last_error(&self) -> Option<String>;
    /// Names of the backends in the serving configuration.
    fn backend_names(&self) -> Vec<String>;
}
