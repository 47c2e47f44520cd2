//! What the data plane needs to know about tenants, keys, placements and backend identities.
//!
//! The proxy reads these through a narrow trait rather than the whole identity store, so the S3
//! plane can be tested without OSIS and the store can change underneath (SQLite today, PostgreSQL
//! for replicas). Hot lookups (keys, placements, identities) are cached here, invalidated by the
//! control plane when it changes the entity; the caches are bounded, expire, and remember unknown
//! access keys briefly (issue 12, [`CachedDirectory`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::sync::Cache;

use crate::backend::SigningKey;
use crate::store::{BucketAccessRow, Change, IdentityRef, ObjectAccessRow};

mod store;

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
    /// The user's OSIS role (honoured on shared-identity backends, `authz::Role`).
    pub role: String,
}

/// A user as authorization needs it: the owner named in ACL answers, a grantee by id or e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub tenant_id: String,
    pub user_id: String,
    pub canonical_user_id: String,
    pub username: String,
    pub email: Option<String>,
}

impl From<crate::store::User> for UserInfo {
    fn from(u: crate::store::User) -> Self {
        UserInfo {
            tenant_id: u.tenant_id,
            user_id: u.user_id,
            canonical_user_id: u.canonical_user_id,
            username: u.username,
            email: u.email,
        }
    }
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
    /// A backend that sees one identity (issue 11): every principal it names is this one.
    everyone: Option<Arc<Principal>>,
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

    /// Every principal the backend names stands for `p` (its one service identity is never
    /// shown: owners and initiators read as the bucket's owner).
    pub fn everyone_as(p: Principal) -> Self {
        PrincipalMap {
            everyone: Some(Arc::new(p)),
            ..Default::default()
        }
    }

    /// The user a backend principal stands for.
    pub fn by_backend_user(&self, backend_user: &str) -> Option<&Principal> {
        self.by_backend_user
            .get(backend_user)
            .or(self.everyone.as_ref())
            .map(|p| &**p)
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
    /// The stored identity Osprey signs with.
    async fn identity(&self, id: IdentityRef<'_>) -> Result<Option<SigningKey>, DirectoryError>;
    async fn put_identity(
        &self,
        id: IdentityRef<'_>,
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

    // ---- authorization on shared-identity backends (issue 11, proxy::access)
    async fn user(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<UserInfo>, DirectoryError>;
    async fn user_by_canonical(
        &self,
        canonical_user_id: &str,
    ) -> Result<Option<UserInfo>, DirectoryError>;
    async fn user_by_email(&self, email: &str) -> Result<Option<UserInfo>, DirectoryError>;
    async fn bucket_access(
        &self,
        tenant_id: &str,
        bucket: &str,
    ) -> Result<BucketAccessRow, DirectoryError>;
    async fn put_bucket_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        row: &BucketAccessRow,
    ) -> Result<(), DirectoryError>;
    async fn object_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectAccessRow>, DirectoryError>;
    async fn put_object_access(&self, row: &ObjectAccessRow) -> Result<(), DirectoryError>;
    async fn delete_object_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<(), DirectoryError>;
}

/// Most entries each cache of [`CachedDirectory`] holds (issue 12), each cache its own bound:
/// 100 000 keys, placements, identities and tenants (a full key cache is roughly 40 MiB), and
/// principal maps up to 100 000 principals in all. Before, the caches grew with every distinct
/// lookup for the life of the process; the bound stops that memory growth (e.g. under a flood of
/// requests over many tenants' buckets). Past it the entries least likely to be used again are
/// evicted (moka's TinyLFU) and read from the store on their next use.
pub const DIRECTORY_CACHE_CAPACITY: u64 = 100_000;

/// How long a cached answer is trusted (default 60 s). The control plane still drops entries
/// explicitly whenever it changes them (the `forget_*` methods); this TTL is the safety net for
/// changes made behind the cache's back (the store edited by hand or by another process), which
/// otherwise lasted until the process restarted (issue 12).
pub const DIRECTORY_CACHE_TTL: Duration = Duration::from_secs(60);

/// How long an access key the store does not know is remembered as unknown (default 5 s), so a
/// client (or a scanner) repeating an unknown or deleted key costs one store read per 5 s instead
/// of one per request (issue 12). Creating a key drops its entry at once
/// ([`CachedDirectory::forget_key`], called by the `credential_changed` hook), so a new key is
/// usable immediately; the short TTL bounds the damage of a missed invalidation.
pub const NEGATIVE_KEY_TTL: Duration = Duration::from_secs(5);

/// Memory for remembered unknown access keys (default 8 MiB, counted as key length plus
/// [`NEGATIVE_ENTRY_OVERHEAD`], about 100 000 AWS-style keys). Counted in bytes, not entries,
/// because these keys are whatever clients send; a separate cache so a flood of random keys
/// evicts only other unknown keys, never the cached real ones.
pub const NEGATIVE_KEY_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// Bytes counted per remembered unknown key beside the key itself (map entry, expiry bookkeeping).
pub const NEGATIVE_ENTRY_OVERHEAD: u32 = 64;

/// The bounds of a [`CachedDirectory`]; [`Default`] is the constants above (tests shrink them).
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Entries per cache ([`DIRECTORY_CACHE_CAPACITY`]).
    pub capacity: u64,
    /// Life of a cached answer ([`DIRECTORY_CACHE_TTL`]).
    pub ttl: Duration,
    /// Life of an unknown-key entry ([`NEGATIVE_KEY_TTL`]).
    pub negative_ttl: Duration,
    /// Bytes of unknown-key entries ([`NEGATIVE_KEY_CACHE_BYTES`]).
    pub negative_bytes: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            capacity: DIRECTORY_CACHE_CAPACITY,
            ttl: DIRECTORY_CACHE_TTL,
            negative_ttl: NEGATIVE_KEY_TTL,
            negative_bytes: NEGATIVE_KEY_CACHE_BYTES,
        }
    }
}

/// Caches in front of a [`Directory`]: bounded, with a TTL, and unknown access keys remembered
/// for a short while (issue 12). The control plane calls the `forget_*` methods whenever it
/// changes a key, user, tenant or placement.
///
/// A lookup that read the store before such a change but stores its answer after the change's
/// `forget_*` would re-cache the old answer; every `forget_*` therefore bumps a generation first,
/// and a lookup that sees the generation moved while it read drops what it stored.
pub struct CachedDirectory {
    inner: Arc<dyn Directory>,
    keys: Cache<String, Arc<KeyEntry>>,
    /// Access keys the store did not know, with their own short TTL and byte bound.
    unknown_keys: Cache<String, ()>,
    placements: Cache<(String, String), Arc<Placement>>,
    identities: Cache<(String, String, String), Arc<SigningKey>>,
    tenants: Cache<String, Arc<TenantInfo>>,
    /// (backend, tenant) → the tenant's users on that backend (bounded by principals in all).
    principal_maps: Cache<(String, String), Arc<PrincipalMap>>,
    /// Bumped by every `forget_*` before it removes anything (see above).
    generation: AtomicU64,
}

fn bounded<K, V>(limits: &CacheLimits) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(limits.capacity)
        .time_to_live(limits.ttl)
        .build()
}

impl CachedDirectory {
    pub fn new(inner: Arc<dyn Directory>) -> Self {
        Self::with_limits(inner, CacheLimits::default())
    }

    pub fn with_limits(inner: Arc<dyn Directory>, limits: CacheLimits) -> Self {
        CachedDirectory {
            inner,
            keys: bounded(&limits),
            unknown_keys: Cache::builder()
                .max_capacity(limits.negative_bytes)
                .weigher(|k: &String, _: &()| {
                    u32::try_from(k.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(NEGATIVE_ENTRY_OVERHEAD)
                })
                .time_to_live(limits.negative_ttl)
                .build(),
            placements: bounded(&limits),
            identities: bounded(&limits),
            tenants: bounded(&limits),
            principal_maps: Cache::builder()
                .max_capacity(limits.capacity)
                .weigher(|_: &(String, String), m: &Arc<PrincipalMap>| {
                    u32::try_from(m.by_backend_user.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(1)
                })
                .time_to_live(limits.ttl)
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    pub fn inner(&self) -> &Arc<dyn Directory> {
        &self.inner
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Called by every `forget_*` before it removes entries.
    fn invalidating(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether a lookup that started at generation `g` may keep what it stored.
    fn still(&self, g: u64) -> bool {
        self.generation() == g
    }

    pub async fn key(&self, access_key: &str) -> Result<Option<Arc<KeyEntry>>, DirectoryError> {
        let m = crate::metrics::global();
        if let Some(k) = self.keys.get(access_key) {
            m.cache("keys", true);
            return Ok(Some(k));
        }
        if self.unknown_keys.contains_key(access_key) {
            m.cache("unknown_keys", true);
            return Ok(None);
        }
        m.cache("keys", false);
        let g = self.generation();
        let found = self.inner.key(access_key).await?.map(Arc::new);
        match &found {
            Some(k) => self.keys.insert(access_key.to_string(), k.clone()),
            None => self.unknown_keys.insert(access_key.to_string(), ()),
        }
        if !self.still(g) {
            self.keys.invalidate(access_key);
            self.unknown_keys.invalidate(access_key);
        }
        Ok(found)
    }

    pub async fn placement(
        &self,
        tenant_id: &str,
        bucket: &str,
    ) -> Result<Option<Arc<Placement>>, DirectoryError> {
        self.placement_of((tenant_id.to_string(), bucket.to_string()))
            .await
    }

    /// [`Self::placement`] of `(tenant, bucket)` already owned (the data path builds it once,
    /// issue 13).
    pub async fn placement_of(
        &self,
        id: (String, String),
    ) -> Result<Option<Arc<Placement>>, DirectoryError> {
        let hit = self.placements.get(&id);
        crate::metrics::global().cache("placements", hit.is_some());
        if let Some(p) = hit {
            return Ok(Some(p));
        }
        let g = self.generation();
        let Some(p) = self.inner.placement(&id.0, &id.1).await? else {
            return Ok(None);
        };
        let p = Arc::new(p);
        self.placements.insert(id.clone(), p.clone());
        if !self.still(g) {
            self.placements.invalidate(&id);
        }
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
        self.forget_placement(tenant_id, bucket);
        self.inner.delete_placement(tenant_id, bucket).await
    }

    pub async fn identity(
        &self,
        which: IdentityRef<'_>,
    ) -> Result<Option<Arc<SigningKey>>, DirectoryError> {
        let id = (
            which.backend.to_string(),
            which.tenant_id.to_string(),
            which.principal.to_string(),
        );
        let hit = self.identities.get(&id);
        crate::metrics::global().cache("identities", hit.is_some());
        if let Some(k) = hit {
            return Ok(Some(k));
        }
        let g = self.generation();
        let Some(k) = self.inner.identity(which).await? else {
            return Ok(None);
        };
        let k = Arc::new(k);
        self.identities.insert(id.clone(), k.clone());
        if !self.still(g) {
            self.identities.invalidate(&id);
        }
        Ok(Some(k))
    }

    pub async fn put_identity(
        &self,
        id: IdentityRef<'_>,
        backend_user: &str,
        key: SigningKey,
    ) -> Result<Arc<SigningKey>, DirectoryError> {
        self.inner.put_identity(id, backend_user, &key).await?;
        let k = Arc::new(key);
        self.invalidating();
        self.principal_maps
            .invalidate(&(id.backend.to_string(), id.tenant_id.to_string()));
        self.identities.insert(
            (
                id.backend.to_string(),
                id.tenant_id.to_string(),
                id.principal.to_string(),
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
        let hit = self.principal_maps.get(&id);
        crate::metrics::global().cache("principal_maps", hit.is_some());
        if let Some(m) = hit {
            return Ok(m);
        }
        let g = self.generation();
        let m = Arc::new(PrincipalMap::new(
            self.inner.principals(backend, tenant_id).await?,
        ));
        self.principal_maps.insert(id.clone(), m.clone());
        if !self.still(g) {
            self.principal_maps.invalidate(&id);
        }
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
        let hit = self.tenants.get(tenant_id);
        crate::metrics::global().cache("tenants", hit.is_some());
        if let Some(t) = hit {
            return Ok(Some(t));
        }
        let g = self.generation();
        let Some(t) = self.inner.tenant(tenant_id).await? else {
            return Ok(None);
        };
        let t = Arc::new(t);
        self.tenants.insert(tenant_id.to_string(), t.clone());
        if !self.still(g) {
            self.tenants.invalidate(tenant_id);
        }
        Ok(Some(t))
    }

    pub fn forget_placement(&self, tenant_id: &str, bucket: &str) {
        self.invalidating();
        self.placements
            .invalidate(&(tenant_id.to_string(), bucket.to_string()));
    }

    /// A key was created, changed or deleted: drop it, and its "unknown" entry (so a key
    /// created through OSIS is usable at once).
    pub fn forget_key(&self, access_key: &str) {
        self.invalidating();
        self.keys.invalidate(access_key);
        self.unknown_keys.invalidate(access_key);
    }

    /// A user's or tenant's state changed: drop every cached key of theirs (and the tenant's
    /// facts when the whole tenant changed).
    pub fn forget_keys_of(&self, tenant_id: &str, user_id: Option<&str>) {
        self.invalidating();
        if user_id.is_none() {
            self.tenants.invalidate(tenant_id);
        }
        forget_where(&self.keys, |_, k| {
            k.tenant_id == tenant_id && user_id.is_none_or(|u| k.user_id == u)
        });
    }

    pub fn forget_tenant(&self, tenant_id: &str) {
        self.forget_keys_of(tenant_id, None);
        forget_where(&self.placements, |(t, _), _| t == tenant_id);
        forget_where(&self.identities, |(_, t, _), _| t == tenant_id);
        forget_where(&self.principal_maps, |(_, t), _| t == tenant_id);
    }

    /// Everything cached is dropped (a change feed that may have missed changes, issue 15).
    pub fn forget_everything(&self) {
        self.invalidating();
        self.keys.invalidate_all();
        self.unknown_keys.invalidate_all();
        self.placements.invalidate_all();
        self.identities.invalidate_all();
        self.tenants.invalidate_all();
        self.principal_maps.invalidate_all();
    }

    /// Another replica (or this one) changed the shared store: drop what the change makes stale
    /// (issue 15; the control plane's own `forget_*` calls still run first on the replica that
    /// made the change, so its next request never waits for the feed).
    pub fn heard(&self, change: &Change) {
        match change {
            Change::Tenant { tenant_id } => self.forget_tenant(tenant_id),
            Change::User { tenant_id, user_id } => {
                self.forget_keys_of(tenant_id, Some(user_id));
                self.forget_identities_of(tenant_id, user_id);
            }
            Change::Credential { access_key } => self.forget_key(access_key),
            Change::Bucket { tenant_id, bucket } => self.forget_placement(tenant_id, bucket),
            Change::Identity {
                tenant_id,
                principal,
            } => self.forget_identities_of(tenant_id, principal),
            Change::Resync => self.forget_everything(),
            Change::Object { .. } | Change::Counter { .. } | Change::Pending => {}
        }
    }

    pub fn forget_identities_of(&self, tenant_id: &str, principal: &str) {
        self.invalidating();
        forget_where(&self.identities, |(_, t, p), _| {
            t == tenant_id && p == principal
        });
        forget_where(&self.principal_maps, |(_, t), _| t == tenant_id);
    }
}

/// Drop every entry of `cache` matching `pred`, now (a walk over at most the cache's bound; these
/// run on OSIS changes, not per request).
fn forget_where<K, V>(cache: &Cache<K, V>, pred: impl Fn(&K, &V) -> bool)
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    for (k, v) in cache.iter() {
        if pred(&k, &v) {
            cache.invalidate(&*k);
        }
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

#[cfg(test)]
mod tests {
    //! The caches of issue 12: bounded, expiring, unknown keys remembered until invalidated.

    use std::collections::HashMap;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    use super::*;

    /// A directory whose keys are `keys`, plus any key starting with `GEN` (a store with more keys
    /// than any cache holds); counts the reads that reach it. `hold`, while locked by a test,
    /// stops key reads in the middle (after they are counted).
    #[derive(Default)]
    struct Fake {
        keys: Mutex<HashMap<String, KeyEntry>>,
        key_reads: AtomicUsize,
        tenant_reads: AtomicUsize,
        hold: tokio::sync::Mutex<()>,
    }

    fn entry(access_key: &str, tenant_id: &str, user_id: &str) -> KeyEntry {
        KeyEntry {
            access_key: access_key.into(),
            secret_key: "secret".into(),
            active: true,
            tenant_id: tenant_id.into(),
            user_id: user_id.into(),
            canonical_user_id: format!("c-{user_id}"),
            username: user_id.into(),
            role: "TENANT_USER".into(),
        }
    }

    impl Fake {
        fn add(&self, access_key: &str, tenant_id: &str, user_id: &str) {
            self.keys
                .lock()
                .unwrap()
                .insert(access_key.into(), entry(access_key, tenant_id, user_id));
        }
        fn reads(&self) -> usize {
            self.key_reads.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Directory for Fake {
        async fn key(&self, access_key: &str) -> Result<Option<KeyEntry>, DirectoryError> {
            self.key_reads.fetch_add(1, Ordering::SeqCst);
            let found = if access_key.starts_with("GEN") {
                Some(entry(access_key, "t-gen", access_key))
            } else {
                self.keys.lock().unwrap().get(access_key).cloned()
            };
            let _held = self.hold.lock().await;
            Ok(found)
        }
        async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantInfo>, DirectoryError> {
            self.tenant_reads.fetch_add(1, Ordering::SeqCst);
            Ok(Some(TenantInfo {
                tenant_id: tenant_id.into(),
                name: tenant_id.into(),
                cd_tenant_ids: Vec::new(),
                active: true,
            }))
        }
        async fn placement(&self, _: &str, _: &str) -> Result<Option<Placement>, DirectoryError> {
            Ok(None)
        }
        async fn placements(&self, _: &str) -> Result<Vec<Placement>, DirectoryError> {
            Ok(Vec::new())
        }
        async fn placements_named(&self, _: &str) -> Result<Vec<Placement>, DirectoryError> {
            Ok(Vec::new())
        }
        async fn put_placement(&self, _: &Placement) -> Result<(), DirectoryError> {
            Ok(())
        }
        async fn delete_placement(&self, _: &str, _: &str) -> Result<(), DirectoryError> {
            Ok(())
        }
        async fn identity(&self, _: IdentityRef<'_>) -> Result<Option<SigningKey>, DirectoryError> {
            Ok(None)
        }
        async fn put_identity(
            &self,
            _: IdentityRef<'_>,
            _: &str,
            _: &SigningKey,
        ) -> Result<(), DirectoryError> {
            Ok(())
        }
        async fn principals(&self, _: &str, _: &str) -> Result<Vec<Principal>, DirectoryError> {
            Ok(Vec::new())
        }
        async fn tenant_of_canonical(&self, _: &str) -> Result<Option<String>, DirectoryError> {
            Ok(None)
        }
        // the cache tests read no access records: a store with none
        async fn user(&self, _: &str, _: &str) -> Result<Option<UserInfo>, DirectoryError> {
            Ok(None)
        }
        async fn user_by_canonical(&self, _: &str) -> Result<Option<UserInfo>, DirectoryError> {
            Ok(None)
        }
        async fn user_by_email(&self, _: &str) -> Result<Option<UserInfo>, DirectoryError> {
            Ok(None)
        }
        async fn bucket_access(&self, _: &str, _: &str) -> Result<BucketAccessRow, DirectoryError> {
            Ok(BucketAccessRow::default())
        }
        async fn put_bucket_access(
            &self,
            _: &str,
            _: &str,
            _: &BucketAccessRow,
        ) -> Result<(), DirectoryError> {
            Ok(())
        }
        async fn object_access(
            &self,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<Option<ObjectAccessRow>, DirectoryError> {
            Ok(None)
        }
        async fn put_object_access(&self, _: &ObjectAccessRow) -> Result<(), DirectoryError> {
            Ok(())
        }
        async fn delete_object_access(
            &self,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<(), DirectoryError> {
            Ok(())
        }
    }

    fn cached(fake: &Arc<Fake>) -> CachedDirectory {
        CachedDirectory::new(fake.clone())
    }

    /// A client repeating an unknown access key reaches the store once, not once per request;
    /// creating that key (OSIS `credential_changed` → `forget_key`) makes it usable at once.
    #[tokio::test]
    async fn unknown_keys_are_remembered_until_the_key_is_created() {
        let fake = Arc::new(Fake::default());
        let dir = cached(&fake);
        for _ in 0..50 {
            assert!(dir.key("AKIDNOTYET").await.unwrap().is_none());
        }
        assert_eq!(fake.reads(), 1, "49 of 50 lookups answered from the cache");
        fake.add("AKIDNOTYET", "t1", "u1");
        dir.forget_key("AKIDNOTYET");
        let k = dir.key("AKIDNOTYET").await.unwrap();
        assert_eq!(k.map(|k| k.user_id.clone()).as_deref(), Some("u1"));
        assert_eq!(fake.reads(), 2);
    }

    /// N distinct lookups, far more than the bound, leave at most the bound cached, for real keys
    /// and for unknown ones (whose bound is in bytes).
    #[tokio::test]
    async fn caches_stay_within_their_bounds() {
        let fake = Arc::new(Fake::default());
        let limits = CacheLimits {
            capacity: 100,
            negative_bytes: 100 * (20 + u64::from(NEGATIVE_ENTRY_OVERHEAD)),
            ..CacheLimits::default()
        };
        let dir = CachedDirectory::with_limits(fake.clone(), limits);
        for i in 0..3000 {
            assert!(dir.key(&format!("GEN{i:017}")).await.unwrap().is_some());
            assert!(dir.key(&format!("UNK{i:017}")).await.unwrap().is_none());
            assert!(dir.tenant(&format!("t{i}")).await.unwrap().is_some());
        }
        dir.keys.run_pending_tasks();
        dir.unknown_keys.run_pending_tasks();
        dir.tenants.run_pending_tasks();
        assert!(
            dir.keys.entry_count() <= 100,
            "{} keys cached",
            dir.keys.entry_count()
        );
        assert!(
            dir.tenants.entry_count() <= 100,
            "{} tenants cached",
            dir.tenants.entry_count()
        );
        assert!(
            dir.unknown_keys.weighted_size() <= limits.negative_bytes,
            "{} bytes of unknown keys cached",
            dir.unknown_keys.weighted_size()
        );
        assert!(dir.keys.entry_count() > 0, "the cache still caches");
    }

    /// A cached answer is read again after its TTL (the safety net for changes made behind the
    /// cache's back), and an unknown key after the shorter negative TTL.
    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let fake = Arc::new(Fake::default());
        fake.add("AKIDREAL", "t1", "u1");
        let dir = CachedDirectory::with_limits(
            fake.clone(),
            CacheLimits {
                // long enough that the lookups below stay within it even on a loaded machine
                ttl: Duration::from_secs(2),
                negative_ttl: Duration::from_secs(2),
                ..CacheLimits::default()
            },
        );
        dir.key("AKIDREAL").await.unwrap();
        dir.key("AKIDNONE").await.unwrap();
        dir.tenant("t1").await.unwrap();
        dir.key("AKIDREAL").await.unwrap();
        dir.key("AKIDNONE").await.unwrap();
        dir.tenant("t1").await.unwrap();
        assert_eq!(fake.reads(), 2, "cached within the TTL");
        assert_eq!(fake.tenant_reads.load(Ordering::SeqCst), 1);
        // changed behind the cache's back: seen once the TTL is over
        fake.keys
            .lock()
            .unwrap()
            .get_mut("AKIDREAL")
            .unwrap()
            .active = false;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!dir.key("AKIDREAL").await.unwrap().unwrap().active);
        dir.key("AKIDNONE").await.unwrap();
        dir.tenant("t1").await.unwrap();
        assert_eq!(fake.reads(), 4, "both keys read again");
        assert_eq!(fake.tenant_reads.load(Ordering::SeqCst), 2);
    }

    /// `forget_keys_of` drops exactly the keys of that user (or tenant).
    #[tokio::test]
    async fn forgetting_a_user_drops_only_their_keys() {
        let fake = Arc::new(Fake::default());
        fake.add("AKIDA1", "t1", "a");
        fake.add("AKIDA2", "t1", "a");
        fake.add("AKIDB1", "t1", "b");
        fake.add("AKIDC1", "t2", "a");
        let dir = cached(&fake);
        for k in ["AKIDA1", "AKIDA2", "AKIDB1", "AKIDC1"] {
            dir.key(k).await.unwrap();
        }
        dir.forget_keys_of("t1", Some("a"));
        for k in ["AKIDA1", "AKIDA2", "AKIDB1", "AKIDC1"] {
            dir.key(k).await.unwrap();
        }
        assert_eq!(fake.reads(), 6, "only t1/a's two keys read again");
        dir.forget_tenant("t1");
        for k in ["AKIDA1", "AKIDA2", "AKIDB1", "AKIDC1"] {
            dir.key(k).await.unwrap();
        }
        assert_eq!(
            fake.reads(),
            9,
            "t1's three keys read again, t2's still cached"
        );
    }

    /// A lookup that read the store before a change but finishes after the change's invalidation
    /// must not leave its (old) answer cached.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lookup_racing_an_invalidation_does_not_recache_the_old_answer() {
        let fake = Arc::new(Fake::default());
        fake.add("AKIDRACE", "t1", "u1");
        let dir = Arc::new(cached(&fake));
        let held = fake.hold.lock().await;
        let lookup = {
            let dir = dir.clone();
            tokio::spawn(async move { dir.key("AKIDRACE").await.unwrap() })
        };
        while fake.reads() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // the key is disabled while that lookup is inside the store read
        fake.keys
            .lock()
            .unwrap()
            .get_mut("AKIDRACE")
            .unwrap()
            .active = false;
        dir.forget_key("AKIDRACE");
        drop(held);
        assert!(
            lookup.await.unwrap().unwrap().active,
            "the racing read saw the old state"
        );
        assert!(
            !dir.key("AKIDRACE").await.unwrap().unwrap().active,
            "the next lookup sees the change"
        );
        assert_eq!(fake.reads(), 2);
    }
}
