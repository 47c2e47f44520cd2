//! The `s3s::S3` implementation: request semantics on top of [`Store`]. s3s has already parsed
//! the HTTP request, checked the SigV4 signature and decoded aws-chunked bodies.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Seek, SeekFrom, Write};
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
    internal, ms_to_timestamp, Checksums, ContentHeaders, ObjectMeta, PartMeta, Store, TempFile,
    UploadMeta,
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
    /// Streams a request body into a temp file (never holding it in memory), hashing as it goes,
    /// then fsyncs it. Fails with `EntityTooLarge` as soon as `limit` is crossed.
    async fn receive(
        &self,
        body: Option<StreamingBlob>,
        mut hasher: ChecksumHasher,
        limit: u64,
    ) -> S3Result<Received> {
        let store = self.store.clone();
        let (tmp, file) = blocking(move || store.create_temp().map_err(internal)).await?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
        let mut md5 = Md5::new();
        let mut size: u64 = 0;
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
                out.write_all(&chunk).await.map_err(internal)?;
            }
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

/// Copies `len` bytes from `src` (at its current position) into a new temp file, computing the
/// MD5 and any requested checksums on the way.
fn copy_hashing(
    store: &Store,
    src: &mut std::fs::File,
    len: u64,
    mut hasher: ChecksumHasher,
) -> S3Result<Received> {
    let (tmp, mut out) = store.create_temp().map_err(internal)?;
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
    out.sync_all().map_err(internal)?;
    Ok(Received {
        tmp,
        size: len,
        md5: md5.finalize(),
        checksums: hasher.finalize().into(),
    })
}

fn copy_source(src: &CopySource) -> S3Result<(String, String)> {
    match src {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => {
            // Buckets here are unversioned: only the implicit "null" version exists.
            if version_id.as_deref().is_some_and(|v| v != "null") {
                return Err(s3_error!(NoSuchVersion));
            }
            check_key(key)?;
            Ok((bucket.to_string(), key.to_string()))
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

fn list_object(meta: &ObjectMeta, url: bool) -> Object {
    Object {
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

#[async_trait::async_trait]
impl S3 for LocalS3 {
    // ----- buckets ---------------------------------------------------------------------------

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        // The location constraint is not checked: there is one region, and the gateway owns
        // region semantics towards its clients.
        let bucket = req.input.bucket;
        let store = self.store.clone();
        let b = bucket.clone();
        blocking(move || store.create_bucket(&b)).await?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let store = self.store.clone();
        blocking(move || store.delete_bucket(&req.input.bucket)).await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let store = self.store.clone();
        blocking(move || store.bucket_dir(&req.input.bucket).map(drop)).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let store = self.store.clone();
        blocking(move || store.bucket_dir(&req.input.bucket).map(drop)).await?;
        // S3 reports us-east-1 as an empty constraint.
        let location_constraint = (self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let store = self.store.clone();
        let all = blocking(move || store.list_buckets()).await?;
        let prefix = req.input.prefix.unwrap_or_default();
        let buckets = all
            .into_iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .map(|(name, created)| Bucket {
                name: Some(name),
                creation_date: Some(ms_to_timestamp(created)),
                bucket_region: Some(self.region.clone()),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    // ----- objects ---------------------------------------------------------------------------

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        if input
            .content_length
            .is_some_and(|n| u64::try_from(n).map_or(true, |n| n > MAX_OBJECT_SIZE))
        {
            return Err(s3_error!(EntityTooLarge));
        }
        let headers = content_headers(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.website_redirect_location,
            input.metadata,
        )?;
        let explicit = Checksums {
            crc32: input.checksum_crc32,
            crc32c: input.checksum_crc32c,
            sha1: input.checksum_sha1,
            sha256: input.checksum_sha256,
            crc64nvme: input.checksum_crc64nvme,
        };
        let (checks, hasher) = ChecksumRequest::new(
            explicit,
            &[input.checksum_algorithm.as_ref().map(|a| a.as_str())],
            &req.headers,
        )?;

        // Fail fast, before receiving the body; the conditions are checked again at commit.
        let (bucket, key) = (input.bucket, input.key);
        {
            let (store, b, k) = (self.store.clone(), bucket.clone(), key.clone());
            let (im, inm) = (input.if_match.clone(), input.if_none_match.clone());
            blocking(move || {
                store.bucket_dir(&b)?;
                if im.is_some() || inm.is_some() {
                    let current = match store.head_object(&b, &k) {
                        Ok(m) => Some(m),
                        Err(e) if *e.code() == s3s::S3ErrorCode::NoSuchKey => None,
                        Err(e) => return Err(e),
                    };
                    cond::check_write(current.as_ref(), im.as_ref(), inm.as_ref())?;
                }
                Ok(())
            })
            .await?;
        }

        let got = self.receive(input.body, hasher, MAX_OBJECT_SIZE).await?;
        let trailers = req.trailing_headers.and_then(|t| t.take());
        let checksums = checks.verify(got.checksums, trailers.as_ref())?;
        if let Some(m) = &input.content_md5 {
            content_md5_matches(m, &got.md5)?;
        }

        let mut meta = ObjectMeta::new(
            key,
            names::new_id(),
            got.size,
            hex::encode(got.md5),
            headers,
        );
        let any_checksum = checksums != Checksums::default();
        meta.checksums = checksums;
        meta.checksum_type = any_checksum.then(|| CHECKSUM_TYPE_FULL_OBJECT.to_owned());

        let store = self.store.clone();
        let (im, inm) = (input.if_match, input.if_none_match);
        let meta = blocking(move || {
            store.commit_object(&bucket, &meta, got.tmp, |cur| {
                cond::check_write(cur, im.as_ref(), inm.as_ref())
            })?;
            Ok(meta)
        })
        .await?;

        let c = meta.checksums.clone();
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&meta)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: meta.checksum_type.map(ChecksumType::from),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let store = self.store.clone();
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let (meta, file) = blocking(move || store.open_object(&bucket, &key)).await?;
        cond::check_read(
            &meta,
            &Preconditions {
                if_match: input.if_match.as_ref(),
                if_none_match: input.if_none_match.as_ref(),
                if_modified_since: input.if_modified_since.as_ref(),
                if_unmodified_since: input.if_unmodified_since.as_ref(),
            },
        )?;
        if let Some(n) = input.part_number {
            // Without stored part boundaries only "part 1 of a single-part object" is answerable.
            if n != 1 || meta.parts_count.is_some() {
                return Err(s3_error!(
                    NotImplemented,
                    "GET by partNumber is not supported by the local backend"
                ));
            }
        }

        let (start, len, content_range) = match input.range {
            None => (0, meta.size, None),
            Some(range) => {
                let r = range.check(meta.size).map_err(|_| {
                    let mut e = s3_error!(InvalidRange, "The requested range is not satisfiable");
                    // These replace the error response's headers, so restate its content type.
                    let mut h = HeaderMap::new();
                    h.insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/xml"),
                    );
                    if let Ok(v) = format!("bytes */{}", meta.size).parse() {
                        h.insert(hyper::header::CONTENT_RANGE, v);
                    }
                    e.set_headers(h);
                    e
                })?;
                (
                    r.start,
                    r.end - r.start,
                    Some(format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size)),
                )
            }
        };
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await.map_err(internal)?;
        }
        // S3 returns the stored checksum only for the whole object, and only when asked.
        let c = if checksum_mode_enabled(input.checksum_mode.as_ref()) && content_range.is_none() {
            meta.checksums.clone()
        } else {
            Checksums::default()
        };
        let h = meta.headers.clone();
        Ok(S3Response::new(GetObjectOutput {
            body: Some(file_body(file, len)),
            content_length: Some(i64::try_from(len).unwrap_or(i64::MAX)),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&meta)),
            last_modified: Some(ms_to_timestamp(meta.last_modified_ms)),
            content_type: Some(
                h.content_type
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires,
            website_redirect_location: h.website_redirect_location,
            metadata: Some(h.metadata.into_iter().collect()),
            parts_count: meta.parts_count.and_then(|n| i32::try_from(n).ok()),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: meta
                .checksum_type
                .filter(|_| checksum_mode_enabled(input.checksum_mode.as_ref()))
                .map(ChecksumType::from),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let store = self.store.clone();
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let meta = blocking(move || store.head_object(&bucket, &key)).await?;
        cond::check_read(
            &meta,
            &Preconditions {
                if_match: input.if_match.as_ref(),
                if_none_match: input.if_none_match.as_ref(),
                if_modified_since: input.if_modified_since.as_ref(),
                if_unmodified_since: input.if_unmodified_since.as_ref(),
            },
        )?;
        let mode = checksum_mode_enabled(input.checksum_mode.as_ref());
        let c = if mode {
            meta.checksums.clone()
        } else {
            Checksums::default()
        };
        let h = meta.headers.clone();
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(i64::try_from(meta.size).unwrap_or(i64::MAX)),
            accept_ranges: Some("bytes".to_owned()),
            e_tag: Some(etag(&meta)),
            last_modified: Some(ms_to_timestamp(meta.last_modified_ms)),
            content_type: Some(
                h.content_type
                    .unwrap_or_else(|| "binary/octet-stream".to_owned()),
            ),
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires,
            website_redirect_location: h.website_redirect_location,
            metadata: Some(h.metadata.into_iter().collect()),
            parts_count: meta.parts_count.and_then(|n| i32::try_from(n).ok()),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: meta.checksum_type.filter(|_| mode).map(ChecksumType::from),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let store = self.store.clone();
        blocking(move || store.delete_object(&input.bucket, &input.key)).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if input.delete.objects.len() > MAX_DELETE_OBJECTS {
            return Err(s3_error!(
                MalformedXML,
                "DeleteObjects accepts at most {MAX_DELETE_OBJECTS} keys"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let store = self.store.clone();
        let bucket = input.bucket;
        let objects = input.delete.objects;
        let (deleted, errors) = blocking(move || {
            store.bucket_dir(&bucket)?;
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for obj in objects {
                match check_key(&obj.key).and_then(|()| store.delete_object(&bucket, &obj.key)) {
                    Ok(()) => deleted.push(DeletedObject {
                        key: Some(obj.key),
                        ..Default::default()
                    }),
                    Err(e) => errors.push(Error {
                        code: Some(e.code().as_str().to_owned()),
                        message: e.message().map(str::to_owned),
                        key: Some(obj.key),
                        version_id: obj.version_id,
                    }),
                }
            }
            Ok((deleted, errors))
        })
        .await?;
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str().eq_ignore_ascii_case(MetadataDirective::REPLACE));
        if src_bucket == input.bucket && src_key == input.key && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let new_headers = if replace {
            Some(content_headers(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
                input.expires,
                input.website_redirect_location,
                input.metadata,
            )?)
        } else {
            None
        };

        let store = self.store.clone();
        let (src, mut file) = blocking(move || store.open_object(&src_bucket, &src_key)).await?;
        cond::check_copy_source(
            &src,
            &Preconditions {
                if_match: input.copy_source_if_match.as_ref(),
                if_none_match: input.copy_source_if_none_match.as_ref(),
                if_modified_since: input.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
            },
        )?;
        if src.size > MAX_OBJECT_SIZE {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_OBJECT_SIZE}"
            ));
        }

        let store = self.store.clone();
        let bucket = input.bucket;
        let key = input.key;
        let meta = blocking(move || {
            // Plain copy (the kernel's copy_file_range where available); the bytes are the
            // source's, so its ETag and checksums stay valid.
            let (tmp, mut out) = store.create_temp().map_err(internal)?;
            let n = io::copy(&mut file, &mut out).map_err(internal)?;
            if n != src.size {
                return Err(internal("copy source changed size while being copied"));
            }
            out.sync_all().map_err(internal)?;
            let headers = new_headers.unwrap_or_else(|| src.headers.clone());
            let mut meta =
                ObjectMeta::new(key, names::new_id(), src.size, src.etag.clone(), headers);
            meta.checksums = src.checksums.clone();
            meta.checksum_type = src.checksum_type.clone();
            meta.parts_count = src.parts_count;
            store.commit_object(&bucket, &meta, tmp, |_| Ok(()))?;
            Ok(meta)
        })
        .await?;

        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&meta)),
                last_modified: Some(ms_to_timestamp(meta.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    // ----- listings --------------------------------------------------------------------------

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let max = list_limit(input.max_keys)?;
        let url = is_url(input.encoding_type.as_ref());
        let page = self
            .list_page(
                input.bucket.clone(),
                input.prefix.clone().unwrap_or_default(),
                input.delimiter.clone(),
                input.marker.clone(),
                max,
            )
            .await?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encode_opt(input.prefix, url).unwrap_or_default()),
            marker: encode_opt(input.marker, url),
            delimiter: encode_opt(input.delimiter, url),
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(page.truncated),
            next_marker: encode_opt(page.next_marker, url),
            contents: Some(page.objects.iter().map(|m| list_object(m, url)).collect()),
            common_prefixes: common_prefixes(page.prefixes, url),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let max = list_limit(input.max_keys)?;
        let url = is_url(input.encoding_type.as_ref());
        // The token is the hex of the last key or common prefix returned: opaque to clients,
        // and it takes precedence over start-after, as in S3.
        let marker = match &input.continuation_token {
            Some(t) => {
                let raw = hex::decode(t).map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?;
                Some(String::from_utf8(raw).map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The continuation token provided is incorrect"
                    )
                })?)
            }
            None => input.start_after.clone(),
        };
        let page = self
            .list_page(
                input.bucket.clone(),
                input.prefix.clone().unwrap_or_default(),
                input.delimiter.clone(),
                marker,
                max,
            )
            .await?;
        let key_count = page.objects.len() + page.prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encode_opt(input.prefix, url).unwrap_or_default()),
            delimiter: encode_opt(input.delimiter, url),
            start_after: encode_opt(input.start_after, url),
            continuation_token: input.continuation_token,
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            key_count: Some(i32::try_from(key_count).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(page.truncated),
            next_continuation_token: page.next_marker.map(hex::encode),
            contents: Some(page.objects.iter().map(|m| list_object(m, url)).collect()),
            common_prefixes: common_prefixes(page.prefixes, url),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    // ----- multipart -------------------------------------------------------------------------

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        let headers = content_headers(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.website_redirect_location,
            input.metadata,
        )?;
        let algorithm = input
            .checksum_algorithm
            .map(|a| a.as_str().to_ascii_uppercase());
        if let Some(a) = &algorithm {
            enable(&mut ChecksumHasher::default(), a)?;
        }
        let meta = UploadMeta::new(input.key.clone(), headers, algorithm.clone());
        let store = self.store.clone();
        let bucket = input.bucket.clone();
        let upload_id = blocking(move || store.create_upload(&bucket, &meta)).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: algorithm.map(ChecksumAlgorithm::from),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        if input
            .content_length
            .is_some_and(|n| u64::try_from(n).map_or(true, |n| n > MAX_OBJECT_SIZE))
        {
            return Err(s3_error!(EntityTooLarge));
        }
        let store = self.store.clone();
        let (bucket, upload_id, key) = (
            input.bucket.clone(),
            input.upload_id.clone(),
            input.key.clone(),
        );
        let upload = blocking(move || store.read_upload(&bucket, &upload_id, &key)).await?;
        let explicit = Checksums {
            crc32: input.checksum_crc32,
            crc32c: input.checksum_crc32c,
            sha1: input.checksum_sha1,
            sha256: input.checksum_sha256,
            crc64nvme: input.checksum_crc64nvme,
        };
        let (checks, hasher) = ChecksumRequest::new(
            explicit,
            &[
                input.checksum_algorithm.as_ref().map(|a| a.as_str()),
                upload.checksum_algorithm.as_deref(),
            ],
            &req.headers,
        )?;
        let got = self.receive(input.body, hasher, MAX_OBJECT_SIZE).await?;
        let trailers = req.trailing_headers.and_then(|t| t.take());
        let checksums = checks.verify(got.checksums, trailers.as_ref())?;
        if let Some(m) = &input.content_md5 {
            content_md5_matches(m, &got.md5)?;
        }
        let part = PartMeta::new(input.part_number, got.size, hex::encode(got.md5), checksums);
        let store = self.store.clone();
        let (bucket, upload_id) = (input.bucket, input.upload_id);
        let part = blocking(move || {
            store.commit_part(&bucket, &upload_id, &part, got.tmp)?;
            Ok(part)
        })
        .await?;
        let c = part.checksums;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(part.etag)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        check_part_number(input.part_number)?;
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
        let store = self.store.clone();
        let (bucket, upload_id, key) = (
            input.bucket.clone(),
            input.upload_id.clone(),
            input.key.clone(),
        );
        let (upload, src, file) = blocking(move || {
            let upload = store.read_upload(&bucket, &upload_id, &key)?;
            let (src, file) = store.open_object(&src_bucket, &src_key)?;
            Ok((upload, src, file))
        })
        .await?;
        cond::check_copy_source(
            &src,
            &Preconditions {
                if_match: input.copy_source_if_match.as_ref(),
                if_none_match: input.copy_source_if_none_match.as_ref(),
                if_modified_since: input.copy_source_if_modified_since.as_ref(),
                if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
            },
        )?;
        let range = match &input.copy_source_range {
            Some(r) => cond::copy_source_range(r, src.size)?,
            None => 0..src.size,
        };
        let len = range.end - range.start;
        if len > MAX_OBJECT_SIZE {
            return Err(s3_error!(
                EntityTooLarge,
                "A part copied from a source may be at most {MAX_OBJECT_SIZE} bytes"
            ));
        }
        let mut hasher = ChecksumHasher::default();
        if let Some(a) = &upload.checksum_algorithm {
            enable(&mut hasher, a)?;
        }
        let store = self.store.clone();
        let (bucket, upload_id, part_number) = (input.bucket, input.upload_id, input.part_number);
        let part = blocking(move || {
            let mut file = file;
            file.seek(SeekFrom::Start(range.start)).map_err(internal)?;
            let got = copy_hashing(&store, &mut file, len, hasher)?;
            let part = PartMeta::new(part_number, got.size, hex::encode(got.md5), got.checksums);
            store.commit_part(&bucket, &upload_id, &part, got.tmp)?;
            Ok(part)
        })
        .await?;
        let c = part.checksums;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(part.etag)),
                last_modified: Some(ms_to_timestamp(part.last_modified_ms)),
                checksum_crc32: c.crc32,
                checksum_crc32c: c.crc32c,
                checksum_sha1: c.sha1,
                checksum_sha256: c.sha256,
                checksum_crc64nvme: c.crc64nvme,
            }),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let max = list_limit(input.max_parts)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let store = self.store.clone();
        let (bucket, upload_id, key) = (
            input.bucket.clone(),
            input.upload_id.clone(),
            input.key.clone(),
        );
        let (upload, parts) = blocking(move || {
            let upload = store.read_upload(&bucket, &upload_id, &key)?;
            Ok((upload, store.list_parts(&bucket, &upload_id)?))
        })
        .await?;
        let mut rest = parts
            .into_iter()
            .filter(|p| p.part_number > marker)
            .peekable();
        let mut page = Vec::new();
        while page.len() < max {
            let Some(p) = rest.next() else { break };
            page.push(p);
        }
        let truncated = rest.peek().is_some();
        let next = if truncated {
            page.last().map(|p| p.part_number)
        } else {
            None
        };
        let parts = page
            .into_iter()
            .map(|p| Part {
                part_number: Some(p.part_number),
                size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                e_tag: Some(ETag::Strong(p.etag)),
                last_modified: Some(ms_to_timestamp(p.last_modified_ms)),
                checksum_crc32: p.checksums.crc32,
                checksum_crc32c: p.checksums.crc32c,
                checksum_sha1: p.checksums.sha1,
                checksum_sha256: p.checksums.sha256,
                checksum_crc64nvme: p.checksums.crc64nvme,
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(truncated),
            parts: Some(parts),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let requested = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default();
        if requested.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let store = self.store.clone();
        let (bucket, upload_id, key) = (
            input.bucket.clone(),
            input.upload_id.clone(),
            input.key.clone(),
        );
        let (upload, stored) = blocking(move || {
            let upload = store.read_upload(&bucket, &upload_id, &key)?;
            Ok((upload, store.list_parts(&bucket, &upload_id)?))
        })
        .await?;
        let by_number: HashMap<i32, &PartMeta> =
            stored.iter().map(|p| (p.part_number, p)).collect();

        // Validate everything before touching the disk.
        let mut chosen: Vec<&PartMeta> = Vec::with_capacity(requested.len());
        let mut prev = 0;
        for rp in &requested {
            let n = rp
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "a part has no part number"))?;
            if n <= prev {
                return Err(s3_error!(InvalidPartOrder));
            }
            prev = n;
            let part = by_number
                .get(&n)
                .ok_or_else(|| s3_error!(InvalidPart, "part {n} was not uploaded"))?;
            if rp.e_tag.as_ref().map(ETag::value) != Some(part.etag.as_str()) {
                return Err(s3_error!(
                    InvalidPart,
                    "part {n}: ETag does not match the uploaded part"
                ));
            }
            let sent = Checksums {
                crc32: rp.checksum_crc32.clone(),
                crc32c: rp.checksum_crc32c.clone(),
                sha1: rp.checksum_sha1.clone(),
                sha256: rp.checksum_sha256.clone(),
                crc64nvme: rp.checksum_crc64nvme.clone(),
            };
            for alg in ALGORITHMS {
                if let (Some(s), Some(have)) =
                    (checksum_get(&sent, alg), checksum_get(&part.checksums, alg))
                {
                    if s != have {
                        return Err(s3_error!(
                            InvalidPart,
                            "part {n}: {alg} does not match the uploaded part"
                        ));
                    }
                }
            }
            chosen.push(part);
        }
        if let Some((_, all_but_last)) = chosen.split_last() {
            if let Some(small) = all_but_last.iter().find(|p| p.size < MIN_PART_SIZE) {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Part {} is {} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes",
                    small.part_number,
                    small.size
                ));
            }
        }
        let total: u64 = chosen.iter().map(|p| p.size).sum();
        if total > MAX_MULTIPART_OBJECT_SIZE {
            return Err(s3_error!(EntityTooLarge));
        }

        let mut md5s = Vec::with_capacity(chosen.len() * 16);
        for p in &chosen {
            md5s.extend(hex::decode(&p.etag).map_err(internal)?);
        }
        let etag_value = format!("{}-{}", hex::encode(Md5::checksum(&md5s)), chosen.len());
        let parts_count = u32::try_from(chosen.len()).unwrap_or(u32::MAX);

        let mut meta = ObjectMeta::new(
            input.key.clone(),
            names::new_id(),
            total,
            etag_value,
            upload.headers.clone(),
        );
        meta.parts_count = Some(parts_count);
        if let Some(alg) = &upload.checksum_algorithm {
            if let Some(v) = composite_checksum(alg, &chosen) {
                if let Some(slot) = checksum_slot(&mut meta.checksums, alg) {
                    *slot = Some(v);
                }
                meta.checksum_type = Some(CHECKSUM_TYPE_COMPOSITE.to_owned());
            }
        }
        let chosen: Vec<PartMeta> = chosen.into_iter().cloned().collect();

        let store = self.store.clone();
        let (bucket, upload_id) = (input.bucket.clone(), input.upload_id.clone());
        let (im, inm) = (input.if_match, input.if_none_match);
        let meta = blocking(move || {
            let tmp = store.assemble(&bucket, &upload_id, &chosen)?;
            store.commit_object(&bucket, &meta, tmp, |cur| {
                cond::check_write(cur, im.as_ref(), inm.as_ref())
            })?;
            // The object is committed; failing to tidy the upload must not fail the request.
            if let Err(e) = store.remove_upload(&bucket, &upload_id) {
                tracing::warn!(error = %e, "local backend: completed upload left behind");
            }
            Ok(meta)
        })
        .await?;

        let c = meta.checksums.clone();
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            e_tag: Some(etag(&meta)),
            checksum_crc32: c.crc32,
            checksum_crc32c: c.crc32c,
            checksum_sha1: c.sha1,
            checksum_sha256: c.sha256,
            checksum_crc64nvme: c.crc64nvme,
            checksum_type: meta.checksum_type.map(ChecksumType::from),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let store = self.store.clone();
        blocking(move || {
            store.read_upload(&input.bucket, &input.upload_id, &input.key)?;
            store.remove_upload(&input.bucket, &input.upload_id)
        })
        .await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let max = list_limit(input.max_uploads)?;
        let url = is_url(input.encoding_type.as_ref());
        let store = self.store.clone();
        let bucket = input.bucket.clone();
        let mut uploads = blocking(move || store.list_uploads(&bucket)).await?;
        // Sorted by key, then upload id: the order the key/upload-id markers are defined on.
        uploads.sort_by(|a, b| {
            (a.1.key.as_str(), a.0.as_str()).cmp(&(b.1.key.as_str(), b.0.as_str()))
        });

        let start = match (&input.key_marker, &input.upload_id_marker) {
            (Some(km), Some(um)) => uploads.partition_point(|u| {
                (u.1.key.as_str(), u.0.as_str()) <= (km.as_str(), um.as_str())
            }),
            (Some(km), None) => listing::start_after(&uploads, upload_key, Some(km)),
            (None, _) => 0,
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let page = listing::paginate(
            &uploads,
            upload_key,
            start,
            &prefix,
            input.delimiter.as_deref(),
            input.key_marker.as_deref(),
            max,
        );
        let (next_key_marker, next_upload_id_marker) = match (page.truncated, page.entries.last()) {
            (true, Some(Entry::Item(u))) => (Some(u.1.key.clone()), Some(u.0.clone())),
            (true, Some(Entry::Prefix(p))) => (Some(p.clone()), None),
            _ => (None, None),
        };
        let mut list = Vec::new();
        let mut prefixes = Vec::new();
        for e in page.entries {
            match e {
                Entry::Item((id, m)) => list.push(MultipartUpload {
                    key: Some(if url {
                        listing::url_encode(&m.key)
                    } else {
                        m.key.clone()
                    }),
                    upload_id: Some(id.clone()),
                    initiated: Some(ms_to_timestamp(m.initiated_ms)),
                    checksum_algorithm: m.checksum_algorithm.clone().map(ChecksumAlgorithm::from),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    ..Default::default()
                }),
                Entry::Prefix(p) => prefixes.push(p),
            }
        }
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: encode_opt(input.prefix, url),
            delimiter: encode_opt(input.delimiter, url),
            key_marker: encode_opt(input.key_marker, url),
            upload_id_marker: input.upload_id_marker,
            next_key_marker: encode_opt(next_key_marker, url),
            next_upload_id_marker,
            max_uploads: Some(i32::try_from(max).unwrap_or(MAX_LIST_ENTRIES)),
            is_truncated: Some(page.truncated),
            uploads: Some(list),
            common_prefixes: common_prefixes(prefixes, url),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}
