//! What several replicas need of the access records (issue 15): dropping cached records another
//! replica changed, and a multipart upload's ACL kept in the store for whichever replica
//! completes the upload.

use std::sync::atomic::Ordering;

use super::*;
use crate::store::Change;

/// Where the ACL asked at CreateMultipartUpload waits for its CompleteMultipartUpload in the
/// store: an object record under a key no object can have (a `..` segment, refused by
/// `s3::op::validate_key`), so whichever replica answers the Complete applies it (issue 15).
/// Removed when the upload completes.
pub const UPLOAD_RECORD_PREFIX: &str = "../upload/";

pub fn upload_record_key(key: &str) -> String {
    format!("{UPLOAD_RECORD_PREFIX}{key}")
}

impl Access {
    /// Another replica (or this one) changed the shared store (issue 15). An object's change
    /// also drops its bucket's entry, which says whether the bucket has object records at all.
    pub fn heard(&self, change: &Change) {
        match change {
            Change::Bucket { tenant_id, bucket } => {
                self.forget_bucket(tenant_id, bucket);
                let (t, b) = (tenant_id.clone(), bucket.clone());
                let _ = self
                    .objects
                    .invalidate_entries_if(move |(ot, ob, _), _| *ot == t && *ob == b);
            }
            Change::Object {
                tenant_id,
                bucket,
                key,
            } => {
                self.forget_bucket(tenant_id, bucket);
                self.objects
                    .invalidate(&(tenant_id.clone(), bucket.clone(), key.clone()));
            }
            // a bucket's owner is read with its record, and is always a user of the bucket's
            // tenant: a user's change (a rename) concerns that tenant's records only, not every
            // tenant's (OSE creates users all the time)
            Change::Tenant { tenant_id } | Change::User { tenant_id, .. } => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                let t = tenant_id.clone();
                let _ = self
                    .buckets
                    .invalidate_entries_if(move |(bt, _), _| *bt == t);
                let t = tenant_id.clone();
                let _ = self
                    .objects
                    .invalidate_entries_if(move |(ot, _, _), _| *ot == t);
            }
            Change::Resync => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                self.buckets.invalidate_all();
                self.objects.invalidate_all();
            }
            Change::Credential { .. }
            | Change::Identity { .. }
            | Change::Counter { .. }
            | Change::Pending => {}
        }
    }

    /// The ACL stored for an upload of `key` at CreateMultipartUpload ([`upload_record_key`]).
    pub(super) async fn upload_record(
        &self,
        b: &BucketAuth,
        key: &str,
    ) -> Result<Option<ObjectAuth>, S3Error> {
        if !b.object_records {
            return Ok(None);
        }
        let row = self
            .dir
            .inner()
            .object_access(&b.tenant_id, &b.bucket, &upload_record_key(key))
            .await?;
        row.map(|r| serde_json::from_str(&r.access).map_err(|e| unreadable("upload ACL", e)))
            .transpose()
    }
}
