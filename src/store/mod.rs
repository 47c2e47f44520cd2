//! The identity store: tenants (with their Cloud Director org ids), users, Osprey-issued S3
//! credentials, backend identities, bucket placements and pending provisioning work.
//!
//! One trait ([`Store`]), two implementations: the embedded SQLite one ([`sqlite::SqliteStore`],
//! the default) and PostgreSQL ([`postgres::PgStore`], shared by replicas, issue 15); request
//! code never sees SQL. Every write is acknowledged only after it is durable (SQLite: WAL +
//! `synchronous=FULL`; PostgreSQL: its commit), so a `kill -9` at any moment loses no
//! acknowledged write. `tests/store_postgres.rs` runs one sequence of operations against both.

pub mod change;
pub mod copy;
pub mod crypto;
pub mod ids;
pub mod postgres;
mod sealing;
pub mod sqlite;
pub mod table_data;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use change::{Change, ChangeFeed, JobLock};
pub use crypto::MasterKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub tenant_id: String,
    pub name: String,
    pub active: bool,
    pub cd_tenant_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub tenant_id: String,
    pub user_id: String,
    pub canonical_user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub role: String,
    pub cd_user_id: String,
    pub cd_tenant_id: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key: String,
    pub secret_key: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub tenant_id: String,
    pub user_id: String,
    pub username: String,
    pub cd_user_id: String,
    pub cd_tenant_id: String,
    /// Effective state for S3: the key, its user and its tenant are all active.
    pub usable: bool,
    pub canonical_user_id: String,
    /// The user's OSIS role (the data plane honours it on shared-identity backends, issue 11).
    pub role: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("active", &self.active)
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: String,
    pub active: bool,
    pub cd_tenant_ids: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TenantUpdate {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub cd_tenant_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub role: String,
    pub cd_user_id: String,
    pub cd_tenant_id: String,
    pub active: bool,
}

/// A bucket's home: recorded only after the backend created it (architecture.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRow {
    pub tenant_id: String,
    pub bucket: String,
    pub backend: String,
    pub backend_bucket: String,
    pub owner_user_id: String,
    pub created_at: DateTime<Utc>,
}

/// What Osprey holds of one bucket's access on backends that see one identity (issue 11): the
/// ACL, policy and PublicAccessBlock as JSON documents of `authz` (the store does not read them),
/// `None` where never set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketAccessRow {
    pub acl: Option<String>,
    pub policy: Option<String>,
    pub public_access_block: Option<String>,
    /// Some object of the bucket has an [`ObjectAccessRow`] (read-only: computed).
    pub object_records: bool,
}

/// One object's owner and ACL when they are not the bucket owner's `private` default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectAccessRow {
    pub tenant_id: String,
    pub bucket: String,
    pub key: String,
    /// JSON of `authz::ObjectAuth` (owner and grants).
    pub access: String,
}

/// A user as one backend knows it: the OSIS ids clients see beside the backend's principal
/// (issue 10: identity translation in ACLs and listings). Secrets are not part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRow {
    pub tenant_id: String,
    pub user_id: String,
    pub canonical_user_id: String,
    pub username: String,
    pub backend_user: String,
}

/// Which stored backend identity: named fields, so the three ids cannot be passed in the wrong
/// order (issue 12: `identity(backend, tenant_id, principal)` took three `&str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityRef<'a> {
    pub backend: &'a str,
    pub tenant_id: &'a str,
    /// A user id, or the tenant id for tenant-level identities (`backend::Principal::stored`).
    pub principal: &'a str,
}

/// What Osprey holds on one backend for a (tenant, principal): principal is a user id, or the
/// tenant id itself for tenant-level identities.
#[derive(Clone, PartialEq, Eq)]
pub struct BackendIdentity {
    pub backend: String,
    pub tenant_id: String,
    pub principal: String,
    pub backend_user: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for BackendIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendIdentity")
            .field("backend", &self.backend)
            .field("tenant_id", &self.tenant_id)
            .field("principal", &self.principal)
            .field("backend_user", &self.backend_user)
            .field("access_key", &self.access_key)
            .finish()
    }
}

/// Durable record of provisioning work that must still reach a backend (issue 4 reconciler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOp {
    pub id: i64,
    pub backend: String,
    /// JSON describing the operation (driver-defined).
    pub op: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One `key==value` term of an OSIS filter, already mapped to a field the store knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    TenantId(String),
    CdTenantId(String),
    TenantName(String),
    UserId(String),
    CdUserId(String),
    Username(String),
    CanonicalUserId(String),
    Email(String),
    Role(String),
    AccessKey(String),
    Active(bool),
}

#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("identity store: {0}")]
    Backend(String),
    #[error("stored secret for {0} cannot be decrypted with this master key (wrong OSPREY_MASTER_KEY or master.key file?)")]
    Crypto(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- tenants
    async fn create_tenant(&self, t: NewTenant) -> Result<Tenant>;
    async fn tenant(&self, tenant_id: &str) -> Result<Option<Tenant>>;
    async fn tenants(&self, filter: &[Term], page: Paging) -> Result<Page<Tenant>>;
    async fn update_tenant(&self, tenant_id: &str, u: TenantUpdate) -> Result<Tenant>;
    /// Deletes the tenant with its users and credentials; `false` if it did not exist.
    async fn delete_tenant(&self, tenant_id: &str) -> Result<bool>;

    // ---- users (creating a user also mints its first credential, atomically)
    async fn create_user(&self, tenant_id: &str, u: NewUser) -> Result<(User, Credential)>;
    async fn user(&self, tenant_id: &str, user_id: &str) -> Result<Option<User>>;
    async fn user_by_canonical(&self, canonical_user_id: &str) -> Result<Option<User>>;
    async fn users(&self, filter: &[Term], page: Paging) -> Result<Page<User>>;
    async fn set_user_active(&self, tenant_id: &str, user_id: &str, active: bool) -> Result<User>;
    async fn delete_user(&self, tenant_id: &str, user_id: &str) -> Result<bool>;

    // ---- credentials
    async fn create_credential(&self, tenant_id: &str, user_id: &str) -> Result<Credential>;
    async fn credential(&self, access_key: &str) -> Result<Option<Credential>>;
    async fn credentials(&self, filter: &[Term], page: Paging) -> Result<Page<Credential>>;
    async fn set_credential_active(&self, access_key: &str, active: bool) -> Result<Credential>;
    async fn delete_credential(&self, access_key: &str) -> Result<bool>;

    // ---- data-plane state
    async fn put_placement(&self, p: &PlacementRow) -> Result<()>;
    async fn placement(&self, tenant_id: &str, bucket: &str) -> Result<Option<PlacementRow>>;
    async fn placements(&self, tenant_id: &str) -> Result<Vec<PlacementRow>>;
    async fn placements_named(&self, bucket: &str) -> Result<Vec<PlacementRow>>;
    async fn placements_on_backend(&self, backend: &str) -> Result<u64>;
    /// Also removes the bucket's access records (ACL, policy, object records).
    async fn delete_placement(&self, tenant_id: &str, bucket: &str) -> Result<bool>;

    // ---- access records of shared-identity backends (issue 11)
    async fn bucket_access(&self, tenant_id: &str, bucket: &str) -> Result<BucketAccessRow>;
    /// Replace the bucket's ACL, policy and PublicAccessBlock (`object_records` is ignored).
    async fn put_bucket_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        row: &BucketAccessRow,
    ) -> Result<()>;
    async fn object_access(
        &self,
        tenant_id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectAccessRow>>;
    async fn put_object_access(&self, row: &ObjectAccessRow) -> Result<()>;
    async fn delete_object_access(&self, tenant_id: &str, bucket: &str, key: &str) -> Result<bool>;

    async fn put_identity(&self, id: &BackendIdentity) -> Result<()>;
    async fn identity(&self, id: IdentityRef<'_>) -> Result<Option<BackendIdentity>>;
    async fn identities_of_tenant(&self, tenant_id: &str) -> Result<Vec<BackendIdentity>>;
    async fn identities_on_backend(&self, backend: &str) -> Result<u64>;
    /// The users of a tenant that have an identity on `backend`, with their OSIS ids.
    async fn principals_on(&self, backend: &str, tenant_id: &str) -> Result<Vec<PrincipalRow>>;
    async fn delete_identity(&self, id: IdentityRef<'_>) -> Result<bool>;

    // ---- provisioning work that survives crashes
    async fn push_pending(&self, backend: &str, op: &str) -> Result<i64>;
    async fn pending(&self) -> Result<Vec<PendingOp>>;
    async fn finish_pending(&self, id: i64) -> Result<()>;
    async fn fail_pending(&self, id: i64, error: &str) -> Result<()>;

    /// Row counts per table and the schema version (support bundle, `/api/v1/admin/config`).
    async fn stats(&self) -> Result<std::collections::BTreeMap<String, i64>>;

    /// A value generated once and kept forever (e.g. the anonymous user's id).
    async fn stable_value(&self, name: &str, generate: fn() -> String) -> Result<String>;

    /// A counter's value (0 before its first bump).
    async fn counter(&self, name: &str) -> Result<i64>;
    /// Add one to a counter durably; returns the new value.
    async fn bump_counter(&self, name: &str) -> Result<i64>;

    /// Whether the store answers and would take a write now (readiness, src/osis/probes.rs).
    async fn ping(&self) -> Result<()> {
        self.stats().await.map(|_| ())
    }

    /// Changes committed by any process sharing this store from now on, so caches can drop what
    /// another replica changed (issue 15, [`change`]). `None`: no other process writes to this
    /// store (SQLite; its data directory lock keeps a second process out).
    fn changes(&self) -> Option<ChangeFeed> {
        None
    }

    /// Tell every process sharing the store of `change` (one not implied by a write, e.g.
    /// [`Change::Pending`] to wake the replica that runs the reconciler). A no-op when no other
    /// process shares it.
    async fn announce(&self, change: Change) -> Result<()> {
        let _ = change;
        Ok(())
    }

    /// The lock of job `name` across every process sharing the store, if no other holds it
    /// (issue 15: the reconciler runs on one replica at a time). A store with a single process
    /// always grants it.
    async fn job_lock(&self, name: &str) -> Result<Option<JobLock>> {
        Ok(Some(JobLock::new(name, Box::new(change::Sole))))
    }
}
