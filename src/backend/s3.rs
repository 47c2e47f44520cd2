//! `s3`: any S3 endpoint reached with one shared service key.
//!
//! The platform knows nothing of Osprey's tenants: every tenant's buckets live in the service
//! account under derived names (see [`super::naming`]) and Osprey alone enforces that a tenant only
//! reaches buckets placed for it. Provisioning therefore creates nothing on the platform.

use std::net::ToSocketAddrs;
use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Address, Backend, BackendError, DataPath, Identity, IdentityScope, PayloadModes, SigningKey,
    TenantRef, UserRef,
};
use crate::config::BackendConfig;

pub struct S3Backend {
    config: Arc<BackendConfig>,
    data_path: DataPath,
    key: SigningKey,
}

/// Resolve an endpoint URL into the data-path address, SNI/Host and TLS flag.
pub fn endpoint_data_path(
    config: &BackendConfig,
    uri: &http::Uri,
    payload_modes: PayloadModes,
    shared_namespace: bool,
) -> Result<DataPath, BackendError> {
    let internal = |m: String| BackendError::Internal {
        backend: config.name.clone(),
        message: m,
    };
    let tls = uri.scheme_str() == Some("https");
    let host = uri
        .host()
        .ok_or_else(|| internal(format!("endpoint `{uri}` has no host")))?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| internal(format!("cannot resolve `{host}`: {e}")))?
        .next()
        .ok_or_else(|| internal(format!("`{host}` resolves to no address")))?;
    // Host header as the backend expects to see it (the port is part of what SigV4 signs)
    let default_port = if tls { 443 } else { 80 };
    let host_header = if port == default_port {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    Ok(DataPath {
        address: Address::Tcp(addr),
        tls,
        host: host_header,
        region: config.region.clone(),
        payload_modes,
        shared_namespace,
    })
}

impl S3Backend {
    pub fn new(config: Arc<BackendConfig>) -> Result<Self, BackendError> {
        let internal = |m: &str| BackendError::Internal {
            backend: config.name.clone(),
            message: m.to_string(),
        };
        let uri = config
            .endpoint
            .clone()
            .ok_or_else(|| internal("no endpoint configured"))?;
        let key = SigningKey {
            access_key: config
                .access_key
                .clone()
                .ok_or_else(|| internal("no access_key configured"))?,
            secret_key: config
                .secret_key
                .clone()
                .ok_or_else(|| internal("no secret configured"))?,
        };
        // The vendor profile decides payload modes and namespace sharing (backends/<profile>/profile.toml).
        let profile = super::profile::load(&config.profile).map_err(|m| internal(&m))?;
        let data_path = endpoint_data_path(&config, &uri, profile.payload_modes.into(), true)?;
        Ok(S3Backend {
            config,
            data_path,
            key,
        })
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
