//! S3 operations as one enum, parsed from method + host + path + query (garage: `api/s3/router.rs`).
//!
//! Only the operations Osprey treats specially get their own variant (ListBuckets fans out,
//! CreateBucket records a placement, copies translate `x-amz-copy-source`, …). Everything else is
//! named by its sub-resource so logs and metrics still say what it was, and is forwarded as is.

use std::borrow::Cow;

use http::Method;
use percent_encoding::percent_decode_str;

use super::error::S3Error;

/// Longest object key S3 accepts (bytes). Longer keys are refused before any backend is involved.
pub const MAX_KEY_BYTES: usize = 1024;
/// Most query parameters Osprey parses in one request. Stops hash-flooding / CPU burn through
/// requests with tens of thousands of parameters; real S3 requests use fewer than 20.
pub const MAX_QUERY_PARAMS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PostObject,
    /// A bucket sub-resource (`?acl`, `?policy`, `?versioning`, …) read or written.
    BucketSubresource(&'static str),
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// An object sub-resource (`?acl`, `?tagging`, `?retention`, …).
    ObjectSubresource(&'static str),
    /// `OPTIONS` on a bucket or object: a CORS preflight, answered by the bucket's backend from its
    /// CORS rules. Browsers never sign preflights.
    CorsPreflight,
}

impl OpKind {
    /// Stable name for logs and metrics.
    pub fn name(self) -> Cow<'static, str> {
        match self {
            OpKind::BucketSubresource(s) => Cow::Owned(format!("Bucket:{s}")),
            OpKind::ObjectSubresource(s) => Cow::Owned(format!("Object:{s}")),
            other => Cow::Borrowed(match other {
                OpKind::ListBuckets => "ListBuckets",
                OpKind::CreateBucket => "CreateBucket",
                OpKind::DeleteBucket => "DeleteBucket",
                OpKind::HeadBucket => "HeadBucket",
                OpKind::GetBucketLocation => "GetBucketLocation",
                OpKind::ListObjects => "ListObjects",
                OpKind::ListObjectsV2 => "ListObjectsV2",
                OpKind::ListObjectVersions => "ListObjectVersions",
                OpKind::ListMultipartUploads => "ListMultipartUploads",
                OpKind::DeleteObjects => "DeleteObjects",
                OpKind::PostObject => "PostObject",
                OpKind::PutObject => "PutObject",
                OpKind::CopyObject => "CopyObject",
                OpKind::GetObject => "GetObject",
                OpKind::HeadObject => "HeadObject",
                OpKind::DeleteObject => "DeleteObject",
                OpKind::CreateMultipartUpload => "CreateMultipartUpload",
                OpKind::UploadPart => "UploadPart",
                OpKind::UploadPartCopy => "UploadPartCopy",
                OpKind::CompleteMultipartUpload => "CompleteMultipartUpload",
                OpKind::AbortMultipartUpload => "AbortMultipartUpload",
                OpKind::ListParts => "ListParts",
                OpKind::CorsPreflight => "CorsPreflight",
                OpKind::BucketSubresource(_) | OpKind::ObjectSubresource(_) => "",
            }),
        }
    }

    /// Whether the request carries a body that Osprey streams upstream.
    pub fn has_upload_body(self) -> bool {
        matches!(self, OpKind::PutObject | OpKind::UploadPart)
    }
}

/// A parsed S3 request target.
#[derive(Debug, Clone)]
pub struct S3Op {
    pub kind: OpKind,
    /// Decoded bucket name, as the client knows it.
    pub bucket: Option<String>,
    /// Decoded object key.
    pub key: Option<String>,
}

/// Bucket sub-resources S3 defines (query parameters without a value that select the resource).
const BUCKET_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "versioning",
    "website",
];

const OBJECT_SUBRESOURCES: &[&str] = &[
    "acl",
    "attributes",
    "legal-hold",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
];

/// Query parameters as (decoded name, decoded value) pairs.
pub fn parse_query(raw: Option<&str>) -> Result<Vec<(String, String)>, S3Error> {
    let Some(q) = raw.filter(|q| !q.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for part in q.split('&').filter(|p| !p.is_empty()) {
        if out.len() >= MAX_QUERY_PARAMS {
            return Err(S3Error::invalid_argument(format!(
                "more than {MAX_QUERY_PARAMS} query parameters"
            )));
        }
        let (n, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((
            decode(n, "query parameter name")?.into_owned(),
            decode(v, "query parameter value")?.into_owned(),
        ));
    }
    Ok(out)
}

/// Percent-decode (`+` is literal in S3 paths and in SigV4-canonical queries) and require UTF-8.
pub fn decode<'a>(s: &'a str, what: &str) -> Result<Cow<'a, str>, S3Error> {
    percent_decode_str(s).decode_utf8().map_err(|_| {
        S3Error::invalid_argument(format!("{what} is not valid UTF-8 after percent-decoding"))
    })
}

/// Object keys with a `.` or `..` path segment are refused, not forwarded (issue 9, item 6): a
/// backend, proxy or file-system store that normalises paths would resolve `a/../../other/x`
/// outside the bucket Osprey authorised. S3 itself treats keys as opaque, so this is a deliberate
/// difference (docs/security.md); `a.b`, `..a` and `a..` remain ordinary keys.
///
/// Because no object can have such a key, Osprey keeps a multipart upload's ACL under one
/// (`proxy::access::UPLOAD_RECORD_PREFIX`, `../upload/`, issue 15).
pub fn validate_key(key: &str) -> Result<(), S3Error> {
    if key.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(S3Error::invalid_argument(
            "object keys with `.` or `..` path segments are not accepted",
        ));
    }
    Ok(())
}

fn has(q: &[(String, String)], name: &str) -> bool {
    q.iter().any(|(n, _)| n == name)
}

/// Split host into the bucket of a virtual-host style request (`bucket.<domain>`), if any.
pub fn virtual_host_bucket<'h>(host: &'h str, domain: Option<&str>) -> Option<&'h str> {
    let domain = domain?;
    let host = host
        .rsplit_once(':')
        .map(|(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
        .unwrap_or(host);
    let prefix = host.strip_suffix(domain)?.strip_suffix('.')?;
    (!prefix.is_empty()).then_some(prefix)
}

impl S3Op {
    /// Parse the target. `vhost_bucket` is the bucket from the Host header for virtual-host style.
    pub fn parse(
        method: &Method,
        raw_path: &str,
        query: &[(String, String)],
        vhost_bucket: Option<&str>,
        has_copy_source: bool,
    ) -> Result<S3Op, S3Error> {
        let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
        let (bucket, key): (Option<String>, Option<String>) = match vhost_bucket {
            Some(b) => {
                let key = decode(path, "object key")?;
                (
                    Some(b.to_string()),
                    (!key.is_empty()).then(|| key.into_owned()),
                )
            }
            None => {
                let (b, k) = path.split_once('/').unwrap_or((path, ""));
                let b = decode(b, "bucket name")?;
                let k = decode(k, "object key")?;
                (
                    (!b.is_empty()).then(|| b.into_owned()),
                    (!k.is_empty()).then(|| k.into_owned()),
                )
            }
        };
        if let Some(k) = &key {
            validate_key(k)?;
            if k.len() > MAX_KEY_BYTES {
                return Err(S3Error::new(
                    http::StatusCode::BAD_REQUEST,
                    "KeyTooLongError",
                    format!(
                        "Your key is too long: {} bytes, the limit is {MAX_KEY_BYTES}.",
                        k.len()
                    ),
                ));
            }
        }
        let kind = match (&bucket, &key) {
            (None, _) => match *method {
                Method::GET => OpKind::ListBuckets,
                _ => return Err(S3Error::method_not_allowed()),
            },
            (Some(_), None) => bucket_op(method, query)?,
            (Some(_), Some(_)) => object_op(method, query, has_copy_source)?,
        };
        Ok(S3Op { kind, bucket, key })
    }
}

fn bucket_op(method: &Method, q: &[(String, String)]) -> Result<OpKind, S3Error> {
    let sub = BUCKET_SUBRESOURCES.iter().find(|s| has(q, s)).copied();
    Ok(match *method {
        Method::GET => {
            if let Some(s) = sub {
                OpKind::BucketSubresource(s)
            } else if has(q, "location") {
                OpKind::GetBucketLocation
            } else if has(q, "uploads") {
                OpKind::ListMultipartUploads
            } else if has(q, "versions") {
                OpKind::ListObjectVersions
            } else if q.iter().any(|(n, v)| n == "list-type" && v == "2") {
                OpKind::ListObjectsV2
            } else {
                OpKind::ListObjects
            }
        }
        Method::PUT => sub
            .map(OpKind::BucketSubresource)
            .unwrap_or(OpKind::CreateBucket),
        Method::HEAD => OpKind::HeadBucket,
        Method::DELETE => sub
            .map(OpKind::BucketSubresource)
            .unwrap_or(OpKind::DeleteBucket),
        Method::POST => {
            if has(q, "delete") {
                OpKind::DeleteObjects
            } else {
                OpKind::PostObject
            }
        }
        Method::OPTIONS => OpKind::CorsPreflight,
        _ => return Err(S3Error::method_not_allowed()),
    })
}

fn object_op(
    method: &Method,
    q: &[(String, String)],
    copy_source: bool,
) -> Result<OpKind, S3Error> {
    let sub = OBJECT_SUBRESOURCES.iter().find(|s| has(q, s)).copied();
    let upload_id = has(q, "uploadId");
    Ok(match *method {
        Method::PUT => {
            if upload_id && has(q, "partNumber") {
                if copy_source {
                    OpKind::UploadPartCopy
                } else {
                    OpKind::UploadPart
                }
            } else if let Some(s) = sub {
                OpKind::ObjectSubresource(s)
            } else if copy_source {
                OpKind::CopyObject
            } else {
                OpKind::PutObject
            }
        }
        Method::GET => {
            if upload_id {
                OpKind::ListParts
            } else if let Some(s) = sub {
                OpKind::ObjectSubresource(s)
            } else {
                OpKind::GetObject
            }
        }
        Method::HEAD => OpKind::HeadObject,
        Method::DELETE => {
            if upload_id {
                OpKind::AbortMultipartUpload
            } else if let Some(s) = sub {
                OpKind::ObjectSubresource(s)
            } else {
                OpKind::DeleteObject
            }
        }
        Method::POST => {
            if has(q, "uploads") {
                OpKind::CreateMultipartUpload
            } else if upload_id {
                OpKind::CompleteMultipartUpload
            } else if let Some(s) = sub {
                OpKind::ObjectSubresource(s)
            } else {
                return Err(S3Error::method_not_allowed());
            }
        }
        Method::OPTIONS => OpKind::CorsPreflight,
        _ => return Err(S3Error::method_not_allowed()),
    })
}

/// S3 bucket naming rules (the DNS-compatible set every backend accepts): 3–63 chars of
/// `[a-z0-9.-]`, starting and ending with a letter or digit, no `..`, not an IPv4 address.
pub fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let why = if name.len() < 3 || name.len() > 63 {
        Some("a bucket name is 3 to 63 characters long")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        Some("only lowercase letters, digits, '.' and '-' are allowed")
    } else if !name.as_bytes()[0].is_ascii_alphanumeric()
        || !name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
    {
        Some("a bucket name starts and ends with a letter or digit")
    } else if name.contains("..") {
        Some("a bucket name must not contain '..'")
    } else if name.contains("-.") || name.contains(".-") {
        // each dot-separated label starts and ends with a letter or digit (S3 bucket naming
        // rules, DNS-compatible names; RGW refuses these too)
        Some("a bucket name must not have '-' next to '.'")
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        Some("a bucket name must not look like an IP address")
    } else {
        None
    };
    match why {
        Some(w) => Err(S3Error::invalid_bucket_name(name, w)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(m: Method, path: &str, q: &str) -> S3Op {
        let q = parse_query(Some(q)).unwrap();
        S3Op::parse(&m, path, &q, None, false).unwrap()
    }

    #[test]
    fn routes_common_operations() {
        assert_eq!(op(Method::GET, "/", "").kind, OpKind::ListBuckets);
        assert_eq!(op(Method::PUT, "/b", "").kind, OpKind::CreateBucket);
        assert_eq!(
            op(Method::GET, "/b", "list-type=2&prefix=a").kind,
            OpKind::ListObjectsV2
        );
        assert_eq!(op(Method::GET, "/b", "").kind, OpKind::ListObjects);
        assert_eq!(
            op(Method::GET, "/b", "location").kind,
            OpKind::GetBucketLocation
        );
        assert_eq!(
            op(Method::PUT, "/b", "versioning").kind,
            OpKind::BucketSubresource("versioning")
        );
        assert_eq!(op(Method::POST, "/b", "delete").kind, OpKind::DeleteObjects);
        assert_eq!(
            op(Method::PUT, "/b/k", "partNumber=1&uploadId=x").kind,
            OpKind::UploadPart
        );
        assert_eq!(
            op(Method::POST, "/b/k", "uploads").kind,
            OpKind::CreateMultipartUpload
        );
        assert_eq!(
            op(Method::POST, "/b/k", "uploadId=x").kind,
            OpKind::CompleteMultipartUpload
        );
        assert_eq!(
            op(Method::DELETE, "/b/k", "uploadId=x").kind,
            OpKind::AbortMultipartUpload
        );
        assert_eq!(
            op(Method::GET, "/b/k", "uploadId=x").kind,
            OpKind::ListParts
        );
        assert_eq!(
            op(Method::GET, "/b/k", "tagging").kind,
            OpKind::ObjectSubresource("tagging")
        );
        let q = parse_query(Some("partNumber=2&uploadId=u")).unwrap();
        assert_eq!(
            S3Op::parse(&Method::PUT, "/b/k", &q, None, true)
                .unwrap()
                .kind,
            OpKind::UploadPartCopy
        );
        assert_eq!(
            S3Op::parse(&Method::PUT, "/b/k", &[], None, true)
                .unwrap()
                .kind,
            OpKind::CopyObject
        );
    }

    #[test]
    fn decodes_bucket_and_key() {
        let o = op(Method::GET, "/b/dir/a%20b%2Bc+d%3A%E2%9C%93", "");
        assert_eq!(o.bucket.as_deref(), Some("b"));
        assert_eq!(o.key.as_deref(), Some("dir/a b+c+d:\u{2713}"));
        let o = op(Method::GET, "/b/a//b/", "");
        assert_eq!(o.key.as_deref(), Some("a//b/"));
    }

    #[test]
    fn virtual_host_style() {
        assert_eq!(
            virtual_host_bucket("photos.s3.example.com", Some("s3.example.com")),
            Some("photos")
        );
        assert_eq!(
            virtual_host_bucket("photos.s3.example.com:9000", Some("s3.example.com")),
            Some("photos")
        );
        assert_eq!(
            virtual_host_bucket("s3.example.com", Some("s3.example.com")),
            None
        );
        assert_eq!(
            virtual_host_bucket("evils3.example.com", Some("s3.example.com")),
            None
        );
        let o = S3Op::parse(&Method::GET, "/k/x", &[], Some("photos"), false).unwrap();
        assert_eq!(
            (o.bucket.as_deref(), o.key.as_deref()),
            (Some("photos"), Some("k/x"))
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            S3Op::parse(&Method::PUT, "/", &[], None, false)
                .unwrap_err()
                .code,
            "MethodNotAllowed"
        );
        let long = format!("/b/{}", "k".repeat(MAX_KEY_BYTES + 1));
        assert_eq!(
            S3Op::parse(&Method::GET, &long, &[], None, false)
                .unwrap_err()
                .code,
            "KeyTooLongError"
        );
        assert!(S3Op::parse(&Method::GET, "/b/%FF", &[], None, false).is_err());
        let many = (0..=MAX_QUERY_PARAMS)
            .map(|i| format!("p{i}=1"))
            .collect::<Vec<_>>()
            .join("&");
        assert!(parse_query(Some(&many)).is_err());
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.v2", "a1b"] {
            validate_bucket_name(ok).unwrap();
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "a_b",
            &"a".repeat(64),
        ] {
            assert_eq!(
                validate_bucket_name(bad).unwrap_err().code,
                "InvalidBucketName",
                "{bad}"
            );
        }
    }
}
