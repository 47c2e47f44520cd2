//! Browser-based uploads (S3 POST Object): a `multipart/form-data` body whose form fields carry
//! a base64 policy document and its signature (SigV2: `AWSAccessKeyId` + `signature`; SigV4:
//! `x-amz-credential`, `x-amz-date`, `x-amz-algorithm`, `x-amz-signature`), then the `file`.
//!
//! Osprey reads only the fields before `file` (bounded by [`MAX_POST_FIELDS`]), verifies the
//! policy's signature against its own keys, and forwards a form whose fields are the client's
//! with the signature made by the backend identity over the same policy (the policy text is kept
//! byte for byte unless a condition must name the backend's bucket or credential). The backend
//! then enforces every condition of that policy (expiration, bucket, `starts-with`,
//! `content-length-range`) as it would for a direct upload, and the file part streams through
//! untouched. Multipart framing is split with `httparse` for the part headers; the body is never
//! handed to a full multipart parser because the file part must be forwarded byte-exact and
//! unbuffered (docs/crates.md).

use base64::Engine as _;

/// Most bytes of form fields before the `file` field: 64 KiB (it stops a client from making
/// Osprey buffer an unbounded form; AWS allows a 20 KiB policy). A larger form: 400
/// MaxPostPreDataLengthExceeded.
pub const MAX_POST_FIELDS: usize = 64 * 1024;

/// Most parts before `file`: 256 (AWS documents 50-odd meaningful fields).
pub const MAX_POST_PARTS: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PostError {
    #[error("the request is not multipart/form-data with a boundary")]
    NotMultipart,
    #[error("the body of your POST request is not well-formed multipart/form-data: {0}")]
    Malformed(&'static str),
    #[error("POST requires exactly one file upload per request (a field named `file`)")]
    NoFile,
    #[error("the form fields before `file` exceed {MAX_POST_FIELDS} bytes")]
    TooLarge,
    #[error("the policy is not base64-encoded JSON")]
    BadPolicy,
    #[error("{0}")]
    MissingField(&'static str),
}

impl PostError {
    /// The S3 error code AWS uses for the condition.
    pub fn s3_code(&self) -> &'static str {
        match self {
            PostError::NotMultipart => "PreconditionFailed",
            PostError::Malformed(_) | PostError::NoFile => "MalformedPOSTRequest",
            PostError::TooLarge => "MaxPostPreDataLengthExceeded",
            PostError::BadPolicy | PostError::MissingField(_) => "InvalidArgument",
        }
    }
}

/// The `boundary` of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Result<String, PostError> {
    let mut parts = content_type.split(';');
    let mime = parts.next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Err(PostError::NotMultipart);
    }
    for p in parts {
        if let Some((k, v)) = p.trim().split_once('=') {
            if k.trim().eq_ignore_ascii_case("boundary") {
                let b = v.trim().trim_matches('"');
                // RFC 2046 §5.1.1: 1..70 characters
                if !b.is_empty() && b.len() <= 70 {
                    return Ok(b.to_string());
                }
            }
        }
    }
    Err(PostError::NotMultipart)
}

/// The form fields before `file`, and where the file part begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPrefix {
    /// (name as sent, value) in order.
    pub fields: Vec<(String, Vec<u8>)>,
    /// Offset of the file part's headers (just after its `--boundary\r\n`).
    pub file_part: usize,
    /// The file part's `filename` (what `${filename}` in `key` stands for).
    pub file_name: Option<String>,
}

impl FormPrefix {
    /// A field's value by case-insensitive name (AWS treats form field names so).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// A parameter (`name`, `filename`) of a `Content-Disposition: form-data; name="…"; …`.
fn disposition_param(v: &str, param: &str) -> Option<String> {
    let mut parts = v.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    for p in parts {
        if let Some((k, val)) = p.trim().split_once('=') {
            if k.trim().eq_ignore_ascii_case(param) {
                return Some(val.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// Parse the fields before `file` from the start of a body. `Ok(None)`: more bytes are needed.
pub fn parse_prefix(buf: &[u8], boundary: &str) -> Result<Option<FormPrefix>, PostError> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let need_more = |len: usize| {
        if len > MAX_POST_FIELDS {
            Err(PostError::TooLarge)
        } else {
            Ok(None)
        }
    };
    let Some(first) = find(buf, delim, 0) else {
        return need_more(buf.len());
    };
    let mut pos = first + delim.len();
    let mut fields = Vec::new();
    loop {
        if buf.len() < pos + 2 {
            return need_more(buf.len());
        }
        match &buf[pos..pos + 2] {
            b"\r\n" => pos += 2,
            b"--" => return Err(PostError::NoFile),
            _ => return Err(PostError::Malformed("boundary not followed by CRLF")),
        }
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let (hlen, headers) = match httparse::parse_headers(&buf[pos..], &mut headers) {
            Ok(httparse::Status::Complete((n, h))) => (n, h),
            Ok(httparse::Status::Partial) => return need_more(buf.len()),
            Err(_) => return Err(PostError::Malformed("part headers")),
        };
        let disposition = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-disposition"))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .unwrap_or("");
        let name = disposition_param(disposition, "name")
            .ok_or(PostError::Malformed("a part without a form-data name"))?;
        if name.eq_ignore_ascii_case("file") {
            return Ok(Some(FormPrefix {
                fields,
                file_part: pos,
                file_name: disposition_param(disposition, "filename"),
            }));
        }
        let start = pos + hlen;
        let mut end_delim = Vec::with_capacity(delim.len() + 2);
        end_delim.extend_from_slice(b"\r\n");
        end_delim.extend_from_slice(delim);
        let Some(end) = find(buf, &end_delim, start) else {
            return need_more(buf.len());
        };
        fields.push((name, buf[start..end].to_vec()));
        if fields.len() > MAX_POST_PARTS {
            return Err(PostError::TooLarge);
        }
        pos = end + end_delim.len();
        if pos > MAX_POST_FIELDS {
            return Err(PostError::TooLarge);
        }
    }
}

/// The form again: `fields` as simple parts, then the client's bytes from the file part on.
pub fn rebuild(boundary: &str, fields: &[(String, Vec<u8>)], from_file_part: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(from_file_part.len() + 256 * (fields.len() + 1));
    for (n, v) in fields {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        out.extend_from_slice(n.replace('"', "%22").as_bytes());
        out.extend_from_slice(b"\"\r\n\r\n");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(from_file_part);
    out
}

/// How the form is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostAuth {
    /// No policy: an anonymous upload (the bucket's ACL decides).
    Anonymous,
    V2 {
        access_key: String,
        signature: String,
    },
    V4 {
        access_key: String,
        /// `yyyymmdd` of the credential scope.
        date: String,
        region: String,
        service: String,
        signature: String,
    },
}

/// Fields that carry the signature, replaced by Osprey's for the backend.
pub const SIGNATURE_FIELDS: &[&str] = &[
    "AWSAccessKeyId",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-algorithm",
    "x-amz-date",
    "x-amz-security-token",
    "policy",
];

pub fn auth_of(form: &FormPrefix) -> Result<PostAuth, PostError> {
    let Some(_) = form.get("policy") else {
        return Ok(PostAuth::Anonymous);
    };
    if let Some(alg) = form.get_str("x-amz-algorithm") {
        if alg != "AWS4-HMAC-SHA256" {
            return Err(PostError::MissingField(
                "x-amz-algorithm must be AWS4-HMAC-SHA256",
            ));
        }
        let cred = form
            .get_str("x-amz-credential")
            .ok_or(PostError::MissingField(
                "a SigV4 POST needs the x-amz-credential field",
            ))?;
        let parts: Vec<&str> = cred.split('/').collect();
        let [ak, date, region, service, "aws4_request"] = parts.as_slice() else {
            return Err(PostError::MissingField(
                "x-amz-credential must be <key>/<yyyymmdd>/<region>/<service>/aws4_request",
            ));
        };
        let signature = form
            .get_str("x-amz-signature")
            .ok_or(PostError::MissingField(
                "a SigV4 POST needs the x-amz-signature field",
            ))?;
        return Ok(PostAuth::V4 {
            access_key: ak.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            signature: signature.trim().to_string(),
        });
    }
    let access_key = form
        .get_str("AWSAccessKeyId")
        .ok_or(PostError::MissingField(
            "a POST with a policy needs AWSAccessKeyId (SigV2) or x-amz-credential (SigV4)",
        ))?;
    let signature = form.get_str("signature").ok_or(PostError::MissingField(
        "a SigV2 POST needs the signature field",
    ))?;
    Ok(PostAuth::V2 {
        access_key: access_key.trim().to_string(),
        signature: signature.trim().to_string(),
    })
}

/// Does `signature` sign `policy` (the base64 text as sent) with `secret`? Constant time.
pub fn verify(auth: &PostAuth, policy: &[u8], secret: &str) -> bool {
    use subtle::ConstantTimeEq;
    match auth {
        PostAuth::Anonymous => false,
        PostAuth::V2 { signature, .. } => {
            let ours = crate::s3::sigv2::sign(secret, &String::from_utf8_lossy(policy));
            bool::from(ours.as_bytes().ct_eq(signature.as_bytes()))
        }
        PostAuth::V4 {
            date,
            region,
            service,
            signature,
            ..
        } => {
            let key = crate::s3::sigv4::signing_key(secret, date, region, service);
            let ours = hex::encode(crate::s3::sigv4::hmac_sha256(&key, policy));
            bool::from(
                ours.as_bytes()
                    .ct_eq(signature.to_ascii_lowercase().as_bytes()),
            )
        }
    }
}

/// What the backend's form needs: its bucket name and its credential.
pub struct BackendSigner<'a> {
    pub backend_bucket: &'a str,
    pub client_bucket: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The backend's form fields: the client's (signature fields replaced), policy re-signed in the
/// client's signature version. The policy text is kept as sent unless a condition names the
/// client's bucket on a backend that calls it otherwise, or the client's SigV4 credential/date.
pub fn backend_fields(
    form: &FormPrefix,
    auth: &PostAuth,
    s: &BackendSigner<'_>,
) -> Result<Vec<(String, Vec<u8>)>, PostError> {
    let policy_b64 = form.get("policy").ok_or(PostError::BadPolicy)?;
    let amz_date = s.now.format("%Y%m%dT%H%M%SZ").to_string();
    let day = s.now.format("%Y%m%d").to_string();
    let credential = format!("{}/{day}/{}/s3/aws4_request", s.access_key, s.region);
    let v4 = matches!(auth, PostAuth::V4 { .. });
    let mut replace: Vec<(&str, Option<&str>, String)> = Vec::new();
    if s.backend_bucket != s.client_bucket {
        // only a condition naming the bucket the form is posted to: one naming another bucket
        // stays, so the backend refuses the form as S3 would ("Policy Condition failed")
        replace.push((
            "bucket",
            Some(s.client_bucket),
            s.backend_bucket.to_string(),
        ));
    }
    if v4 {
        replace.push(("x-amz-credential", None, credential.clone()));
        replace.push(("x-amz-date", None, amz_date.clone()));
    }
    let policy = if replace.is_empty() {
        policy_b64.to_vec()
    } else {
        rewrite_policy(policy_b64, &replace)?.into_bytes()
    };
    let mut out: Vec<(String, Vec<u8>)> = form
        .fields
        .iter()
        .filter(|(n, _)| !SIGNATURE_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(n)))
        .cloned()
        .collect();
    // `${filename}` in `key` is the file's name (S3 POST Object), substituted here so every
    // backend stores the same key (the embedded store would keep it literally)
    if let Some(name) = form.file_name.as_deref() {
        for (n, v) in out.iter_mut() {
            if n.eq_ignore_ascii_case("key") {
                if let Ok(k) = std::str::from_utf8(v) {
                    *v = k.replace("${filename}", name).into_bytes();
                }
            }
        }
    }
    out.push(("policy".into(), policy.clone()));
    if v4 {
        let key = crate::s3::sigv4::signing_key(s.secret_key, &day, s.region, "s3");
        let sig = hex::encode(crate::s3::sigv4::hmac_sha256(&key, &policy));
        out.push(("x-amz-algorithm".into(), b"AWS4-HMAC-SHA256".to_vec()));
        out.push(("x-amz-credential".into(), credential.into_bytes()));
        out.push(("x-amz-date".into(), amz_date.into_bytes()));
        out.push(("x-amz-signature".into(), sig.into_bytes()));
    } else {
        let sig = crate::s3::sigv2::sign(s.secret_key, &String::from_utf8_lossy(&policy));
        out.push(("AWSAccessKeyId".into(), s.access_key.as_bytes().to_vec()));
        out.push(("signature".into(), sig.into_bytes()));
    }
    Ok(out)
}

/// Form fields of the backend never sees.
const FORM_ACL_FIELDS: &[&str] = &["acl"];

/// An anonymous form Osprey authorized for a backend that sees one identity (issue 11): the
/// backend refuses unsigned forms (its buckets are the service user's), so the form goes with a
/// policy Osprey writes — this bucket, and whatever the browser sent in the other fields — signed
/// with the service key for 15 minutes. The `acl` field is dropped: ACLs are Osprey's there.
pub fn anonymous_backend_fields(
    form: &FormPrefix,
    s: &BackendSigner<'_>,
) -> Result<Vec<(String, Vec<u8>)>, PostError> {
    let amz_date = s.now.format("%Y%m%dT%H%M%SZ").to_string();
    let day = s.now.format("%Y%m%d").to_string();
    let credential = format!("{}/{day}/{}/s3/aws4_request", s.access_key, s.region);
    let mut out: Vec<(String, Vec<u8>)> = form
        .fields
        .iter()
        .filter(|(n, _)| {
            !SIGNATURE_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(n))
                && !FORM_ACL_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(n))
                && !n.eq_ignore_ascii_case("bucket")
        })
        .cloned()
        .collect();
    if let Some(name) = form.file_name.as_deref() {
        for (n, v) in out.iter_mut() {
            if n.eq_ignore_ascii_case("key") {
                if let Ok(k) = std::str::from_utf8(v) {
                    *v = k.replace("${filename}", name).into_bytes();
                }
            }
        }
    }
    let mut conditions = vec![
        serde_json::json!({ "bucket": s.backend_bucket }),
        serde_json::json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }),
        serde_json::json!({ "x-amz-credential": credential }),
        serde_json::json!({ "x-amz-date": amz_date }),
    ];
    for (n, _) in &out {
        conditions.push(serde_json::json!(["starts-with", format!("${n}"), ""]));
    }
    let expiration = (s.now + chrono::Duration::minutes(15))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let doc = serde_json::json!({ "expiration": expiration, "conditions": conditions });
    let policy = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        serde_json::to_vec(&doc).map_err(|_| PostError::BadPolicy)?,
    )
    .into_bytes();
    let key = crate::s3::sigv4::signing_key(s.secret_key, &day, s.region, "s3");
    let sig = hex::encode(crate::s3::sigv4::hmac_sha256(&key, &policy));
    out.push(("policy".into(), policy));
    out.push(("x-amz-algorithm".into(), b"AWS4-HMAC-SHA256".to_vec()));
    out.push(("x-amz-credential".into(), credential.into_bytes()));
    out.push(("x-amz-date".into(), amz_date.into_bytes()));
    out.push(("x-amz-signature".into(), sig.into_bytes()));
    Ok(out)
}

/// Replace the values of equality conditions on `fields` (`{"f": v}` and `["eq", "$f", v]`).
fn rewrite_policy(
    policy_b64: &[u8],
    replace: &[(&str, Option<&str>, String)],
) -> Result<String, PostError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64
        .decode(
            policy_b64
                .iter()
                .copied()
                .filter(|c| !c.is_ascii_whitespace())
                .collect::<Vec<_>>(),
        )
        .map_err(|_| PostError::BadPolicy)?;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|_| PostError::BadPolicy)?;
    if let Some(conds) = doc
        .get_mut("conditions")
        .and_then(serde_json::Value::as_array_mut)
    {
        for c in conds {
            match c {
                serde_json::Value::Object(m) => {
                    for (f, expect, v) in replace {
                        if let Some(x) = m.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(f)) {
                            if expect.is_none_or(|e| x.1.as_str() == Some(e)) {
                                *x.1 = serde_json::Value::String(v.clone());
                            }
                        }
                    }
                }
                serde_json::Value::Array(a) if a.len() == 3 => {
                    let is_eq = a[0].as_str().is_some_and(|o| o.eq_ignore_ascii_case("eq"));
                    let field = a[1].as_str().map(|f| f.trim_start_matches('$').to_string());
                    if let (true, Some(field)) = (is_eq, field) {
                        if let Some((_, expect, v)) = replace
                            .iter()
                            .find(|(f, _, _)| f.eq_ignore_ascii_case(&field))
                        {
                            if expect.is_none_or(|e| a[2].as_str() == Some(e)) {
                                a[2] = serde_json::Value::String(v.clone());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let text = serde_json::to_vec(&doc).map_err(|_| PostError::BadPolicy)?;
    Ok(b64.encode(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, &str)], file: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for (n, v) in parts {
            b.extend_from_slice(
                format!("--XyZ\r\nContent-Disposition: form-data; name=\"{n}\"; filename=\"{n}\"\r\n\r\n{v}\r\n").as_bytes(),
            );
        }
        b.extend_from_slice(
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: text/plain\r\n\r\n{file}\r\n--XyZ--\r\n").as_bytes(),
        );
        b
    }

    #[test]
    fn boundary_of_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").unwrap(),
            "XyZ"
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=\"a b\"").unwrap(),
            "a b"
        );
        assert_eq!(boundary("text/plain"), Err(PostError::NotMultipart));
        assert_eq!(
            boundary("multipart/form-data"),
            Err(PostError::NotMultipart)
        );
    }

    #[test]
    fn prefix_split_at_every_byte() {
        let body = form(
            &[("key", "foo.txt"), ("policy", "cG9s"), ("acl", "private")],
            "bar",
        );
        let full = parse_prefix(&body, "XyZ").unwrap().unwrap();
        assert_eq!(full.get_str("KEY"), Some("foo.txt"));
        assert_eq!(full.fields.len(), 3);
        assert!(
            body[full.file_part..].starts_with(b"Content-Disposition: form-data; name=\"file\"")
        );
        // any shorter prefix asks for more bytes, never errs or panics
        for n in 0..full.file_part + 10 {
            match parse_prefix(&body[..n], "XyZ").unwrap() {
                None => {}
                Some(p) => assert_eq!(p, full, "at {n}"),
            }
        }
        // rebuilt form: same fields, same file bytes
        let again = rebuild("XyZ", &full.fields, &body[full.file_part..]);
        let p2 = parse_prefix(&again, "XyZ").unwrap().unwrap();
        assert_eq!(p2.fields, full.fields);
        assert_eq!(&again[p2.file_part..], &body[full.file_part..]);
    }

    #[test]
    fn malformed_forms() {
        let no_file =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XyZ--\r\n";
        assert_eq!(parse_prefix(no_file, "XyZ"), Err(PostError::NoFile));
        let no_name = b"--XyZ\r\nContent-Type: text/plain\r\n\r\nk\r\n--XyZ--\r\n";
        assert!(matches!(
            parse_prefix(no_name, "XyZ"),
            Err(PostError::Malformed(_))
        ));
        let huge = vec![b'a'; MAX_POST_FIELDS + 1];
        assert_eq!(parse_prefix(&huge, "XyZ"), Err(PostError::TooLarge));
    }

    #[test]
    fn v2_and_v4_policies_verify_and_resign() {
        let policy = base64::engine::general_purpose::STANDARD.encode(
            r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"photos"},["eq","$x-amz-credential","AK/20300101/us-east-1/s3/aws4_request"]]}"#,
        );
        let sig2 = crate::s3::sigv2::sign("SECRET", &policy);
        let body = form(
            &[
                ("AWSAccessKeyId", "AK"),
                ("signature", &sig2),
                ("policy", &policy),
            ],
            "x",
        );
        let f = parse_prefix(&body, "XyZ").unwrap().unwrap();
        let a = auth_of(&f).unwrap();
        assert!(matches!(a, PostAuth::V2 { .. }));
        assert!(verify(&a, policy.as_bytes(), "SECRET"));
        assert!(!verify(&a, policy.as_bytes(), "SECRET2"));
        let key = crate::s3::sigv4::signing_key("SECRET", "20300101", "us-east-1", "s3");
        let sig4 = hex::encode(crate::s3::sigv4::hmac_sha256(&key, policy.as_bytes()));
        let body = form(
            &[
                ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
                ("x-amz-credential", "AK/20300101/us-east-1/s3/aws4_request"),
                ("x-amz-date", "20300101T000000Z"),
                ("x-amz-signature", &sig4),
                ("policy", &policy),
                ("key", "k/${filename}"),
            ],
            "x",
        );
        let f = parse_prefix(&body, "XyZ").unwrap().unwrap();
        let a = auth_of(&f).unwrap();
        assert!(verify(&a, policy.as_bytes(), "SECRET"));
        let mut tampered = policy.clone().into_bytes();
        tampered[3] ^= 1;
        assert!(!verify(&a, &tampered, "SECRET"));
        // re-signed for a backend that names the bucket `t1-photos`, with its own credential
        let s = BackendSigner {
            backend_bucket: "t1-photos",
            client_bucket: "photos",
            access_key: "BAK",
            secret_key: "BSECRET",
            region: "default",
            now: chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
                .unwrap()
                .into(),
        };
        let out = backend_fields(&f, &a, &s).unwrap();
        let get = |n: &str| {
            out.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
                .unwrap()
        };
        assert_eq!(get("key"), "k/f", "${{filename}} is the file part's name");
        assert_eq!(
            get("x-amz-credential"),
            "BAK/20300101/default/s3/aws4_request"
        );
        let new_policy = get("policy");
        let doc: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(&new_policy)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(doc["conditions"][0]["bucket"], "t1-photos");
        assert_eq!(
            doc["conditions"][1][2],
            "BAK/20300101/default/s3/aws4_request"
        );
        let bkey = crate::s3::sigv4::signing_key("BSECRET", "20300101", "default", "s3");
        assert_eq!(
            get("x-amz-signature"),
            hex::encode(crate::s3::sigv4::hmac_sha256(&bkey, new_policy.as_bytes()))
        );
        assert!(!out.iter().any(|(k, _)| k == "AWSAccessKeyId"));
    }
}
