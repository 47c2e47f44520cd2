//! Stage 3 of a request: how its body travels (architecture.md §3) — untouched, checked
//! against its signed SHA-256, or aws-chunked verified and re-chained, decoded or passed
//! through — and the small bodies Osprey reads whole (ACL and policy documents, POST forms).

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

use super::chunk_hashing::HashingPipeline;
use super::upstream::header;
use crate::backend::Backend;
use crate::s3::chunked::ChunkedStream;
use crate::s3::sigv4::{self, PayloadMode, SigError, Verified};
use crate::s3::S3Error;

/// Most bytes of a PutBucketAcl/PutObjectAcl/PutBucketPolicy body Osprey reads to translate
/// the principals in it: 64 KiB, the size of pingora's request retry buffer the body is
/// replayed from (a larger body is refused with 400 EntityTooLarge). An S3 ACL holds at most
/// 100 grants, about 20 KiB.
pub const MAX_ACL_BODY: usize = 64 * 1024;

/// How the body travels (architecture.md §3).
pub enum BodyPlan {
    /// No body transform: the hash the client signed is forwarded (or UNSIGNED-PAYLOAD).
    Untouched,
    /// Hex SHA-256 promised: forwarded as is, and checked here too, holding back the last piece
    /// until the hash matched, so a lying client cannot get a body stored on a backend that trusts
    /// its gateway.
    Sha256,
    /// aws-chunked: verified here, then re-chained, decoded or passed through.
    Chunked(ChunkedMode),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChunkedMode {
    Rechain,
    Decode,
    Passthrough,
}

pub enum BodyCodec {
    Chunked(Box<ChunkedStream>),
    /// A signed aws-chunked body, its chunks hashed off the request's thread (issue 13).
    ChunkedHashed(Box<HashingPipeline>),
    Sha256 {
        check: Option<sigv4::PayloadSha256Check>,
        held: Option<Bytes>,
    },
}

/// How the body of a request verified as `v` travels to `backend`.
pub fn plan(v: &Verified, backend: &dyn Backend, req: &RequestHeader) -> BodyPlan {
    let modes = backend.data_path().payload_modes;
    match v.payload {
        PayloadMode::Unsigned => BodyPlan::Untouched,
        PayloadMode::Sha256(_) => {
            // Only a request without a body skips the check. A non-empty body is checked
            // against whatever hash was signed — the empty-payload hash included (issue 9:
            // a body under `e3b0…` reached backends that trust their gateway).
            let empty = header(req, &http::header::CONTENT_LENGTH).is_none_or(|l| l.trim() == "0")
                && !req.headers.contains_key(&http::header::TRANSFER_ENCODING);
            if empty {
                BodyPlan::Untouched
            } else {
                BodyPlan::Sha256
            }
        }
        PayloadMode::StreamingSigned => BodyPlan::Chunked(if modes.signed_chunks {
            ChunkedMode::Rechain
        } else {
            ChunkedMode::Decode
        }),
        PayloadMode::StreamingSignedTrailer => BodyPlan::Chunked(if modes.signed_chunks_trailer {
            ChunkedMode::Rechain
        } else {
            ChunkedMode::Decode
        }),
        PayloadMode::StreamingUnsignedTrailer => BodyPlan::Chunked(if modes.unsigned_trailer {
            ChunkedMode::Passthrough
        } else {
            ChunkedMode::Decode
        }),
    }
}

impl BodyCodec {
    /// A signed aws-chunked stream goes through the hashing pipeline, any other unchanged.
    pub fn chunked(mut stream: ChunkedStream) -> Self {
        if stream.defer_hashing() {
            BodyCodec::ChunkedHashed(Box::new(HashingPipeline::new(stream)))
        } else {
            BodyCodec::Chunked(Box::new(stream))
        }
    }

    pub async fn transform(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<(), SigError> {
        match self {
            BodyCodec::ChunkedHashed(pipe) => {
                let mut out = BytesMut::new();
                pipe.push(body.as_deref(), end, &mut out).await?;
                // never `None` (see below)
                *body = Some(out.freeze());
                Ok(())
            }
            BodyCodec::Chunked(stream) => {
                let mut out = BytesMut::new();
                if let Some(b) = body.as_ref() {
                    stream.push(b, &mut out)?;
                }
                if end {
                    stream.finish(&mut out)?;
                }
                // never `None`: pingora reads a `None` body as the end of the upstream body
                // (pingora-proxy `send_body_to_pipe`); an empty piece means "nothing yet"
                *body = Some(out.freeze());
                Ok(())
            }
            BodyCodec::Sha256 { check, held } => {
                // hold back the latest piece until the hash verified (zero-copy swap)
                let incoming = body.take();
                if let (Some(c), Some(b)) = (check.as_mut(), incoming.as_ref()) {
                    c.update(b);
                }
                let out = match incoming {
                    Some(b) if !b.is_empty() => held.replace(b),
                    _ => None,
                };
                if end {
                    if let Some(c) = check.take() {
                        c.finish()?;
                    }
                    let mut all = BytesMut::new();
                    if let Some(o) = out {
                        all.extend_from_slice(&o);
                    }
                    if let Some(h) = held.take() {
                        all.extend_from_slice(&h);
                    }
                    *body = Some(all.freeze());
                } else {
                    // `Some(empty)`, never `None` (which pingora takes as end of body)
                    *body = Some(out.unwrap_or_default());
                }
                Ok(())
            }
        }
    }
}

/// A body read whole must match the `Content-MD5` and `x-amz-checksum-*` its client declared
/// (S3 answers 400 BadDigest); Osprey recomputes both for the body it forwards instead.
pub fn check_declared_digests(req: &RequestHeader, body: &[u8]) -> Result<(), S3Error> {
    let bad = |what: &str| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "BadDigest",
            format!("The {what} you specified did not match the calculated checksum."),
        )
    };
    if let Some(v) = header(req, &super::upstream::names::CONTENT_MD5) {
        use md5::Digest as _;
        let ours = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            md5::Md5::digest(body),
        );
        if ours != v.trim() {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    for alg in crate::s3::checksum::ChecksumAlgorithm::ALL {
        if let Some(v) = header(req, alg.header_name()) {
            if crate::s3::checksum::checksum_base64(alg, body) != v.trim() {
                return Err(bad(alg.name()));
            }
        }
    }
    Ok(())
}

/// The next piece of the client's body, read in `request_filter` (ACL bodies, POST forms).
pub async fn read_body_piece(session: &mut Session) -> Result<Option<Bytes>, S3Error> {
    session.read_request_body().await.map_err(|e| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            format!(
                "the request body could not be read ({})",
                e.etype().as_str()
            ),
        )
    })
}

/// Read a small body whole (≤ [`MAX_ACL_BODY`]), enabling pingora's retry buffer first so the
/// body can be replayed (and swapped) toward the backend.
pub async fn read_whole(session: &mut Session) -> Result<Bytes, S3Error> {
    session.as_mut().enable_retry_buffering();
    let mut buf = BytesMut::new();
    while let Some(b) = read_body_piece(session).await? {
        if buf.len() + b.len() > MAX_ACL_BODY {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                format!("an ACL body may hold at most {MAX_ACL_BODY} bytes"),
            ));
        }
        buf.extend_from_slice(&b);
    }
    Ok(buf.freeze())
}

/// A body read whole must match what its client signed: its SHA-256, or nothing for
/// UNSIGNED-PAYLOAD; aws-chunked is refused for these small documents.
pub fn check_signed_payload(payload: PayloadMode, body: &[u8]) -> Result<(), S3Error> {
    match payload {
        PayloadMode::Sha256(h) => {
            let mut c = sigv4::PayloadSha256Check::new(h);
            c.update(body);
            Ok(c.finish()?)
        }
        PayloadMode::Unsigned => Ok(()),
        _ => Err(S3Error::invalid_request(
            "an ACL body cannot be sent aws-chunked: sign it with its SHA-256 or UNSIGNED-PAYLOAD",
        )),
    }
}
