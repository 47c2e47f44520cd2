//! Conditional-request evaluation (RFC 9110 §13 as S3 applies it) and copy-source ranges.

use std::time::{Duration, UNIX_EPOCH};

use hyper::header::{HeaderMap, HeaderValue, ETAG, LAST_MODIFIED};
use s3s::dto::{ETag, ETagCondition, Timestamp, TimestampFormat};
use s3s::{s3_error, S3Error, S3Result};

use super::store::{ms_to_timestamp, ObjectMeta};

/// The four preconditions of a GET/HEAD, or of a copy source (`x-amz-copy-source-if-*`).
#[derive(Default)]
pub(crate) struct Preconditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn etag_matches(cond: &ETagCondition, meta: &ObjectMeta) -> bool {
    match cond {
        ETagCondition::Any => true,
        // S3 compares the opaque value; clients are not consistent about W/ prefixes.
        ETagCondition::ETag(tag) => tag.value() == meta.etag,
    }
}

/// Last-Modified as HTTP dates carry it: whole seconds. Comparing with sub-second precision
/// would make `If-Modified-Since: <the Last-Modified we sent>` look modified.
fn last_modified_secs(meta: &ObjectMeta) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_secs(meta.last_modified_ms / 1000))
}

fn modified_since(meta: &ObjectMeta, t: &Timestamp) -> bool {
    last_modified_secs(meta) > *t
}

/// ETag and Last-Modified headers for a 304, which must describe the current representation.
fn validators(meta: &ObjectMeta) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = ETag::Strong(meta.etag.clone()).to_http_header() {
        h.insert(ETAG, v);
    }
    let mut buf = Vec::new();
    if ms_to_timestamp(meta.last_modified_ms)
        .format(TimestampFormat::HttpDate, &mut buf)
        .is_ok()
    {
        if let Ok(v) = HeaderValue::from_bytes(&buf) {
            h.insert(LAST_MODIFIED, v);
        }
    }
    h
}

/// GET/HEAD: `412 PreconditionFailed` or `304 NotModified`, in RFC 9110 order — `If-Match`
/// supersedes `If-Unmodified-Since`, `If-None-Match` supersedes `If-Modified-Since`.
pub(crate) fn check_read(meta: &ObjectMeta, p: &Preconditions<'_>) -> S3Result<()> {
    if let Some(c) = p.if_match {
        if !etag_matches(c, meta) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(t) = p.if_unmodified_since {
        if modified_since(meta, t) {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    let not_modified = match (p.if_none_match, p.if_modified_since) {
        (Some(c), _) => etag_matches(c, meta),
        (None, Some(t)) => !modified_since(meta, t),
        (None, None) => false,
    };
    if not_modified {
        let mut e: S3Error = s3_error!(NotModified);
        e.set_headers(validators(meta));
        return Err(e);
    }
    Ok(())
}

/// Copy source (`x-amz-copy-source-if-*`): every failed condition is `412 PreconditionFailed`.
pub(crate) fn check_copy_source(meta: &ObjectMeta, p: &Preconditions<'_>) -> S3Result<()> {
    match check_read(meta, p) {
        Err(e) if *e.code() == s3s::S3ErrorCode::NotModified => Err(s3_error!(PreconditionFailed)),
        other => other,
    }
}

/// Conditional write (`If-Match` / `If-None-Match` on PUT or CompleteMultipartUpload), checked
/// against the current version under the object's lock.
pub(crate) fn check_write(
    current: Option<&ObjectMeta>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let Some(c) = if_none_match {
        if current.is_some_and(|m| etag_matches(c, m)) {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    if let Some(c) = if_match {
        match current {
            None => return Err(s3_error!(NoSuchKey)),
            Some(m) if !etag_matches(c, m) => return Err(s3_error!(PreconditionFailed)),
            Some(_) => {}
        }
    }
    Ok(())
}

/// `x-amz-copy-source-range: bytes=first-last` (both bounds required, as in S3) as a half-open
/// byte range within an object of `size` bytes.
pub(crate) fn copy_source_range(header: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last"
        )
    };
    let spec = header.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first: u64 = a.parse().map_err(|_| bad())?;
    let last: u64 = b.parse().map_err(|_| bad())?;
    if first > last || last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The x-amz-copy-source-range is not valid for a source object of size {size}"
        ));
    }
    Ok(first..last + 1)
}

#[cfg(test)]
mod tests {
    use super::super::store::ContentHeaders;
    use super::*;

    fn meta() -> ObjectMeta {
        let mut m = ObjectMeta::new(
            "k".into(),
            "b".into(),
            1,
            "abc".into(),
            ContentHeaders::default(),
        );
        m.last_modified_ms = 1_700_000_000_500;
        m
    }

    fn ts(secs: u64) -> Timestamp {
        Timestamp::from(UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn code(r: S3Result<()>) -> Option<String> {
        r.err().map(|e| e.code().as_str().to_owned())
    }

    #[test]
    fn read_preconditions() {
        let m = meta();
        let good = ETagCondition::ETag(ETag::Strong("abc".into()));
        let bad = ETagCondition::ETag(ETag::Strong("zzz".into()));
        let same = ts(1_700_000_000);
        let before = ts(1_600_000_000);
        let p = |im, inm, ims, ius| Preconditions {
            if_match: im,
            if_none_match: inm,
            if_modified_since: ims,
            if_unmodified_since: ius,
        };
        assert_eq!(
            code(check_read(&m, &p(Some(&good), None, None, None))),
            None
        );
        assert_eq!(
            code(check_read(&m, &p(Some(&bad), None, None, None))).as_deref(),
            Some("PreconditionFailed")
        );
        assert_eq!(
            code(check_read(&m, &p(None, Some(&good), None, None))).as_deref(),
            Some("NotModified")
        );
        assert_eq!(code(check_read(&m, &p(None, Some(&bad), None, None))), None);
        // Sub-second Last-Modified equals the second it was sent as.
        assert_eq!(
            code(check_read(&m, &p(None, None, Some(&same), None))).as_deref(),
            Some("NotModified")
        );
        assert_eq!(
            code(check_read(&m, &p(None, None, Some(&before), None))),
            None
        );
        assert_eq!(
            code(check_read(&m, &p(None, None, None, Some(&before)))).as_deref(),
            Some("PreconditionFailed")
        );
        assert_eq!(
            code(check_read(&m, &p(None, None, None, Some(&same)))),
            None
        );
        // If-Match wins over If-Unmodified-Since; If-None-Match wins over If-Modified-Since.
        assert_eq!(
            code(check_read(&m, &p(Some(&good), None, None, Some(&before)))),
            None
        );
        assert_eq!(
            code(check_read(&m, &p(None, Some(&bad), Some(&same), None))),
            None
        );
        assert_eq!(
            code(check_copy_source(&m, &p(None, Some(&good), None, None))).as_deref(),
            Some("PreconditionFailed")
        );
    }

    #[test]
    fn write_preconditions() {
        let m = meta();
        assert_eq!(
            code(check_write(Some(&m), None, Some(&ETagCondition::Any))).as_deref(),
            Some("PreconditionFailed")
        );
        assert_eq!(
            code(check_write(None, None, Some(&ETagCondition::Any))),
            None
        );
        assert_eq!(
            code(check_write(None, Some(&ETagCondition::Any), None)).as_deref(),
            Some("NoSuchKey")
        );
        let good = ETagCondition::ETag(ETag::Strong("abc".into()));
        assert_eq!(code(check_write(Some(&m), Some(&good), None)), None);
    }

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_source_range("bytes=0-9", 10).unwrap(), 0..10);
        assert!(copy_source_range("bytes=0-10", 10).is_err());
        assert!(copy_source_range("bytes=5-", 10).is_err());
        assert!(copy_source_range("0-1", 10).is_err());
    }
}
