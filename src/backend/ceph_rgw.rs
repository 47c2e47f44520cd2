//! `ceph-rgw`: Ceph RADOS Gateway through its Admin Ops API.
//!
//! OSIS tenant → RGW tenant (bucket namespaces are per tenant, so two tenants may both own `same`);
//! OSIS user → RGW user `tenant$uid` with its own S3 key. Osprey re-signs each user's requests with
//! that user's key, so RGW's native per-user ACLs apply. Facts about RGW 16 that shape this file are
//! in shared/recipes/ceph-rgw/README.md: always address users as `uid=tenant$user` (the `tenant=`
//! parameter answers 404), answers split `tenant`/`user_id`, the admin caps do not grant data access.

use std::sync::Arc;

use async_trait::async_trait;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::admin_http::AdminClient;
use super::s3::endpoint_data_path;
use super::{
    Backend, BackendError, DataPath, Identity, IdentityScope, SigningKey, TenantRef, UserRef,
};
use crate::config::{BackendConfig, CephRgwSpec};

/// RGW tenant names: Osprey tenant ids are generated as `[a-z0-9]` (see osis), which RGW accepts;
/// anything else is mapped through a hash so it can never collide with a generated id.
pub fn rgw_tenant(tenant_id: &str) -> String {
    if !tenant_id.is_empty()
        && tenant_id.len() <= 32
        && tenant_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        tenant_id.to_string()
    } else {
        format!(
            "h_{}",
            &hex::encode(Sha256::digest(tenant_id.as_bytes()))[..24]
        )
    }
}

/// RGW user ids: OSIS user ids are Cloud Director user ids (any characters). Safe ids are kept for
/// readability; others (or ones that could be mistaken for a hashed id) become `x-<hash>`.
pub fn rgw_uid(user_id: &str) -> String {
    let safe = !user_id.is_empty()
        && user_id.len() <= 64
        && !user_id.starts_with("x-")
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if safe {
        user_id.to_string()
    } else {
        format!(
            "x-{}",
            &hex::encode(Sha256::digest(user_id.as_bytes()))[..24]
        )
    }
}

pub struct CephRgwBackend {
    config: Arc<BackendConfig>,
    data_path: DataPath,
    admin: AdminClient,
    base: String,
}

#[derive(Deserialize)]
struct RgwKey {
    user: String,
    access_key: String,
    secret_key: String,
}

#[derive(Deserialize)]
struct RgwUser {
    #[serde(default)]
    keys: Vec<RgwKey>,
    #[serde(default)]
    suspended: u8,
}

impl CephRgwBackend {
    /// `spec` is `config.spec`'s variant (the factory matches it).
    pub fn new(config: Arc<BackendConfig>, spec: &CephRgwSpec) -> Result<Self, BackendError> {
        let data_path = endpoint_data_path(&config, &spec.endpoint);
        let key = SigningKey::from(&spec.admin);
        let admin = AdminClient::new(&config.name, key, &config.region, "s3", config.timeout)?;
        let base = spec.endpoint.base_url();
        Ok(CephRgwBackend {
            config,
            data_path,
            admin,
            base,
        })
    }

    fn uid(tenant_id: &str, user_id: &str) -> String {
        format!("{}${}", rgw_tenant(tenant_id), rgw_uid(user_id))
    }

    fn url(&self, resource: &str, params: &[(&str, &str)]) -> String {
        let mut u = format!("{}/admin/{resource}?format=json", self.base);
        for (k, v) in params {
            u.push('&');
            u.push_str(k);
            if !v.is_empty() {
                u.push('=');
                u.extend(utf8_percent_encode(v, NON_ALPHANUMERIC));
            }
        }
        u
    }

    async fn get_user(&self, uid: &str) -> Result<Option<RgwUser>, BackendError> {
        let r = self
            .admin
            .call(
                Method::GET,
                &self.url("user", &[("uid", uid)]),
                None,
                Vec::new(),
            )
            .await?;
        match r.status {
            200 => serde_json::from_str(&r.body)
                .map(Some)
                .map_err(|e| BackendError::Internal {
                    backend: self.config.name.clone(),
                    message: format!("user info of {uid}: {e}"),
                }),
            404 => Ok(None),
            _ => Err(self.admin.failure(&format!("get user {uid}"), &r)),
        }
    }

    /// The Osprey-usable key of an RGW user: the first S3 key that belongs to the user itself.
    fn identity_of(uid: &str, user: &RgwUser) -> Option<Identity> {
        user.keys.iter().find(|k| k.user == uid).map(|k| Identity {
            backend_user: uid.to_string(),
            key: SigningKey {
                access_key: k.access_key.clone(),
                secret_key: k.secret_key.clone(),
            },
        })
    }

    /// Whether an identity's RGW user is suspended (for tests and support bundles).
    pub async fn is_suspended(&self, identity: &Identity) -> Result<Option<bool>, BackendError> {
        Ok(self
            .get_user(&identity.backend_user)
            .await?
            .map(|u| u.suspended != 0))
    }
}

#[async_trait]
impl Backend for CephRgwBackend {
    fn config(&self) -> &Arc<BackendConfig> {
        &self.config
    }
    fn data_path(&self) -> &DataPath {
        &self.data_path
    }
    fn own_principals(&self) -> bool {
        true
    }
    fn identity_scope(&self) -> IdentityScope {
        IdentityScope::PerUser
    }

    async fn ensure_tenant(&self, _tenant: &TenantRef) -> Result<(), BackendError> {
        // RGW tenants exist implicitly: the first `tenant$user` created makes the namespace.
        Ok(())
    }

    async fn ensure_identity(
        &self,
        tenant: &TenantRef,
        user: &UserRef,
    ) -> Result<Identity, BackendError> {
        let uid = Self::uid(&tenant.tenant_id, &user.user_id);
        if let Some(existing) = self.get_user(&uid).await? {
            if let Some(id) = Self::identity_of(&uid, &existing) {
                return Ok(id);
            }
            // user without a key (e.g. its key was removed by hand): give it one
            let r = self
                .admin
                .call(
                    Method::PUT,
                    &self.url(
                        "user",
                        &[
                            ("key", ""),
                            ("uid", &uid),
                            ("key-type", "s3"),
                            ("generate-key", "true"),
                        ],
                    ),
                    None,
                    Vec::new(),
                )
                .await?;
            if !(200..300).contains(&r.status) {
                return Err(self.admin.failure(&format!("create key for {uid}"), &r));
            }
            let again = self
                .get_user(&uid)
                .await?
                .and_then(|u| Self::identity_of(&uid, &u));
            return again.ok_or_else(|| BackendError::Internal {
                backend: self.config.name.clone(),
                message: format!("{uid} still has no key"),
            });
        }
        let display = if user.display_name.is_empty() {
            user.user_id.clone()
        } else {
            user.display_name.clone()
        };
        // the OSIS e-mail lets RGW resolve `emailAddress` grantees (issue 10); RGW e-mails are
        // unique across all its users, so a taken one is dropped rather than failing the user
        let mut params = vec![
            ("uid", uid.as_str()),
            ("display-name", display.as_str()),
            ("key-type", "s3"),
            ("generate-key", "true"),
        ];
        if let Some(e) = user.email.as_deref().filter(|e| !e.is_empty()) {
            params.push(("email", e));
        }
        let mut r = self
            .admin
            .call(Method::PUT, &self.url("user", &params), None, Vec::new())
            .await?;
        if r.status == 409 && r.body.contains("EmailExists") {
            params.retain(|(k, _)| *k != "email");
            tracing::warn!(%uid, "RGW already has a user with this e-mail; created without it");
            r = self
                .admin
                .call(Method::PUT, &self.url("user", &params), None, Vec::new())
                .await?;
        }
        match r.status {
            200..=299 => {
                let created: RgwUser =
                    serde_json::from_str(&r.body).map_err(|e| BackendError::Internal {
                        backend: self.config.name.clone(),
                        message: format!("create user {uid}: {e}"),
                    })?;
                Self::identity_of(&uid, &created).ok_or_else(|| BackendError::Internal {
                    backend: self.config.name.clone(),
                    message: format!("{uid} was created without a key"),
                })
            }
            // created concurrently by another request: read what exists
            409 => self
                .get_user(&uid)
                .await?
                .and_then(|u| Self::identity_of(&uid, &u))
                .ok_or_else(|| self.admin.failure(&format!("create user {uid}"), &r)),
            _ => Err(self.admin.failure(&format!("create user {uid}"), &r)),
        }
    }

    async fn set_identity_active(
        &self,
        identity: &Identity,
        active: bool,
    ) -> Result<(), BackendError> {
        let suspended = if active { "false" } else { "true" };
        let r = self
            .admin
            .call(
                Method::POST,
                &self.url(
                    "user",
                    &[("uid", &identity.backend_user), ("suspended", suspended)],
                ),
                None,
                Vec::new(),
            )
            .await?;
        if (200..300).contains(&r.status) || (active && r.status == 404) {
            Ok(())
        } else {
            Err(self.admin.failure(
                &format!("suspend={suspended} {}", identity.backend_user),
                &r,
            ))
        }
    }

    async fn delete_identity(&self, identity: &Identity, purge: bool) -> Result<(), BackendError> {
        let purge = if purge { "true" } else { "false" };
        let r = self
            .admin
            .call(
                Method::DELETE,
                &self.url(
                    "user",
                    &[("uid", &identity.backend_user), ("purge-data", purge)],
                ),
                None,
                Vec::new(),
            )
            .await?;
        // 404: already gone — deletion is idempotent
        if (200..300).contains(&r.status) || r.status == 404 {
            Ok(())
        } else {
            Err(self
                .admin
                .failure(&format!("delete user {}", identity.backend_user), &r))
        }
    }

    /// RGW addresses another tenant's bucket as `tenant:bucket`; the `:` is sent as `%3A`, the
    /// form RGW 16 matches in paths (shared/recipes/ceph-rgw/README.md).
    fn anonymous_bucket_path(&self, tenant_id: &str, backend_bucket: &str) -> String {
        format!("{}%3A{backend_bucket}", rgw_tenant(tenant_id))
    }

    /// RGW's own accounting: `GET /admin/bucket?bucket=<tenant>/<bucket>&stats=true`, summing
    /// `num_objects` and `size` (logical bytes; `size_actual` is rounded up to 4 KiB blocks) over the bucket's categories (`rgw.main`, `rgw.multimeta`).
    async fn admin_bucket_usage(
        &self,
        tenant_id: &str,
        backend_bucket: &str,
    ) -> Option<Result<super::usage::BucketUsage, BackendError>> {
        let bucket = format!("{}/{backend_bucket}", rgw_tenant(tenant_id));
        let r = match self
            .admin
            .call(
                Method::GET,
                &self.url("bucket", &[("bucket", &bucket), ("stats", "true")]),
                None,
                Vec::new(),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        if r.status != 200 {
            return Some(Err(self
                .admin
                .failure(&format!("bucket stats of {bucket}"), &r)));
        }
        let v: serde_json::Value = match serde_json::from_str(&r.body) {
            Ok(v) => v,
            Err(e) => {
                return Some(Err(BackendError::Internal {
                    backend: self.config.name.clone(),
                    message: format!("bucket stats of {bucket}: {e}"),
                }))
            }
        };
        let mut u = super::usage::BucketUsage::default();
        if let Some(cats) = v["usage"].as_object() {
            for c in cats.values() {
                u.objects += c["num_objects"].as_u64().unwrap_or(0);
                u.bytes += c["size"].as_u64().unwrap_or(0);
            }
        }
        Some(Ok(u))
    }

    async fn delete_tenant(&self, tenant: &TenantRef, purge: bool) -> Result<(), BackendError> {
        // remove every RGW user of the tenant (their buckets go with purge-data)
        let prefix = format!("{}$", rgw_tenant(&tenant.tenant_id));
        for uid in self
            .all_users()
            .await?
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
        {
            let ident = Identity {
                backend_user: uid,
                key: SigningKey {
                    access_key: String::new(),
                    secret_key: String::new(),
                },
            };
            self.delete_identity(&ident, purge).await?;
        }
        Ok(())
    }
}

/// Users per page of RGW's user listing (`GET /admin/user?list`; RGW's own default and most).
pub const RGW_USER_LIST_PAGE: u32 = 1000;

impl CephRgwBackend {
    /// Every RGW user id, page by page. RGW answers at most [`RGW_USER_LIST_PAGE`] per call with
    /// `truncated` and a `marker` to go on from: before, only the first page was read, so deleting
    /// a tenant on an RGW with more than 1 000 users could leave its users behind (found when
    /// the replica drills had filled the test RGW: `ceph_rgw_identity_lifecycle`, "user still
    /// exists after purge").
    async fn all_users(&self) -> Result<Vec<String>, BackendError> {
        self.users_in_pages(RGW_USER_LIST_PAGE).await
    }

    /// [`Self::all_users`] with `page_size` users per call (tests walk many pages with a small
    /// one).
    pub async fn users_in_pages(&self, page_size: u32) -> Result<Vec<String>, BackendError> {
        #[derive(Deserialize)]
        struct Page {
            keys: Vec<String>,
            #[serde(default)]
            truncated: bool,
            #[serde(default)]
            marker: Option<String>,
        }
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        let page_size = page_size.max(1).to_string();
        loop {
            let mut q = vec![("list", ""), ("max-entries", page_size.as_str())];
            if let Some(m) = &marker {
                q.push(("marker", m.as_str()));
            }
            let r = self
                .admin
                .call(Method::GET, &self.url("user", &q), None, Vec::new())
                .await?;
            if !(200..300).contains(&r.status) {
                return Err(self.admin.failure("list users", &r));
            }
            let page: Page = serde_json::from_str(&r.body).map_err(|e| BackendError::Internal {
                backend: self.config.name.clone(),
                message: format!("user list: {e}"),
            })?;
            all.extend(page.keys);
            match (page.truncated, page.marker) {
                // a marker that does not move would loop forever: stop with what was read
                (true, Some(m)) if marker.as_deref() != Some(m.as_str()) => marker = Some(m),
                _ => return Ok(all),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_collision_free() {
        assert_eq!(rgw_tenant("t0123456789abcdef"), "t0123456789abcdef");
        assert!(rgw_tenant("Acme-Corp").starts_with("h_"));
        assert_eq!(rgw_uid("alice"), "alice");
        assert_eq!(rgw_uid("4f1c-22aa"), "4f1c-22aa");
        let hashed = rgw_uid("a$b");
        assert!(hashed.starts_with("x-") && hashed.len() == 26);
        // a real id that looks like a hashed one is hashed too, so the two can never meet
        assert_ne!(rgw_uid(&hashed), hashed);
        assert_eq!(CephRgwBackend::uid("t1", "alice"), "t1$alice");
    }
}
