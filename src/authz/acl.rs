//! Access control lists as Osprey stores and enforces them on shared-identity backends (issue 11):
//! owner plus grants, from canned ACLs (`x-amz-acl`), explicit grant headers (`x-amz-grant-*`)
//! or an `AccessControlPolicy` body, and written back in S3's XML shape.
//!
//! S3 API reference, "Access control list (ACL) overview": five permissions, grantees by
//! canonical id, by e-mail (resolved to a canonical id when the ACL is set) or one of the
//! predefined groups.

use serde::{Deserialize, Serialize};

use super::{AuthzError, CanonicalId, Owner};

/// Most grants one ACL may hold. Default 100 (AWS's documented limit); stops an ACL body from
/// growing what every request on the resource has to evaluate.
pub const MAX_GRANTS: usize = 100;

/// Largest ACL body read (PutBucketAcl / PutObjectAcl). Default 64 KiB: 100 grants with long
/// display names fit; stops a client from making Osprey buffer an unbounded body.
pub const MAX_ACL_BODY: usize = 64 * 1024;

pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY_URI: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(s: &str) -> Result<Self, AuthzError> {
        Ok(match s.trim() {
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            "FULL_CONTROL" => Permission::FullControl,
            other => {
                return Err(AuthzError::MalformedAcl(format!(
                    "unknown permission `{other}`"
                )))
            }
        })
    }

    /// This grant's permission gives `wanted`.
    pub fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Group {
    AllUsers,
    AuthenticatedUsers,
    LogDelivery,
}

impl Group {
    pub fn uri(self) -> &'static str {
        match self {
            Group::AllUsers => ALL_USERS_URI,
            Group::AuthenticatedUsers => AUTHENTICATED_USERS_URI,
            Group::LogDelivery => LOG_DELIVERY_URI,
        }
    }

    pub fn parse(uri: &str) -> Result<Self, AuthzError> {
        match uri.trim() {
            ALL_USERS_URI => Ok(Group::AllUsers),
            AUTHENTICATED_USERS_URI => Ok(Group::AuthenticatedUsers),
            LOG_DELIVERY_URI => Ok(Group::LogDelivery),
            other => Err(AuthzError::InvalidArgument(format!(
                "unknown grantee group `{other}`"
            ))),
        }
    }
}

/// Who a grant is for, as stored: e-mail grantees are resolved to their user when set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grantee {
    User {
        id: CanonicalId,
        display_name: String,
        /// Kept when the grant named the user by e-mail, so GetAcl answers as it was set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
    },
    Group(Group),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An ACL: the grants on one bucket or object (the owner is the resource's).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Acl {
    pub grants: Vec<Grant>,
}

impl Acl {
    /// `private`: the owner has FULL_CONTROL (AWS's default for every new bucket and object).
    pub fn private(owner: &Owner) -> Self {
        Acl {
            grants: vec![owner_grant(owner, Permission::FullControl)],
        }
    }

    /// A grant that makes the resource readable or writable by everybody or by every signed
    /// user (S3 "public" ACL, for PublicAccessBlock's BlockPublicAcls / IgnorePublicAcls).
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| {
            matches!(
                g.grantee,
                Grantee::Group(Group::AllUsers) | Grantee::Group(Group::AuthenticatedUsers)
            )
        })
    }

    pub fn without_public_grants(&self) -> Acl {
        Acl {
            grants: self
                .grants
                .iter()
                .filter(|g| {
                    !matches!(
                        g.grantee,
                        Grantee::Group(Group::AllUsers) | Grantee::Group(Group::AuthenticatedUsers)
                    )
                })
                .cloned()
                .collect(),
        }
    }
}

fn owner_grant(owner: &Owner, permission: Permission) -> Grant {
    Grant {
        grantee: Grantee::User {
            id: owner.id.clone(),
            display_name: owner.display_name.clone(),
            email: None,
        },
        permission,
    }
}

/// The canned ACLs (`x-amz-acl`, S3 API reference "Canned ACL").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canned {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
    LogDeliveryWrite,
}

impl Canned {
    pub fn parse(s: &str) -> Result<Self, AuthzError> {
        Ok(match s.trim() {
            "private" => Canned::Private,
            "public-read" => Canned::PublicRead,
            "public-read-write" => Canned::PublicReadWrite,
            "authenticated-read" => Canned::AuthenticatedRead,
            "bucket-owner-read" => Canned::BucketOwnerRead,
            "bucket-owner-full-control" => Canned::BucketOwnerFullControl,
            "log-delivery-write" => Canned::LogDeliveryWrite,
            other => {
                return Err(AuthzError::InvalidArgument(format!(
                    "unknown canned ACL `{other}` in x-amz-acl"
                )))
            }
        })
    }

    /// The grants this canned ACL stands for on a resource owned by `owner` in a bucket owned
    /// by `bucket_owner` (the two differ for objects written by another user).
    pub fn acl(self, owner: &Owner, bucket_owner: &Owner) -> Acl {
        let mut acl = Acl::private(owner);
        let group = |g, p| Grant {
            grantee: Grantee::Group(g),
            permission: p,
        };
        match self {
            Canned::Private => {}
            Canned::PublicRead => acl.grants.push(group(Group::AllUsers, Permission::Read)),
            Canned::PublicReadWrite => {
                acl.grants.push(group(Group::AllUsers, Permission::Read));
                acl.grants.push(group(Group::AllUsers, Permission::Write));
            }
            Canned::AuthenticatedRead => acl
                .grants
                .push(group(Group::AuthenticatedUsers, Permission::Read)),
            Canned::BucketOwnerRead => {
                if bucket_owner.id != owner.id {
                    acl.grants.push(owner_grant(bucket_owner, Permission::Read));
                }
            }
            Canned::BucketOwnerFullControl => {
                if bucket_owner.id != owner.id {
                    acl.grants
                        .push(owner_grant(bucket_owner, Permission::FullControl));
                }
            }
            Canned::LogDeliveryWrite => {
                acl.grants
                    .push(group(Group::LogDelivery, Permission::Write));
                acl.grants
                    .push(group(Group::LogDelivery, Permission::ReadAcp));
            }
        }
        acl
    }
}

/// A grantee as the client named it, before e-mail addresses and ids are checked against the
/// identity store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedGrantee {
    Id(String),
    Email(String),
    Group(Group),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedGrant {
    pub grantee: NamedGrantee,
    pub permission: Permission,
}

/// The `x-amz-grant-*` request headers and the permission each gives.
pub const GRANT_HEADERS: &[(&str, Permission)] = &[
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// One `x-amz-grant-*` header value: `id="…", emailAddress="…", uri="…"` (comma separated).
pub fn parse_grant_header(
    value: &str,
    permission: Permission,
) -> Result<Vec<NamedGrant>, AuthzError> {
    let mut out = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(|| {
            AuthzError::InvalidArgument(format!(
                "grant `{part}` is not of the form id=\"…\", emailAddress=\"…\" or uri=\"…\""
            ))
        })?;
        let v = v.trim().trim_matches('"').to_string();
        let grantee = match k.trim().to_ascii_lowercase().as_str() {
            "id" => NamedGrantee::Id(v),
            "emailaddress" => NamedGrantee::Email(v),
            "uri" => NamedGrantee::Group(Group::parse(&v)?),
            other => {
                return Err(AuthzError::InvalidArgument(format!(
                    "unknown grantee type `{other}` in a grant header"
                )))
            }
        };
        out.push(NamedGrant {
            grantee,
            permission,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------- AccessControlPolicy XML

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlPolicy {
    #[serde(default)]
    owner: Option<XmlOwner>,
    #[serde(default)]
    access_control_list: Option<XmlGrants>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlOwner {
    #[serde(rename = "ID", default)]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlGrants {
    #[serde(default)]
    grant: Vec<XmlGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlGrant {
    grantee: Option<XmlGrantee>,
    permission: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlGrantee {
    #[serde(rename = "ID", default)]
    id: Option<String>,
    #[serde(default)]
    email_address: Option<String>,
    #[serde(rename = "URI", default)]
    uri: Option<String>,
}

/// A parsed `AccessControlPolicy` body: the owner id it names (must be the resource's) and its
/// grants. The grantee's kind is read from which child it has (ID, EmailAddress, URI), the
/// same as `xsi:type` says.
pub struct ParsedPolicy {
    pub owner_id: Option<String>,
    pub grants: Vec<NamedGrant>,
}

pub fn parse_acl_xml(body: &str) -> Result<ParsedPolicy, AuthzError> {
    let p: XmlPolicy = quick_xml::de::from_str(body)
        .map_err(|e| AuthzError::MalformedAcl(format!("AccessControlPolicy: {e}")))?;
    let mut grants = Vec::new();
    for g in p.access_control_list.map(|l| l.grant).unwrap_or_default() {
        let permission =
            Permission::parse(g.permission.as_deref().ok_or_else(|| {
                AuthzError::MalformedAcl("a Grant has no Permission".to_string())
            })?)?;
        let ge = g
            .grantee
            .ok_or_else(|| AuthzError::MalformedAcl("a Grant has no Grantee".to_string()))?;
        let grantee = match (ge.id, ge.email_address, ge.uri) {
            (Some(id), None, None) => NamedGrantee::Id(id.trim().to_string()),
            (None, Some(e), None) => NamedGrantee::Email(e.trim().to_string()),
            (None, None, Some(u)) => NamedGrantee::Group(Group::parse(&u)?),
            _ => {
                return Err(AuthzError::MalformedAcl(
                    "a Grantee names exactly one of ID, EmailAddress or URI".to_string(),
                ))
            }
        };
        grants.push(NamedGrant {
            grantee,
            permission,
        });
        if grants.len() > MAX_GRANTS {
            return Err(AuthzError::MalformedAcl(format!(
                "more than {MAX_GRANTS} grants"
            )));
        }
    }
    Ok(ParsedPolicy {
        owner_id: p.owner.and_then(|o| o.id).map(|s| s.trim().to_string()),
        grants,
    })
}

#[derive(Serialize)]
#[serde(rename = "AccessControlPolicy")]
struct OutPolicy<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Owner")]
    owner: OutOwner<'a>,
    #[serde(rename = "AccessControlList")]
    acl: OutGrants<'a>,
}

#[derive(Serialize)]
struct OutOwner<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    #[serde(rename = "DisplayName")]
    display_name: &'a str,
}

#[derive(Serialize)]
struct OutGrants<'a> {
    #[serde(rename = "Grant")]
    grants: Vec<OutGrant<'a>>,
}

#[derive(Serialize)]
struct OutGrant<'a> {
    #[serde(rename = "Grantee")]
    grantee: OutGrantee<'a>,
    #[serde(rename = "Permission")]
    permission: &'static str,
}

#[derive(Serialize)]
struct OutGrantee<'a> {
    #[serde(rename = "@xmlns:xsi")]
    xmlns_xsi: &'static str,
    #[serde(rename = "@xsi:type")]
    kind: &'static str,
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "DisplayName", skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(rename = "EmailAddress", skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(rename = "URI", skip_serializing_if = "Option::is_none")]
    uri: Option<&'static str>,
}

/// GetBucketAcl / GetObjectAcl's answer.
pub fn acl_xml(owner: &Owner, acl: &Acl) -> Result<String, AuthzError> {
    // RGW's order (the parity baseline; s3-tests compare grant lists positionally): group
    // grants first, then users by id
    let mut ordered: Vec<&Grant> = acl.grants.iter().collect();
    ordered.sort_by(|a, b| match (&a.grantee, &b.grantee) {
        (Grantee::Group(_), Grantee::User { .. }) => std::cmp::Ordering::Less,
        (Grantee::User { .. }, Grantee::Group(_)) => std::cmp::Ordering::Greater,
        (Grantee::User { id: x, .. }, Grantee::User { id: y, .. }) => x.0.cmp(&y.0),
        _ => std::cmp::Ordering::Equal,
    });
    let grants = ordered
        .into_iter()
        .map(|g| OutGrant {
            permission: g.permission.as_str(),
            grantee: match &g.grantee {
                // a grant made by e-mail reads back as the user it named (as RGW and AWS answer)
                Grantee::User {
                    id, display_name, ..
                } => OutGrantee {
                    xmlns_xsi: XSI,
                    kind: "CanonicalUser",
                    id: Some(id.as_str()),
                    display_name: Some(display_name.as_str()),
                    email: None,
                    uri: None,
                },
                Grantee::Group(gr) => OutGrantee {
                    xmlns_xsi: XSI,
                    kind: "Group",
                    id: None,
                    display_name: None,
                    email: None,
                    uri: Some(gr.uri()),
                },
            },
        })
        .collect();
    let doc = OutPolicy {
        xmlns: S3_XMLNS,
        owner: OutOwner {
            id: owner.id.as_str(),
            display_name: &owner.display_name,
        },
        acl: OutGrants { grants },
    };
    let body = quick_xml::se::to_string(&doc)
        .map_err(|e| AuthzError::Internal(format!("ACL answer: {e}")))?;
    Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{body}"))
}

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
