//! Storage backends behind one trait.
//!
//! A backend has two faces: *provisioning* (make the tenant and user exist on the platform and hand
//! back a key Osprey can sign with) and *data-path facts* (where its S3 endpoint is, which region it
//! signs with, which payload modes it accepts, whether bucket names must be translated because the
//! namespace is shared). Adding a vendor means a `BackendSpec` variant in `config::model`, one
//! driver file here mapped from it in [`factory`], and one profile folder under `backends/<kind>/`
//! listed in `config::profile` (architecture.md §4).

pub mod address;
pub mod admin_http;
pub mod ceph_rgw;
pub mod factory;
pub mod iam;
/// The `local` kind: the [`Backend`] impl over the embedded store (`crate::embedded`).
pub mod local;
pub mod naming;
pub mod s3;
pub mod usage;

use std::sync::Arc;

use async_trait::async_trait;

pub use crate::config::profile::PayloadModes;
use crate::config::{BackendConfig, BackendKind, ServiceCredentials};
pub use address::BackendAddress;

/// What the data plane needs to reach a backend's S3 endpoint and shape requests for it.
#[derive(Debug, Clone)]
pub struct DataPath {
    /// Host and port, resolved per request from a TTL cache ([`BackendAddress::resolve`]).
    pub address: BackendAddress,
    pub tls: bool,
    /// SNI and `Host` header value sent upstream (the host the backend signs for).
    pub host: String,
    pub region: String,
    /// From the backend's profile.
    pub payload_modes: PayloadModes,
    /// Buckets of all tenants share one namespace on this backend: Osprey derives backend bucket
    /// names from tenant + bucket and enforces ownership through placements. From the profile.
    pub shared_namespace: bool,
}

/// A key Osprey signs a tenant's/user's requests with on one backend.
#[derive(Clone)]
pub struct SigningKey {
    pub access_key: String,
    pub secret_key: String,
}

impl From<&ServiceCredentials> for SigningKey {
    fn from(c: &ServiceCredentials) -> Self {
        SigningKey {
            access_key: c.access_key.clone(),
            secret_key: c.secret_key.expose().to_string(),
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Who Osprey provisions for.
#[derive(Debug, Clone)]
pub struct TenantRef {
    pub tenant_id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct UserRef {
    pub tenant_id: String,
    pub user_id: String,
    pub display_name: String,
    /// The OSIS user's e-mail, for platforms that resolve `emailAddress` grantees (RGW).
    pub email: Option<String>,
}

/// What a driver created for a tenant/user: persisted as a backend identity, so later requests and
/// restarts reuse it instead of creating another.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The platform's name for the principal (`tenant$user` on RGW, IAM user name, …).
    pub backend_user: String,
    pub key: SigningKey,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend refused (4xx): retrying the same call will not help.
    #[error("backend `{backend}` refused: {message}")]
    Refused { backend: String, message: String },
    /// The backend failed, timed out or was unreachable: safe to retry later.
    #[error("backend `{backend}` unavailable: {message}")]
    Unavailable { backend: String, message: String },
    /// Osprey-side failure talking to the backend (bad config, I/O on the local store).
    #[error("backend `{backend}`: {message}")]
    Internal { backend: String, message: String },
}

impl BackendError {
    pub fn retryable(&self) -> bool {
        matches!(self, BackendError::Unavailable { .. })
    }
}

/// Which principal signs requests on a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityScope {
    /// One service key for everybody (`s3`, `local`).
    Shared,
    /// One identity per tenant (no built-in kind uses it yet; for platforms with tenant-level keys).
    PerTenant,
    /// One identity per user (`ceph-rgw`, `iam`).
    PerUser,
}

/// Whom a backend identity stands for: one rule for both planes (issue 12: the data plane named
/// the shared identity `"*"`, provisioning `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// The backend's one service key, held by its driver, never in the store.
    Shared,
    Tenant(&'a str),
    User(&'a str),
}

impl IdentityScope {
    /// The principal that signs for `user_id` of `tenant_id` on a backend of this scope.
    pub fn principal<'a>(self, tenant_id: &'a str, user_id: &'a str) -> Principal<'a> {
        match self {
            IdentityScope::Shared => Principal::Shared,
            IdentityScope::PerTenant => Principal::Tenant(tenant_id),
            IdentityScope::PerUser => Principal::User(user_id),
        }
    }
}

impl<'a> Principal<'a> {
    /// The id Osprey stores the identity under (`backend_identities.principal`); `None` for the
    /// shared key, which is not stored.
    pub fn stored(self) -> Option<&'a str> {
        match self {
            Principal::Shared => None,
            Principal::Tenant(id) | Principal::User(id) => Some(id),
        }
    }
}

/// Make `user`'s identity exist on `backend`, its tenant first, in the state `active`: the one
/// provisioning step both planes take (issue 12) — OSIS fan-out and the reconciler
/// (`provision`), and the data plane's first use of a backend (`proxy::keys`). Idempotent, as
/// every driver's `ensure_*` is.
pub async fn provision_identity(
    backend: &dyn Backend,
    tenant: &TenantRef,
    user: &UserRef,
    active: bool,
) -> Result<Identity, BackendError> {
    backend.ensure_tenant(tenant).await?;
    let id = backend.ensure_identity(tenant, user).await?;
    backend.set_identity_active(&id, active).await?;
    Ok(id)
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn config(&self) -> &Arc<BackendConfig>;
    fn name(&self) -> &str {
        &self.config().name
    }
    fn kind(&self) -> BackendKind {
        self.config().kind()
    }
    fn data_path(&self) -> &DataPath;
    fn identity_scope(&self) -> IdentityScope;
    /// The backend names each user by a principal of its own in ACLs, owners and listings
    /// (RGW: `tenant$uid`), which Osprey translates to and from the OSIS canonical id clients
    /// know (issue 10, src/proxy/identity.rs). Backends that see one identity for everybody do
    /// not (their owners are the authorization issue's).
    fn own_principals(&self) -> bool {
        false
    }

    /// Make sure the tenant exists (idempotent).
    async fn ensure_tenant(&self, tenant: &TenantRef) -> Result<(), BackendError>;
    /// Make sure the principal for `user` (or for the tenant when the scope is per-tenant) exists and
    /// return a key to sign with (idempotent: re-running finds what exists).
    async fn ensure_identity(
        &self,
        tenant: &TenantRef,
        user: &UserRef,
    ) -> Result<Identity, BackendError>;
    /// Suspend or resume an identity.
    async fn set_identity_active(
        &self,
        identity: &Identity,
        active: bool,
    ) -> Result<(), BackendError>;
    /// Remove an identity (and its data when `purge`).
    async fn delete_identity(&self, identity: &Identity, purge: bool) -> Result<(), BackendError>;
    /// Remove the tenant (and its data when `purge`).
    async fn delete_tenant(&self, tenant: &TenantRef, purge: bool) -> Result<(), BackendError>;

    /// How an *unsigned* (anonymous) request names the bucket on this backend. Signed requests
    /// find a tenant's bucket through the signing identity; anonymous ones carry no identity, so a
    /// platform with per-tenant namespaces needs the tenant in the name (RGW: `tenant:bucket`).
    fn anonymous_bucket_path(&self, _tenant_id: &str, backend_bucket: &str) -> String {
        backend_bucket.to_string()
    }

    /// Objects and bytes of a bucket from the platform's admin plane, when it has one (RGW
    /// `/admin/bucket?stats`). `None`: measure through the S3 API instead ([`usage::bucket_usage`]).
    async fn admin_bucket_usage(
        &self,
        _tenant_id: &str,
        _backend_bucket: &str,
    ) -> Option<Result<usage::BucketUsage, BackendError>> {
        None
    }
}
