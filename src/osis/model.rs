//! OSIS wire types (osis-api.md §5). snake_case on the wire; optional output fields are omitted,
//! never `null` (the generated client rejects nulls in several places, §1 "Nulls").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::{Credential, Tenant, User};

/// Roles the OSIS client accepts (exact spelling, §5.2).
pub const ROLES: &[&str] = &[
    "PROVIDER_ADMIN",
    "TENANT_ADMIN",
    "TENANT_USER",
    "ANONYMOUS",
    "UNKNOWN",
];

#[derive(Debug, Serialize)]
pub struct OsisError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct PageInfo {
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Serialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub page_info: PageInfo,
}

// ---------------------------------------------------------------- requests
// Unknown fields are ignored (§11: "ignore unknown fields"); a known field of the wrong type is a
// 400 naming the field (serde's message), and absent == null (§1).

#[derive(Debug, Deserialize)]
pub struct TenantIn {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub cd_tenant_ids: Option<Vec<String>>,
    /// Ignored on create (the platform chooses it); checked on update when present.
    pub tenant_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct UserIn {
    pub tenant_id: Option<String>,
    pub active: Option<bool>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub cd_user_id: Option<String>,
    pub cd_tenant_id: Option<String>,
    /// Ignored: Osprey adopts `cd_user_id` as the user id (both reference implementations do).
    pub user_id: Option<String>,
    pub canonical_user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ActiveIn {
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct LoginIn {
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RefreshIn {
    pub refresh_token: Option<String>,
}

// ---------------------------------------------------------------- responses

#[derive(Debug, Serialize)]
pub struct TenantOut {
    pub name: String,
    pub active: bool,
    pub tenant_id: String,
    pub cd_tenant_ids: Vec<String>,
}

impl From<Tenant> for TenantOut {
    fn from(t: Tenant) -> Self {
        TenantOut {
            name: t.name,
            active: t.active,
            tenant_id: t.tenant_id,
            cd_tenant_ids: t.cd_tenant_ids,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct UserOut {
    pub user_id: String,
    pub canonical_user_id: String,
    pub tenant_id: String,
    pub active: bool,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub role: String,
    pub cd_user_id: String,
    pub cd_tenant_id: String,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        UserOut {
            user_id: u.user_id,
            canonical_user_id: u.canonical_user_id,
            tenant_id: u.tenant_id,
            active: u.active,
            username: u.username,
            email: u.email.filter(|e| !e.is_empty()),
            role: u.role,
            cd_user_id: u.cd_user_id,
            cd_tenant_id: u.cd_tenant_id,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CredentialOut {
    pub access_key: String,
    pub secret_key: String,
    pub active: bool,
    pub creation_date: String,
    pub immutable: bool,
    pub tenant_id: String,
    pub user_id: String,
    pub username: String,
    pub cd_user_id: String,
    pub cd_tenant_id: String,
}

impl From<Credential> for CredentialOut {
    fn from(c: Credential) -> Self {
        CredentialOut {
            access_key: c.access_key,
            secret_key: c.secret_key,
            active: c.active,
            creation_date: c
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            // Osprey's keys can be disabled and deleted through OSIS.
            immutable: false,
            tenant_id: c.tenant_id,
            user_id: c.user_id,
            username: c.username,
            cd_user_id: c.cd_user_id,
            cd_tenant_id: c.cd_tenant_id,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Information {
    pub platform_name: &'static str,
    pub platform_version: String,
    pub api_version: &'static str,
    pub logo_uri: String,
    pub status: &'static str,
    pub auth_modes: Vec<&'static str>,
    pub services: BTreeMap<&'static str, String>,
    pub regions: Vec<String>,
    pub storage_classes: Vec<&'static str>,
    pub not_implemented: Vec<&'static str>,
}

#[derive(Debug, Serialize, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bucket_count: i64,
    pub object_count: i64,
    pub total_bytes: i64,
    pub available_bytes: i64,
    pub used_bytes: i64,
}

#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct BucketMeta {
    pub name: String,
    pub creation_date: String,
    pub user_id: String,
}

#[derive(Debug, Serialize)]
pub struct AnonymousUser {
    pub id: String,
    pub name: &'static str,
}

#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

#[derive(Debug, Serialize)]
pub struct AccessToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}
