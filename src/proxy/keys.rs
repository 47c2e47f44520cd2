//! The key Osprey signs with on a backend for a caller: the shared service key of a
//! shared-scope backend (held in memory, no store lookup on the hot path), or the caller's
//! tenant's / user's identity from the store, provisioned on first use (a backend newly added
//! to a tenant's table gets its identity here at the latest).

use std::sync::Arc;

use dashmap::DashMap;

use super::directory::{CachedDirectory, TenantInfo};
use super::request::Caller;
use crate::backend::{provision_identity, Backend, SigningKey, TenantRef, UserRef};
use crate::s3::S3Error;
use crate::store::IdentityRef;

pub struct SigningKeys {
    directory: Arc<CachedDirectory>,
    /// Service keys of shared-scope backends, by backend name (with the instance they came
    /// from, so a reload that replaces the backend replaces the key).
    shared: DashMap<String, (Arc<dyn Backend>, Arc<SigningKey>)>,
}

impl SigningKeys {
    pub fn new(directory: Arc<CachedDirectory>) -> Self {
        SigningKeys {
            directory,
            shared: DashMap::new(),
        }
    }

    /// The service key of a shared-identity backend, for an anonymous request Osprey authorized
    /// (issue 11). Other scopes have no key that stands for nobody.
    pub async fn service_key(
        &self,
        backend: &Arc<dyn Backend>,
        tenant_id: &str,
    ) -> Result<Arc<SigningKey>, S3Error> {
        if backend.identity_scope() != crate::backend::IdentityScope::Shared {
            return Err(S3Error::access_denied("Access Denied"));
        }
        if let Some(k) = self.shared.get(backend.name()) {
            if Arc::ptr_eq(&k.0, backend) {
                return Ok(k.1.clone());
            }
        }
        let t = TenantRef {
            tenant_id: tenant_id.to_string(),
            name: tenant_id.to_string(),
        };
        let u = UserRef {
            tenant_id: tenant_id.to_string(),
            user_id: "anonymous".into(),
            display_name: "anonymous".into(),
            email: None,
        };
        // the shared scope's ensure_identity hands out the driver's service key, nothing else
        let id = backend
            .ensure_identity(&t, &u)
            .await
            .map_err(|e| S3Error::service_unavailable(backend.name(), &e.to_string()))?;
        let k = Arc::new(id.key);
        self.shared
            .insert(backend.name().to_string(), (backend.clone(), k.clone()));
        Ok(k)
    }

    /// The key for `caller` on `backend`, provisioning the identity on first use.
    pub async fn for_caller(
        &self,
        backend: &Arc<dyn Backend>,
        caller: &Caller,
        tenant: &TenantInfo,
    ) -> Result<Arc<SigningKey>, S3Error> {
        let scope = backend.identity_scope();
        let principal = scope.principal(&caller.key.tenant_id, &caller.key.user_id);
        match principal.stored() {
            // the service key, held by the driver: no store lookup on the hot path
            None => {
                if let Some(k) = self.shared.get(backend.name()) {
                    if Arc::ptr_eq(&k.0, backend) {
                        return Ok(k.1.clone());
                    }
                }
            }
            Some(p) => {
                if let Some(k) = self
                    .directory
                    .identity(IdentityRef {
                        backend: backend.name(),
                        tenant_id: &caller.key.tenant_id,
                        principal: p,
                    })
                    .await?
                {
                    return Ok(k);
                }
            }
        }
        let t = TenantRef {
            tenant_id: tenant.tenant_id.clone(),
            name: tenant.name.clone(),
        };
        let u = UserRef {
            tenant_id: tenant.tenant_id.clone(),
            user_id: caller.key.user_id.clone(),
            display_name: caller.key.username.clone(),
            email: None,
        };
        let fail = |e: crate::backend::BackendError| {
            tracing::warn!(backend = backend.name(), error = %e, "provisioning on first use failed");
            if e.retryable() {
                S3Error::service_unavailable(backend.name(), &e.to_string())
            } else {
                S3Error::access_denied(format!(
                    "backend `{}` refused to provision this user: {e}",
                    backend.name()
                ))
            }
        };
        // the caller's key verified as active: key, user and tenant are
        let id = provision_identity(backend.as_ref(), &t, &u, true)
            .await
            .map_err(fail)?;
        let Some(p) = principal.stored() else {
            let k = Arc::new(id.key);
            self.shared
                .insert(backend.name().to_string(), (backend.clone(), k.clone()));
            return Ok(k);
        };
        Ok(self
            .directory
            .put_identity(
                IdentityRef {
                    backend: backend.name(),
                    tenant_id: &caller.key.tenant_id,
                    principal: p,
                },
                &id.backend_user,
                id.key,
            )
            .await?)
    }
}
