//! The `local` backend kind: Osprey's embedded S3 store, served in-process on a loopback port with a
//! service key generated at each start (it never leaves the process). One namespace shared by all
//! tenants, so Osprey derives backend bucket names from tenant + bucket like for the `s3` kind.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::{
    Backend, BackendAddress, BackendError, DataPath, Identity, IdentityScope, SigningKey,
    TenantRef, UserRef,
};
use crate::config::BackendConfig;
use crate::embedded::LocalServer;

/// Region the embedded store signs for.
pub const LOCAL_REGION: &str = "us-east-1";

pub struct LocalBackend {
    config: Arc<BackendConfig>,
    data_path: DataPath,
    key: SigningKey,
    server: tokio::sync::Mutex<Option<LocalServer>>,
}

impl LocalBackend {
    /// Start the embedded store under `root` (created 0700) on an ephemeral loopback port.
    pub async fn start(config: Arc<BackendConfig>, root: &Path) -> Result<Self, BackendError> {
        let key = SigningKey {
            access_key: crate::store::ids::access_key(),
            secret_key: crate::store::ids::secret_key(),
        };
        let server = LocalServer::start(root, &key.access_key, &key.secret_key, LOCAL_REGION)
            .await
            .map_err(|e| BackendError::Internal {
                backend: config.name.clone(),
                message: format!("cannot start the embedded store in {}: {e}", root.display()),
            })?;
        let addr = server.addr();
        Ok(LocalBackend {
            data_path: DataPath {
                address: BackendAddress::fixed(&config.name, addr),
                tls: false,
                host: addr.to_string(),
                region: LOCAL_REGION.to_string(),
                payload_modes: config.profile.payload_modes,
                shared_namespace: config.profile.shared_namespace,
            },
            config,
            key,
            server: tokio::sync::Mutex::new(Some(server)),
        })
    }

    pub async fn shutdown(&self) {
        if let Some(s) = self.server.lock().await.take() {
            s.shutdown().await;
        }
    }
}

#[async_trait]
impl Backend for LocalBackend {
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
            backend_user: "local-service".into(),
            key: self.key.clone(),
        })
    }
    async fn set_identity_active(&self, _: &Identity, _: bool) -> Result<(), BackendError> {
        Ok(())
    }
    async fn delete_identity(&self, _: &Identity, _: bool) -> Result<(), BackendError> {
        Ok(())
    }
    async fn delete_tenant(&self, _: &TenantRef, _: bool) -> Result<(), BackendError> {
        Ok(())
    }
}
