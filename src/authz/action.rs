//! Which S3 action an operation is, and which ACL permission stands for it (S3 user guide,
//! "Mapping of ACL permissions and access policy permissions"; actions from "Actions, resources,
//! and condition keys for Amazon S3").

use http::Method;

use super::Permission;
use crate::s3::op::OpKind;

/// Whose ACL answers for the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Bucket,
    Object,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclRule {
    /// A grant of this permission (or FULL_CONTROL) on the target allows it.
    Grant(Permission),
    /// No ACL permission maps to it: the target's owner only (or a policy).
    Owner,
    /// The bucket policy operations: the bucket owner always may (no policy locks it out).
    BucketOwnerAlways,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// The policy action name, e.g. `s3:GetObject`.
    pub name: &'static str,
    pub target: Target,
    pub acl: AclRule,
    /// Changes something (refused to read-only roles).
    pub writes: bool,
}

const fn a(name: &'static str, target: Target, acl: AclRule, writes: bool) -> Action {
    Action {
        name,
        target,
        acl,
        writes,
    }
}

use AclRule::{BucketOwnerAlways, Grant, Owner};
use Permission::{Read, ReadAcp, Write, WriteAcp};
use Target::{Bucket, Object};

/// The action of an operation; `versioned` when the request names a `versionId` (AWS's
/// `…Version` actions). `None`: no bucket is involved (ListBuckets) or Osprey answers it itself.
pub fn action_for(kind: OpKind, method: &Method, versioned: bool) -> Option<Action> {
    let get = *method == Method::GET || *method == Method::HEAD;
    let del = *method == Method::DELETE;
    Some(match kind {
        OpKind::ListBuckets | OpKind::CorsPreflight => return None,
        OpKind::CreateBucket => a("s3:CreateBucket", Bucket, Owner, true),
        OpKind::DeleteBucket => a("s3:DeleteBucket", Bucket, Owner, true),
        OpKind::HeadBucket | OpKind::ListObjects | OpKind::ListObjectsV2 => {
            a("s3:ListBucket", Bucket, Grant(Read), false)
        }
        OpKind::GetBucketLocation => a("s3:GetBucketLocation", Bucket, Owner, false),
        OpKind::ListObjectVersions => a("s3:ListBucketVersions", Bucket, Grant(Read), false),
        OpKind::ListMultipartUploads => {
            a("s3:ListBucketMultipartUploads", Bucket, Grant(Read), false)
        }
        OpKind::DeleteObjects => a("s3:DeleteObject", Bucket, Grant(Write), true),
        OpKind::PostObject
        | OpKind::PutObject
        | OpKind::CopyObject
        | OpKind::CreateMultipartUpload
        | OpKind::UploadPart
        | OpKind::UploadPartCopy
        | OpKind::CompleteMultipartUpload => a("s3:PutObject", Bucket, Grant(Write), true),
        OpKind::AbortMultipartUpload => a("s3:AbortMultipartUpload", Bucket, Grant(Write), true),
        OpKind::ListParts => a("s3:ListMultipartUploadParts", Bucket, Grant(Write), false),
        OpKind::GetObject | OpKind::HeadObject => {
            if versioned {
                a("s3:GetObjectVersion", Object, Grant(Read), false)
            } else {
                a("s3:GetObject", Object, Grant(Read), false)
            }
        }
        OpKind::DeleteObject => {
            if versioned {
                a("s3:DeleteObjectVersion", Bucket, Grant(Write), true)
            } else {
                a("s3:DeleteObject", Bucket, Grant(Write), true)
            }
        }
        OpKind::BucketSubresource(sub) => bucket_sub(sub, get, del),
        OpKind::ObjectSubresource(sub) => object_sub(sub, get, del, versioned),
    })
}

fn bucket_sub(sub: &str, get: bool, del: bool) -> Action {
    let pick = |g: &'static str, p: &'static str, d: &'static str| {
        if get {
            a(g, Bucket, Owner, false)
        } else if del {
            a(d, Bucket, Owner, true)
        } else {
            a(p, Bucket, Owner, true)
        }
    };
    match sub {
        "acl" if get => a("s3:GetBucketAcl", Bucket, Grant(ReadAcp), false),
        "acl" => a("s3:PutBucketAcl", Bucket, Grant(WriteAcp), true),
        "policy" if get => a("s3:GetBucketPolicy", Bucket, BucketOwnerAlways, false),
        "policy" if del => a("s3:DeleteBucketPolicy", Bucket, BucketOwnerAlways, true),
        "policy" => a("s3:PutBucketPolicy", Bucket, BucketOwnerAlways, true),
        "policyStatus" => a("s3:GetBucketPolicyStatus", Bucket, Owner, false),
        "publicAccessBlock" => pick(
            "s3:GetBucketPublicAccessBlock",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketPublicAccessBlock",
        ),
        "versioning" => pick(
            "s3:GetBucketVersioning",
            "s3:PutBucketVersioning",
            "s3:PutBucketVersioning",
        ),
        "tagging" => pick(
            "s3:GetBucketTagging",
            "s3:PutBucketTagging",
            "s3:PutBucketTagging",
        ),
        "cors" => pick("s3:GetBucketCORS", "s3:PutBucketCORS", "s3:PutBucketCORS"),
        "lifecycle" => pick(
            "s3:GetLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
        ),
        "encryption" => pick(
            "s3:GetEncryptionConfiguration",
            "s3:PutEncryptionConfiguration",
            "s3:PutEncryptionConfiguration",
        ),
        "object-lock" => pick(
            "s3:GetBucketObjectLockConfiguration",
            "s3:PutBucketObjectLockConfiguration",
            "s3:PutBucketObjectLockConfiguration",
        ),
        "website" => pick(
            "s3:GetBucketWebsite",
            "s3:PutBucketWebsite",
            "s3:DeleteBucketWebsite",
        ),
        "logging" => pick(
            "s3:GetBucketLogging",
            "s3:PutBucketLogging",
            "s3:PutBucketLogging",
        ),
        "notification" => pick(
            "s3:GetBucketNotification",
            "s3:PutBucketNotification",
            "s3:PutBucketNotification",
        ),
        "requestPayment" => pick(
            "s3:GetBucketRequestPayment",
            "s3:PutBucketRequestPayment",
            "s3:PutBucketRequestPayment",
        ),
        "replication" => pick(
            "s3:GetReplicationConfiguration",
            "s3:PutReplicationConfiguration",
            "s3:PutReplicationConfiguration",
        ),
        "ownershipControls" => pick(
            "s3:GetBucketOwnershipControls",
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketOwnershipControls",
        ),
        "accelerate" => pick(
            "s3:GetAccelerateConfiguration",
            "s3:PutAccelerateConfiguration",
            "s3:PutAccelerateConfiguration",
        ),
        // analytics, intelligent-tiering, inventory, metrics: one configuration action each
        _ => pick(
            "s3:GetBucketConfiguration",
            "s3:PutBucketConfiguration",
            "s3:PutBucketConfiguration",
        ),
    }
}

fn object_sub(sub: &str, get: bool, del: bool, versioned: bool) -> Action {
    let v = |plain: &'static str, version: &'static str| if versioned { version } else { plain };
    match sub {
        "acl" if get => a(
            v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
            Object,
            Grant(ReadAcp),
            false,
        ),
        "acl" => a(
            v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
            Object,
            Grant(WriteAcp),
            true,
        ),
        // RGW (the parity baseline) lets READ on the object read its tags
        "tagging" if get => a(
            v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            Object,
            Grant(Read),
            false,
        ),
        "tagging" if del => a(
            v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            Object,
            Owner,
            true,
        ),
        "tagging" => a(
            v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            Object,
            Owner,
            true,
        ),
        "retention" if get => a("s3:GetObjectRetention", Object, Owner, false),
        "retention" => a("s3:PutObjectRetention", Object, Owner, true),
        "legal-hold" if get => a("s3:GetObjectLegalHold", Object, Owner, false),
        "legal-hold" => a("s3:PutObjectLegalHold", Object, Owner, true),
        "attributes" => a(
            v("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            Object,
            Grant(Read),
            false,
        ),
        "torrent" => a("s3:GetObjectTorrent", Object, Grant(Read), false),
        "select" => a("s3:GetObject", Object, Grant(Read), false),
        "restore" => a("s3:RestoreObject", Object, Owner, true),
        _ => a("s3:GetObject", Object, Owner, !get),
    }
}
