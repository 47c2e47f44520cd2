//! What the data plane needs to know about tenants, keys, placements and backend identities.
//!
//! The proxy reads these through a narrow trait rather than the whole identity store, so the S3
//! plane can be tested without OSIS and the store can change underneath (SQLite today, PostgreSQL
//! for replicas). Hot lookups (keys, placements, identities) are cached here, invalidated by the
//! control plane when it changes the entity.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;

use crate::backend::SigningKey;

/// An Osprey-issued S3 key with what authorisation needs.
#[derive(Clone)]
pub struct KeyEntry {
    pub access_key: String,
    pub secret_key: String,
    /// Key, user and tenant are all active.
    pub active: bool,
    pub tenant_id: String,
    pub user_id: String,
    pub canonical_user_id: String,
    pub username: String,
}

/// Where a bucket lives.
#[derive(Debug, Clone)]
pub struct Placement {
    pub tenant_id: String,
    pub bucket: String,
    pub backend: String,
    pub backend_bucket: String,
    pub owner_user_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The tenant facts routing needs.
#[derive(Debug, Clone)]
pub struct TenantInfo {
    pub tenant_id: String,
    pub name: String,
    pub cd_tenant_ids: Vec<String>,
    pub active: bool,
}

/// A user as clients know them (OSIS canonical id, display name) beside the principal one backend
/// knows them by (RGW: `tenant$uid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    pub canonical_user_id: String,
    pub display_name: String,
    pub backend_user: String,
}

/// One tenant's users on one backend, indexed both ways (issue 10: identity translation).
#[derive(Debug, Default)]
pub struct PrincipalMap {
    by_backend_user: std::collections::HashMap<String, Arc<Principal>>,
    by_canonical: std::collections::HashMap<String, Arc<Principal>>,
}

impl PrincipalMap {
    pub fn new(principals: impl IntoIterator<Item = Principal>) -> Self {
        let mut m = PrincipalMap::default();
        for p in principals {
            let p = Arc::new(p);
            m.by_backend_user.insert(p.backend_user.clone(), p.clone());
            m.by_canonical.insert(p.canonical_user_id.clone(), p);
        }
        m
    }

    /// The user a backend principal stands for.
    pub fn by_backend_user(&self, backend_user: &str) -> Option<&Principal> {
        self.by_backend_user.get(backend_user).map(|p| &**p)
    }

    /// The backend principal of an OSIS canonical id.
    pub fn by_canonical(&self, canonical_user_id: &str) -> Option<&Principal> {
        self.by_canonical.get(canonical_user_id).map(|p| &**p)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("identity store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Directory: Send + Sync + 'static {
    async fn key(&self, access_key: &str) -> Result<Option<KeyEntry>, DirectoryError>;
    async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantInfo>, DirectoryError>;
    async fn placement(
        &self,
        tenant_id: &str,
        bucket: &str,
    ) -> Result<Option<Placement>, DirectoryError>;
    async fn placements(&self, tenant_id: &str) -> Result<Vec<Placement>, DirectoryError>;
    /// Every tenant's placement of a bucket with this name (anonymous requests name no tenant).
    async fn placements_named(&self, bucket: &str) -> Result<Vec<Placement>, DirectoryError>;
    /// Record a placement; Conflict when the tenant already has the bucket or the backend name is taken.
    async fn put_placement(&self, p: &Placement) -> Result<(), DirectoryError>;
    async fn delete_placement(&self, tenant_id: &str, bucket: &str) -> Result<(), DirectoryError>;
    /// The stored identity Osprey signs with for (backend, tenant, principal).
    async fn identity(
        &self,
        backend: &str,
        tenant_id: &str,
        principal: &str,
    ) -> Result<Option<SigningKey>, DirectoryError>;
    async fn put_identity(
        &self,
        backend: &str,
        tenant_id: &str,
        principal: &str,
        backend_user: &str,
        key: &SigningKey,
    ) -> Result<(), DirectoryError>;
    /// The tenant's users that have an identity on `backend`.
    async fn principals(
        &self,
        backend: &str,
        tenant_id: &str,
    ) -> Result<Vec<Principal>, DirectoryError>;
    /// The tenant of the user with this OSIS canonical id.
    async fn tenant_of_canonical(
        &self,
        canonical_user_id: &str,
    ) -> Result<Option<String>, DirectoryError>;
}

/// Caches in front of a [`Directory`]. Only positive answers are cached; the control plane calls the
/// `forget_*` methods whenever it changes a key, user, tenant or placement.
pub struct CachedDirectory {
    inner: Arc<dyn Directory>,
    keys: DashMap<String, Arc<KeyEntry>>,
    placements: DashMap<(String, String), Arc<Placement>>,
    identities: DashMap<(String, String, String), Arc<SigningKey>>,
    tenants: DashMap<String, Arc<TenantInfo>>,
    /// (backend, tenant) → the tenant's users on that backend.
    principal_maps: DashMap<(String, String), Arc<PrincipalMap>>,
}

impl CachedDirectory {
    pub fn new(inner: Arc<dyn Directory>) -> Self {
        CachedDirectory {
            inner,
            keys: DashMap::new(),
            placements: DashMap::new(),
            identities: DashMap::new(),
            tenants: DashMap::new(),
            principal_maps: DashMap::new(),
        }
    }

    pub fn inner(&self) -> &Arc<dyn Directory> {
        &self.inner
    }

    pub async fn key(&self, access_key: &str) -> Result<Option<Arc<KeyEntry>>, DirectoryError> {
        if let Some(k) = self.keys.get(access_key) {
            return Ok(Some(k.clone()));
        }
        let Some(k) = self.inner.key(access_key).await? else {
            return Ok(None);
        };
        let k = Arc::new(k);
        self.keys.insert(access_key.to_string(), k.clone());
        Ok(Some(k))
    }

    pub async fn placement(
        &self,
        tenant_id: &str,
        bucket: &str,
    ) -> Result<Option<Arc<Placement>>, DirectoryError> {
        let id = (tenant_id.to_string(), bucket.to_string());
        if let Some(p) = self.placements.get(&id) {
            return Ok(Some(p.clone()));
        }
        let Some(p) = self.inner.placement(tenant_id, bucket).await? else {
            return Ok(None);
        };
        let p = Arc::new(p);
        self.placements.insert(id, p.clone());
        Ok(Some(p))
    }

    pub async fn put_placement(&self, p: Placement) -> Result<Arc<Placement>, DirectoryError> {
        self.inner.put_placement(&p).await?;
        let p = Arc::new(p);
        self.placements
            .insert((p.tenant_id.clone(), p.bucket.clone()), p.clone());
        Ok(p)
    }

    pub async fn delete_placement(
        &self,
        tenant_id: &str,
        bucket: &str,
    ) -> Result<(), DirectoryError> {
        self.placements
            .remove(&(tenant_id.to_string(), bucket.to_string()));
        self.inner.delete_placement(tenant_id, bucket).await
    }

    pub async fn identity(
        &self,
        backend: &str,
        tenant_id: &str,
        principal: &str,
    ) -> Result<Option<Arc<SigningKey>>, DirectoryError> {
        let id = (
            backend.to_string(),
            tenant_id.to_string(),
            principal.to_string(),
        );
        if let Some(k) = self.identities.get(&id) {
            return Ok(Some(k.clone()));
        }
        let Some(k) = self.inner.identity(backend, tenant_id, principal).await? else {
            return Ok(None);
        };
        let k = Arc::new(k);
        self.identities.insert(id, k.clone());
        Ok(Some(k))
    }

    pub async fn put_identity(
        &self,
        backend: &str,
        tenant_id: &str,
        principal: &str,
        backend_user: &str,
        key: SigningKey,
    ) -> Result<Arc<SigningKey>, DirectoryError> {
        self.inner
            .put_identity(backend, tenant_id, principal, backend_user, &key)
            .await?;
        let k = Arc::new(key);
        self.principal_maps
            .remove(&(backend.to_string(), tenant_id.to_string()));
        self.identities.insert(
            (
                backend.to_string(),
                tenant_id.to_string(),
                principal.to_string(),
            ),
            k.clone(),
        );
        Ok(k)
    }

    /// The tenant's users on `backend`, both ways (cached; dropped whenever an identity or a
    /// user of the tenant changes).
    pub async fn principal_map(
        &self,
        backend: &str,
        tenant_id: &str,
    ) -> Result<Arc<PrincipalMap>, DirectoryError> {
        let id = (backend.to_string(), tenant_id.to_string());
        if let Some(m) = self.principal_maps.get(&id) {
            return Ok(m.clone());
        }
        let m = Arc::new(PrincipalMap::new(
            self.inner.principals(backend, tenant_id).await?,
        ));
        self.principal_maps.insert(id, m.clone());
        Ok(m)
    }

    /// The tenant of the user with this OSIS canonical id (not cached: only requests that name
    /// another tenant's user ask).
    pub async fn tenant_of_canonical(
        &self,
        canonical_user_id: &str,
    ) -> Result<Option<String>, DirectoryError> {
        self.inner.tenant_of_canonical(canonical_user_id).await
    }

    /// The tenant facts routing needs, cached (every authenticated request reads them).
    pub async fn tenant(&self, tenant_id: &str) -> Result<Option<Arc<TenantInfo>>, DirectoryError> {
        if let Some(t) = self.tenants.get(tenant_id) {
            return Ok(Some(t.clone()));
        }
        let Some(t) = self.inner.tenant(tenant_id).await? else {
            return Ok(None);
        };
        let t = Arc::new(t);
        self.tenants.insert(tenant_id.to_string(), t.clone());
        Ok(Some(t))
    }

    pub fn forget_placement(&self, tenant_id: &str, bucket: &str) {
        self.placements
            .remove(&(tenant_id.to_string(), bucket.to_string()));
    }

    pub fn forget_key(&self, access_key: &str) {
        self.keys.remove(access_key);
    }

    /// A user's or tenant's state changed: drop every cached key of theirs (and the tenant's
    /// facts when the whole tenant changed).
    pub fn forget_keys_of(&self, tenant_id: &str, user_id: Option<&str>) {
        if user_id.is_none() {
            self.tenants.remove(tenant_id);
        }
        self.keys
            .retain(|_, k| !(k.tenant_id == tenant_id && user_id.is_none_or(|u| k.user_id == u)));
    }

    pub fn forget_tenant(&self, tenant_id: &str) {
        self.tenants.remove(tenant_id);
        self.forget_keys_of(tenant_id, None);
        self.placements.retain(|(t, _), _| t != tenant_id);
        self.identities.retain(|(_, t, _), _| t != tenant_id);
        self.principal_maps.retain(|(_, t), _| t != tenant_id);
    }

    pub fn forget_identities_of(&self, tenant_id: &str, principal: &str) {
        self.identities
            .retain(|(_, t, p), _| !(t == tenant_id && p == principal));
        self.principal_maps.retain(|(_, t), _| t != tenant_id);
    }
}

/// The [`Directory`] over the identity store.
pub struct StoreDirectory {
    pub store: Arc<dyn crate::store::Store>,
}

fn unavailable(e: crate::store::StoreError) -> DirectoryError {
    match e {
        crate::store::StoreError::Conflict(m) => DirectoryError::Conflict(m),
        other => DirectoryError::Unavailable(other.to_string()),
    }
}

fn placement_of(p: crate::store::PlacementRow) -> Placement {
    Placement {
        tenant_id: p.tenant_id,
        bucket: p.bucket,
        backend: p.backend,
        backend_bucket: p.backend_bucket,
        owner_user_id: p.owner_user_id,
        created_at: p.created_at,
    }
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn key(&self, access_key: &str) -> Result<Option<KeyEntry>, DirectoryError> {
        Ok(self
            .store
            .credential(access_key)
            .await
            .map_err(unavailable)?
            .map(|c| KeyEntry {
                access_key: c.access_key,
                secret_key: c.secret_key,
                active: c.usable,
                tenant_id: c.tenant_id,
                user_id: c.user_id,
                canonical_user_id: c.canonical_user_id,
                username: c.username,
            }))
    }

    async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantInfo>, DirectoryError> {
        Ok(self
            .store
            .tenant(tenant_id)
            .await
            .map_err(unavailable)?
            .map(|t| TenantInfo {
                tenant_id: t.tenant_id,
                name: t.name,
                cd_tenant_ids: t.cd_tenant_ids,
                active: t.active,
            }))
    }

    async fn placement(
        &self,
        tenant_id: &str,
        bucket: &str,
    ) -> Result<Option<Placement>, DirectoryError> {
        Ok(self
            .store
            .placement(tenant_id, bucket)
            .await
            .map_err(unavailable)?
            .map(placement_of))
    }

    async fn placements(&self, tenant_id: &str) -> Result<Vec<Placement>, DirectoryError> {
        Ok(self
            .store
            .placements(tenant_id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(placement_of)
            .collect())
    }

    async fn placements_named(&self, bucket: &str) -> Result<Vec<Placement>, DirectoryError> {
        Ok(self
            .store
            .placements_named(bucket)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(placement_of)
            .collect())
    }

    async fn put_placement(&self, p: &Placement) -> Result<(), DirectoryError> {
        self.store
            .put_placement(&crate::store::PlacementRow {
                tenant_id: p.tenant_id.clone(),
                bucket: p.bucket.clone(),
                backend: p.backend.clone(),
                backend_bucket: p.backend_bucket.clone(),
                owner_user_id: p.owner_user_id.clone(),
                created_at: p.created_at,
            })
            .await
            .map_err(unavailable)
    }

    async fn delete_placement(&self, tenant_id: &str, bucket: &str) -> Result<(), DirectoryError> {
        self.store
            .delete_placement(tenant_id, bucket)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn identity(
        &self,
        backend: &str,
        tenant_id: &str,
        principal: &str,
    ) -> Result<Option<SigningKey>, DirectoryError> {
        Ok(self
            .store
            .identity(backend, tenant_id, principal)
            .await
            .map_err(unavailable)?
            .map(|i| SigningKey {
                access_key: i.access_key,
                secret_key: i.secret_key,
            }))
    }

    async fn put_identity(
        &self,
        backend: &str,
        tenant_id: &str,
        principal: &str,
        backend_user: &str,
        key: &SigningKey,
    ) -> Result<(), DirectoryError> {
        self.store
            .put_identity(&crate::store::BackendIdentity {
                backend: backend.into(),
                tenant_id: tenant_id.into(),
                principal: principal.into(),
                backend_user: backend_user.into(),
                access_key: key.access_key.clone(),
                secret_key: key.secret_key.clone(),
            })
            .await
            .map_err(unavailable)
    }

    async fn principals(
        &self,
        backend: &str,
        tenant_id: &str,
    ) -> Result<Vec<Principal>, DirectoryError> {
        Ok(self
            .store
            .principals_on(backend, tenant_id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|r| Principal {
                tenant_id: r.tenant_id,
                canonical_user_id: r.canonical_user_id,
                display_name: r.username,
                backend_user: r.backend_user,
            })
            .collect())
    }

    async fn tenant_of_canonical(
        &self,
        canonical_user_id: &str,
    ) -> Result<Option<String>, DirectoryError> {
        Ok(self
            .store
            .user_by_canonical(canonical_user_id)
            .await
            .map_err(unavailable)?
            .map(|u| u.tenant_id))
    }
}
