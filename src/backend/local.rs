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
use crate::embedded::{LocalOptions, LocalServer};

/// Region the embedded store signs for.
pub const LOCAL_REGION: &str = "us-east-1";

/// File (in `<data_dir>/local/`, beside the backends' data directories) holding the 32 random
/// bytes every local backend's SSE-S3 store key is derived from. Osprey's master key is not
/// reachable here: `backend::factory::build_backend` (also used by hot reload) receives only the
/// configuration, so a key of its own keeps the embedded store's encryption self-contained.
pub const SSE_KEY_FILE: &str = "sse.key";

/// Length of the SSE key file (an AES-256 key).
const SSE_KEY_LEN: usize = 32;

/// The SSE-S3 store key of the backend `name`: HMAC-SHA256 of its name under the key file in
/// `dir` (created 0600 with fresh random bytes on first start), so each local backend wraps its
/// data keys under a different key.
fn sse_store_key(dir: &Path, name: &str) -> std::io::Result<[u8; 32]> {
    use hmac::{Hmac, Mac};
    use std::io::{Read, Write};
    let path = dir.join(SSE_KEY_FILE);
    let mut raw = [0u8; SSE_KEY_LEN];
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
            f.write_all(&raw)?;
            f.sync_all()?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let f = std::fs::File::open(&path)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = f.metadata()?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!(
                            "{} is readable by other users (mode {mode:o}); run `chmod 600 {}`",
                            path.display(),
                            path.display()
                        ),
                    ));
                }
            }
            let mut buf = Vec::new();
            f.take(SSE_KEY_LEN as u64 + 1).read_to_end(&mut buf)?;
            raw = buf.try_into().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} must hold exactly {SSE_KEY_LEN} bytes", path.display()),
                )
            })?;
        }
        Err(e) => return Err(e),
    }
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&raw)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    mac.update(b"osprey local backend SSE-S3 store key: ");
    mac.update(name.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

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
        let start_error = |e: std::io::Error| BackendError::Internal {
            backend: config.name.clone(),
            message: format!("cannot start the embedded store in {}: {e}", root.display()),
        };
        let key_dir = root.parent().unwrap_or(root);
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            dirs.mode(0o700);
        }
        dirs.create(key_dir).map_err(start_error)?;
        let sse_key = sse_store_key(key_dir, &config.name).map_err(start_error)?;
        let server = LocalServer::start_with_key(
            root,
            &key.access_key,
            &key.secret_key,
            LOCAL_REGION,
            LocalOptions::default(),
            Some(sse_key),
        )
        .await
        .map_err(start_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = sse_store_key(dir.path(), "local").unwrap();
        assert_eq!(sse_store_key(dir.path(), "local").unwrap(), a);
        assert_ne!(sse_store_key(dir.path(), "other").unwrap(), a);
        let path = dir.path().join(SSE_KEY_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(sse_store_key(dir.path(), "local").is_err());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&path, b"short").unwrap();
        assert!(sse_store_key(dir.path(), "local").is_err());
    }
}
