//! Translating backend bucket names back into the client's names in response bodies and headers.
//!
//! On shared-namespace backends a tenant's bucket `photos` is stored as e.g. `t0123…-photos`; S3 XML
//! answers name the bucket in a few known elements. Only those elements are rewritten (never a blind
//! search-and-replace, which would corrupt object keys that happen to contain the backend name).

/// Largest response body Osprey buffers to translate bucket names: 32 MiB. ListObjects (1000 keys
/// of 1 KiB) and ListParts (10 000 parts) stay far below; a larger body is passed through untranslated
/// with a warning rather than letting one response hold unbounded memory.
pub const MAX_TRANSLATED_BODY: usize = 32 * 1024 * 1024;

/// XML elements whose whole text is a bucket name.
const BUCKET_ELEMENTS: &[&str] = &["Name", "Bucket", "BucketName"];

/// Rewrite bucket names inside `xml` (absolute URLs keep their authority; see [`translate_xml_at`]).
pub fn translate_xml(xml: &str, backend_bucket: &str, bucket: &str) -> String {
    translate_xml_at(xml, backend_bucket, bucket, None)
}

/// Rewrite bucket names inside `xml`; absolute URLs (`<Location>`) are re-rooted at `origin`
/// (`http://<the Host the client used>`) when given, so neither the backend's bucket name nor
/// its address reaches the client (issue 9, item 5).
pub fn translate_xml_at(
    xml: &str,
    backend_bucket: &str,
    bucket: &str,
    origin: Option<&str>,
) -> String {
    let mut out = xml.to_string();
    for el in BUCKET_ELEMENTS {
        let from = format!("<{el}>{backend_bucket}</{el}>");
        if out.contains(&from) {
            out = out.replace(&from, &format!("<{el}>{bucket}</{el}>"));
        }
    }
    // <Resource>/backend-bucket/key</Resource>, <Location>http://host/backend-bucket/key</Location>
    for el in ["Resource", "Location"] {
        out = rewrite_path_element(&out, el, backend_bucket, bucket, origin);
    }
    out
}

fn rewrite_path_element(
    xml: &str,
    el: &str,
    backend_bucket: &str,
    bucket: &str,
    origin: Option<&str>,
) -> String {
    let open = format!("<{el}>");
    let close = format!("</{el}>");
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let start = i + open.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(j) = rest.find(&close) else { break };
        out.push_str(&translate_url(&rest[..j], backend_bucket, bucket, origin));
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

/// A `Location`-style value: an absolute URL in path style (`http://h/backend-bucket/key`) or
/// virtual-host style (`http://backend-bucket.h/key`) becomes `<origin>/bucket/key` (path style at
/// Osprey's own address; without `origin`, path style at the URL's host less the bucket label);
/// anything else goes through [`translate_path`].
pub fn translate_url(
    text: &str,
    backend_bucket: &str,
    bucket: &str,
    origin: Option<&str>,
) -> String {
    let Some((scheme, after)) = text.split_once("://") else {
        return translate_path(text, backend_bucket, bucket);
    };
    let cut = after.find('/').unwrap_or(after.len());
    let (authority, path) = after.split_at(cut);
    let vhost = authority
        .strip_prefix(backend_bucket)
        .and_then(|rest| rest.strip_prefix('.'));
    let (authority, path) = match vhost {
        Some(host) => (
            host,
            format!("/{bucket}{}", if path.is_empty() { "/" } else { path }),
        ),
        None => (authority, translate_path(path, backend_bucket, bucket)),
    };
    match origin {
        Some(o) => format!("{}{path}", o.trim_end_matches('/')),
        None => format!("{scheme}://{authority}{path}"),
    }
}

/// Whether an absolute URL points at `host` (or a virtual-host name under it); relative
/// references count as the backend's own.
pub fn url_is_at_host(url: &str, host: &str) -> bool {
    let Some((_, after)) = url.split_once("://") else {
        return true;
    };
    let authority = after.split('/').next().unwrap_or("");
    let authority = authority.split('?').next().unwrap_or("");
    authority.eq_ignore_ascii_case(host)
        || authority
            .to_ascii_lowercase()
            .ends_with(&format!(".{}", host.to_ascii_lowercase()))
}

/// `…?bucket=<backend-bucket>&…` → `…?bucket=<bucket>&…` (percent-encoded either way).
pub fn translate_query_bucket(url: &str, backend_bucket: &str, bucket: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    // RGW's tenant-qualified form `tenant:bucket` comes back as `tenant=…&bucket=…`
    let decoded = percent_encoding::percent_decode_str(backend_bucket).decode_utf8_lossy();
    let backend_bucket: &str = &decoded;
    let (tenant, plain) = match backend_bucket.split_once(':') {
        Some((t, b)) => (Some(t), b),
        None => (None, backend_bucket),
    };
    let names = [
        backend_bucket.to_string(),
        utf8_percent_encode(backend_bucket, NON_ALPHANUMERIC).to_string(),
        plain.to_string(),
    ];
    let parts: Vec<String> = query
        .split('&')
        .filter(
            |kv| !matches!((kv.split_once('='), tenant), (Some(("tenant", v)), Some(t)) if v == t),
        )
        .map(|kv| match kv.split_once('=') {
            Some(("bucket", v)) if names.iter().any(|n| n == v) => {
                format!("bucket={}", utf8_percent_encode(bucket, NON_ALPHANUMERIC))
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

/// `/backend-bucket/key` → `/bucket/key` (also inside absolute URLs and for a bare `backend-bucket`).
pub fn translate_path(text: &str, backend_bucket: &str, bucket: &str) -> String {
    if text == backend_bucket {
        return bucket.to_string();
    }
    let seg = format!("/{backend_bucket}");
    if let Some(i) = text.find(&seg) {
        let after = &text[i + seg.len()..];
        if after.is_empty() || after.starts_with('/') || after.starts_with('?') {
            return format!("{}/{bucket}{after}", &text[..i]);
        }
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_of_post_uploads() {
        assert!(url_is_at_host(
            "http://127.0.0.1:7480/b/k",
            "127.0.0.1:7480"
        ));
        assert!(url_is_at_host("http://b.rgw:1/k", "rgw:1"));
        assert!(!url_is_at_host("http://example.com/done?x", "rgw:1"));
        assert!(url_is_at_host("/relative", "rgw:1"));
        assert_eq!(
            translate_query_bucket(
                "http://e.com/ok?bucket=t1%3Aphotos&key=a",
                "t1:photos",
                "photos"
            ),
            "http://e.com/ok?bucket=photos&key=a"
        );
        assert_eq!(
            translate_query_bucket(
                "http://e.com/ok?tenant=t1&bucket=photos&key=a",
                "t1%3Aphotos",
                "photos"
            ),
            "http://e.com/ok?bucket=photos&key=a"
        );
        assert_eq!(
            translate_query_bucket("http://e.com/ok?key=a", "t1:photos", "photos"),
            "http://e.com/ok?key=a"
        );
    }

    #[test]
    fn rewrites_only_bucket_elements() {
        let xml = "<ListBucketResult><Name>t1-photos</Name><Contents><Key>t1-photos</Key></Contents></ListBucketResult>";
        let out = translate_xml(xml, "t1-photos", "photos");
        assert_eq!(out, "<ListBucketResult><Name>photos</Name><Contents><Key>t1-photos</Key></Contents></ListBucketResult>");
    }

    #[test]
    fn rewrites_resource_and_location() {
        let xml = "<Error><Code>NoSuchKey</Code><Resource>/t1-photos/a/b</Resource><BucketName>t1-photos</BucketName></Error>";
        let out = translate_xml(xml, "t1-photos", "photos");
        assert!(
            out.contains("<Resource>/photos/a/b</Resource>")
                && out.contains("<BucketName>photos</BucketName>"),
            "{out}"
        );
        let out = translate_xml(
            "<Location>http://h:1/t1-photos/k</Location>",
            "t1-photos",
            "photos",
        );
        assert_eq!(out, "<Location>http://h:1/photos/k</Location>");
        // issue 9 item 5: the virtual-host form named the tenant-prefixed backend bucket
        let out = translate_xml_at(
            "<Location>http://t1-photos.rgw:7480/k</Location>",
            "t1-photos",
            "photos",
            Some("http://osprey:9000"),
        );
        assert_eq!(out, "<Location>http://osprey:9000/photos/k</Location>");
        assert_eq!(
            translate_url("http://t1-photos.rgw:7480/a/b", "t1-photos", "photos", None),
            "http://rgw:7480/photos/a/b"
        );
        assert_eq!(
            translate_url(
                "https://rgw/t1-photos/a",
                "t1-photos",
                "photos",
                Some("https://o")
            ),
            "https://o/photos/a"
        );
        assert_eq!(
            translate_path("/t1-photosX/k", "t1-photos", "photos"),
            "/t1-photosX/k"
        );
    }
}
