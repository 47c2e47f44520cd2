//! S3 calls Osprey itself makes on backends, through their S3 API — the one interface every kind
//! has — signed with the identity Osprey holds there: bucket usage (paging ListObjectsV2), the
//! backend's own ListBuckets (fan-out), and bucket purge.

use std::time::SystemTime;

use super::{DataPath, SigningKey};

/// Most ListObjectsV2 pages read per bucket (1000 keys each): bounds the work one usage call can
/// cause on a backend; a bucket larger than this reports what was counted and logs it.
pub const MAX_USAGE_PAGES: usize = 10_000;

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
/// across requests instead of being set up for each ListBuckets fan-out or usage query.
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

pub async fn bucket_usage(
    dp: &DataPath,
    key: &SigningKey,
    backend_bucket: &str,
) -> Result<BucketUsage, String> {
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
        )
        .await?;
        if !status.is_success() {
            return Err(format!(
                "ListObjectsV2 on {backend_bucket}: HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
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

/// Objects deleted concurrently while purging a bucket.
pub const PURGE_CONCURRENCY: usize = 16;

/// Send one request signed with `key` (no body) and return status and body text.
async fn call(
    dp: &DataPath,
    key: &SigningKey,
    method: reqwest::Method,
    path: &str,
) -> Result<(reqwest::StatusCode, String), String> {
    let addr = dp.address.resolve().await.map_err(|e| e.to_string())?;
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
    .map_err(|e| e.to_string())?;
    let scheme = if dp.tls { "https" } else { "http" };
    let mut req = http()
        .request(method, format!("{scheme}://{addr}{path}"))
        .header("host", &dp.host);
    for (n, v) in &s.headers {
        req = req.header(*n, v);
    }
    if path.contains('?') || !path.ends_with('/') {
        req = req.header("content-length", "0");
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    Ok((status, resp.text().await.map_err(|e| e.to_string())?))
}

/// `purge_data` on a shared-namespace backend: delete every object and in-progress upload of the
/// bucket, then the bucket. Idempotent: a bucket already gone counts as purged.
pub async fn purge_bucket(
    dp: &DataPath,
    key: &SigningKey,
    backend_bucket: &str,
) -> Result<(), String> {
    let enc = |k: &str| crate::s3::sigv4::uri_encode(k, false);
    for _ in 0..MAX_USAGE_PAGES {
        let (status, text) = call(
            dp,
            key,
            reqwest::Method::GET,
            &format!("/{backend_bucket}?list-type=2&max-keys=1000"),
        )
        .await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        if !status.is_success() {
            return Err(format!("listing {backend_bucket}: HTTP {status}"));
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
                .map(|p| call(dp, key, reqwest::Method::DELETE, p));
            for r in futures::future::join_all(dels).await {
                let (status, text) = r?;
                if !status.is_success() && status != reqwest::StatusCode::NOT_FOUND {
                    return Err(format!(
                        "deleting an object of {backend_bucket}: HTTP {status}: {}",
                        text.chars().take(200).collect::<String>()
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
    )
    .await?;
    if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
        Ok(())
    } else {
        Err(format!(
            "deleting bucket {backend_bucket}: HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        ))
    }
}

/// A backend's own ListBuckets for the identity `key`: (name, creation date).
pub async fn list_buckets(
    dp: &DataPath,
    key: &SigningKey,
) -> Result<Vec<(String, Option<chrono::DateTime<chrono::Utc>>)>, String> {
    let (status, text) = call(dp, key, reqwest::Method::GET, "/").await?;
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
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
