//! The ACL, policy and PublicAccessBlock operations Osprey answers itself on backends that see
//! one identity (issue 11).

use http::Method;

use crate::s3::op::{OpKind, S3Op};

/// An operation Osprey answers itself on these backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKind {
    GetBucketAcl,
    PutBucketAcl,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetPolicyStatus,
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetObjectAcl,
    PutObjectAcl,
}

impl LocalKind {
    pub(super) fn of(s3op: &S3Op, method: &Method) -> Option<LocalKind> {
        let get = *method == Method::GET || *method == Method::HEAD;
        let del = *method == Method::DELETE;
        Some(match s3op.kind {
            OpKind::BucketSubresource("acl") if get => LocalKind::GetBucketAcl,
            OpKind::BucketSubresource("acl") if *method == Method::PUT => LocalKind::PutBucketAcl,
            OpKind::BucketSubresource("policy") if get => LocalKind::GetBucketPolicy,
            OpKind::BucketSubresource("policy") if del => LocalKind::DeleteBucketPolicy,
            OpKind::BucketSubresource("policy") if *method == Method::PUT => {
                LocalKind::PutBucketPolicy
            }
            OpKind::BucketSubresource("policyStatus") if get => LocalKind::GetPolicyStatus,
            OpKind::BucketSubresource("publicAccessBlock") if get => {
                LocalKind::GetPublicAccessBlock
            }
            OpKind::BucketSubresource("publicAccessBlock") if del => {
                LocalKind::DeletePublicAccessBlock
            }
            OpKind::BucketSubresource("publicAccessBlock") if *method == Method::PUT => {
                LocalKind::PutPublicAccessBlock
            }
            OpKind::ObjectSubresource("acl") if get => LocalKind::GetObjectAcl,
            OpKind::ObjectSubresource("acl") if *method == Method::PUT => LocalKind::PutObjectAcl,
            _ => return None,
        })
    }

    /// Reads the request body (small; bounded by [`acl::MAX_ACL_BODY`]).
    pub fn reads_body(self) -> bool {
        matches!(
            self,
            LocalKind::PutBucketAcl
                | LocalKind::PutBucketPolicy
                | LocalKind::PutPublicAccessBlock
                | LocalKind::PutObjectAcl
        )
    }
}
