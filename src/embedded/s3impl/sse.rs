//! SSE-S3 request handling of the embedded store: which writes are encrypted, the response
//! header, and decrypting GET bodies (the on-disk format is `store/sse.rs`).

use super::super::store::{
    segment_offset, segment_plain_len, ObjectCipher, SseMeta, AES256, NO_KEY_MESSAGE, SSE_TAG_LEN,
};
use super::*;

/// `x-amz-server-side-encryption: aws:kms` / `aws:kms:dsse`: there is no KMS behind the store.
const KMS_MESSAGE: &str =
    "SSE-KMS (aws:kms, aws:kms:dsse) is not supported by the embedded store; use AES256 (SSE-S3)";

/// `x-amz-server-side-encryption-customer-*`: the store keeps no customer keys.
const SSE_C_MESSAGE: &str = "SSE-C (customer-provided encryption keys) is not supported by the embedded store; use AES256 (SSE-S3)";

/// The SSE-related headers of a write request.
pub(super) struct SseRequest<'a> {
    pub header: Option<&'a ServerSideEncryption>,
    pub customer_algorithm: Option<&'a str>,
    pub kms_key_id: Option<&'a str>,
}

/// Refuses SSE-C headers (on reads and as copy sources too).
pub(super) fn refuse_sse_c(customer_algorithm: Option<&str>) -> S3Result<()> {
    match customer_algorithm {
        Some(_) => Err(s3_error!(NotImplemented, "{}", SSE_C_MESSAGE)),
        None => Ok(()),
    }
}

/// Whether the bucket's default encryption is SSE-S3 (PutBucketEncryption accepts no other).
fn bucket_default(cfg: &BucketConfig) -> S3Result<bool> {
    let Some(xml) = &cfg.encryption else {
        return Ok(false);
    };
    let conf: ServerSideEncryptionConfiguration = from_xml(xml)?;
    Ok(conf.rules.iter().any(|r| {
        r.apply_server_side_encryption_by_default
            .as_ref()
            .is_some_and(|d| d.sse_algorithm.as_str() == ServerSideEncryption::AES256)
    }))
}

/// Whether a write stores its data encrypted: `x-amz-server-side-encryption: AES256`, or
/// without the header the bucket's default encryption (AWS S3 user guide, "Setting default
/// server-side encryption behavior for Amazon S3 buckets"; for CopyObject the destination's,
/// "Encrypting copied objects"). Fails before any data is received when it cannot be honoured.
pub(super) fn wants_sse(store: &Store, cfg: &BucketConfig, req: &SseRequest<'_>) -> S3Result<bool> {
    refuse_sse_c(req.customer_algorithm)?;
    let wanted = match req.header.map(ServerSideEncryption::as_str) {
        Some(ServerSideEncryption::AES256) => true,
        Some(a) if a.starts_with("aws:kms") => {
            return Err(s3_error!(NotImplemented, "{}", KMS_MESSAGE));
        }
        Some(_) => {
            return Err(s3_error!(
                InvalidArgument,
                "The encryption method specified is not supported"
            ));
        }
        None if req.kms_key_id.is_some() => {
            return Err(s3_error!(NotImplemented, "{}", KMS_MESSAGE));
        }
        None => bucket_default(cfg)?,
    };
    if wanted && store.sse_key().is_none() {
        // never store plaintext where encryption was asked for
        return Err(s3_error!(NotImplemented, "{}", NO_KEY_MESSAGE));
    }
    Ok(wanted)
}

/// A fresh data key when `encrypt`, else nothing.
pub(super) fn new_cipher(
    store: &Store,
    encrypt: bool,
) -> S3Result<(Option<SseMeta>, Option<ObjectCipher>)> {
    if !encrypt {
        return Ok((None, None));
    }
    let (m, c) = store.new_cipher()?;
    Ok((Some(m), Some(c)))
}

/// `x-amz-server-side-encryption` of a response about data stored as `sse` says.
pub(super) fn sse_header(sse: Option<&SseMeta>) -> Option<ServerSideEncryption> {
    sse.map(|_| ServerSideEncryption::from_static(AES256))
}

/// Segment `st.idx`'s plaintext, read from the blob (positioned at it).
async fn next_segment(st: &mut BodyState) -> io::Result<Vec<u8>> {
    let seg = st.cipher.segment();
    let plain = segment_plain_len(st.idx, st.size, seg);
    let mut buf = vec![0u8; usize::try_from(plain + SSE_TAG_LEN).map_err(io::Error::other)?];
    st.file.read_exact(&mut buf).await.map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "encrypted object data is truncated",
            )
        } else {
            e
        }
    })?;
    let out = st.cipher.open_segment(st.idx, st.size, buf)?;
    st.idx += 1;
    Ok(out)
}

struct BodyState {
    file: tokio::fs::File,
    cipher: ObjectCipher,
    size: u64,
    idx: u64,
    remaining: u64,
}

/// A GET body of plaintext bytes `start..start + len` of an encrypted object of `size` bytes.
/// The first segment is read and authenticated before the response starts, so a damaged small
/// object answers 500 instead of a truncated 200; a later damaged segment ends the body with an
/// error. Either way no unauthenticated byte is ever sent.
pub(super) async fn sealed_body(
    store: &Store,
    sse: &SseMeta,
    file: std::fs::File,
    size: u64,
    start: u64,
    len: u64,
) -> S3Result<StreamingBlob> {
    let cipher = store.cipher(sse)?;
    let mut file = tokio::fs::File::from_std(file);
    if len == 0 {
        return Ok(file_body(file, 0));
    }
    let seg = cipher.segment();
    let idx = start / seg;
    file.seek(SeekFrom::Start(segment_offset(idx, seg)))
        .await
        .map_err(internal)?;
    let mut st = BodyState {
        file,
        cipher,
        size,
        idx,
        remaining: len,
    };
    let mut first = next_segment(&mut st).await.map_err(internal)?;
    let skip = usize::try_from(start - idx * seg).map_err(internal)?;
    first.drain(..skip.min(first.len()));
    first.truncate(usize::try_from(len).unwrap_or(usize::MAX));
    st.remaining -= first.len() as u64;
    let head = futures::stream::iter([Ok::<Bytes, io::Error>(Bytes::from(first))]);
    let tail = futures::stream::try_unfold(st, |mut st| async move {
        if st.remaining == 0 {
            return Ok(None);
        }
        let mut b = next_segment(&mut st).await?;
        b.truncate(usize::try_from(st.remaining).unwrap_or(usize::MAX));
        st.remaining -= b.len() as u64;
        Ok(Some((Bytes::from(b), st)))
    });
    Ok(StreamingBlob::wrap(head.chain(tail)))
}
