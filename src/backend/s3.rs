//! `s3`: any S3 endpoint reached with one shared service key.
//!
//! The platform knows nothing of Osprey's tenants: every tenant's buckets live in the service
//! account under derived names (see [`super::naming`]) and Osprey alone enforces that a tenant only
//! reaches buckets placed for it. Provisioning therefore creates nothing on the platform.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Backend, BackendAddress, BackendError, DataPath, Identity, IdentityScope, SigningKey,
    TenantRef, UserRef,
};
use crate::config::{BackendConfig, Endpoint, S3Spec};

pub struct S3Backend {
    config: Arc<BackendConfig>,
    data_path: DataPath,
    key: SigningKey,
}

/// The data path toward an endpoint: its host and port (resolved per request, see
/// [`BackendAddress`]), SNI/Host and TLS flag, with the payload modes and namespace sharing the
/// backend's profile states (backends/<profile>/profile.toml). Shared by the remote kinds.
pub fn endpoint_data_path(config: &BackendConfig, endpoint: &Endpoint) -> DataPath {
    DataPath {
        address: BackendAddress::named(&config.name, endpoint.host(), endpoint.port()),
        tls: endpoint.tls(),
        host: endpoint.host_header(),
        region: config.region.clone(),
        payload_modes: config.profile.payload_modes,
        shared_namespace: config.profile.shared_namespace,
    }
}

impl S3Backend {
    /// `spec` is `config.spec`'s variant (the factory matches it).
    pub fn new(config: Arc<BackendConfig>, spec: &S3Spec) -> Self {
        S3Backend {
            data_path: endpoint_data_path(&config, &spec.endpoint),
            key: SigningKey::from(&spec.service),
            config,
        }
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn config(&self) -> &Arc<BackendConfig> {
        &self.config
    }
    fn data_path(&self) -> &DataPath {
        &self.data_path
    }
    fn identity_scope(&self) -> IdentityScope {
        IdentityScope::Shared
    }
    async fn ensure_tenant(&self, _tenant: &TenantRef) -> Result<(), BackendError> {
        Ok(())
    }
    async fn ensure_identity(
        &self,
        _tenant: &TenantRef,
        _user: &UserRef,
    ) -> Result<Identity, BackendError> {
        Ok(Identity {
            backend_user: format!("service:{}", self.key.access_key),
            key: self.key.clone(),
        })
    }
    async fn set_identity_active(
        &self,
        _identity: &Identity,
        _active: bool,
    ) -> Result<(), BackendError> {
        // The shared key is never suspended for one user: Osprey's own credential state gates access.
        Ok(())
    }
    async fn delete_identity(
        &self,
        _identity: &Identity,
        _purge: bool,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    async fn delete_tenant(&self, _tenant: &TenantRef, _purge: bool) -> Result<(), BackendError> {
        Ok(())
    }
}
