//! The request Osprey sends to the backend: target rewritten to the backend bucket, the client's
//! authentication removed, copy sources translated, then re-signed with the backend identity's key
//! and the backend's region (architecture.md §3 decides the payload mode).

use pingora::http::RequestHeader;

use crate::s3::sigv4::{uri_encode, SignedHeaders};
use crate::s3::S3Error;

/// A header's value as text. Values are UTF-8 once `authn::client_headers` accepted the request
/// (it refuses any other), so this never silently skips a header the client sent.
///
/// `name` is best one of [`names`] or `http::header`'s: a `&str` is lower-case-checked and
/// matched against the standard names on every lookup (issue 13).
pub fn header(req: &RequestHeader, name: impl http::header::AsHeaderName) -> Option<&str> {
    req.headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// Names of `x-amz-*` and other non-standard headers the data path reads on every request,
/// parsed once (`http::header` has the standard ones).
pub mod names {
    use http::HeaderName;

    pub static X_AMZ_COPY_SOURCE: HeaderName = HeaderName::from_static("x-amz-copy-source");
    pub static X_AMZ_TRAILER: HeaderName = HeaderName::from_static("x-amz-trailer");
    pub static X_AMZ_DECODED_CONTENT_LENGTH: HeaderName =
        HeaderName::from_static("x-amz-decoded-content-length");
    pub static X_AMZ_ACL: HeaderName = HeaderName::from_static("x-amz-acl");
    pub static X_AMZ_REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
    pub static CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");
}

/// Client headers that must not travel to the backend: the client's own authentication (replaced by
/// Osprey's signature) and hop-by-hop headers. Parsed names, not `&str`s: a `&str` is parsed and
/// lower-case-checked on every removal (the five removals were 8 % of the verify + re-sign bench,
/// issue 13).
pub static DROPPED_HEADERS: [http::HeaderName; 5] = [
    http::header::AUTHORIZATION,
    http::HeaderName::from_static("x-amz-date"),
    http::HeaderName::from_static("x-amz-content-sha256"),
    http::HeaderName::from_static("x-amz-security-token"),
    http::header::PROXY_AUTHORIZATION,
];

/// Standard request headers forwarded although the client did not sign them: the ones S3 reads
/// and lets go unsigned (framing, content metadata, conditionals, ranges, CORS preflight), so a
/// presigned PUT with a `Content-Type` stores it as S3 would. Everything else reaches the backend
/// only if the client signed it or Osprey set it — a whitelist at the upstream boundary (issue 9:
/// an unsigned header that Osprey could not read was forwarded and executed by the backend).
/// `x-amz-*` headers are never in this list: unsigned ones are refused before routing.
pub const FORWARDED_UNSIGNED: &[&str] = &[
    "accept",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "cache-control",
    "connection",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    // kept only on anonymous requests, whose 100 the backend decides (gateway::rewrite)
    "expect",
    "expires",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-unmodified-since",
    "origin",
    "range",
    "transfer-encoding",
    "user-agent",
];

/// Whether a client header may travel to the backend. `signed`: the sorted, lower-case names the
/// client's signature covers; `None` for an anonymous request, which has no signature: it may
/// carry `x-amz-*` headers (the backend treats the request as anonymous and decides), except
/// copy sources, which Osprey resolves only for an authenticated caller.
pub fn forwardable(name: &str, signed: Option<&SignedHeaders>) -> bool {
    if FORWARDED_UNSIGNED.binary_search(&name).is_ok() {
        return true;
    }
    match signed {
        Some(list) => list.contains(name),
        None => name.starts_with("x-amz-") && !name.starts_with("x-amz-copy-source"),
    }
}

/// Remove every client header that may not travel to the backend (see [`forwardable`]).
pub fn retain_forwardable(req: &mut RequestHeader, signed: Option<&SignedHeaders>) {
    let drop: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|n| !forwardable(n.as_str(), signed))
        .cloned()
        .collect();
    for n in drop {
        req.remove_header(&n);
    }
}

/// Query parameters of presigned URLs (removed: the upstream request is header-signed).
const PRESIGN_PARAMS: &[&str] = &[
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
    // SigV2 query authentication
    "awsaccesskeyid",
    "expires",
    "signature",
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
            // encoded as S3 canonicalises a path (`sigv4::uri_encode`, the one encoder), so the
            // backend computes the canonical URI Osprey signed (RGW needs `:` as `%3A`)
            p.push_str(&uri_encode(k, false));
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
    crate::s3::op::validate_key(k)?;
    Ok((b.to_string(), k.to_string(), version))
}

/// The copy source as the backend must see it: its backend bucket, the key AWS-encoded.
pub fn copy_source_for_backend(backend_bucket: &str, key: &str, version: Option<&str>) -> String {
    let mut out = String::with_capacity(backend_bucket.len() + key.len() + 8);
    out.push('/');
    out.push_str(backend_bucket);
    out.push('/');
    out.push_str(&uri_encode(key, false));
    if let Some(v) = version {
        out.push('?');
        out.push_str(v);
    }
    out
}

/// Headers signed toward the backend: `host`, `content-md5` and every `x-amz-*` except the ones
/// the signer produces — the set that survives the hop unchanged (pingora may rewrite framing
/// headers; `expect` and hop-by-hop headers must never be signed).
pub fn headers_to_sign(req: &RequestHeader) -> Vec<(&str, &str)> {
    let mut out = Vec::with_capacity(8);
    for (name, value) in req.headers.iter() {
        let n = name.as_str();
        if n == "host"
            || n == "content-md5"
            || (n.starts_with("x-amz-") && n != "x-amz-date" && n != "x-amz-content-sha256")
        {
            // values are UTF-8 (the gateway refuses others before routing); signed as sent
            if let Ok(v) = std::str::from_utf8(value.as_bytes()) {
                out.push((n, v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_unsigned_is_sorted_for_binary_search() {
        let mut v = FORWARDED_UNSIGNED.to_vec();
        v.sort_unstable();
        assert_eq!(v, FORWARDED_UNSIGNED);
    }

    #[test]
    fn only_signed_or_standard_headers_are_forwarded() {
        let signed = SignedHeaders::from_names(["host", "x-amz-date", "x-amz-meta-a"]);
        assert!(forwardable("content-type", Some(&signed)));
        assert!(forwardable("x-amz-meta-a", Some(&signed)));
        assert!(!forwardable("x-amz-meta-b", Some(&signed)));
        assert!(!forwardable("x-amz-copy-source", Some(&signed)));
        assert!(!forwardable("x-forwarded-for", Some(&signed)));
        assert!(!forwardable("cookie", Some(&signed)));
        // anonymous: x-amz-* yes (the backend decides), copy sources never
        assert!(forwardable("x-amz-acl", None));
        assert!(!forwardable("x-amz-copy-source", None));
        assert!(!forwardable("x-amz-copy-source-range", None));
        assert!(!forwardable("authorization", None));
    }

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
