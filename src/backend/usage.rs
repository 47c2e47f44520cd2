//! Bucket usage (objects, bytes) measured through a backend's own S3 API — the one interface every
//! kind has — by paging ListObjectsV2 signed with the identity Osprey holds there.

use std::time::SystemTime;

use super::{Address, DataPath, SigningKey};

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

fn sum_sizes(xml: &str) -> (u64, u64) {
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut rest = xml;
    while let Some(i) = rest.find("<Contents>") {
        rest = &rest[i + 10..];
        let end = rest.find("</Contents>").unwrap_or(rest.len());
        if let Some(s) = tag(&rest[..end], "Size").and_then(|s| s.trim().parse::<u64>().ok()) {
            bytes = bytes.saturating_add(s);
        }
        n += 1;
        rest = &rest[end..];
    }
    (n, bytes)
}

pub async fn bucket_usage(
    http: &reqwest::Client,
    dp: &DataPath,
    key: &SigningKey,
    backend_bucket: &str,
) -> Result<BucketUsage, String> {
    let Address::Tcp(addr) = &dp.address else {
        return Err("usage over a unix socket is not supported".into());
    };
    let scheme = if dp.tls { "https" } else { "http" };
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
        let path = format!("/{backend_bucket}?{query}");
        let signed = crate::proxy::resign::sign_request(
            "GET",
            &path,
            &[("host".to_string(), dp.host.clone())],
            crate::s3::sigv4::EMPTY_SHA256_HEX,
            key,
            &dp.region,
            SystemTime::now(),
        )?;
        let mut req = http
            .get(format!("{scheme}://{addr}{path}"))
            .header("host", &dp.host);
        for (n, v) in &signed.headers {
            req = req.header(n, v);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn sums_listing() {
        let x = "<ListBucketResult><Contents><Key>a</Key><Size>3</Size></Contents><Contents><Key>b</Key><Size>4</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(super::sum_sizes(x), (2, 7));
        assert_eq!(super::tag(x, "IsTruncated"), Some("false"));
    }
}
