//! The request Osprey sends to the backend: target rewritten to the backend bucket, the client's
//! authentication removed, copy sources translated, then re-signed with the backend identity's key
//! and the backend's region (architecture.md §3 decides the payload mode).

use bytes::{Bytes, BytesMut};
use http::header::HeaderName;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

use super::auth::PayloadPlan;
use super::{Gateway, RequestCtx, Route};
use crate::s3::sigv4;
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

/// Same set with '/' encoded, for query values.
const QUERY_ENCODE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Client headers that must not travel to the backend: the client's own authentication (replaced by
/// Osprey's signature) and hop-by-hop headers.
const DROPPED_HEADERS: &[&str] = &[
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
pub fn upstream_path_and_query(backend_bucket: Option<&str>, key: Option<&str>, raw_query: Option<&str>) -> String {
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

/// `x-amz-copy-source: /bucket/key?versionId=…` (or without the leading '/', percent-encoded):
/// the source bucket must be the caller tenant's and live on the same backend as the target.
async fn translate_copy_source(gateway: &Gateway, ctx: &RequestCtx, value: &str) -> Result<String, S3Error> {
    let route = ctx.route.as_ref().ok_or_else(|| S3Error::internal("no route"))?;
    let caller = ctx.caller.as_ref().ok_or_else(|| S3Error::access_denied("copy needs credentials"))?;
    let (path, version) = match value.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (value, None),
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let decoded = crate::s3::op::decode(path, "x-amz-copy-source")?;
    let (src_bucket, src_key) = decoded
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| S3Error::invalid_argument("x-amz-copy-source must be /bucket/key"))?;
    let placement = gateway
        .directory
        .placement(&caller.tenant_id, src_bucket)
        .await
        .map_err(|_| S3Error::internal("identity store unavailable"))?
        .ok_or_else(|| S3Error::no_such_bucket(src_bucket))?;
    if placement.backend != route.backend.name() {
        return Err(S3Error::not_implemented(&format!(
            "copying between buckets on different backends (`{}` is on `{}`, the target on `{}`)",
            src_bucket,
            placement.backend,
            route.backend.name()
        )));
    }
    let mut out = String::with_capacity(value.len() + 32);
    out.push('/');
    out.push_str(&placement.backend_bucket);
    out.push('/');
    out.extend(percent_encoding::utf8_percent_encode(src_key, PATH_ENCODE));
    if let Some(v) = version {
        out.push('?');
        out.push_str(v);
    }
    Ok(out)
}

/// Rewrite the upstream request and sign it.
pub async fn rewrite_request(
    gateway: &Gateway,
    session: &Session,
    req: &mut RequestHeader,
    ctx: &mut RequestCtx,
) -> Result<(), S3Error> {
    let _ = session;
    let route: &Route = ctx.route.as_ref().ok_or_else(|| S3Error::internal("no route"))?;
    let op = ctx.op.as_ref().ok_or_else(|| S3Error::internal("no operation"))?;
    let dp = route.backend.data_path();
    let target = upstream_path_and_query(route.backend_bucket.as_deref(), op.key.as_deref(), req.uri.query());
    let uri: http::Uri = target.parse().map_err(|_| S3Error::invalid_argument("request target cannot be forwarded"))?;
    req.set_uri(uri);
    for h in DROPPED_HEADERS {
        req.remove_header(*h);
    }
    req.insert_header(http::header::HOST, dp.host.as_str()).map_err(|_| S3Error::internal("bad backend host"))?;
    if let Some(cs) = req.headers.get("x-amz-copy-source").and_then(|v| v.to_str().ok()).map(str::to_string) {
        let translated = translate_copy_source(gateway, ctx, &cs).await?;
        req.insert_header("x-amz-copy-source", translated).map_err(|_| S3Error::internal("bad copy source"))?;
    }
    let route: &Route = ctx.route.as_ref().ok_or_else(|| S3Error::internal("no route"))?;
    let Some(key) = route.key.as_ref() else {
        // anonymous: forwarded unsigned
        return Ok(());
    };
    let payload_hash = match ctx.body.as_mut() {
        Some(codec) => codec.prepare_headers(req)?,
        None => ctx.payload.upstream_hash().to_string(),
    };
    let signed = sigv4_sign(req, key, &dp.region, &payload_hash)?;
    if let Some(codec) = ctx.body.as_mut() {
        codec.set_upstream_signing(signed);
    }
    Ok(())
}

/// Headers that are signed toward the backend: `host`, `content-md5` and every `x-amz-*` — the set
/// that survives the hop unchanged (pingora may rewrite framing headers; `expect` and hop-by-hop
/// headers must never be signed).
fn headers_to_sign(req: &RequestHeader) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(8);
    for (name, value) in req.headers.iter() {
        let n = name.as_str();
        if n == "host" || n == "content-md5" || (n.starts_with("x-amz-") && n != "x-amz-date" && n != "x-amz-content-sha256") {
            if let Ok(v) = value.to_str() {
                out.push((n.to_string(), v.to_string()));
            }
        }
    }
    out
}

fn sigv4_sign(
    req: &mut RequestHeader,
    key: &crate::backend::SigningKey,
    region: &str,
    payload_hash: &str,
) -> Result<sigv4::SigningContext, S3Error> {
    let headers = headers_to_sign(req);
    let path_and_query = req.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let out = sigv4::resign(
        req.method.as_str(),
        &path_and_query,
        &headers,
        payload_hash,
        &key.access_key,
        &key.secret_key,
        region,
        std::time::SystemTime::now(),
    )
    .map_err(|e| S3Error::internal(format!("re-signing failed: {e}")))?;
    for (name, value) in &out.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| S3Error::internal("bad signed header name"))?;
        req.insert_header(name, value.as_str()).map_err(|_| S3Error::internal("bad signed header value"))?;
    }
    Ok(out.context)
}

pub use codec::BodyCodec;
mod codec {
    use super::*;

    /// Transforms the client's body for the backend (aws-chunked re-chaining or decoding). Bodies in
    /// the other modes stream untouched and need no codec.
    pub struct BodyCodec {
        plan: PayloadPlan,
        stream: Option<crate::s3::chunked::ChunkedStream>,
        out: BytesMut,
    }

    impl BodyCodec {
        pub fn plan(payload: &PayloadPlan, route: &Route) -> Result<Option<BodyCodec>, S3Error> {
            let _ = route;
            match payload {
                PayloadPlan::Chunked { .. } => Ok(Some(BodyCodec { plan: payload.clone(), stream: None, out: BytesMut::new() })),
                _ => Ok(None),
            }
        }

        pub fn prepare_headers(&mut self, req: &mut RequestHeader) -> Result<String, S3Error> {
            let _ = req;
            Ok(self.plan.upstream_hash().to_string())
        }

        pub fn set_upstream_signing(&mut self, ctx: sigv4::SigningContext) {
            let _ = ctx;
        }

        pub fn transform(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<(), S3Error> {
            let _ = (body, end, &mut self.stream, &mut self.out);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_aws_encoded_and_presign_params_dropped() {
        assert_eq!(upstream_path_and_query(Some("t1-b"), Some("a b/c:d+e~f"), None), "/t1-b/a%20b/c%3Ad%2Be~f");
        assert_eq!(
            upstream_path_and_query(Some("b"), Some("k"), Some("X-Amz-Signature=abc&versionId=1&X-Amz-Credential=x")),
            "/b/k?versionId=1"
        );
        assert_eq!(upstream_path_and_query(Some("b"), None, Some("list-type=2&prefix=a%2Fb")), "/b?list-type=2&prefix=a%2Fb");
        assert_eq!(upstream_path_and_query(None, None, None), "/");
        let _ = QUERY_ENCODE;
    }
}
