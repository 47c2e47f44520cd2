//! Stage 1 of a request: who is calling. The client's headers as SigV4/SigV2 sees them, the
//! signature verified against Osprey's keys, and the key's state checked.

use std::sync::Arc;

use http::StatusCode;
use pingora::http::RequestHeader;

use super::directory::{CachedDirectory, DirectoryError, TenantInfo};
use super::request::Caller;
use super::upstream::header;
use super::Snapshot;
use crate::s3::scheme::{self, Scheme};
use crate::s3::sigv4::{self, SigError, Verified};
use crate::s3::S3Error;

impl From<DirectoryError> for S3Error {
    fn from(e: DirectoryError) -> Self {
        tracing::error!(error = %e, "identity store failure on the data path");
        S3Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Osprey's identity store is unavailable. Please retry.",
        )
        .retryable()
    }
}

/// Every request header as `(name, value)` text, exactly as sent, for SigV4 verification.
///
/// AWS signs raw header bytes; a value that is UTF-8 is canonicalised from exactly those bytes.
/// A value that is not UTF-8 is refused (400 InvalidArgument) rather than dropped: dropping it
/// was issue 9's cross-tenant hole — the header escaped the "every x-amz-* header signed" check
/// and the copy-source translation, and was still forwarded to the backend.
///
/// Borrowed from pingora's request head, not copied (16 allocations for a typical SDK request,
/// issue 13).
pub fn client_headers(req: &RequestHeader) -> Result<Vec<(&str, &str)>, S3Error> {
    let mut out = Vec::with_capacity(req.headers.len());
    for (n, v) in req.headers.iter() {
        let v = std::str::from_utf8(v.as_bytes()).map_err(|_| {
            S3Error::invalid_argument(format!(
                "the value of header `{}` is not valid UTF-8",
                n.as_str()
            ))
        })?;
        out.push((n.as_str(), v));
    }
    if req
        .headers
        .get_all(&super::upstream::names::X_AMZ_COPY_SOURCE)
        .iter()
        .count()
        > 1
    {
        return Err(S3Error::invalid_argument(
            "more than one x-amz-copy-source header",
        ));
    }
    Ok(out)
}

/// Access key a SigV4 request names, before verification (to look its secret up).
fn v4_access_key(req: &RequestHeader) -> Option<String> {
    if let Some(a) = header(req, &http::header::AUTHORIZATION) {
        // every SDK writes the credential first: found without a substring search
        let cred = match a.strip_prefix("AWS4-HMAC-SHA256 Credential=") {
            Some(c) => c,
            None => a.split("Credential=").nth(1)?,
        };
        return cred.split('/').next().map(str::to_string);
    }
    let q = req.uri.query()?;
    for part in q.split('&') {
        if let Some(v) = part.strip_prefix("X-Amz-Credential=") {
            let v = percent_encoding::percent_decode_str(v).decode_utf8().ok()?;
            return v.split('/').next().map(str::to_string);
        }
    }
    None
}

/// The caller's key, refused when it is disabled.
pub fn active(entry: Arc<super::directory::KeyEntry>) -> Result<Caller, S3Error> {
    if !entry.active {
        return Err(S3Error::access_denied(
            "The access key, its user or its tenant is disabled",
        ));
    }
    Ok(Caller { key: entry })
}

/// Authenticate: `Ok(None)` for an anonymous request.
pub async fn authenticate(
    directory: &CachedDirectory,
    req: &RequestHeader,
    headers: &[(&str, &str)],
    vhost: Option<&str>,
    snap: &Snapshot,
) -> Result<Option<(Caller, Verified)>, S3Error> {
    let raw_query = req.uri.query().unwrap_or("");
    let authorization = header(req, &http::header::AUTHORIZATION);
    let v2 = match scheme::scheme(authorization, raw_query) {
        Scheme::Anonymous => return Ok(None),
        Scheme::V2 => true,
        Scheme::V4 => false,
    };
    if v2 && !snap.config.s3.sigv2 {
        return Err(SigError::UnsupportedAlgorithm("AWS".into()).into());
    }
    let ak = if v2 {
        crate::s3::sigv2::access_key(authorization, raw_query)
    } else {
        v4_access_key(req)
    }
    .ok_or_else(|| SigError::MalformedAuth("no access key in the credential".into()))?;
    let entry = directory.key(&ak).await?;
    let parts = sigv4::RequestParts {
        method: req.method.as_str(),
        raw_path: req.uri.path(),
        raw_query,
        headers,
    };
    // borrowed: the secret is not copied per request
    let secret = entry.as_ref().map(|e| e.secret_key.as_str());
    let lookup = |k: &str| (k == ak).then_some(secret).flatten();
    let now = chrono::Utc::now();
    let skew = snap.config.s3.max_clock_skew;
    let verified = if v2 {
        crate::s3::sigv2::verify(&parts, vhost, lookup, now, skew)
    } else {
        sigv4::verify(&parts, lookup, now, skew)
    }?;
    if verified.service != "s3" {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            format!(
                "the credential scope names service `{}`; S3 requests must be signed for `s3`",
                verified.service
            ),
        ));
    }
    // `s3.regions`: the credential scope must name one of them (issue 9, item 6)
    if let (Some(regions), sigv4::SigVersion::V4) = (&snap.config.s3.regions, verified.version) {
        if !regions.contains(&verified.region) {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "AuthorizationHeaderMalformed",
                format!(
                    "The authorization header is malformed; the region '{}' is wrong; expecting '{}'",
                    verified.region,
                    regions.join("' or '")
                ),
            )
            .with_extra("Region", regions[0].clone()));
        }
    }
    let entry = entry.ok_or_else(S3Error::invalid_access_key_id)?;
    Ok(Some((active(entry)?, verified)))
}

/// The tenant of an authenticated caller.
pub async fn tenant(
    directory: &CachedDirectory,
    tenant_id: &str,
) -> Result<Arc<TenantInfo>, S3Error> {
    directory
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| S3Error::access_denied("The tenant of this key no longer exists"))
}
