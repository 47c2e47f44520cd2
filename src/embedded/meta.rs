//! What the embedded store keeps beside each object, upload and part (the JSON sidecars).

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use s3s::dto::Timestamp;

use super::names;
use super::store::{now_ms, FORMAT_VERSION};

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
}

impl ObjectMeta {
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
        }
    }
}
