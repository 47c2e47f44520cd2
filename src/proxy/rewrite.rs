//! Stage 4 of a request: the request the backend gets — its target, the headers that travel,
//! names and principals translated, and Osprey's signature with the backend identity — and the
//! body transform that goes with that signature.

use std::time::SystemTime;

use http::StatusCode;
use pingora::http::RequestHeader;

use super::body::{BodyCodec, BodyPlan, ChunkedMode};
use super::directory::CachedDirectory;
use super::identity;
use super::principals;
use super::request::{Forward, RequestBody, Signed};
use super::upstream;
use super::upstream::header;
use crate::s3::checksum::{checksum_base64, ChecksumAlgorithm};
use crate::s3::chunked::{self, ChunkedDecoder, ChunkedSigner, ChunkedStream};
use crate::s3::op::S3Op;
use crate::s3::sigv4::{self, PayloadMode};
use crate::s3::S3Error;

fn set(req: &mut RequestHeader, name: &'static str, value: String) -> Result<(), S3Error> {
    req.insert_header(name, value)
        .map_err(|_| S3Error::internal(format!("cannot set header {name}")))
}

/// Rewrite `req` (pingora's copy of the client's request) for the backend and sign it.
pub async fn rewrite(
    dir: &CachedDirectory,
    req: &mut RequestHeader,
    s3op: &S3Op,
    f: &mut Forward,
) -> Result<(), S3Error> {
    // the backend (an Arc) held here, so its data path is borrowed, not copied, per request
    let backend = f.route.backend.clone();
    let dp = backend.data_path();
    // the client's framing facts, read before the decode path rewrites these headers
    let client_trailer = header(req, &super::upstream::names::X_AMZ_TRAILER).map(str::to_string);
    let client_decoded_len: Option<u64> =
        match header(req, &super::upstream::names::X_AMZ_DECODED_CONTENT_LENGTH) {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|_| {
                S3Error::invalid_argument("x-amz-decoded-content-length is not a number")
            })?),
        };
    let target = upstream::upstream_path_and_query(
        f.route.backend_bucket.as_deref(),
        s3op.key.as_deref(),
        req.uri.query(),
    );
    let uri: http::Uri = target
        .parse()
        .map_err(|_| S3Error::invalid_argument("request target cannot be forwarded"))?;
    req.set_uri(uri);
    // Only what the client signed (or standard unsigned headers) travels on; Osprey's own
    // headers are set below.
    upstream::retain_forwardable(req, f.signed.as_ref().map(|s| &s.verified.signed_headers));
    for h in &upstream::DROPPED_HEADERS {
        req.remove_header(h);
    }
    let prefix = matches!(f.body, RequestBody::Prefix(_));
    if f.signed.is_some() || prefix {
        // released by Osprey already (request_filter)
        req.remove_header(&http::header::EXPECT);
    }
    // RGW answers 411 MissingContentLength to a PUT/POST without a length (e.g. UploadPartCopy
    // from aws-sdk-rust, which sends none for an empty body)
    if (req.method == http::Method::PUT || req.method == http::Method::POST)
        && !req.headers.contains_key(&http::header::CONTENT_LENGTH)
        && !req.headers.contains_key(&http::header::TRANSFER_ENCODING)
    {
        set(req, "content-length", "0".into())?;
    }
    req.insert_header(http::header::HOST, dp.host.as_str())
        .map_err(|_| S3Error::internal("bad backend host"))?;

    if let Some(cs) = header(req, &super::upstream::names::X_AMZ_COPY_SOURCE).map(str::to_string) {
        let caller = f
            .signed
            .as_ref()
            .map(|s| &s.caller)
            .ok_or_else(|| S3Error::access_denied("copying needs credentials"))?;
        let (src_bucket, src_key, version) = upstream::parse_copy_source(&cs)?;
        let p = dir
            .placement(&caller.key.tenant_id, &src_bucket)
            .await?
            .ok_or_else(|| S3Error::no_such_bucket(&src_bucket))?;
        if p.backend != f.backend_name() {
            return Err(S3Error::not_implemented(&format!(
                "copying between buckets on different backends (`{src_bucket}` is on `{}`, the target on `{}`)",
                p.backend,
                f.backend_name()
            )));
        }
        let v = upstream::copy_source_for_backend(&p.backend_bucket, &src_key, version.as_deref());
        // the client's form, with or without the leading `/`: backends evaluate bucket-policy
        // conditions on `s3:x-amz-copy-source` against the header as they receive it
        let v = if cs.starts_with('/') {
            v
        } else {
            v.trim_start_matches('/').to_string()
        };
        set(req, "x-amz-copy-source", v)?;
    }

    if f.strip_acl_headers {
        // Osprey keeps ACLs on backends that see one identity (issue 11, proxy/access.rs)
        req.remove_header(&super::upstream::names::X_AMZ_ACL);
        for h in &identity::GRANT_HEADER_NAMES {
            req.remove_header(h);
        }
    }
    if let Some(map) = f.principals.clone() {
        // `x-amz-grant-*: id="<canonical id>"` names the backend's principal upstream
        for h in identity::GRANT_HEADERS {
            let Some(v) = header(req, *h).map(str::to_string) else {
                continue;
            };
            let nv = principals::translate_grant_header(dir, f.backend_name(), &map, &v).await?;
            req.insert_header(*h, nv)
                .map_err(|_| S3Error::invalid_argument(format!("bad {h} header")))?;
        }
    }
    if let RequestBody::Prefix(p) = &mut f.body {
        p.sent = false;
        req.remove_header(&http::header::TRANSFER_ENCODING);
        set(req, "content-length", p.upstream_len.to_string())?;
        if p.whole_acl {
            // the translated ACL body: its own digests
            if req
                .headers
                .contains_key(&super::upstream::names::CONTENT_MD5)
            {
                use md5::Digest as _;
                let md5 = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    md5::Md5::digest(&p.bytes),
                );
                set(req, "content-md5", md5)?;
            }
            for alg in ChecksumAlgorithm::ALL {
                if req.headers.contains_key(alg.header_name()) {
                    req.insert_header(alg.header_name(), checksum_base64(alg, &p.bytes))
                        .map_err(|_| S3Error::internal("bad checksum"))?;
                }
            }
        }
    }

    let Some(signed) = &f.signed else {
        if let Some(key) = &f.service_key {
            // anonymous, authorized by Osprey: signed with the service key, body as sent
            return sign_plain(req, key, &dp.region);
        }
        // anonymous: forwarded unsigned
        return Ok(());
    };
    let payload_hash = payload_hash(req, signed, &f.body, client_decoded_len)?;
    let out = sign_with(req, &signed.key, &dp.region, &payload_hash)?;
    // set up the body transform now that the upstream signing context exists
    if let RequestBody::Stream(codec) = &mut f.body {
        *codec = body_codec(
            signed,
            client_trailer.as_deref(),
            client_decoded_len,
            &out.context(),
        )?;
    }
    Ok(())
}

/// Sign `req` with `key` over an unsigned payload (the body passes as the client sent it).
fn sign_plain(
    req: &mut RequestHeader,
    key: &crate::backend::SigningKey,
    region: &str,
) -> Result<(), S3Error> {
    sign_with(req, key, region, sigv4::UNSIGNED_PAYLOAD).map(|_| ())
}

/// Sign `req` (as it now stands) with `key`, setting the signature headers; the signing
/// context is returned for the body transform.
fn sign_with(
    req: &mut RequestHeader,
    key: &crate::backend::SigningKey,
    region: &str,
    payload_hash: &str,
) -> Result<sigv4::Resigned, S3Error> {
    // borrowed from `req` until the signature is computed, then the signed headers are set
    let headers = upstream::headers_to_sign(req);
    let path_and_query = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let out = sigv4::resign(
        &sigv4::Outgoing {
            method: req.method.as_str(),
            path_and_query,
            headers: &headers,
            payload_hash,
        },
        sigv4::Credentials {
            access_key: &key.access_key,
            secret_key: &key.secret_key,
        },
        region,
        SystemTime::now(),
    )
    .map_err(|e| S3Error::internal(format!("re-signing failed: {e}")))?;
    for (n, v) in &out.headers {
        req.insert_header(*n, v.as_str())
            .map_err(|_| S3Error::internal("bad signed header"))?;
    }
    Ok(out)
}

/// The `x-amz-content-sha256` Osprey signs: the client's hash when the body passes as sent,
/// the framing of the re-chained or passed-through aws-chunked body, or UNSIGNED-PAYLOAD for a
/// decoded one (whose headers become a plain body's here).
fn payload_hash(
    req: &mut RequestHeader,
    signed: &Signed,
    body: &RequestBody,
    client_decoded_len: Option<u64>,
) -> Result<String, S3Error> {
    if let RequestBody::Prefix(p) = body {
        if p.whole_acl {
            use sha2::Digest as _;
            return Ok(hex::encode(sha2::Sha256::digest(&p.bytes)));
        }
    }
    Ok(match (&signed.plan, signed.verified.payload) {
        (BodyPlan::Untouched | BodyPlan::Sha256, PayloadMode::Sha256(h)) => sigv4::hex32(&h),
        (BodyPlan::Untouched | BodyPlan::Sha256, _) => sigv4::UNSIGNED_PAYLOAD.to_string(),
        (BodyPlan::Chunked(ChunkedMode::Decode), _) => {
            // the backend gets a plain body of the decoded length
            let len = client_decoded_len.ok_or_else(|| {
                S3Error::new(
                    StatusCode::LENGTH_REQUIRED,
                    "MissingContentLength",
                    "aws-chunked uploads need x-amz-decoded-content-length",
                )
            })?;
            req.remove_header(&super::upstream::names::X_AMZ_DECODED_CONTENT_LENGTH);
            req.remove_header(&super::upstream::names::X_AMZ_TRAILER);
            req.remove_header(&http::header::TRANSFER_ENCODING);
            strip_aws_chunked(req);
            set(req, "content-length", len.to_string())?;
            sigv4::UNSIGNED_PAYLOAD.to_string()
        }
        (BodyPlan::Chunked(ChunkedMode::Rechain), PayloadMode::StreamingSigned) => {
            sigv4::STREAMING_SIGNED.to_string()
        }
        (BodyPlan::Chunked(ChunkedMode::Rechain), _) => sigv4::STREAMING_SIGNED_TRAILER.to_string(),
        (BodyPlan::Chunked(ChunkedMode::Passthrough), _) => {
            sigv4::STREAMING_UNSIGNED_TRAILER.to_string()
        }
    })
}

/// The body transform of a signed, streamed request.
fn body_codec(
    signed: &Signed,
    client_trailer: Option<&str>,
    decoded_len: Option<u64>,
    context: &sigv4::ChunkVerifier,
) -> Result<Option<BodyCodec>, S3Error> {
    let verified = &signed.verified;
    Ok(match &signed.plan {
        BodyPlan::Untouched => None,
        BodyPlan::Sha256 => match verified.payload {
            PayloadMode::Sha256(h) => Some(BodyCodec::Sha256 {
                check: Some(sigv4::PayloadSha256Check::new(h)),
                held: None,
            }),
            _ => None,
        },
        BodyPlan::Chunked(mode) => {
            let trailer = client_trailer
                .map(chunked::parse_trailer_header)
                .transpose()?;
            let signed_mode = matches!(
                verified.payload,
                PayloadMode::StreamingSigned | PayloadMode::StreamingSignedTrailer
            );
            let decoder = ChunkedDecoder::new(
                verified.payload,
                signed_mode.then(|| verified.chunk_verifier()),
                trailer,
                decoded_len,
            )?;
            Some(BodyCodec::chunked(match mode {
                ChunkedMode::Decode => ChunkedStream::decode(decoder),
                ChunkedMode::Passthrough => ChunkedStream::passthrough(decoder),
                ChunkedMode::Rechain => {
                    ChunkedStream::rechain(decoder, ChunkedSigner::from_verifier(context))?
                }
            }))
        }
    })
}

/// Remove the `aws-chunked` token from `Content-Encoding` (keeping any real encoding).
fn strip_aws_chunked(req: &mut RequestHeader) {
    let Some(v) = header(req, &http::header::CONTENT_ENCODING).map(str::to_string) else {
        return;
    };
    let rest: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|t| !t.eq_ignore_ascii_case("aws-chunked") && !t.is_empty())
        .collect();
    if rest.is_empty() {
        req.remove_header(&http::header::CONTENT_ENCODING);
    } else {
        let _ = req.insert_header("content-encoding", rest.join(","));
    }
}
