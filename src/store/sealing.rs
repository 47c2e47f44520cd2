//! Which row a sealed secret is bound to (its AES-GCM associated data) and how it is opened: one
//! definition for every store kind, so a store copied from SQLite to PostgreSQL (`osprey store
//! migrate`) opens with the same master key, and a ciphertext moved to another row does not.

use super::{MasterKey, Result, StoreError};

/// Associated data of a credential's secret: its access key.
pub(crate) fn credential_ctx(access_key: &str) -> String {
    format!("credential:{access_key}")
}

/// Associated data of a backend identity's secret: the identity's key.
pub(crate) fn identity_ctx(backend: &str, tenant_id: &str, principal: &str) -> String {
    format!("identity:{backend}:{tenant_id}:{principal}")
}

pub(crate) fn seal_credential(key: &MasterKey, access_key: &str, secret: &str) -> Vec<u8> {
    key.seal(&credential_ctx(access_key), secret.as_bytes())
}

pub(crate) fn open_credential_secret(
    key: &MasterKey,
    access_key: &str,
    sealed: &[u8],
) -> Result<String> {
    key.open(&credential_ctx(access_key), sealed)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| StoreError::Crypto(format!("access key {access_key}")))
}

pub(crate) fn open_identity_secret(
    key: &MasterKey,
    backend: &str,
    tenant_id: &str,
    principal: &str,
    sealed: &[u8],
) -> Result<String> {
    key.open(&identity_ctx(backend, tenant_id, principal), sealed)
        .and_then(|v| String::from_utf8(v).ok())
        .ok_or_else(|| {
            StoreError::Crypto(format!(
                "backend identity {backend}/{tenant_id}/{principal}"
            ))
        })
}
