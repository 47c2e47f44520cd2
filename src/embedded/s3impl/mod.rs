//! The `s3s::S3` implementation: request semantics on top of [`Store`]. s3s has already parsed
//! the HTTP request, checked the SigV4 signature and decoded aws-chunked bodies.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, SeekFrom, Write};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use hyper::header::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result, StdError, S3};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::cond::{self, Preconditions};
use super::listing::{self, Entry};
use super::names::{self, MAX_KEY_LEN};
use super::store::{
    check_version_id, from_xml, internal, marker_not_readable, ms_to_timestamp, to_xml,
    BucketConfig, Checksums, ContentHeaders, Deleted, LockState, ObjectCipher, ObjectMeta,
    PartMeta, PartSummary, Sealer, Sink, Store, TempFile, UploadMeta, Versioning, NULL_VERSION,
};

/// Largest single PUT, UploadPart or CopyObject source. Default 5 GiB (the S3 limit); stops one
/// request from filling the disk unnoticed, and larger objects must use multipart as on S3.
const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Largest object CompleteMultipartUpload may assemble. Default 5 TiB (the S3 limit).
const MAX_MULTIPART_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// Smallest part other than the last. Default 5 MiB (the S3 limit, `EntityTooSmall` below it);
/// keeps clients portable to real S3 and stops 10 000 one-byte parts per object.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// Highest part number. Default 10 000 (the S3 limit); bounds part files per upload.
const MAX_PART_NUMBER: i32 = 10_000;

/// Most keys (or parts, or uploads) one listing returns. Default 1000 (the S3 limit); bounds
/// sidecar reads and response size per request whatever `max-keys` asks for.
const MAX_LIST_ENTRIES: i32 = 1000;

/// Most keys in one DeleteObjects request. Default 1000 (the S3 limit); bounds work per request.
const MAX_DELETE_OBJECTS: usize = 1000;

/// Largest user metadata (sum of `x-amz-meta-*` names and values). Default 2 KiB (the S3 limit,
/// `MetadataTooLarge` above it); bounds the sidecar read on every GET and listing.
const MAX_USER_METADATA: usize = 2 * 1024;

/// Write buffer between the request body and the temp file. Default 1 MiB: large enough to
/// keep per-write overhead low, small enough that a 5 GiB upload never sits in memory.
const WRITE_BUFFER: usize = 1024 * 1024;

/// Size of each chunk read from disk for a GET body. Default 256 KiB; bounds memory per
/// response (hyper applies back-pressure, so at most a chunk or two is in flight).
const READ_CHUNK: usize = 256 * 1024;

/// Buffer for UploadPartCopy's read-hash-write loop. Default 1 MiB.
const COPY_BUFFER: usize = 1024 * 1024;

const CHECKSUM_TYPE_FULL_OBJECT: &str = "FULL_OBJECT";
const CHECKSUM_TYPE_COMPOSITE: &str = "COMPOSITE";

pub(crate) struct LocalS3 {
    store: Arc<Store>,
    region: String,
}

impl LocalS3 {
    pub(crate) fn new(store: Arc<Store>, region: String) -> Self {
        Self { store, region }
    }
}

/// Runs file-system work on the blocking pool so it never stalls the async workers.
async fn blocking<T, F>(f: F) -> S3Result<T>
where
    F: FnOnce() -> S3Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

fn check_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "object key must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(s3_error!(KeyTooLongError));
    }
    // NUL cannot be represented in the XML listings would return it in.
    if key.contains('\0') {
        return Err(s3_error!(
            InvalidArgument,
            "object key must not contain NUL"
        ));
    }
    Ok(())
}

fn check_part_number(n: i32) -> S3Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        ))
    }
}

/// `max-keys` style parameter: default and ceiling [`MAX_LIST_ENTRIES`], negative rejected.
fn list_limit(v: Option<i32>) -> S3Result<usize> {
    let v = v.unwrap_or(MAX_LIST_ENTRIES);
    if v < 0 {
        return Err(s3_error!(
            InvalidArgument,
            "maximum entries must not be negative"
        ));
    }
    Ok(usize::try_from(v.min(MAX_LIST_ENTRIES)).unwrap_or(0))
}

/// Builds the stored headers from a request's, enforcing the user-metadata size limit.
#[allow(clippy::too_many_arguments)]
fn content_headers(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
    website_redirect_location: Option<String>,
    metadata: Option<HashMap<String, String>>,
) -> S3Result<ContentHeaders> {
    let metadata: BTreeMap<String, String> = metadata.unwrap_or_default().into_iter().collect();
    let meta_size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if meta_size > MAX_USER_METADATA {
        return Err(s3_error!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size ({MAX_USER_METADATA} bytes)"
        ));
    }
    Ok(ContentHeaders {
        content_type,
        content_encoding: content_encoding.and_then(strip_aws_chunked),
        content_disposition,
        content_language,
        cache_control,
        expires,
        website_redirect_location,
        metadata,
    })
}

/// `aws-chunked` is a transfer detail of the upload, not an encoding of the stored object; S3
/// drops it, and so must we or GETs would claim an encoding the bytes do not have.
fn strip_aws_chunked(v: String) -> Option<String> {
    if !v
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("aws-chunked"))
    {
        return Some(v);
    }
    let kept: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

fn etag(meta: &ObjectMeta) -> ETag {
    ETag::Strong(meta.etag.clone())
}

/// Error for a body stream failure: the s3s error itself when it is one (e.g. a bad chunk
/// signature), otherwise the client went away or sent less than announced.
fn body_error(e: StdError) -> S3Error {
    match e.downcast::<S3Error>() {
        Ok(e) => *e,
        Err(e) => {
            tracing::debug!(error = %e, "local backend: request body failed");
            s3_error!(IncompleteBody, "The request body terminated unexpectedly")
        }
    }
}

// ----- checksums -----------------------------------------------------------------------------

const ALGORITHMS: [&str; 5] = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"];

fn checksum_slot<'a>(c: &'a mut Checksums, algorithm: &str) -> Option<&'a mut Option<String>> {
    match algorithm {
        "CRC32" => Some(&mut c.crc32),
        "CRC32C" => Some(&mut c.crc32c),
        "SHA1" => Some(&mut c.sha1),
        "SHA256" => Some(&mut c.sha256),
        "CRC64NVME" => Some(&mut c.crc64nvme),
        _ => None,
    }
}

fn checksum_get<'a>(c: &'a Checksums, algorithm: &str) -> Option<&'a String> {
    match algorithm {
        "CRC32" => c.crc32.as_ref(),
        "CRC32C" => c.crc32c.as_ref(),
        "SHA1" => c.sha1.as_ref(),
        "SHA256" => c.sha256.as_ref(),
        "CRC64NVME" => c.crc64nvme.as_ref(),
        _ => None,
    }
}

fn enable(h: &mut ChecksumHasher, algorithm: &str) -> S3Result<()> {
    match algorithm {
        "CRC32" => h.crc32 = Some(Crc32::new()),
        "CRC32C" => h.crc32c = Some(Crc32c::new()),
        "SHA1" => h.sha1 = Some(Sha1::new()),
        "SHA256" => h.sha256 = Some(Sha256::new()),
        "CRC64NVME" => h.crc64nvme = Some(Crc64Nvme::new()),
        other => {
            return Err(s3_error!(
                InvalidArgument,
                "unsupported checksum algorithm {other}"
            ))
        }
    }
    Ok(())
}

/// What the client asked to be verified: values sent as headers, an algorithm named in
/// `x-amz-sdk-checksum-algorithm` (or the upload's), and values announced in `x-amz-trailer`.
struct ChecksumRequest {
    expected: Checksums,
}

impl ChecksumRequest {
    /// The request, and a hasher with every algorithm it involves enabled.
    fn new(
        explicit: Checksums,
        algorithms: &[Option<&str>],
        headers: &HeaderMap,
    ) -> S3Result<(Self, ChecksumHasher)> {
        let mut hasher = ChecksumHasher::default();
        for alg in ALGORITHMS {
            if checksum_get(&explicit, alg).is_some() {
                enable(&mut hasher, alg)?;
            }
        }
        for alg in algorithms.iter().flatten() {
            enable(&mut hasher, &alg.to_ascii_uppercase())?;
        }
        if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            for name in trailer.split(',').map(str::trim) {
                if let Some(alg) = name.to_ascii_lowercase().strip_prefix("x-amz-checksum-") {
                    enable(&mut hasher, &alg.to_ascii_uppercase())?;
                }
            }
        }
        Ok((Self { expected: explicit }, hasher))
    }

    /// Compares what was computed with what was sent (headers, or trailers now that the body
    /// has been read) and returns the checksums to store.
    fn verify(mut self, computed: Checksums, trailers: Option<&HeaderMap>) -> S3Result<Checksums> {
        if let Some(t) = trailers {
            for alg in ALGORITHMS {
                let name = format!("x-amz-checksum-{}", alg.to_ascii_lowercase());
                if let Some(v) = t.get(name.as_str()) {
                    let v = v
                        .to_str()
                        .map_err(|_| s3_error!(InvalidArgument, "invalid {name} trailer"))?;
                    if let Some(slot) = checksum_slot(&mut self.expected, alg) {
                        *slot = Some(v.trim().to_owned());
                    }
                }
            }
        }
        for alg in ALGORITHMS {
            if let Some(want) = checksum_get(&self.expected, alg) {
                if checksum_get(&computed, alg) != Some(want) {
                    return Err(s3_error!(
                        BadDigest,
                        "The {alg} you specified did not match the calculated checksum."
                    ));
                }
            }
        }
        Ok(computed)
    }
}

/// S3's multipart "checksum of checksums": the algorithm over the concatenated raw part
/// checksums, base64, suffixed with the part count.
fn composite_checksum(algorithm: &str, parts: &[&PartMeta]) -> Option<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = Vec::new();
    for p in parts {
        let v = checksum_get(&p.checksums, algorithm)?;
        raw.extend(b64.decode(v).ok()?);
    }
    let digest: Vec<u8> = match algorithm {
        "CRC32" => Crc32::checksum(&raw).to_vec(),
        "CRC32C" => Crc32c::checksum(&raw).to_vec(),
        "SHA1" => Sha1::checksum(&raw).as_ref().to_vec(),
        "SHA256" => Sha256::checksum(&raw).as_ref().to_vec(),
        // CRC64NVME is full-object only on S3; there is no composite form.
        _ => return None,
    };
    Some(format!("{}-{}", b64.encode(digest), parts.len()))
}

fn content_md5_matches(content_md5: &str, md5: &[u8; 16]) -> S3Result<()> {
    use base64::Engine as _;
    let sent = base64::engine::general_purpose::STANDARD
        .decode(content_md5.trim())
        .map_err(|_| s3_error!(InvalidDigest))?;
    if sent.len() != 16 {
        return Err(s3_error!(InvalidDigest));
    }
    if sent.as_slice() != md5 {
        return Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        ));
    }
    Ok(())
}

// ----- body transfer -------------------------------------------------------------------------

struct Received {
    tmp: TempFile,
    size: u64,
    md5: [u8; 16],
    checksums: Checksums,
}

impl LocalS3 {
    /// Streams a request body into a temp file (never holding it in memory), hashing the
    /// plaintext as it goes and sealing it under `seal` when given, then fsyncs it. Fails with
    /// `EntityTooLarge` as soon as `limit` is crossed.
    async fn receive(
        &self,
        body: Option<StreamingBlob>,
        mut hasher: ChecksumHasher,
        limit: u64,
        seal: Option<ObjectCipher>,
    ) -> S3Result<Received> {
        let store = self.store.clone();
        let (tmp, file) = blocking(move || store.create_temp().map_err(internal)).await?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
        let mut sealer = seal.map(Sealer::new);
        let mut sealed = Vec::new();
        if let Some(mut body) = body {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(body_error)?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(s3_error!(
                        EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed size ({limit} bytes)"
                    ));
                }
                md5.update(&chunk);
                hasher.update(&chunk);
                match &mut sealer {
                    Some(s) => {
                        sealed.clear();
                        s.push(&chunk, &mut sealed).map_err(internal)?;
                        out.write_all(&sealed).await.map_err(internal)?;
                    }
                    None => out.write_all(&chunk).await.map_err(internal)?,
                }
            }
        }
        if let Some(s) = sealer {
            sealed.clear();
            s.finish(&mut sealed).map_err(internal)?;
            out.write_all(&sealed).await.map_err(internal)?;
        }
        out.flush().await.map_err(internal)?;
        out.into_inner().sync_all().await.map_err(internal)?;
        Ok(Received {
            tmp,
            size,
            md5: md5.finalize(),
            checksums: hasher.finalize().into(),
        })
    }
}

/// A GET body: reads `len` bytes from the file's current position in [`READ_CHUNK`] pieces.
fn file_body(file: tokio::fs::File, len: u64) -> StreamingBlob {
    let stream = futures::stream::try_unfold((file, len), |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(remaining.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
        let mut buf = BytesMut::with_capacity(want);
        let n = (&mut file).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "object data ended before its recorded size",
            ));
        }
        let chunk: Bytes = buf.freeze();
        Ok(Some((chunk, (file, remaining - n as u64))))
    });
    StreamingBlob::wrap(stream)
}

/// Copies `len` plaintext bytes from `src` into a new temp file (sealed under `seal` when
/// given), computing the MD5 and any requested checksums on the way.
fn copy_hashing(
    store: &Store,
    src: &mut dyn Read,
    len: u64,
    mut hasher: ChecksumHasher,
    seal: Option<ObjectCipher>,
) -> S3Result<Received> {
    let (tmp, out) = store.create_temp().map_err(internal)?;
    let mut out = Sink::new(out, seal);
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(COPY_BUFFER as u64)).unwrap_or(COPY_BUFFER);
        let n = src.read(&mut buf[..want]).map_err(internal)?;
        if n == 0 {
            return Err(internal("copy source ended before its recorded size"));
        }
        md5.update(&buf[..n]);
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(internal)?;
        left -= n as u64;
    }
    out.finish()
        .map_err(internal)?
        .sync_all()
        .map_err(internal)?;
    Ok(Received {
        tmp,
        size: len,
        md5: md5.finalize(),
        checksums: hasher.finalize().into(),
    })
}

/// The copy source's bucket, key and version id (`x-amz-copy-source: /b/k?versionId=`).
fn copy_source(src: &CopySource) -> S3Result<(String, String, Option<String>)> {
    match src {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => {
            if let Some(v) = version_id {
                check_version_id(v)?;
            }
            check_key(key)?;
            Ok((
                bucket.to_string(),
                key.to_string(),
                version_id.as_deref().map(str::to_owned),
            ))
        }
        _ => Err(s3_error!(
            NotImplemented,
            "copy sources other than bucket/key are not supported"
        )),
    }
}

fn checksum_mode_enabled(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

/// The owner listings name: the store has one identity (the gateway's service key), which the
/// gateway replaces by the bucket's owner (proxy/access.rs, issue 11).
pub(super) const SERVICE_OWNER: &str = "local-service";

pub(super) fn service_owner() -> Owner {
    Owner {
        id: Some(SERVICE_OWNER.to_string()),
        display_name: Some(SERVICE_OWNER.to_string()),
    }
}

/// `owner`: ListObjects (v1) always names owners, ListObjectsV2 with `fetch-owner=true`.
fn list_object(meta: &ObjectMeta, url: bool, owner: bool) -> Object {
    Object {
        owner: owner.then(service_owner),
        key: Some(if url {
            listing::url_encode(&meta.key)
        } else {
            meta.key.clone()
        }),
        size: Some(i64::try_from(meta.size).unwrap_or(i64::MAX)),
        e_tag: Some(etag(meta)),
        last_modified: Some(ms_to_timestamp(meta.last_modified_ms)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

fn upload_key(u: &(String, UploadMeta)) -> &str {
    &u.1.key
}

fn is_url(enc: Option<&EncodingType>) -> bool {
    enc.is_some_and(|e| e.as_str().eq_ignore_ascii_case(EncodingType::URL))
}

/// One page of objects: the shared core of ListObjects v1 and v2.
struct ObjectPage {
    objects: Vec<ObjectMeta>,
    prefixes: Vec<String>,
    next_marker: Option<String>,
    truncated: bool,
}

impl LocalS3 {
    async fn list_page(
        &self,
        bucket: String,
        prefix: String,
        delimiter: Option<String>,
        marker: Option<String>,
        max: usize,
    ) -> S3Result<ObjectPage> {
        let store = self.store.clone();
        blocking(move || {
            let keys = store.list_keys(&bucket)?;
            let start = listing::start_after(&keys, String::as_str, marker.as_deref());
            let page = listing::paginate(
                &keys,
                String::as_str,
                start,
                &prefix,
                delimiter.as_deref(),
                marker.as_deref(),
                max,
            );
            let mut wanted = Vec::new();
            let mut prefixes = Vec::new();
            for e in &page.entries {
                match e {
                    Entry::Item(k) => wanted.push(k.as_str()),
                    Entry::Prefix(p) => prefixes.push(p.clone()),
                }
            }
            // Keys deleted since `list_keys` are dropped here rather than failing the page.
            let objects = store.read_metas(&bucket, &wanted)?;
            Ok(ObjectPage {
                objects,
                prefixes,
                next_marker: page.next_marker(String::as_str),
                truncated: page.truncated,
            })
        })
        .await
    }
}

fn common_prefixes(prefixes: Vec<String>, url: bool) -> Option<Vec<CommonPrefix>> {
    (!prefixes.is_empty()).then(|| {
        prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(if url { listing::url_encode(&p) } else { p }),
            })
            .collect()
    })
}

fn encode_opt(v: Option<String>, url: bool) -> Option<String> {
    if url {
        v.map(|s| listing::url_encode(&s))
    } else {
        v
    }
}

// ----- configuration and versions -------------------------------------------------------------

/// `x-amz-version-id` of a response about `meta`: S3 names versions in buckets whose versioning
/// was ever configured (the null version as `null`), and never in others.
fn reported_vid(cfg: &BucketConfig, meta: &ObjectMeta) -> Option<String> {
    (cfg.versioning().reports() || meta.version_id.is_some()).then(|| meta.vid().to_owned())
}

impl LocalS3 {
    /// The bucket's configuration (`NoSuchBucket` if there is no such bucket).
    async fn config(&self, bucket: String) -> S3Result<BucketConfig> {
        let store = self.store.clone();
        blocking(move || store.read_config(&bucket)).await
    }

    /// Changes the bucket's configuration atomically.
    async fn set_config<T: Send + 'static>(
        &self,
        bucket: String,
        f: impl FnOnce(&mut BucketConfig) -> S3Result<T> + Send + 'static,
    ) -> S3Result<T> {
        let store = self.store.clone();
        blocking(move || store.update_config(&bucket, f)).await
    }

    /// A version's sidecar for the sub-resources of an object (tagging, retention, legal hold,
    /// attributes): delete markers answer 405 by version id, 404 otherwise.
    async fn readable_version(
        &self,
        bucket: String,
        key: String,
        vid: Option<String>,
    ) -> S3Result<(BucketConfig, ObjectMeta)> {
        let store = self.store.clone();
        blocking(move || {
            let cfg = store.read_config(&bucket)?;
            let meta = store.read_version(&bucket, &key, vid.as_deref())?;
            if meta.delete_marker {
                return Err(marker_not_readable(&meta));
            }
            Ok((cfg, meta))
        })
        .await
    }

    /// Rewrites a version's sidecar (tagging, retention, legal hold).
    async fn update(
        &self,
        bucket: String,
        key: String,
        vid: Option<String>,
        f: impl FnOnce(&mut ObjectMeta) -> S3Result<()> + Send + 'static,
    ) -> S3Result<(BucketConfig, ObjectMeta)> {
        let store = self.store.clone();
        blocking(move || {
            let cfg = store.read_config(&bucket)?;
            let (meta, ()) = store.update_version(&bucket, &key, vid.as_deref(), f)?;
            Ok((cfg, meta))
        })
        .await
    }
}

mod attributes;
mod buckets;
mod config;
mod dispatch;
mod lock;
mod multipart;
mod objects;
mod sse;
mod tagging;
mod versioning;

use self::lock::{check_delete, lock_from_headers};
use self::sse::{new_cipher, refuse_sse_c, sealed_body, sse_header, wants_sse, SseRequest};
use self::tagging::{tag_count, tags_from_header};
