//! S3 calls Osprey itself makes on backends, through their S3 API — the one interface every kind
//! has — signed with the identity Osprey holds there: bucket usage (paging ListObjectsV2), the
//! backend's own ListBuckets (fan-out), and bucket purge.
//!
//! Every call is bounded in time (the backend's configured `timeout`, per request) and in answer
//! size ([`MAX_LISTING_RESPONSE`]): before issue 12 a backend that accepted the connection and never
//! answered held the calling reconciler pass or usage query forever.

use std::time::{Duration, SystemTime};

use super::{BackendError, DataPath, SigningKey};

/// Most ListObjectsV2 pages read per bucket (1000 keys each): bounds the work one usage call can
/// cause on a backend; a bucket larger than this reports what was counted and logs it.
pub const MAX_USAGE_PAGES: usize = 10_000;

/// Largest answer read from one S3 call (16 MiB): a ListObjectsV2 page of 1000 keys of the
/// longest allowed names is about 1.5 MiB, so this never cuts a real listing; it stops a
/// misbehaving endpoint from making Osprey buffer without bound (issue 12).
pub const MAX_LISTING_RESPONSE: usize = 16 * 1024 * 1024;

/// Why an S3 call Osprey made on a backend failed. Typed (issue 12, it was a `String`) so callers
/// can tell a refusal from an outage: see [`UsageError::into_backend`].
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("signing: {0}")]
    Signing(crate::s3::sigv4::SigError),
    /// Connected (or not) but no complete answer within the backend's `timeout`.
    #[error("no answer within {} ms (the backend's timeout_ms)", .0.as_millis())]
    Timeout(Duration),
    /// Connection refused or cut, DNS, TLS.
    #[error("unreachable: {0}")]
    Transport(String),
    #[error("answer larger than {MAX_LISTING_RESPONSE} bytes")]
    TooLarge,
    /// The backend answered with an unexpected status.
    #[error("{what}: HTTP {status}: {detail}")]
    Status {
        what: String,
        status: u16,
        detail: String,
    },
}

impl UsageError {
    /// As the provisioning layer classifies backend failures: a 4xx answer is `Refused`, Osprey's
    /// own failures `Internal`, anything else (5xx, time-out, transport) `Unavailable`.
    pub fn into_backend(self, backend: &str) -> BackendError {
        let backend = backend.to_string();
        let message = self.to_string();
        match self {
            UsageError::Status { status, .. } if (400..500).contains(&status) => {
                BackendError::Refused { backend, message }
            }
            UsageError::Signing(_) => BackendError::Internal { backend, message },
            _ => BackendError::Unavailable { backend, message },
        }
    }

    fn status(what: String, status: reqwest::StatusCode, text: &str) -> Self {
        UsageError::Status {
            what,
            status: status.as_u16(),
            detail: text.chars().take(200).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketUsage {
    pub objects: u64,
    pub bytes: u64,
}

fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let i = xml.find(&open)? + open.len();
    let j = xml[i..].find(&format!("</{name}>"))?;
    Some(&xml[i..i + j])
}

/// The inner text of every `<name>…</name>` element, in order (S3 listings are flat enough for this).
fn blocks<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let end = rest.find(&close).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

fn unescaped(text: &str) -> String {
    quick_xml::escape::unescape(text)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| text.to_string())
}

/// One HTTP client for every call Osprey makes on backends' S3 APIs, so connections are pooled
/// across requests instead of being set up for each ListBuckets fan-out or usage query. It has no
/// timeout of its own: each request carries its backend's (see [`call`]).
fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

fn sum_sizes(xml: &str) -> (u64, u64) {
    let objects = blocks(xml, "Contents");
    let bytes = objects
        .iter()
        .filter_map(|o| tag(o, "Size").and_then(|s| s.trim().parse::<u64>().ok()))
        .fold(0u64, u64::saturating_add);
    (objects.len() as u64, bytes)
}

/// Objects and bytes of a bucket, counted by paging ListObjectsV2; every page request is bounded by
/// `timeout` (the backend's).
pub async fn bucket_usage(
    dp: &DataPath,
    key: &SigningKey,
    backend_bucket: &str,
    timeout: Duration,
) -> Result<BucketUsage, UsageError> {
    let mut usage = BucketUsage::default();
    let mut token: Option<String> = None;
    for _ in 0..MAX_USAGE_PAGES {
        let mut query = String::from("list-type=2&max-keys=1000");
        if let Some(t) = &token {
            query = format!(
                "continuation-token={}&{query}",
                crate::s3::sigv4::uri_encode(t, true)
            );
        }
        let (status, text) = call(
            dp,
            key,
            reqwest::Method::GET,
            &format!("/{backend_bucket}?{query}"),
            timeout,
        )
        .await?;
        if !status.is_success() {
            return Err(UsageError::status(
                format!("ListObjectsV2 on {backend_bucket}"),
                status,
                &text,
            ));
        }
        let (n, b) = sum_sizes(&text);
        usage.objects += n;
        usage.bytes = usage.bytes.saturating_add(b);
        if tag(&text, "IsTruncated") != Some("true") {
            return Ok(usage);
        }
        token = tag(&text, "NextContinuationToken").map(str::to_string);
        if token.is_none() {
            return Ok(usage);
        }
    }
    tracing::warn!(
        bucket = backend_bucket,
        "usage count stopped at the page limit"
    );
    Ok(usage)
}

/// Whether an object (or one version of it) exists: HEAD through the backend's S3 API. Osprey
/// answers GetObjectAcl/PutObjectAcl itself on shared-identity backends (issue 11) and must
/// still answer NoSuchKey for an object that is not there. `Ok(status)` for any answer.
pub async fn head_object(
    dp: &DataPath,
    key: &SigningKey,
    backend_bucket: &str,
    object: &str,
    version_id: Option<&str>,
    timeout: Duration,
) -> Result<u16, UsageError> {
    let mut path = format!(
        "/{backend_bucket}/{}",
        crate::s3::sigv4::uri_encode(object, false)
    );
    if let Some(v) = version_id {
        path = format!("{path}?versionId={}", crate::s3::sigv4::uri_encode(v, true));
    }
    let (status, _) = call(dp, key, reqwest::Method::HEAD, &path, timeout).await?;
    Ok(status.as_u16())
}

/// An object's tags (GetObjectTagging through the backend's S3 API), for bucket-policy
/// conditions on `s3:ExistingObjectTag/<key>` (issue 11). An object without tags, or one that
/// is not there, has none.
pub async fn object_tags(
    dp: &DataPath,
    key: &SigningKey,
    backend_bucket: &str,
    object: &str,
    version_id: Option<&str>,
    timeout: Duration,
) -> Result<Vec<(String, String)>, UsageError> {
    let mut path = format!(
        "/{backend_bucket}/{}?tagging",
        crate::s3::sigv4::uri_encode(object, false)
    );
    if let Some(v) = version_id {
        path = format!("{path}&versionId={}", crate::s3::sigv4::uri_encode(v, true));
    }
    let (status, text) = call(dp, key, reqwest::Method::GET, &path, timeout).await?;
    if status.as_u16() == 404 {
        return Ok(Vec::new());
    }
    if !status.is_success() {
        return Err(UsageError::status(
            format!("GetObjectTagging on {backend_bucket}"),
            status,
            &text,
        ));
    }
    Ok(blocks(&text, "Tag")
        .into_iter()
        .filter_map(|t| {
            Some((
                unescaped(tag(t, "Key")?),
                unescaped(tag(t, "Value").unwrap_or("")),
            ))
        })
        .collect())
}

/// Objects deleted concurrently while purging a bucket.
pub const PURGE_CONCURRENCY: usize = 16;

/// Send one request signed with `key` (no body) and return status and body text. The whole
/// exchange, from connecting to the last byte of the answer, must end within `timeout`.
async fn call(
    dp: &DataPath,
    key: &SigningKey,
    method: reqwest::Method,
    path: &str,
    timeout: Duration,
) -> Result<(reqwest::StatusCode, String), UsageError> {
    let addr = dp
        .address
        .resolve()
        .await
        .map_err(|e| UsageError::Transport(e.to_string()))?;
    use crate::s3::sigv4::{resign, Credentials, Outgoing, EMPTY_SHA256_HEX};
    let s = resign(
        &Outgoing {
            method: method.as_str(),
            path_and_query: path,
            headers: &[("host".to_string(), dp.host.clone())],
            payload_hash: EMPTY_SHA256_HEX,
        },
        Credentials {
            access_key: &key.access_key,
            secret_key: &key.secret_key,
        },
        &dp.region,
        SystemTime::now(),
    )
    .map_err(UsageError::Signing)?;
    let scheme = if dp.tls { "https" } else { "http" };
    let mut req = http()
        .request(method, format!("{scheme}://{addr}{path}"))
        .timeout(timeout)
        .header("host", &dp.host);
    for (n, v) in &s.headers {
        req = req.header(*n, v);
    }
    if path.contains('?') || !path.ends_with('/') {
        req = req.header("content-length", "0");
    }
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            UsageError::Timeout(timeout)
        } else {
            UsageError::Transport(e.to_string())
        }
    };
    let resp = req.send().await.map_err(failed)?;
    let status = resp.status();
    let body = super::admin_http::read_limited(resp, MAX_LISTING_RESPONSE)
        .await
        .map_err(|e| match e {
            super::admin_http::ReadError::TooLarge => UsageError::TooLarge,
            super::admin_http::ReadError::Transport(e) => failed(e),
        })?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `purge_data` on a shared-namespace backend: delete every object and in-progress upload of the
/// bucket, then the bucket. Idempotent: a bucket already gone counts as purged.
/// Every call is bounded by `timeout` (the backend's).
pub async fn purge_bucket(
    dp: &DataPath,
    key: &SigningKey,
    backend_bucket: &str,
    timeout: Duration,
) -> Result<(), UsageError> {
    let enc = |k: &str| crate::s3::sigv4::uri_encode(k, false);
    for _ in 0..MAX_USAGE_PAGES {
        let (status, text) = call(
            dp,
            key,
            reqwest::Method::GET,
            &format!("/{backend_bucket}?list-type=2&max-keys=1000"),
            timeout,
        )
        .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        if !status.is_success() {
            return Err(UsageError::status(
                format!("listing {backend_bucket}"),
                status,
                &text,
            ));
        }
        let keys: Vec<String> = blocks(&text, "Key").into_iter().map(unescaped).collect();
        if keys.is_empty() {
            break;
        }
        for batch in keys.chunks(PURGE_CONCURRENCY) {
            let paths: Vec<String> = batch
                .iter()
                .map(|k| format!("/{backend_bucket}/{}", enc(k)))
                .collect();
            let dels = paths
                .iter()
                .map(|p| call(dp, key, reqwest::Method::DELETE, p, timeout));
            for r in futures::future::join_all(dels).await {
                let (status, text) = r?;
                if !status.is_success() && status != reqwest::StatusCode::NOT_FOUND {
                    return Err(UsageError::status(
                        format!("deleting an object of {backend_bucket}"),
                        status,
                        &text,
                    ));
                }
            }
        }
    }
    // abort uploads in progress, which would otherwise keep the bucket non-empty on some platforms
    if let Ok((status, text)) = call(
        dp,
        key,
        reqwest::Method::GET,
        &format!("/{backend_bucket}?uploads"),
        timeout,
    )
    .await
    {
        if status.is_success() {
            for item in blocks(&text, "Upload") {
                if let (Some(k), Some(id)) =
                    (tag(item, "Key").map(unescaped), tag(item, "UploadId"))
                {
                    let _ = call(
                        dp,
                        key,
                        reqwest::Method::DELETE,
                        &format!(
                            "/{backend_bucket}/{}?uploadId={}",
                            enc(&k),
                            crate::s3::sigv4::uri_encode(id, true)
                        ),
                        timeout,
                    )
                    .await;
                }
            }
        }
    }
    let (status, text) = call(
        dp,
        key,
        reqwest::Method::DELETE,
        &format!("/{backend_bucket}"),
        timeout,
    )
    .await?;
    if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(UsageError::status(
            format!("deleting bucket {backend_bucket}"),
            status,
            &text,
        ))
    }
}

/// A backend's own ListBuckets for the identity `key`: (name, creation date), within `timeout`.
pub async fn list_buckets(
    dp: &DataPath,
    key: &SigningKey,
    timeout: Duration,
) -> Result<Vec<(String, Option<chrono::DateTime<chrono::Utc>>)>, UsageError> {
    let (status, text) = call(dp, key, reqwest::Method::GET, "/", timeout).await?;
    if !status.is_success() {
        return Err(UsageError::status("ListBuckets".into(), status, &text));
    }
    Ok(blocks(&text, "Bucket")
        .into_iter()
        .filter_map(|item| {
            let name = unescaped(tag(item, "Name")?);
            let created = tag(item, "CreationDate")
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
                .map(|d| d.with_timezone(&chrono::Utc));
            Some((name, created))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_listing() {
        let x = "<ListBucketResult><Contents><Key>a</Key><Size>3</Size></Contents><Contents><Key>b</Key><Size>4</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(super::sum_sizes(x), (2, 7));
        assert_eq!(super::tag(x, "IsTruncated"), Some("false"));
    }
}
