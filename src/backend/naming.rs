//! Backend bucket names on shared-namespace backends (`s3`, `iam`).
//!
//! Several tenants may each own a bucket called `same`; on a backend where all of Osprey's buckets live
//! in one account, each needs its own name there. The name is derived from the tenant id and the bucket,
//! stays a valid S3 bucket name (≤ 63 chars, DNS-label characters), and is recorded in the bucket's
//! placement, so the derivation may change in later releases without moving existing buckets.

use sha2::{Digest, Sha256};

/// S3's maximum bucket-name length.
pub const MAX_BUCKET_NAME: usize = 63;
/// Hex digits of SHA-256 appended when a derived name must be shortened. 12 hex = 48 bits: a collision
/// between two long names of one tenant sharing the same kept prefix is ~2^-24 at 4 096 such buckets,
/// and the store's UNIQUE(backend, backend_bucket) turns even that into a clean error, never a merge.
pub const HASH_HEX: usize = 12;

/// `<tenant_id>-<bucket>`, shortened with a hash when longer than 63 characters.
pub fn backend_bucket_name(tenant_id: &str, bucket: &str) -> String {
    let full = format!("{tenant_id}-{bucket}");
    if full.len() <= MAX_BUCKET_NAME {
        return full;
    }
    let digest = Sha256::digest(bucket.as_bytes());
    let hash = hex::encode(digest);
    let hash = &hash[..HASH_HEX];
    // room for "<tenant>-" + kept + "-" + hash
    let keep = MAX_BUCKET_NAME.saturating_sub(tenant_id.len() + 2 + HASH_HEX);
    let kept: String = bucket.chars().take(keep).collect();
    // a label must not end with '-' or '.' before our separator ("a.-b" is invalid on several platforms)
    let kept = kept.trim_end_matches(['-', '.']);
    format!("{tenant_id}-{kept}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::op::validate_bucket_name;

    #[test]
    fn short_names_are_readable() {
        assert_eq!(
            backend_bucket_name("t0123456789abcdef", "same"),
            "t0123456789abcdef-same"
        );
    }

    #[test]
    fn long_names_are_valid_unique_and_stable() {
        let t = "t0123456789abcdef";
        let a = backend_bucket_name(t, &format!("{}a", "x".repeat(62)));
        let b = backend_bucket_name(t, &format!("{}b", "x".repeat(62)));
        assert_ne!(a, b);
        assert!(a.len() <= MAX_BUCKET_NAME && b.len() <= MAX_BUCKET_NAME);
        validate_bucket_name(&a).unwrap();
        let dotted = backend_bucket_name(t, &format!("{}.-{}", "y".repeat(40), "z".repeat(21)));
        validate_bucket_name(&dotted).unwrap();
        assert_eq!(a, backend_bucket_name(t, &format!("{}a", "x".repeat(62))));
    }
}
