//! Known-answer tests against AWS's published vectors, and refusal tests.
//!
//! * S3 API Reference, "Signature Calculations for the Authorization Header" examples
//!   (GET Object, PUT Object, GET Bucket Lifecycle, GET Bucket (list objects)) and the
//!   query-string example, all with `AKIAIOSFODNN7EXAMPLE` at 20130524T000000Z, us-east-1.
//! * S3 API Reference, `sigv4-streaming.html`: the seed request of the aws-chunked example.
//! * The aws-sig-v4-test-suite (`AKIDEXAMPLE`, 20150830T123600Z, service `service`).

use super::*;
use crate::s3::chunked::ChunkedDecoder;
use chrono::TimeZone;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const HOST: &str = "examplebucket.s3.amazonaws.com";
const DATE: &str = "20130524T000000Z";

fn s3_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap()
}

fn lookup(ak: &str) -> Option<String> {
    (ak == AK).then(|| SK.to_owned())
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn auth(signed: &str, sig: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={sig}"
    )
}

fn verify_at(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Verified> {
    let parts = RequestParts {
        method,
        raw_path: path,
        raw_query: query,
        headers,
    };
    verify(&parts, lookup, now, MAX_SKEW)
}

fn get_object_headers(sig: &str) -> Vec<(String, String)> {
    h(&[
        ("Host", HOST),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256_HEX),
        ("x-amz-date", DATE),
        (
            "Authorization",
            &auth("host;range;x-amz-content-sha256;x-amz-date", sig),
        ),
    ])
}

const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

#[test]
fn s3_get_object_example() {
    let headers = get_object_headers(GET_OBJECT_SIG);
    let creq = canonical_request(
        "GET",
        "/test.txt",
        "",
        &headers,
        &["host", "range", "x-amz-content-sha256", "x-amz-date"],
        EMPTY_SHA256_HEX,
    )
    .unwrap();
    // The canonical request hash AWS prints as the last line of the string to sign.
    assert_eq!(
        sha256_hex(creq.as_bytes()),
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
    let v = verify_at("GET", "/test.txt", "", &headers, s3_now()).unwrap();
    assert_eq!(v.access_key, AK);
    assert_eq!(v.region, "us-east-1");
    assert_eq!(v.service, "s3");
    assert_eq!(v.scope, "20130524/us-east-1/s3/aws4_request");
    assert_eq!(v.seed_signature(), GET_OBJECT_SIG);
    assert_eq!(v.payload, PayloadMode::Sha256(Sha256::digest(b"").into()));
    assert!(!v.presigned);
    assert!(!format!("{v:?}").contains(&hex::encode(v.signing_key)));
}

#[test]
fn s3_put_object_example() {
    let payload = sha256_hex(b"Welcome to Amazon S3.");
    assert_eq!(
        payload,
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
    let headers = h(&[
        ("Host", HOST),
        ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
        (
            "Authorization",
            &auth(
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            ),
        ),
        ("x-amz-date", DATE),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", &payload),
    ]);
    // `$` sent raw or encoded canonicalises the same way (decoded, then encoded once).
    for path in ["/test%24file.text", "/test$file.text"] {
        let v = verify_at("PUT", path, "", &headers, s3_now()).unwrap();
        let PayloadMode::Sha256(want) = v.payload else {
            panic!("expected a SHA-256 payload")
        };
        let mut check = PayloadSha256Check::new(want);
        check.update(b"Welcome to ");
        check.update(b"Amazon S3.");
        assert_eq!(check.finish(), Ok(()));
        let mut check = PayloadSha256Check::new(want);
        check.update(b"Welcome to Amazon S3!");
        assert_eq!(check.finish(), Err(SigError::XAmzContentSha256Mismatch));
    }
}

#[test]
fn s3_get_bucket_lifecycle_and_list_examples() {
    for (query, sig) in [
        (
            "lifecycle",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            "max-keys=2&prefix=J",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
        // Parameter order on the wire does not matter.
        (
            "prefix=J&max-keys=2",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ] {
        let headers = h(&[
            ("Host", HOST),
            ("x-amz-date", DATE),
            ("x-amz-content-sha256", EMPTY_SHA256_HEX),
            (
                "Authorization",
                &auth("host;x-amz-content-sha256;x-amz-date", sig),
            ),
        ]);
        verify_at("GET", "/", query, &headers, s3_now()).unwrap_or_else(|e| panic!("{query}: {e}"));
    }
}

const PRESIGN_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn s3_presigned_example() {
    let headers = h(&[("Host", HOST)]);
    let v = verify_at("GET", "/test.txt", PRESIGN_QUERY, &headers, s3_now()).unwrap();
    assert!(v.presigned);
    assert_eq!(v.payload, PayloadMode::Unsigned);
    assert_eq!(
        v.seed_signature(),
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
    // Valid until X-Amz-Date + 86400 s, inclusive.
    let last = s3_now() + chrono::Duration::seconds(86400);
    assert!(verify_at("GET", "/test.txt", PRESIGN_QUERY, &headers, last).is_ok());
    // The client-side helper reproduces the URL.
    let params = SigningParams {
        access_key: AK,
        secret_key: SK,
        region: "us-east-1",
        service: "s3",
        amz_date: DATE,
    };
    let parts = RequestParts {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &headers,
    };
    assert_eq!(
        presign_query(&params, &parts, &["host"], 86400).unwrap(),
        PRESIGN_QUERY
    );
}

#[test]
fn presign_expiry_and_validity_window() {
    let headers = h(&[("Host", HOST)]);
    let after = s3_now() + chrono::Duration::seconds(86401);
    assert_eq!(
        verify_at("GET", "/test.txt", PRESIGN_QUERY, &headers, after).unwrap_err(),
        SigError::ExpiredPresign
    );
    // Skew tolerates a client clock slightly ahead, but not more.
    let early_ok = s3_now() - chrono::Duration::minutes(14);
    assert!(verify_at("GET", "/test.txt", PRESIGN_QUERY, &headers, early_ok).is_ok());
    let too_early = s3_now() - chrono::Duration::minutes(16);
    assert_eq!(
        verify_at("GET", "/test.txt", PRESIGN_QUERY, &headers, too_early).unwrap_err(),
        SigError::PresignNotYetValid
    );
}

#[test]
fn presign_expires_limits() {
    let headers = h(&[("Host", HOST)]);
    let params = SigningParams {
        access_key: AK,
        secret_key: SK,
        region: "us-east-1",
        service: "s3",
        amz_date: DATE,
    };
    let parts = RequestParts {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &headers,
    };
    // Exactly 7 days is allowed; one second more is refused even though correctly signed.
    let week = presign_query(&params, &parts, &["host"], 604_800).unwrap();
    assert!(verify_at("GET", "/test.txt", &week, &headers, s3_now()).is_ok());
    for expires in [604_801, 0] {
        let q = presign_query(&params, &parts, &["host"], expires).unwrap();
        let e = verify_at("GET", "/test.txt", &q, &headers, s3_now()).unwrap_err();
        assert_eq!(e, SigError::PresignTooLong);
        assert_eq!((e.s3_code(), e.http_status()), ("AccessDenied", 403));
    }
    // negative: out of range too (RGW: 403); not a number: malformed
    let q = PRESIGN_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=-5");
    assert_eq!(
        verify_at("GET", "/test.txt", &q, &headers, s3_now()),
        Err(SigError::PresignTooLong)
    );
    let q = PRESIGN_QUERY.replace("X-Amz-Expires=86400", "X-Amz-Expires=5s");
    assert!(matches!(
        verify_at("GET", "/test.txt", &q, &headers, s3_now()),
        Err(SigError::MalformedPresign(_))
    ));
}

#[test]
fn presign_tampering_rejected() {
    let headers = h(&[("Host", HOST)]);
    // Another object, another host, another method, an added parameter, a longer expiry.
    let cases = [
        ("GET", "/test2.txt", PRESIGN_QUERY.to_owned(), HOST),
        (
            "GET",
            "/test.txt",
            PRESIGN_QUERY.to_owned(),
            "other.s3.amazonaws.com",
        ),
        ("PUT", "/test.txt", PRESIGN_QUERY.to_owned(), HOST),
        ("GET", "/test.txt", format!("{PRESIGN_QUERY}&acl"), HOST),
        (
            "GET",
            "/test.txt",
            PRESIGN_QUERY.replace("Expires=86400", "Expires=86401"),
            HOST,
        ),
    ];
    for (method, path, query, host) in cases {
        let headers = h(&[("Host", host)]);
        assert_eq!(
            verify_at(method, path, &query, &headers, s3_now()).unwrap_err(),
            SigError::SignatureDoesNotMatch,
            "{method} {path}?{query} host {host}"
        );
    }
    // Unsigned x-amz-* header added to a presigned request.
    let mut extra = headers.clone();
    extra.push(("x-amz-acl".into(), "public-read".into()));
    assert!(matches!(
        verify_at("GET", "/test.txt", PRESIGN_QUERY, &extra, s3_now()),
        Err(SigError::HeadersNotSigned(_))
    ));
    // Duplicate parameter.
    let dup = format!("{PRESIGN_QUERY}&X-Amz-Date=20130524T000000Z");
    assert!(matches!(
        verify_at("GET", "/test.txt", &dup, &headers, s3_now()),
        Err(SigError::MalformedPresign(_))
    ));
}

#[test]
fn tampered_header_signature_rejected() {
    let mut bad = GET_OBJECT_SIG.to_owned();
    bad.replace_range(0..1, "e");
    let e = verify_at("GET", "/test.txt", "", &get_object_headers(&bad), s3_now()).unwrap_err();
    assert_eq!(e, SigError::SignatureDoesNotMatch);
    assert_eq!(
        (e.s3_code(), e.http_status()),
        ("SignatureDoesNotMatch", 403)
    );

    // Same signature, changed request: other range, other path, extra query parameter.
    let mut headers = get_object_headers(GET_OBJECT_SIG);
    headers[1].1 = "bytes=0-99".into();
    assert_eq!(
        verify_at("GET", "/test.txt", "", &headers, s3_now()).unwrap_err(),
        SigError::SignatureDoesNotMatch
    );
    let headers = get_object_headers(GET_OBJECT_SIG);
    assert_eq!(
        verify_at("GET", "/test.tx", "", &headers, s3_now()).unwrap_err(),
        SigError::SignatureDoesNotMatch
    );
    assert_eq!(
        verify_at("GET", "/test.txt", "acl", &headers, s3_now()).unwrap_err(),
        SigError::SignatureDoesNotMatch
    );
    // Unknown access key.
    let other = get_object_headers(GET_OBJECT_SIG)
        .into_iter()
        .map(|(n, v)| (n, v.replace(AK, "AKIAOTHER")))
        .collect::<Vec<_>>();
    assert_eq!(
        verify_at("GET", "/test.txt", "", &other, s3_now()).unwrap_err(),
        SigError::InvalidAccessKeyId
    );
}

#[test]
fn skew_rejected_with_fields() {
    let headers = get_object_headers(GET_OBJECT_SIG);
    let later = s3_now() + chrono::Duration::minutes(16);
    let e = verify_at("GET", "/test.txt", "", &headers, later).unwrap_err();
    assert_eq!(
        e,
        SigError::RequestTimeTooSkewed {
            request_time: DATE.into(),
            server_time: "2013-05-24T00:16:00Z".into(),
            max_skew_ms: 900_000,
        }
    );
    assert_eq!(
        (e.s3_code(), e.http_status()),
        ("RequestTimeTooSkewed", 403)
    );
    assert_eq!(e.extra_elements().len(), 3);
    let earlier = s3_now() - chrono::Duration::minutes(16);
    assert!(matches!(
        verify_at("GET", "/test.txt", "", &headers, earlier),
        Err(SigError::RequestTimeTooSkewed { .. })
    ));
    let within = s3_now() + chrono::Duration::minutes(14);
    assert!(verify_at("GET", "/test.txt", "", &headers, within).is_ok());
}

#[test]
fn header_auth_refusals() {
    let base = get_object_headers(GET_OBJECT_SIG);
    let without = |name: &str| -> Vec<(String, String)> {
        base.iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            .cloned()
            .collect()
    };
    assert_eq!(
        verify_at("GET", "/test.txt", "", &without("authorization"), s3_now()).unwrap_err(),
        SigError::MissingAuth
    );
    // x-amz-content-sha256 absent (and so not signed either).
    let mut no_sha = without("x-amz-content-sha256");
    no_sha[3].1 = auth("host;range;x-amz-date", GET_OBJECT_SIG);
    assert_eq!(
        verify_at("GET", "/test.txt", "", &no_sha, s3_now()).unwrap_err(),
        SigError::MissingContentSha256
    );
    // An unsigned x-amz-* header smuggled into a captured request.
    let mut smuggled = base.clone();
    smuggled.push(("X-Amz-Copy-Source".into(), "/other/secret".into()));
    assert_eq!(
        verify_at("GET", "/test.txt", "", &smuggled, s3_now()).unwrap_err(),
        SigError::HeadersNotSigned("x-amz-copy-source".into())
    );
    // Both mechanisms at once.
    assert_eq!(
        verify_at("GET", "/test.txt", PRESIGN_QUERY, &base, s3_now()).unwrap_err(),
        SigError::MultipleAuthMechanisms
    );
    // Date header present but not signed, no x-amz-date: a replayer could refresh it.
    let mut unsigned_date = without("x-amz-date");
    unsigned_date.push(("Date".into(), "Fri, 24 May 2013 00:00:00 GMT".into()));
    unsigned_date[3].1 = auth("host;range;x-amz-content-sha256", GET_OBJECT_SIG);
    assert_eq!(
        verify_at("GET", "/test.txt", "", &unsigned_date, s3_now()).unwrap_err(),
        SigError::HeadersNotSigned("date".into())
    );
    // No date at all.
    assert!(matches!(
        verify_at("GET", "/test.txt", "", &without("x-amz-date"), s3_now()),
        Err(SigError::InvalidDate(_))
    ));
    // Credential date differs from x-amz-date.
    let mut wrong_day = base.clone();
    wrong_day[4].1 = wrong_day[4].1.replace("/20130524/", "/20130523/");
    assert!(matches!(
        verify_at("GET", "/test.txt", "", &wrong_day, s3_now()),
        Err(SigError::MalformedAuth(_))
    ));
    // Bad x-amz-content-sha256.
    let mut bad_sha = base.clone();
    bad_sha[2].1 = "abc".into();
    assert_eq!(
        verify_at("GET", "/test.txt", "", &bad_sha, s3_now()).unwrap_err(),
        SigError::InvalidContentSha256
    );
    // Two Authorization headers.
    let mut two = base.clone();
    two.push(base[4].clone());
    assert!(matches!(
        verify_at("GET", "/test.txt", "", &two, s3_now()),
        Err(SigError::MalformedAuth(_))
    ));
}

#[test]
fn parse_authorization_variants() {
    let want = parse_authorization(&auth("host;range;x-amz-date", GET_OBJECT_SIG)).unwrap();
    assert_eq!(want.credential.access_key, AK);
    assert_eq!(
        want.credential.scope(),
        "20130524/us-east-1/s3/aws4_request"
    );
    assert_eq!(
        want.signed_headers.iter().collect::<Vec<_>>(),
        ["host", "range", "x-amz-date"]
    );
    let spaced = format!(
        "AWS4-HMAC-SHA256  Credential={AK}/20130524/us-east-1/s3/aws4_request , SignedHeaders=host;range;x-amz-date,  Signature={GET_OBJECT_SIG}"
    );
    assert_eq!(parse_authorization(&spaced).unwrap(), want);
    let reordered = format!(
        "AWS4-HMAC-SHA256 Signature={GET_OBJECT_SIG} Credential={AK}/20130524/us-east-1/s3/aws4_request SignedHeaders=x-amz-date;Host;range"
    );
    assert_eq!(parse_authorization(&reordered).unwrap(), want);
    // tabs and commas in any run between components (the bytewise tokenizer, issue 13)
    let tabbed = format!(
        "AWS4-HMAC-SHA256\tCredential={AK}/20130524/us-east-1/s3/aws4_request,\t,SignedHeaders=host;range;x-amz-date\t Signature={GET_OBJECT_SIG},"
    );
    assert_eq!(parse_authorization(&tabbed).unwrap(), want);
    // sorted as sent but not lower case: an upper-case letter anywhere in a name, not only in
    // its last byte, makes the list non-canonical (the table-driven scan, issue 13)
    for signed in [
        "Host;range;x-amz-date",
        "hOst;range;x-amz-date",
        "host;range;X-amz-date",
    ] {
        let v = format!(
            "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={GET_OBJECT_SIG}"
        );
        assert_eq!(parse_authorization(&v).unwrap(), want, "{signed}");
    }

    let malformed = |v: &str| match parse_authorization(v) {
        Err(SigError::MalformedAuth(m)) => m,
        other => panic!("{v}: {other:?}"),
    };
    let cred = format!("Credential={AK}/20130524/us-east-1/s3/aws4_request");
    let sig = format!("Signature={GET_OBJECT_SIG}");
    assert!(malformed(&format!("AWS4-HMAC-SHA256 {cred}, {sig}")).contains("missing SignedHeaders"));
    assert!(
        malformed(&format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host"))
            .contains("missing Signature")
    );
    assert!(malformed(&format!(
        "AWS4-HMAC-SHA256 {cred}, {cred}, SignedHeaders=host, {sig}"
    ))
    .contains("duplicate Credential"));
    assert!(malformed(&format!(
        "AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;host, {sig}"
    ))
    .contains("duplicate header"));
    assert!(malformed(&format!(
        "AWS4-HMAC-SHA256 {cred}, SignedHeaders=host, Signature=abc"
    ))
    .contains("64 hexadecimal"));
    assert!(malformed(&format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, {sig}"
    ))
    .contains("terminal"));
    assert!(malformed(&format!(
        "AWS4-HMAC-SHA256 Credential={AK}/2013052/us-east-1/s3/aws4_request, SignedHeaders=host, {sig}"
    ))
    .contains("invalid date"));
    // eight digits that name no day (February 30th, month 13, day 0) or are not all digits
    for date in ["20230230", "20241301", "20240100", "2024o101"] {
        assert!(
            malformed(&format!(
                "AWS4-HMAC-SHA256 Credential={AK}/{date}/us-east-1/s3/aws4_request, SignedHeaders=host, {sig}"
            ))
            .contains("invalid date"),
            "{date}"
        );
    }
    // a leap day is a day
    assert!(parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20240229/us-east-1/s3/aws4_request, SignedHeaders=host, {sig}"
    ))
    .is_ok());
    // six parts, or four: not a credential
    for cred in [
        format!("Credential={AK}/20130524/us-east-1/s3/aws4_request/x"),
        format!("Credential={AK}/20130524/us-east-1/aws4_request"),
    ] {
        assert!(
            malformed(&format!(
                "AWS4-HMAC-SHA256 {cred}, SignedHeaders=host, {sig}"
            ))
            .contains("mal-formed"),
            "{cred}"
        );
    }
    assert!(malformed(&format!(
        "AWS4-HMAC-SHA256 {cred}, Foo=bar, SignedHeaders=host, {sig}"
    ))
    .contains("unknown component"));
    // a component of multi-byte characters is cut at its delimiters, never inside a character
    assert!(malformed(&format!(
        "AWS4-HMAC-SHA256 {cred},é=ü,SignedHeaders=host, {sig}"
    ))
    .contains("unknown component 'é'"));
    assert!(malformed(&"x".repeat(MAX_AUTH_HEADER_BYTES + 1)).contains("longer"));
    assert!(matches!(
        parse_authorization("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="),
        Err(SigError::UnsupportedAlgorithm(_))
    ));
    // every byte of every name is checked, first, middle and last
    for bad in [
        "host;(range",
        "host;ra\"nge",
        "host;range)",
        "hést;range",
        "host;;range",
        "host;",
    ] {
        assert!(
            malformed(&format!(
                "AWS4-HMAC-SHA256 {cred}, SignedHeaders={bad}, {sig}"
            ))
            .contains("invalid header name"),
            "{bad}"
        );
    }
    let many: Vec<String> = (0..=MAX_SIGNED_HEADERS).map(|i| format!("h{i}")).collect();
    assert!(malformed(&format!(
        "AWS4-HMAC-SHA256 {cred}, SignedHeaders={}, {sig}",
        many.join(";")
    ))
    .contains("more than"));
}

/// The seed request of AWS's aws-chunked example, verified end to end with its body.
#[test]
fn s3_chunked_upload_example_end_to_end() {
    let headers = h(&[
        ("Host", "s3.amazonaws.com"),
        ("x-amz-date", DATE),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("Authorization", &format!(
            "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        )),
        ("x-amz-content-sha256", STREAMING_SIGNED),
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("Content-Length", "66824"),
    ]);
    let v = verify_at(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        &headers,
        s3_now(),
    )
    .unwrap();
    assert_eq!(v.payload, PayloadMode::StreamingSigned);
    assert!(v.payload.is_streaming());

    let mut body = Vec::new();
    body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
    body.extend(std::iter::repeat_n(b'a', 65536));
    body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
    body.extend(std::iter::repeat_n(b'a', 1024));
    body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
    assert_eq!(body.len(), 66824);
    let mut dec =
        ChunkedDecoder::new(v.payload, Some(v.chunk_verifier()), None, Some(66560)).unwrap();
    let mut out = Vec::new();
    for piece in body.chunks(4093) {
        dec.feed(piece, &mut out).unwrap();
    }
    assert_eq!(dec.finish().unwrap().decoded_len, 66560);
    assert_eq!(out.iter().map(|b| b.len()).sum::<usize>(), 66560);
}

// ---- aws-sig-v4-test-suite (generic SigV4 canonicalisation, service "service")

const SUITE_SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_DATE: &str = "20150830T123600Z";

fn suite_signature(method: &str, path: &str, query: &str, extra: &[(&str, &str)]) -> String {
    let mut headers = h(&[
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", SUITE_DATE),
    ]);
    headers.extend(h(extra));
    let mut signed: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    signed.sort();
    signed.dedup();
    let creq = canonical_request(method, path, query, &headers, &signed, EMPTY_SHA256_HEX).unwrap();
    let sts = string_to_sign(
        SUITE_DATE,
        &scope("20150830", "us-east-1", "service"),
        &sha256_hex(creq.as_bytes()),
    );
    hex::encode(sign(
        &signing_key(SUITE_SK, "20150830", "us-east-1", "service"),
        &sts,
    ))
}

/// (name, method, raw path, raw query, extra headers).
type SuiteCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

#[test]
fn aws_sig_v4_test_suite() {
    let cases: &[SuiteCase] = &[
        ("get-vanilla", "GET", "/", "", &[]),
        ("post-vanilla", "POST", "/", "", &[]),
        (
            "get-vanilla-query-order-key-case",
            "GET",
            "/",
            "Param2=value2&Param1=value1",
            &[],
        ),
        (
            "get-vanilla-empty-query-key",
            "GET",
            "/",
            "Param1=value1",
            &[],
        ),
        ("get-vanilla-utf8-query", "GET", "/", "%E1%88%B4=bar", &[]),
        (
            "get-vanilla-query-order-encoded",
            "GET",
            "/",
            "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
            &[],
        ),
        ("get-utf8", "GET", "/%E1%88%B4", "", &[]),
        (
            "get-unreserved",
            "GET",
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            "",
            &[],
        ),
        (
            "get-space-unnormalized",
            "GET",
            "/example%20space/",
            "",
            &[],
        ),
        ("get-slashes-unnormalized", "GET", "//example//", "", &[]),
        (
            "post-header-key-sort",
            "POST",
            "/",
            "",
            &[("My-Header1", "value1")],
        ),
        (
            "get-header-value-order",
            "GET",
            "/",
            "",
            &[
                ("My-Header1", "value4"),
                ("My-Header1", "value1"),
                ("My-Header1", "value3"),
                ("My-Header1", "value2"),
            ],
        ),
        (
            "get-header-key-duplicate",
            "GET",
            "/",
            "",
            &[
                ("My-Header1", "value2"),
                ("My-Header1", "value2"),
                ("My-Header1", "value1"),
            ],
        ),
    ];
    let expected = [
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
        "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5",
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
        "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    ];
    for ((name, method, path, query, extra), want) in cases.iter().zip(expected) {
        assert_eq!(suite_signature(method, path, query, extra), want, "{name}");
    }
}

#[test]
fn canonicalisation_details() {
    assert_eq!(uri_encode("a b/c~d", false), "a%20b/c~d");
    assert_eq!(uri_encode("a b/c~d", true), "a%20b%2Fc~d");
    assert_eq!(uri_encode("é+=&", true), "%C3%A9%2B%3D%26");
    // One encoding only; an encoded slash inside a segment stays encoded; no dot removal.
    assert_eq!(
        canonical_uri("/a%20b/%2F/./../c+d"),
        "/a%20b/%2F/./../c%2Bd"
    );
    assert_eq!(canonical_uri(""), "/");
    // segments without `%` take the copy-runs path (issue 13): byte-identical to decoding and
    // re-encoding every segment, for ASCII, reserved and multi-byte characters alike
    for path in [
        "/photos/2026/03/holiday pic-0001.jpg",
        "/b/é/ü€x/日本語.txt",
        "/b/a+b=c&d;e,f:g@h$i!j*k'l(m)n",
        "/b//~-_./",
        "/b/mixed%20and é",
        "/",
        "//",
        "/b/€",
    ] {
        let reference: Vec<String> = path
            .split('/')
            .map(|seg| {
                let decoded: Vec<u8> = percent_encoding::percent_decode_str(seg).collect();
                super::uri_encode_bytes(&decoded, true)
            })
            .collect();
        assert_eq!(canonical_uri(path), reference.join("/"), "{path}");
    }
    assert_eq!(
        canonical_query("b=2&a=1&a=0&c&X-Amz-Signature=zz", true).unwrap(),
        "a=0&a=1&b=2&c="
    );
    assert_eq!(
        canonical_query("prefix=a%2Fb c", false).unwrap(),
        "prefix=a%2Fb%20c"
    );
    // Header values: trimmed, inner whitespace runs collapsed, repeats joined.
    let headers = h(&[
        ("Host", "example.amazonaws.com"),
        ("My-Header1", " value1"),
        ("My-Header2", " \"a   b   c\" "),
        ("my-header3", "x"),
        ("MY-HEADER3", "y  z"),
    ]);
    let creq = canonical_request(
        "GET",
        "/",
        "",
        &headers,
        &["host", "my-header1", "my-header2", "my-header3"],
        "UNSIGNED-PAYLOAD",
    )
    .unwrap();
    assert_eq!(
        creq,
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nmy-header3:x,y z\n\nhost;my-header1;my-header2;my-header3\nUNSIGNED-PAYLOAD"
    );
    assert!(matches!(
        canonical_request("GET", "/", "", &headers, &["range"], "x"),
        Err(SigError::MalformedAuth(_))
    ));
}

#[test]
fn payload_modes() {
    assert_eq!(
        PayloadMode::parse(UNSIGNED_PAYLOAD),
        Ok(PayloadMode::Unsigned)
    );
    assert_eq!(
        PayloadMode::parse(STREAMING_SIGNED),
        Ok(PayloadMode::StreamingSigned)
    );
    assert_eq!(
        PayloadMode::parse(STREAMING_SIGNED_TRAILER),
        Ok(PayloadMode::StreamingSignedTrailer)
    );
    assert_eq!(
        PayloadMode::parse(STREAMING_UNSIGNED_TRAILER),
        Ok(PayloadMode::StreamingUnsignedTrailer)
    );
    assert!(matches!(
        PayloadMode::parse("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"),
        Err(SigError::NotImplemented(_))
    ));
    assert_eq!(
        PayloadMode::parse(&"g".repeat(64)),
        Err(SigError::InvalidContentSha256)
    );
    assert_eq!(
        PayloadMode::parse("streaming"),
        Err(SigError::InvalidContentSha256)
    );
}

#[test]
fn authorization_header_helper_round_trips() {
    let headers = h(&[
        ("Host", HOST),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256_HEX),
        ("x-amz-date", DATE),
    ]);
    let params = SigningParams {
        access_key: AK,
        secret_key: SK,
        region: "us-east-1",
        service: "s3",
        amz_date: DATE,
    };
    let parts = RequestParts {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &headers,
    };
    let (value, sig) = authorization_header(
        &params,
        &parts,
        &["x-amz-date", "host", "range", "x-amz-content-sha256"],
        EMPTY_SHA256_HEX,
    )
    .unwrap();
    assert_eq!(hex::encode(sig), GET_OBJECT_SIG);
    let mut signed = headers.clone();
    signed.push(("authorization".into(), value));
    assert!(verify_at("GET", "/test.txt", "", &signed, s3_now()).is_ok());
}

#[test]
fn error_codes_are_s3_codes() {
    let all = [
        SigError::MissingAuth,
        SigError::MultipleAuthMechanisms,
        SigError::MalformedAuth("x".into()),
        SigError::MalformedPresign("x".into()),
        SigError::UnsupportedAlgorithm("x".into()),
        SigError::InvalidAccessKeyId,
        SigError::SignatureDoesNotMatch,
        SigError::HeadersNotSigned("x".into()),
        SigError::InvalidDate("x".into()),
        SigError::ExpiredPresign,
        SigError::PresignNotYetValid,
        SigError::PresignTooLong,
        SigError::MissingContentSha256,
        SigError::InvalidContentSha256,
        SigError::XAmzContentSha256Mismatch,
        SigError::NotImplemented("x"),
        SigError::MalformedChunk("x".into()),
        SigError::ChunkSignatureMismatch,
        SigError::MalformedTrailer("x".into()),
        SigError::ChecksumMismatch {
            algorithm: "x-amz-checksum-crc32",
        },
        SigError::IncompleteBody,
        SigError::BodyTooLarge,
    ];
    for e in all {
        let status = e.http_status();
        assert!(matches!(status, 400 | 403 | 501), "{e:?}");
        assert!(!e.s3_code().is_empty());
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(SigError::InvalidAccessKeyId.http_status(), 403);
    assert_eq!(
        SigError::ChunkSignatureMismatch.s3_code(),
        "SignatureDoesNotMatch"
    );
}

#[test]
fn garbage_authorization_never_panics() {
    let mut seed: u64 = 0xDEAD_BEEF;
    let alphabet = b"AWS4-HMAC-SHA256 Credential=/;,=abcdef0123456789SignedHeaders\t\xc3\xa9";
    for _ in 0..2000 {
        let len = (seed % 200) as usize;
        let mut s = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let s = String::from_utf8_lossy(&s);
        let _ = parse_authorization(&s);
        let _ = parse_amz_date(&s);
        let _ = canonical_query(&s, true);
        let _ = canonical_uri(&s);
        let pairs = parse_query(&s).unwrap_or_default();
        let _ = parse_presigned(&pairs);
    }
}

#[test]
fn resign_output_verifies_under_the_backend_key() {
    let headers = h(&[
        ("host", "backend.local:7480"),
        ("x-amz-meta-owner", "t1"),
        ("x-amz-date", "stale, replaced"),
    ]);
    let now = Utc.with_ymd_and_hms(2024, 2, 29, 12, 0, 0).unwrap();
    let out = resign(
        &Outgoing {
            method: "PUT",
            path_and_query: "/t1-b/a%20b/c%3Ad?versionId=1",
            headers: &headers,
            payload_hash: STREAMING_SIGNED,
        },
        Credentials {
            access_key: "BACKENDKEY",
            secret_key: "backend/secret",
        },
        "eu-west-1",
        now.into(),
    )
    .unwrap();
    assert_eq!(out.context().amz_date, "20240229T120000Z");
    assert_eq!(out.context().scope, "20240229/eu-west-1/s3/aws4_request");
    let mut sent: Vec<(String, String)> = headers[..2].to_vec();
    sent.extend(out.headers.iter().map(|(n, v)| (n.to_string(), v.clone())));
    let parts = RequestParts {
        method: "PUT",
        raw_path: "/t1-b/a%20b/c%3Ad",
        raw_query: "versionId=1",
        headers: &sent,
    };
    let v = verify(
        &parts,
        |ak| (ak == "BACKENDKEY").then(|| "backend/secret".to_owned()),
        now,
        MAX_SKEW,
    )
    .unwrap();
    assert_eq!(v.payload, PayloadMode::StreamingSigned);
    assert_eq!(v.chunk_verifier(), out.context());
}

#[test]
fn extreme_skew_settings_do_not_panic() {
    let headers = get_object_headers(GET_OBJECT_SIG);
    let parts = RequestParts {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &headers,
    };
    let far = Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap();
    assert!(verify(&parts, lookup, far, Duration::MAX).is_ok());
    assert!(matches!(
        verify(&parts, lookup, far, Duration::ZERO),
        Err(SigError::RequestTimeTooSkewed { .. })
    ));
    let presigned = h(&[("Host", HOST)]);
    let parts = RequestParts {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: PRESIGN_QUERY,
        headers: &presigned,
    };
    assert_eq!(
        verify(&parts, lookup, far, Duration::MAX).unwrap_err(),
        SigError::ExpiredPresign
    );
}

/// VMware's OSIS verifier signs `host;x-amz-date` only and sends `x-amz-content-sha256` unsigned
/// on its `GET /`: accepted without a body, refused when a body could be swapped.
#[test]
fn unsigned_content_sha256_only_without_a_body() {
    let now = Utc::now();
    let amz_date = format_amz_date(&now);
    let base = h(&[("host", "127.0.0.1:9000"), ("x-amz-date", &amz_date)]);
    let params = SigningParams {
        access_key: AK,
        secret_key: SK,
        region: "us",
        service: "s3",
        amz_date: &amz_date,
    };
    let parts = RequestParts {
        method: "GET",
        raw_path: "/",
        raw_query: "",
        headers: &base,
    };
    let (authz, _) =
        authorization_header(&params, &parts, &["host", "x-amz-date"], EMPTY_SHA256_HEX).unwrap();
    let mut sent = base.clone();
    sent.push(("x-amz-content-sha256".into(), EMPTY_SHA256_HEX.into()));
    sent.push(("authorization".into(), authz));
    assert!(verify_at("GET", "/", "", &sent, now).is_ok());
    let mut with_body = sent.clone();
    with_body.push(("content-length".into(), "5".into()));
    assert_eq!(
        verify_at("GET", "/", "", &with_body, now).unwrap_err(),
        SigError::HeadersNotSigned("x-amz-content-sha256".into())
    );
}

/// The amz-date written and read field by field (issue 13) agrees with chrono's strftime and
/// parser, which it replaced, on edge times; malformed dates are still refused.
#[test]
fn amz_dates_match_chrono() {
    let times = [
        Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(1999, 12, 31, 9, 5, 7).unwrap(),
        Utc.with_ymd_and_hms(2026, 12, 2, 4, 58, 1).unwrap(),
    ];
    for t in times {
        let ours = format_amz_date(&t);
        assert_eq!(ours, t.format("%Y%m%dT%H%M%SZ").to_string());
        assert_eq!(parse_amz_date(&ours).unwrap(), t);
    }
    for bad in [
        "20240230T000000Z",
        "20241301T000000Z",
        "20240101T240000Z",
        "20240101T000060Z",
        "2024010T0000000Z",
        "20240101 000000Z",
    ] {
        assert!(parse_amz_date(bad).is_err(), "{bad}");
    }
}

/// `SignedHeaders` keeps the names as one string (issue 13): lookups still find exactly the
/// signed names — not prefixes, not neighbours — whatever order and case the client sent.
#[test]
fn signed_headers_lookup_is_exact() {
    for spelled in ["host;range;x-amz-date", "x-amz-date;Host;RANGE"] {
        let a = parse_authorization(&auth(spelled, GET_OBJECT_SIG)).unwrap();
        let s = &a.signed_headers;
        assert_eq!(s.as_str(), "host;range;x-amz-date");
        for n in ["host", "range", "x-amz-date"] {
            assert!(s.contains(n), "{n} in {spelled}");
        }
        for n in [
            "",
            "h",
            "hos",
            "hosts",
            "rang",
            "x-amz-dat",
            "x-amz-date;",
            "zzz",
            "a",
        ] {
            assert!(!s.contains(n), "{n:?} not in {spelled}");
        }
    }
    let v2 = SignedHeaders::from_names(["date", "X-Amz-Meta-A", "content-md5", "date"]);
    assert_eq!(
        v2.iter().collect::<Vec<_>>(),
        ["content-md5", "date", "x-amz-meta-a"]
    );
    assert!(v2.contains("x-amz-meta-a") && !v2.contains("x-amz-meta"));
}

/// The memchr splitters behave exactly like `str::split` / `split_once` (issue 13), empty
/// pieces and multi-byte characters included.
#[test]
fn ascii_splitters_match_str_split() {
    use super::canonical::{split_ascii, split_at_byte};
    for s in [
        "",
        "/",
        "//",
        "a",
        "/a/b/",
        "a//b",
        "é/ü/",
        "x-amz-date;host;",
        ";;;",
    ] {
        for sep in [b'/', b';'] {
            let want: Vec<&str> = s.split(char::from(sep)).collect();
            assert_eq!(split_ascii(s, sep).collect::<Vec<_>>(), want, "{s:?} {sep}");
            assert_eq!(
                split_at_byte(s, sep),
                s.split_once(char::from(sep)),
                "{s:?}"
            );
        }
    }
}
