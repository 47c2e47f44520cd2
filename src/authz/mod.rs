//! Authorization where the backend sees one identity (issue 11).
//!
//! On the `s3` and `local` kinds (and any backend whose identity scope is not per user) every
//! user of every tenant reaches the backend with one service key, so the backend cannot tell
//! alice from bob. Osprey is then the decision point, as the backend would be with per-user
//! identities: owners, ACLs and bucket policies are stored by Osprey and evaluated here on
//! every request before anything is forwarded.
//!
//! Plain functions over typed values; imports nothing of the crate above `s3` (op names).
//! The order of evaluation follows AWS's (S3 user guide, "How Amazon S3 authorizes a request"
//! and IAM "Policy evaluation logic"):
//!
//! 1. a read-only role never writes (OSIS roles, docs/authorization.md);
//! 2. the bucket owner (and its tenant's admin) may always read and change the bucket policy,
//!    so no policy can lock the owner out;
//! 3. the bucket policy: an explicit Deny wins over everything, an Allow grants;
//! 4. the OSIS role: TENANT_ADMIN administers every bucket of its tenant, PROVIDER_ADMIN
//!    reads them;
//! 5. the ACL of the bucket or object, with AWS's permission mapping (READ, WRITE, READ_ACP,
//!    WRITE_ACP, FULL_CONTROL), the owner keeping READ_ACP/WRITE_ACP of what it owns;
//! 6. otherwise denied.

pub mod acl;
pub mod action;
pub mod policy;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use acl::{Acl, Canned, Grant, Grantee, Group, Permission};
pub use action::{action_for, AclRule, Action, Target};
pub use policy::{Policy, RequestContext, Verdict};

/// An OSIS canonical user id (the id clients see as S3 owner and grantee ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CanonicalId(pub String);

impl CanonicalId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The owner of a bucket or object as S3 answers name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub id: CanonicalId,
    pub display_name: String,
}

/// OSIS user roles (osis-api.md §7.2) as Osprey's data plane honours them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Administers every bucket of its tenant (reads, writes, ACLs, policies, deletes), as the
    /// account root would on AWS.
    TenantAdmin,
    /// What its ownership and the grants/policies of others give it.
    TenantUser,
    /// Reads every bucket of its tenant; never writes.
    ProviderAdmin,
    /// `ANONYMOUS` and `UNKNOWN`: what grants give it, and never writes.
    ReadOnly,
}

impl Role {
    pub fn from_osis(s: &str) -> Role {
        match s {
            "TENANT_ADMIN" => Role::TenantAdmin,
            "TENANT_USER" => Role::TenantUser,
            "PROVIDER_ADMIN" => Role::ProviderAdmin,
            _ => Role::ReadOnly,
        }
    }

    fn writes(self) -> bool {
        matches!(self, Role::TenantAdmin | Role::TenantUser)
    }
}

/// A signed user.
#[derive(Debug, Clone, Copy)]
pub struct UserFacts<'a> {
    pub tenant_id: &'a str,
    pub user_id: &'a str,
    pub username: &'a str,
    pub canonical_id: &'a str,
    pub role: Role,
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    Anonymous,
    User(UserFacts<'a>),
}

impl<'a> Requester<'a> {
    pub fn user(&self) -> Option<&UserFacts<'a>> {
        match self {
            Requester::User(u) => Some(u),
            Requester::Anonymous => None,
        }
    }

    fn is(&self, id: &CanonicalId) -> bool {
        self.user()
            .is_some_and(|u| !id.0.is_empty() && u.canonical_id == id.0)
    }
}

/// PublicAccessBlock (S3 user guide, "Blocking public access").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// What Osprey holds about one bucket's access.
#[derive(Debug, Clone)]
pub struct BucketAuth {
    pub tenant_id: String,
    /// The bucket's name as clients know it (policy resources name it).
    pub bucket: String,
    pub owner: Owner,
    pub acl: Acl,
    pub policy: Option<Arc<Policy>>,
    /// `None`: never set (GetPublicAccessBlock answers NoSuchPublicAccessBlockConfiguration).
    pub public_access_block: Option<PublicAccessBlock>,
    /// Osprey holds owner/ACL records for some objects of the bucket; when false no object
    /// lookup is made and every object is the bucket owner's, `private`.
    pub object_records: bool,
}

impl BucketAuth {
    fn pab(&self) -> PublicAccessBlock {
        self.public_access_block.unwrap_or_default()
    }
}

/// What Osprey holds about one object's access (absent: the bucket owner's, private).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAuth {
    pub owner: Owner,
    pub acl: Acl,
}

impl ObjectAuth {
    pub fn default_for(bucket: &BucketAuth) -> ObjectAuth {
        ObjectAuth {
            owner: bucket.owner.clone(),
            acl: Acl::private(&bucket.owner),
        }
    }
}

/// Why a request was refused (the message of its AccessDenied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    ReadOnlyRole,
    PolicyDeny,
    NotPermitted,
}

impl Denied {
    pub fn message(&self) -> &'static str {
        match self {
            Denied::ReadOnlyRole => "Access Denied: this user's OSIS role is read-only",
            Denied::PolicyDeny => "Access Denied: an explicit Deny in the bucket policy",
            Denied::NotPermitted => "Access Denied",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthzError {
    #[error("{0}")]
    MalformedAcl(String),
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Internal(String),
}

/// The decision for `who` doing `action` on `bucket` (and `object`, for object-level ACL
/// rules; `None` there means the bucket owner's private default).
pub fn authorize(
    who: &Requester<'_>,
    action: &Action,
    bucket: &BucketAuth,
    object: Option<&ObjectAuth>,
    resource: &str,
    ctx: &RequestContext<'_>,
) -> Result<(), Denied> {
    let same_tenant = who.user().is_some_and(|u| u.tenant_id == bucket.tenant_id);
    let role = who.user().map(|u| u.role);
    if action.writes && role.is_some_and(|r| !r.writes()) {
        return Err(Denied::ReadOnlyRole);
    }
    let admin = same_tenant && role == Some(Role::TenantAdmin);
    let bucket_owner = who.is(&bucket.owner.id);
    if action.acl == AclRule::BucketOwnerAlways && (bucket_owner || admin) {
        return Ok(());
    }
    let pab = bucket.pab();
    if let Some(p) = &bucket.policy {
        // RestrictPublicBuckets: a public policy grants nothing to anyone outside the tenant
        let restricted = pab.restrict_public_buckets && p.is_public() && !same_tenant;
        match p.evaluate(who, action.name, resource, ctx) {
            Verdict::Deny => return Err(Denied::PolicyDeny),
            Verdict::Allow if !restricted => return Ok(()),
            _ => {}
        }
    }
    if admin || (same_tenant && role == Some(Role::ProviderAdmin) && !action.writes) {
        return Ok(());
    }
    let granted = |acl: &Acl, p: Permission| {
        acl.grants.iter().any(|g| {
            g.permission.covers(p)
                && match &g.grantee {
                    Grantee::User { id, .. } => who.is(id),
                    Grantee::Group(Group::AllUsers) => !pab.ignore_public_acls,
                    Grantee::Group(Group::AuthenticatedUsers) => {
                        !pab.ignore_public_acls && who.user().is_some()
                    }
                    Grantee::Group(Group::LogDelivery) => false,
                }
        })
    };
    let default_object;
    let object = match object {
        Some(o) => o,
        None => {
            default_object = ObjectAuth::default_for(bucket);
            &default_object
        }
    };
    let ok = match (action.acl, action.target) {
        (AclRule::Grant(p), Target::Bucket) => {
            granted(&bucket.acl, p)
                || (bucket_owner && matches!(p, Permission::ReadAcp | Permission::WriteAcp))
        }
        (AclRule::Grant(p), Target::Object) => {
            granted(&object.acl, p)
                || (who.is(&object.owner.id)
                    && matches!(p, Permission::ReadAcp | Permission::WriteAcp))
        }
        (AclRule::Owner | AclRule::BucketOwnerAlways, Target::Bucket) => bucket_owner,
        (AclRule::Owner | AclRule::BucketOwnerAlways, Target::Object) => who.is(&object.owner.id),
    };
    if ok {
        Ok(())
    } else {
        Err(Denied::NotPermitted)
    }
}

/// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`: the resource a policy statement names.
pub fn resource_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

/// S3's answers to bad ACL and policy input (S3 API reference, error codes).
impl From<AuthzError> for crate::s3::S3Error {
    fn from(e: AuthzError) -> Self {
        use http::StatusCode;
        match e {
            AuthzError::MalformedAcl(m) => {
                crate::s3::S3Error::new(StatusCode::BAD_REQUEST, "MalformedACLError", m)
            }
            AuthzError::MalformedPolicy(m) => {
                crate::s3::S3Error::new(StatusCode::BAD_REQUEST, "MalformedPolicy", m)
            }
            AuthzError::InvalidArgument(m) => crate::s3::S3Error::invalid_argument(m),
            AuthzError::Internal(m) => crate::s3::S3Error::internal(m),
        }
    }
}

impl From<Denied> for crate::s3::S3Error {
    fn from(d: Denied) -> Self {
        crate::s3::S3Error::access_denied(d.message())
    }
}
