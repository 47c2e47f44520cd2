//! `iam`: platforms with an AWS-IAM-compatible admin API (StorageGRID, Cloudian, Dell ECS, Scality
//! Vault, AWS itself; tested against moto).
//!
//! Each OSIS user gets an IAM user (path `/osprey/<tenant>/`) and an access key Osprey signs that
//! user's requests with. All buckets live in one account, so bucket names are derived per tenant and
//! Osprey enforces ownership through placements, as for the `s3` kind.
//!
//! IAM returns a secret only when the key is created; the identity is stored by Osprey right after
//! `ensure_identity` returns. If Osprey died in between, the retry finds the user with keys whose
//! secrets are unknown: it deletes those (IAM allows two keys per user) and creates a fresh one.

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
use crate::config::{BackendConfig, IamSpec};

/// IAM API version the query protocol needs.
const IAM_VERSION: &str = "2010-05-08";
/// IAM user names: `[\w+=,.@-]{1,64}`.
const MAX_IAM_USER: usize = 64;

/// Name of the inline policy Osprey puts on each IAM user it creates.
pub const S3_POLICY_NAME: &str = "osprey-s3-access";
/// S3 on every resource of the account: the platform account holds only Osprey-managed buckets,
/// and which tenant may touch which bucket is decided by Osprey before it signs.
pub const S3_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

/// `<tenant>.<user>`: readable when both are IAM-safe and short enough, otherwise hashed.
pub fn iam_user_name(tenant_id: &str, user_id: &str) -> String {
    let safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_".contains(&b))
    };
    let name = format!("{tenant_id}.{user_id}");
    if safe(tenant_id) && safe(user_id) && !user_id.starts_with("h-") && name.len() <= MAX_IAM_USER
    {
        name
    } else {
        let h = hex::encode(Sha256::digest(format!("{tenant_id}\0{user_id}").as_bytes()));
        let t: String = tenant_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect();
        format!("{t}.h-{}", &h[..32])
    }
}

fn iam_path(tenant_id: &str) -> String {
    let t: String = tenant_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("/osprey/{t}/")
}

pub struct IamBackend {
    config: Arc<BackendConfig>,
    data_path: DataPath,
    admin: AdminClient,
    iam_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccessKeyMeta {
    access_key_id: String,
}

impl IamBackend {
    /// `spec` is `config.spec`'s variant (the factory matches it).
    pub fn new(config: Arc<BackendConfig>, spec: &IamSpec) -> Result<Self, BackendError> {
        let data_path = endpoint_data_path(&config, &spec.endpoint);
        let key = SigningKey::from(&spec.admin);
        let admin = AdminClient::new(&config.name, key, &config.region, "iam", config.timeout)?;
        let iam_url = format!("{}/", spec.iam_endpoint.base_url());
        Ok(IamBackend {
            config,
            data_path,
            admin,
            iam_url,
        })
    }

    /// One IAM query-protocol call; answers the XML body of a 2xx, `Ok(None)` for NoSuchEntity.
    async fn action(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Option<String>, BackendError> {
        let mut body = format!("Action={action}&Version={IAM_VERSION}");
        for (k, v) in params {
            body.push('&');
            body.push_str(k);
            body.push('=');
            body.extend(utf8_percent_encode(v, NON_ALPHANUMERIC));
        }
        let r = self
            .admin
            .call(
                Method::POST,
                &self.iam_url,
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                body.into_bytes(),
            )
            .await?;
        if (200..300).contains(&r.status) {
            Ok(Some(r.body))
        } else if r.status == 404 || r.body.contains("<Code>NoSuchEntity</Code>") {
            Ok(None)
        } else if r.body.contains("<Code>EntityAlreadyExists</Code>") {
            Err(BackendError::Refused {
                backend: self.config.name.clone(),
                message: format!("{action}: already exists"),
            })
        } else {
            Err(self.admin.failure(action, &r))
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        xml: &str,
    ) -> Result<T, BackendError> {
        quick_xml::de::from_str(xml).map_err(|e| BackendError::Internal {
            backend: self.config.name.clone(),
            message: format!("{what} answer: {e}"),
        })
    }

    async fn list_keys(&self, user: &str) -> Result<Vec<String>, BackendError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Resp {
            list_access_keys_result: Res,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Res {
            access_key_metadata: Option<Members>,
        }
        #[derive(Deserialize)]
        struct Members {
            #[serde(default)]
            member: Vec<AccessKeyMeta>,
        }
        let Some(xml) = self.action("ListAccessKeys", &[("UserName", user)]).await? else {
            return Ok(Vec::new());
        };
        let r: Resp = self.parse("ListAccessKeys", &xml)?;
        Ok(r.list_access_keys_result
            .access_key_metadata
            .map(|m| m.member)
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.access_key_id)
            .collect())
    }

    async fn create_key(&self, user: &str) -> Result<SigningKey, BackendError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Resp {
            create_access_key_result: Res,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Res {
            access_key: Key,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Key {
            access_key_id: String,
            secret_access_key: String,
        }
        let xml = self
            .action("CreateAccessKey", &[("UserName", user)])
            .await?
            .ok_or_else(|| BackendError::Refused {
                backend: self.config.name.clone(),
                message: format!("user {user} vanished"),
            })?;
        let r: Resp = self.parse("CreateAccessKey", &xml)?;
        Ok(SigningKey {
            access_key: r.create_access_key_result.access_key.access_key_id,
            secret_key: r.create_access_key_result.access_key.secret_access_key,
        })
    }

    async fn delete_user_and_keys(&self, user: &str) -> Result<(), BackendError> {
        for k in self.list_keys(user).await? {
            self.action(
                "DeleteAccessKey",
                &[("UserName", user), ("AccessKeyId", &k)],
            )
            .await?;
        }
        // inline policies must go before the user (IAM: DeleteConflict otherwise)
        self.action(
            "DeleteUserPolicy",
            &[("UserName", user), ("PolicyName", S3_POLICY_NAME)],
        )
        .await?;
        self.action("DeleteUser", &[("UserName", user)]).await?;
        Ok(())
    }
}

#[async_trait]
impl Backend for IamBackend {
    fn config(&self) -> &Arc<BackendConfig> {
        &self.config
    }
    fn data_path(&self) -> &DataPath {
        &self.data_path
    }
    fn identity_scope(&self) -> IdentityScope {
        IdentityScope::PerUser
    }

    async fn ensure_tenant(&self, _tenant: &TenantRef) -> Result<(), BackendError> {
        // Tenants are an IAM path prefix; nothing to create until the first user.
        Ok(())
    }

    async fn ensure_identity(
        &self,
        tenant: &TenantRef,
        user: &UserRef,
    ) -> Result<Identity, BackendError> {
        let name = iam_user_name(&tenant.tenant_id, &user.user_id);
        let exists = self
            .action("GetUser", &[("UserName", &name)])
            .await?
            .is_some();
        if exists {
            // Keys whose secrets Osprey does not hold are useless to it: replace them.
            for k in self.list_keys(&name).await? {
                self.action(
                    "DeleteAccessKey",
                    &[("UserName", &name), ("AccessKeyId", &k)],
                )
                .await?;
            }
        } else {
            match self
                .action(
                    "CreateUser",
                    &[("UserName", &name), ("Path", &iam_path(&tenant.tenant_id))],
                )
                .await
            {
                Ok(_) => {}
                Err(BackendError::Refused { message, .. })
                    if message.contains("already exists") => {}
                Err(e) => return Err(e),
            }
        }
        // An IAM user has no rights until a policy grants them. Osprey enforces tenant isolation
        // itself (placements, translated bucket names), so the identity gets S3 access on the
        // platform and nothing else (no IAM, no other services). PutUserPolicy is idempotent.
        self.action(
            "PutUserPolicy",
            &[
                ("UserName", &name),
                ("PolicyName", S3_POLICY_NAME),
                ("PolicyDocument", S3_POLICY),
            ],
        )
        .await?;
        let key = self.create_key(&name).await?;
        Ok(Identity {
            backend_user: name,
            key,
        })
    }

    async fn set_identity_active(
        &self,
        identity: &Identity,
        active: bool,
    ) -> Result<(), BackendError> {
        let status = if active { "Active" } else { "Inactive" };
        self.action(
            "UpdateAccessKey",
            &[
                ("UserName", &identity.backend_user),
                ("AccessKeyId", &identity.key.access_key),
                ("Status", status),
            ],
        )
        .await?
        .map(|_| ())
        .ok_or_else(|| BackendError::Refused {
            backend: self.config.name.clone(),
            message: format!(
                "no key {} for {}",
                identity.key.access_key, identity.backend_user
            ),
        })
    }

    async fn delete_identity(&self, identity: &Identity, _purge: bool) -> Result<(), BackendError> {
        // Buckets live in the shared account under per-tenant names; their purge is the placement
        // layer's job, not the user's.
        self.delete_user_and_keys(&identity.backend_user).await
    }

    async fn delete_tenant(&self, tenant: &TenantRef, _purge: bool) -> Result<(), BackendError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Resp {
            list_users_result: Res,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Res {
            users: Option<Members>,
        }
        #[derive(Deserialize)]
        struct Members {
            #[serde(default)]
            member: Vec<U>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct U {
            user_name: String,
        }
        let Some(xml) = self
            .action("ListUsers", &[("PathPrefix", &iam_path(&tenant.tenant_id))])
            .await?
        else {
            return Ok(());
        };
        let r: Resp = self.parse("ListUsers", &xml)?;
        for u in r
            .list_users_result
            .users
            .map(|m| m.member)
            .unwrap_or_default()
        {
            self.delete_user_and_keys(&u.user_name).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_iam_safe_and_distinct() {
        assert_eq!(iam_user_name("t01", "alice"), "t01.alice");
        let odd = iam_user_name("t01", "a b/c");
        assert!(
            odd.starts_with("t01.h-") && odd.len() <= MAX_IAM_USER,
            "{odd}"
        );
        assert_ne!(iam_user_name("t01", "x"), iam_user_name("t02", "x"));
        let long = iam_user_name("t0123456789abcdef", &"u".repeat(60));
        assert!(long.len() <= MAX_IAM_USER);
        assert_eq!(iam_path("t01"), "/osprey/t01/");
    }
}
