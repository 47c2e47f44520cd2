//! The request Osprey sends to the backend: target rewritten to the backend bucket, the client's
//! authentication removed, copy sources translated, then re-signed with the backend identity's key
//! and the backend's region (architecture.md §3 decides the payload mode).

use pingora::http::RequestHeader;

use crate::s3::S3Error;

/// AWS UriEncode for path segments: unreserved characters kept, '/' kept, everything else `%XX`.
/// S3 canonicalises the path this way; encoding the same way when sending means the backend
/// computes the same canonical URI Osprey signed (RGW needs `:` as `%3A`, recipe README).
const PATH_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Client headers that must not travel to the backend: the client's own authentication (replaced by
/// Osprey's signature) and hop-by-hop headers.
pub const DROPPED_HEADERS: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "proxy-authorization",
];

/// Query parameters of presigned URLs (removed: the upstream request is header-signed).
const PRESIGN_PARAMS: &[&str] = &[
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
];

/// Build `/backend-bucket/key?query` for the backend.
pub fn upstream_path_and_query(
    backend_bucket: Option<&str>,
    key: Option<&str>,
    raw_query: Option<&str>,
) -> String {
    let mut p = String::with_capacity(64);
    p.push('/');
    if let Some(b) = backend_bucket {
        p.push_str(b);
        if let Some(k) = key {
            p.push('/');
            p.extend(percent_encoding::utf8_percent_encode(k, PATH_ENCODE));
        }
    }
    if let Some(q) = raw_query.filter(|q| !q.is_empty()) {
        let kept: Vec<&str> = q
            .split('&')
            .filter(|part| {
                let name = part.split('=').next().unwrap_or("");
                !PRESIGN_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p))
            })
            .collect();
        if !kept.is_empty() {
            p.push('?');
            p.push_str(&kept.join("&"));
        }
    }
    p
}

/// Split `x-amz-copy-source` (`/bucket/key?versionId=…`, leading '/' optional, percent-encoded)
/// into decoded bucket, decoded key and the raw query part.
pub fn parse_copy_source(value: &str) -> Result<(String, String, Option<String>), S3Error> {
    let (path, version) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (value, None),
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let decoded = crate::s3::op::decode(path, "x-amz-copy-source")?;
    let (b, k) = decoded
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| S3Error::invalid_argument("x-amz-copy-source must be /bucket/key"))?;
    Ok((b.to_string(), k.to_string(), version))
}

/// The copy source as the backend must see it: its backend bucket, the key AWS-encoded.
pub fn copy_source_for_backend(backend_bucket: &str, key: &str, version: Option<&str>) -> String {
    let mut out = String::with_capacity(backend_bucket.len() + key.len() + 8);
    out.push('/');
    out.push_str(backend_bucket);
    out.push('/');
    out.extend(percent_encoding::utf8_percent_encode(key, PATH_ENCODE));
    if let Some(v) = version {
        out.push('?');
        out.push_str(v);
    }
    out
}

/// Headers signed toward the backend: `host`, `content-md5` and every `x-amz-*` except the ones
/// the signer produces — the set that survives the hop unchanged (pingora may rewrite framing
/// headers; `expect` and hop-by-hop headers must never be signed).
pub fn headers_to_sign(req: &RequestHeader) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(8);
    for (name, value) in req.headers.iter() {
        let n = name.as_str();
        if n == "host"
            || n == "content-md5"
            || (n.starts_with("x-amz-") && n != "x-amz-date" && n != "x-amz-content-sha256")
        {
            if let Ok(v) = value.to_str() {
                out.push((n.to_string(), v.to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_aws_encoded_and_presign_params_dropped() {
        assert_eq!(
            upstream_path_and_query(Some("t1-b"), Some("a b/c:d+e~f"), None),
            "/t1-b/a%20b/c%3Ad%2Be~f"
        );
        assert_eq!(
            upstream_path_and_query(
                Some("b"),
                Some("k"),
                Some("X-Amz-Signature=abc&versionId=1&X-Amz-Credential=x")
            ),
            "/b/k?versionId=1"
        );
        assert_eq!(
            upstream_path_and_query(Some("b"), None, Some("list-type=2&prefix=a%2Fb")),
            "/b?list-type=2&prefix=a%2Fb"
        );
        assert_eq!(upstream_path_and_query(None, None, None), "/");
    }
}
