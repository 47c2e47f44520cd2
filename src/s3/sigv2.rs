//! AWS Signature Version 2 for S3, server side: the `Authorization: AWS AK:signature` header and
//! query-string authentication (`AWSAccessKeyId`, `Expires`, `Signature`).
//!
//! Spec: Amazon S3 Developer Guide, "Signing and authenticating REST requests" (legacy SigV2)
//! — `StringToSign = Verb \n Content-MD5 \n Content-Type \n Date \n CanonicalizedAmzHeaders
//! CanonicalizedResource`, HMAC-SHA1 with the secret, base64. Many clients still default to it
//! for presigned URLs (boto3 `generate_presigned_url` without a SigV4 config, aws-cli v1
//! `s3 presign`, `s3cmd signurl`), so Osprey accepts it unless `s3.sigv2 = false`, and re-signs
//! every such request toward the backend with SigV4.
//!
//! SigV2 does not sign the body: a verified request has [`PayloadMode::Unsigned`], and an
//! optional `Content-MD5` (signed) is checked by the backend.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::sigv4::{
    parse_http_date, parse_query, HeaderPair, PayloadMode, RequestParts, Result, SigError,
    SigVersion, SignedHeaders, Verified, MAX_PRESIGN_EXPIRES_SECS,
};

/// A SigV2 request time: an HTTP date whose weekday is not checked. RGW and S3 compare only
/// the time, so `Tue, 07 Jul 2030 …` (a Sunday, sent by s3-tests) is a time too far in the
/// future (403 RequestTimeTooSkewed), not a malformed date.
///
/// Times before the Unix epoch are malformed (RGW: 403 AccessDenied, not RequestTimeTooSkewed).
fn parse_v2_date(raw: &str) -> std::result::Result<chrono::DateTime<chrono::Utc>, String> {
    let t = parse_v2_date_any(raw)?;
    if t.timestamp() < 0 {
        return Err(format!("'{}' is before 1970", raw.trim()));
    }
    Ok(t)
}

fn parse_v2_date_any(raw: &str) -> std::result::Result<chrono::DateTime<chrono::Utc>, String> {
    parse_http_date(raw).or_else(|e| {
        let t = raw.trim();
        let rest = match t.split_once(',') {
            Some((day, rest)) if day.len() == 3 && day.bytes().all(|b| b.is_ascii_alphabetic()) => {
                rest.trim()
            }
            _ => t,
        };
        chrono::NaiveDateTime::parse_from_str(rest, "%d %b %Y %H:%M:%S GMT")
            .map(|d| d.and_utc())
            .map_err(|_| e)
    })
}

/// Query parameters that are part of the canonical resource (AWS's list, as botocore's
/// `HmacV1Auth.QSAOfInterest` and RGW sign it); all others are left out.
pub const SIGNED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Query parameters of a SigV2 presigned URL (removed before the request is forwarded).
pub const PRESIGN_PARAMS: &[&str] = &["AWSAccessKeyId", "Expires", "Signature"];

/// The access key a SigV2 request names, before verification.
pub fn access_key(authorization: Option<&str>, raw_query: &str) -> Option<String> {
    if let Some(a) = authorization {
        let rest = a.strip_prefix("AWS ")?;
        return rest.split_once(':').map(|(ak, _)| ak.trim().to_string());
    }
    parse_query(raw_query)
        .ok()?
        .into_iter()
        .find(|(n, _)| n == "AWSAccessKeyId")
        .map(|(_, v)| v)
}

fn header<'h, H: HeaderPair>(headers: &'h [H], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(HeaderPair::value)
}

/// `x-amz-*` headers (and, for query auth, `x-amz-*` query parameters), lower-cased, sorted,
/// repeated values joined by `,`, each `name:value\n`.
fn canonical_amz_headers<H: HeaderPair>(headers: &[H], query: &[(String, String)]) -> String {
    let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for h in headers {
        let l = h.name().to_ascii_lowercase();
        if l.starts_with("x-amz-") {
            map.entry(l).or_default().push(unfold(h.value()));
        }
    }
    for (n, v) in query {
        let l = n.to_ascii_lowercase();
        if l.starts_with("x-amz-") && !map.contains_key(&l) {
            map.entry(l).or_default().push(unfold(v));
        }
    }
    let mut out = String::new();
    for (n, vs) in map {
        out.push_str(&n);
        out.push(':');
        out.push_str(&vs.join(","));
        out.push('\n');
    }
    out
}

/// Header value with folding whitespace collapsed and surrounding spaces trimmed.
fn unfold(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `/bucket/path` as sent, plus the signed sub-resources (`?acl`, `?uploadId=…`), sorted.
fn canonical_resource(
    raw_path: &str,
    vhost_bucket: Option<&str>,
    query: &[(String, String)],
) -> String {
    let mut out = String::with_capacity(raw_path.len() + 32);
    if let Some(b) = vhost_bucket {
        out.push('/');
        out.push_str(b);
    }
    out.push_str(if raw_path.is_empty() { "/" } else { raw_path });
    // a path-style bucket-level request signs `/bucket/` (AWS's CanonicalizedResource names the
    // bucket followed by `/`; botocore's `auth_path` and RGW do the same for `/bucket`)
    if vhost_bucket.is_none() && out.len() > 1 && !out[1..].contains('/') {
        out.push('/');
    }
    let mut subs: Vec<(&str, &str)> = query
        .iter()
        .filter(|(n, _)| SIGNED_SUBRESOURCES.contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if !subs.is_empty() {
        subs.sort_by(|a, b| a.0.cmp(b.0));
        out.push('?');
        for (i, (n, v)) in subs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(n);
            if !v.is_empty() {
                out.push('=');
                out.push_str(v);
            }
        }
    }
    out
}

/// The SigV2 string to sign. `date` is the `Date` header (empty when `x-amz-date` is sent) or,
/// for query authentication, the `Expires` value.
pub fn string_to_sign<H: HeaderPair>(
    method: &str,
    headers: &[H],
    query: &[(String, String)],
    date: &str,
    raw_path: &str,
    vhost_bucket: Option<&str>,
) -> String {
    let std_header = |name: &str| {
        header(headers, name)
            .map(str::trim)
            .or_else(|| {
                query
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            })
            .unwrap_or("")
            .to_string()
    };
    format!(
        "{method}\n{}\n{}\n{date}\n{}{}",
        std_header("content-md5"),
        std_header("content-type"),
        canonical_amz_headers(headers, query),
        canonical_resource(raw_path, vhost_bucket, query)
    )
}

/// Base64 HMAC-SHA1 of `sts` under `secret`.
pub fn sign(secret: &str, sts: &str) -> String {
    let mut mac = <Hmac<Sha1>>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(sts.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn signatures_match(expected_b64: &str, given_b64: &str) -> bool {
    let dec = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok()
    };
    match (dec(expected_b64), dec(given_b64)) {
        (Some(a), Some(b)) => bool::from(a.ct_eq(&b)),
        _ => false,
    }
}

/// Verifies a SigV2 request. `vhost_bucket`: the bucket named by the `Host` of a virtual-host
/// style request (it is part of the canonical resource).
pub fn verify<H: HeaderPair, S: AsRef<str>>(
    parts: &RequestParts<'_, H>,
    vhost_bucket: Option<&str>,
    lookup_secret: impl FnOnce(&str) -> Option<S>,
    now: DateTime<Utc>,
    max_skew: std::time::Duration,
) -> Result<Verified> {
    let authorization: Vec<&str> = parts
        .headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("authorization"))
        .map(HeaderPair::value)
        .collect();
    let query = parse_query(parts.raw_query)?;
    let q = |name: &str| {
        let mut it = query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = it.next();
        (first, it.next().is_some())
    };
    let presigned = authorization.is_empty();
    let (access_key, signature, date, date_time) = if presigned {
        let (ak, dup_ak) = q("AWSAccessKeyId");
        let (sig, dup_sig) = q("Signature");
        let (exp, dup_exp) = q("Expires");
        if dup_ak || dup_sig || dup_exp {
            return Err(SigError::MalformedPresign(
                "duplicate AWSAccessKeyId, Signature or Expires".into(),
            ));
        }
        let (Some(ak), Some(sig), Some(exp)) = (ak, sig, exp) else {
            return Err(SigError::MalformedPresign(
                "SigV2 query authentication needs AWSAccessKeyId, Expires and Signature".into(),
            ));
        };
        let secs: i64 = exp.parse().map_err(|_| {
            SigError::MalformedPresign("Expires must be a number of seconds since 1970".into())
        })?;
        let expires = DateTime::<Utc>::from_timestamp(secs, 0)
            .ok_or_else(|| SigError::MalformedPresign("Expires is out of range".into()))?;
        if now > expires {
            return Err(SigError::ExpiredPresign);
        }
        // SigV2 URLs carry only their end; bound it as SigV4's lifetime is bounded
        let limit = now
            + chrono::Duration::seconds(MAX_PRESIGN_EXPIRES_SECS as i64)
            + chrono::Duration::from_std(max_skew).unwrap_or_default();
        if expires > limit {
            return Err(SigError::PresignTooLong);
        }
        (ak.to_string(), sig.to_string(), exp.to_string(), expires)
    } else {
        if authorization.len() > 1 {
            return Err(SigError::MalformedAuth(
                "more than one Authorization header".into(),
            ));
        }
        let rest = authorization[0].strip_prefix("AWS ").ok_or_else(|| {
            SigError::MalformedAuth("expected `AWS AccessKeyId:Signature`".into())
        })?;
        let (ak, sig) = rest
            .split_once(':')
            .filter(|(a, s)| !a.is_empty() && !s.is_empty())
            .ok_or_else(|| {
                SigError::MalformedAuth("expected `AWS AccessKeyId:Signature`".into())
            })?;
        // the request time: x-amz-date wins (then the Date line of the string to sign is empty)
        let (date_line, raw) = match (
            header(parts.headers, "x-amz-date"),
            header(parts.headers, "date"),
        ) {
            (Some(x), _) => (String::new(), x),
            (None, Some(d)) => (d.trim().to_string(), d),
            (None, None) => {
                return Err(SigError::InvalidDate(
                    "neither Date nor x-amz-date is present".into(),
                ))
            }
        };
        let t = parse_v2_date(raw).map_err(SigError::InvalidDate)?;
        let skew = chrono::Duration::from_std(max_skew).unwrap_or(chrono::Duration::MAX);
        if (now - t).abs() > skew {
            return Err(SigError::RequestTimeTooSkewed {
                request_time: raw.to_string(),
                server_time: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                max_skew_ms: u64::try_from(max_skew.as_millis()).unwrap_or(u64::MAX),
            });
        }
        (ak.trim().to_string(), sig.trim().to_string(), date_line, t)
    };
    let secret = lookup_secret(&access_key).ok_or(SigError::InvalidAccessKeyId)?;
    // query authentication: only the AWS parameters and real query parameters are signed; the
    // x-amz-* parameters count as headers (botocore moves signed headers into the query)
    let sts = string_to_sign(
        parts.method,
        parts.headers,
        &query,
        &date,
        parts.raw_path,
        vhost_bucket,
    );
    if !signatures_match(&sign(secret.as_ref(), &sts), &signature) {
        return Err(SigError::SignatureDoesNotMatch);
    }
    // What the signature covers: the standard headers and every x-amz-* header (SigV2 signs
    // all of them, so none can be unsigned).
    let signed_headers = SignedHeaders::from_names(
        ["content-md5", "content-type", "date"].into_iter().chain(
            parts
                .headers
                .iter()
                .map(|h| h.name())
                .filter(|n| n.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))),
        ),
    );
    Ok(Verified {
        access_key,
        region: String::new(),
        service: "s3".into(),
        amz_date: String::new(),
        date_time,
        scope: String::new(),
        signature: [0; 32],
        signing_key: [0; 32],
        payload: PayloadMode::Unsigned,
        signed_headers,
        presigned,
        version: SigVersion::V2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_dates_ignore_the_weekday() {
        let t = parse_v2_date("Tue, 07 Jul 2030 21:53:04 GMT").unwrap();
        assert_eq!(t.to_rfc3339(), "2030-07-07T21:53:04+00:00");
        assert!(parse_v2_date("Tue, 07 Jul 9999 21:53:04 GMT").is_ok());
        assert!(parse_v2_date("Sun, 07 Jul 2030 21:53:04 GMT").is_ok());
        assert!(parse_v2_date("07 Jul 2030").is_err());
        assert!(parse_v2_date("Tue, 07 Jul 1950 21:53:04 GMT").is_err());
        assert!(parse_v2_date("Tue, 32 Jul 2030 21:53:04 GMT").is_err());
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    // AWS S3 Developer Guide, "Signing and authenticating REST requests", examples, with the
    // guide's credentials AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY (the
    // current edition's `awsexamplebucket1` examples; the upload and query-string examples as the
    // 2006-03-01 edition printed them, bucket `johnsmith`). Cross-checked with botocore's
    // HmacV1Auth.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn aws_example_object_get() {
        let headers = h(&[
            ("Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ]);
        let sts = string_to_sign(
            "GET",
            &headers,
            &[],
            "Tue, 27 Mar 2007 19:36:42 +0000",
            "/photos/puppy.jpg",
            Some("awsexamplebucket1"),
        );
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(sign(SECRET, &sts), "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    }

    #[test]
    fn aws_example_object_put() {
        let headers = h(&[
            ("Content-Type", "image/jpeg"),
            ("Content-Length", "94328"),
            ("Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 21:15:45 +0000"),
        ]);
        let sts = string_to_sign(
            "PUT",
            &headers,
            &[],
            "Tue, 27 Mar 2007 21:15:45 +0000",
            "/photos/puppy.jpg",
            Some("awsexamplebucket1"),
        );
        assert_eq!(
            sts,
            "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(sign(SECRET, &sts), "iqRzw+ileNPu1fhspnRs8nOjjIA=");
    }

    #[test]
    fn aws_example_list_with_subresource_free_query() {
        // "List": ?prefix=photos&max-keys=50&marker=puppy — none of these is signed
        let q = parse_query("prefix=photos&max-keys=50&marker=puppy").unwrap();
        let headers = h(&[("Date", "Tue, 27 Mar 2007 19:42:41 +0000")]);
        let sts = string_to_sign(
            "GET",
            &headers,
            &q,
            "Tue, 27 Mar 2007 19:42:41 +0000",
            "/",
            Some("awsexamplebucket1"),
        );
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/awsexamplebucket1/"
        );
        assert_eq!(sign(SECRET, &sts), "m0WP8eCtspQl5Ahe6L1SozdX9YA=");
    }

    #[test]
    fn aws_example_fetch_acl() {
        let q = parse_query("acl").unwrap();
        let headers = h(&[("Date", "Tue, 27 Mar 2007 19:44:46 +0000")]);
        let sts = string_to_sign(
            "GET",
            &headers,
            &q,
            "Tue, 27 Mar 2007 19:44:46 +0000",
            "/",
            Some("awsexamplebucket1"),
        );
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/awsexamplebucket1/?acl"
        );
        assert_eq!(sign(SECRET, &sts), "82ZHiFIjc+WbcwFKGUVEQspPn+0=");
    }

    #[test]
    fn aws_example_delete_with_x_amz_date() {
        // x-amz-date present: the Date line is empty and x-amz-date is an amz header
        let headers = h(&[
            ("User-Agent", "dotnet"),
            ("Host", "s3.us-west-1.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 21:20:27 +0000"),
            ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
        ]);
        let sts = string_to_sign(
            "DELETE",
            &headers,
            &[],
            "",
            "/awsexamplebucket1/photos/puppy.jpg",
            None,
        );
        assert_eq!(
            sts,
            "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        // (the guide prints this string to sign; its signature is not reproduced here)
    }

    #[test]
    fn aws_example_upload_with_amz_headers() {
        let headers = h(&[
            ("Host", "static.johnsmith.net"),
            ("Date", "Tue, 27 Mar 2007 21:06:08 +0000"),
            ("x-amz-acl", "public-read"),
            ("content-type", "application/x-download"),
            ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
            ("X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"),
            ("X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"),
            ("X-Amz-Meta-FileChecksum", "0x02661779"),
            ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
            ("Content-Disposition", "attachment; filename=database.dat"),
            ("Content-Encoding", "gzip"),
            ("Content-Length", "5913339"),
        ]);
        let sts = string_to_sign(
            "PUT",
            &headers,
            &[],
            "Tue, 27 Mar 2007 21:06:08 +0000",
            "/db-backup.dat.gz",
            Some("static.johnsmith.net"),
        );
        assert_eq!(
            sts,
            "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\nx-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\nx-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz"
        );
        assert_eq!(sign(SECRET, &sts), "ilyl83RwaSoYIEdixDQcA4OnAnc=");
    }

    #[test]
    fn aws_example_query_string_authentication() {
        // "Query string request authentication": GET /photos/puppy.jpg, Expires=1175139620
        let q = parse_query(
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D",
        )
        .unwrap();
        let sts = string_to_sign::<(String, String)>(
            "GET",
            &[],
            &q,
            "1175139620",
            "/photos/puppy.jpg",
            Some("johnsmith"),
        );
        assert_eq!(sts, "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg");
        assert_eq!(sign(SECRET, &sts), "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    }

    fn parts<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
    ) -> RequestParts<'a> {
        RequestParts {
            method,
            raw_path: path,
            raw_query: query,
            headers,
        }
    }

    #[test]
    fn verify_accepts_the_signed_request_and_refuses_any_change() {
        let now: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let date = "Tue, 01 Dec 2026 10:00:00 +0000";
        let mut headers = h(&[
            ("Date", date),
            ("x-amz-meta-a", "1"),
            ("Content-Type", "text/plain"),
        ]);
        let sts = string_to_sign("PUT", &headers, &[], date, "/b/k", None);
        headers.push((
            "Authorization".into(),
            format!("AWS AK:{}", sign("SK", &sts)),
        ));
        let secret = |ak: &str| (ak == "AK").then(|| "SK".to_string());
        let skew = std::time::Duration::from_secs(900);
        let v = verify(&parts("PUT", "/b/k", "", &headers), None, secret, now, skew).unwrap();
        assert_eq!(v.access_key, "AK");
        assert_eq!(v.version, SigVersion::V2);
        assert!(v.signed_headers.contains("x-amz-meta-a"));
        // a changed path, method, amz header or secret fails
        assert_eq!(
            verify(
                &parts("PUT", "/b/k2", "", &headers),
                None,
                secret,
                now,
                skew
            )
            .unwrap_err(),
            SigError::SignatureDoesNotMatch
        );
        assert_eq!(
            verify(&parts("GET", "/b/k", "", &headers), None, secret, now, skew).unwrap_err(),
            SigError::SignatureDoesNotMatch
        );
        let mut tampered = headers.clone();
        tampered[1].1 = "2".into();
        assert_eq!(
            verify(
                &parts("PUT", "/b/k", "", &tampered),
                None,
                secret,
                now,
                skew
            )
            .unwrap_err(),
            SigError::SignatureDoesNotMatch
        );
        let mut extra = headers.clone();
        extra.push(("x-amz-acl".into(), "public-read".into()));
        assert_eq!(
            verify(&parts("PUT", "/b/k", "", &extra), None, secret, now, skew).unwrap_err(),
            SigError::SignatureDoesNotMatch
        );
        assert_eq!(
            verify(
                &parts("PUT", "/b/k", "", &headers),
                None,
                |_| Some("other"),
                now,
                skew
            )
            .unwrap_err(),
            SigError::SignatureDoesNotMatch
        );
        assert_eq!(
            verify(
                &parts("PUT", "/b/k", "", &headers),
                None,
                |_| None::<String>,
                now,
                skew
            )
            .unwrap_err(),
            SigError::InvalidAccessKeyId
        );
        // a day later the Date is out of the skew window
        let later = now + chrono::Duration::days(1);
        assert!(matches!(
            verify(
                &parts("PUT", "/b/k", "", &headers),
                None,
                secret,
                later,
                skew
            ),
            Err(SigError::RequestTimeTooSkewed { .. })
        ));
    }

    #[test]
    fn path_style_bucket_requests_sign_the_bucket_with_a_slash() {
        assert_eq!(canonical_resource("/b", None, &[]), "/b/");
        assert_eq!(canonical_resource("/b/", None, &[]), "/b/");
        assert_eq!(canonical_resource("/b/k", None, &[]), "/b/k");
        assert_eq!(canonical_resource("/", None, &[]), "/");
        assert_eq!(canonical_resource("/", Some("b"), &[]), "/b/");
    }

    #[test]
    fn verify_query_authentication_and_expiry() {
        let now: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let exp = (now.timestamp() + 600).to_string();
        let sts = string_to_sign::<(String, String)>("GET", &[], &[], &exp, "/b/k", None);
        let sig = sign("SK", &sts);
        let enc: String =
            percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        let query = format!("AWSAccessKeyId=AK&Expires={exp}&Signature={enc}");
        let secret = |ak: &str| (ak == "AK").then(|| "SK".to_string());
        let skew = std::time::Duration::from_secs(900);
        let v = verify(&parts("GET", "/b/k", &query, &[]), None, secret, now, skew).unwrap();
        assert!(v.presigned);
        let after = now + chrono::Duration::seconds(601);
        assert_eq!(
            verify(
                &parts("GET", "/b/k", &query, &[]),
                None,
                secret,
                after,
                skew
            )
            .unwrap_err(),
            SigError::ExpiredPresign
        );
        assert_eq!(
            verify(&parts("GET", "/b/x", &query, &[]), None, secret, now, skew).unwrap_err(),
            SigError::SignatureDoesNotMatch
        );
        // a lifetime beyond 7 days is refused
        let far = (now.timestamp() + 30 * 24 * 3600).to_string();
        let sts = string_to_sign::<(String, String)>("GET", &[], &[], &far, "/b/k", None);
        let enc: String = percent_encoding::utf8_percent_encode(
            &sign("SK", &sts),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .collect();
        let query = format!("AWSAccessKeyId=AK&Expires={far}&Signature={enc}");
        assert_eq!(
            verify(&parts("GET", "/b/k", &query, &[]), None, secret, now, skew).unwrap_err(),
            SigError::PresignTooLong
        );
    }
}
