//! What the embedded store keeps beside each object, upload and part (the JSON sidecars).

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use s3s::dto::Timestamp;

use super::names;
use super::store::{now_ms, SseMeta, FORMAT_VERSION};

/// The version id of the "null" version (AWS S3 user guide, "Working with objects in a
/// versioning-suspended bucket").
pub(crate) const NULL_VERSION: &str = "null";

/// A strictly increasing version order: microseconds since the epoch, bumped past the last value
/// handed out so two versions written in the same microsecond still sort.
pub(crate) fn next_seq() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// The content headers and user metadata stored with an object (or an upload, until completion).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ContentHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_redirect_location: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Base64 checksums (`x-amz-checksum-*`), as S3 returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checksums {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
}

impl From<s3s::dto::Checksum> for Checksums {
    fn from(c: s3s::dto::Checksum) -> Self {
        Self {
            crc32: c.checksum_crc32,
            crc32c: c.checksum_crc32c,
            sha1: c.checksum_sha1,
            sha256: c.checksum_sha256,
            crc64nvme: c.checksum_crc64nvme,
        }
    }
}

/// One object's sidecar.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectMeta {
    pub v: u32,
    pub key: String,
    /// File name under `blob/`.
    pub blob: String,
    pub size: u64,
    /// Unquoted: MD5 hex, or `<md5 of part md5s>-<parts>` after a multipart upload.
    pub etag: String,
    pub last_modified_ms: u64,
    #[serde(flatten)]
    pub headers: ContentHeaders,
    #[serde(default)]
    pub checksums: Checksums,
    /// `FULL_OBJECT` or `COMPOSITE` when a checksum is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts_count: Option<u32>,
    /// `None` is S3's "null" version: every object of a never-versioned bucket (all sidecars of
    /// format 1), and what a versioning-suspended bucket writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Order of versions of one key (newest highest): microseconds since the epoch, made
    /// strictly increasing within a process. 0 in format-1 sidecars (see [`ObjectMeta::order`]).
    #[serde(default)]
    pub seq: u64,
    /// A delete marker: no data (`blob` is empty, `size` 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// The object's tag set, in the order it was given (`x-amz-tagging`, PutObjectTagging).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, flatten)]
    pub lock: LockState,
    /// Part sizes and checksums of a multipart object (GetObjectAttributes `ObjectParts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
    /// The multipart upload that made this object: a repeated CompleteMultipartUpload of it
    /// answers as the first did (S3 and RGW do; a client retrying a lost answer must not fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// SSE-S3: the blob is encrypted (`store/sse.rs`); size, ETag and checksums stay those of
    /// the plaintext. Absent in every sidecar written before encryption at rest existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseMeta>,
}

/// Object lock state of one version (AWS S3 API reference, PutObjectRetention and
/// PutObjectLegalHold).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LockState {
    /// `GOVERNANCE` or `COMPLIANCE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
}

/// What GetObjectAttributes reports of one part of a multipart object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartSummary {
    pub part_number: i32,
    pub size: u64,
    #[serde(default)]
    pub checksums: Checksums,
}

impl ObjectMeta {
    /// Bytes of the blob on disk: the size, plus the segment tags when encrypted.
    pub(crate) fn stored_len(&self) -> u64 {
        stored_len(self.size, self.sse.as_ref())
    }

    /// The version id S3 reports: the stored one, or `null`.
    pub(crate) fn vid(&self) -> &str {
        self.version_id.as_deref().unwrap_or(NULL_VERSION)
    }

    /// Sort key among versions of one key, newest highest; format-1 sidecars have no `seq`.
    pub(crate) fn order(&self) -> u64 {
        if self.seq == 0 {
            self.last_modified_ms.saturating_mul(1000)
        } else {
            self.seq
        }
    }

    /// A delete marker for `key` (AWS S3 user guide, "Working with delete markers").
    pub(crate) fn delete_marker(key: String, version_id: Option<String>) -> Self {
        let mut m = Self::new(
            key,
            String::new(),
            0,
            String::new(),
            ContentHeaders::default(),
        );
        m.version_id = version_id;
        m.delete_marker = true;
        m
    }

    pub(crate) fn new(
        key: String,
        blob: String,
        size: u64,
        etag: String,
        headers: ContentHeaders,
    ) -> Self {
        Self {
            v: FORMAT_VERSION,
            key,
            blob,
            size,
            etag,
            last_modified_ms: now_ms(),
            headers,
            checksums: Checksums::default(),
            checksum_type: None,
            parts_count: None,
            version_id: None,
            seq: next_seq(),
            delete_marker: false,
            tags: Vec::new(),
            lock: LockState::default(),
            parts: Vec::new(),
            upload_id: None,
            sse: None,
        }
    }
}

/// A multipart upload's `upload.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UploadMeta {
    pub v: u32,
    pub key: String,
    pub initiated_ms: u64,
    #[serde(flatten)]
    pub headers: ContentHeaders,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    /// Tags given with `x-amz-tagging` at CreateMultipartUpload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Object lock headers given at CreateMultipartUpload.
    #[serde(default, flatten)]
    pub lock: LockState,
    /// SSE-S3 was asked for (header or bucket default) at CreateMultipartUpload: every part is
    /// stored encrypted, and so is the completed object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sse: bool,
}

impl UploadMeta {
    pub(crate) fn new(
        key: String,
        headers: ContentHeaders,
        checksum_algorithm: Option<String>,
    ) -> Self {
        Self {
            v: FORMAT_VERSION,
            key,
            initiated_ms: now_ms(),
            headers,
            checksum_algorithm,
            tags: Vec::new(),
            lock: LockState::default(),
            sse: false,
        }
    }
}

/// One uploaded part's `pNNNNN.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartMeta {
    pub v: u32,
    pub part_number: i32,
    pub size: u64,
    /// Unquoted MD5 hex of the part.
    pub etag: String,
    pub last_modified_ms: u64,
    /// File name of the part data inside the upload directory.
    pub data: String,
    #[serde(default)]
    pub checksums: Checksums,
    /// The part data is encrypted (its own data key), as the upload asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<SseMeta>,
}

impl PartMeta {
    pub(crate) fn new(part_number: i32, size: u64, etag: String, checksums: Checksums) -> Self {
        Self {
            v: FORMAT_VERSION,
            part_number,
            size,
            etag,
            last_modified_ms: now_ms(),
            data: format!("p{part_number:05}-{}.data", names::new_id()),
            checksums,
            sse: None,
        }
    }

    /// Bytes of the part data on disk.
    pub(crate) fn stored_len(&self) -> u64 {
        stored_len(self.size, self.sse.as_ref())
    }
}

fn stored_len(size: u64, sse: Option<&SseMeta>) -> u64 {
    match sse {
        Some(m) => super::store::sse_stored_len(size, u64::from(m.segment)),
        None => size,
    }
}
