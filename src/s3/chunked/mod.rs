//! aws-chunked bodies (`Content-Encoding: aws-chunked`): an incremental, bounded-memory decoder
//! that verifies the chunk-signature chain and the trailing checksum as the body streams, and
//! an encoder that re-signs a body under another key (gateway → backend).
//!
//! Spec: AWS S3 API Reference, "Signature Calculations for the Authorization Header:
//! Transferring Payload in Multiple Chunks" (`sigv4-streaming.html`) and "… Including Trailing
//! Headers" (`sigv4-streaming-trailers.html`). Wire format:
//!
//! ```text
//! signed:           hex-size;chunk-signature=SIG\r\n DATA \r\n … 0;chunk-signature=SIG\r\n \r\n
//! signed trailer:   … 0;chunk-signature=SIG\r\n x-amz-checksum-crc32:B64\r\n
//!                   x-amz-trailer-signature:SIG\r\n \r\n
//! unsigned trailer: hex-size\r\n DATA \r\n … 0\r\n x-amz-checksum-crc32:B64\r\n \r\n
//! ```
//!
//! Chunk string to sign: `AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev_sig}\n
//! {sha256("")}\n{sha256(data)}`, the chain starting at the seed (header) signature. Trailer
//! string to sign: `AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{prev_sig}\n
//! {sha256(trailer lines as sent, each ended by "\n" instead of "\r\n")}` (as MinIO's
//! `streaming-signature-v4.go` and the AWS SDKs compute it).
//!
//! Safety rules of the decoder:
//! * a signed chunk's data is released only after its signature verified, so at most one chunk
//!   ([`MAX_CHUNK_BYTES`]) is buffered and unauthenticated bytes never reach the backend;
//! * with a trailing checksum, data is released before the trailer arrives (it cannot be held
//!   back without buffering the whole object): the caller must not commit the upload until
//!   [`ChunkedDecoder::finish`] returns `Ok`, and must abort the upstream request on any error;
//! * every line and count is bounded; input may be split at any byte.

use bytes::{BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};

use super::checksum::{ChecksumAlgorithm, Hasher};
use super::sigv4::{
    hex32, sha256_hex, sign, signatures_match, ChunkVerifier, PayloadMode, Result, SigError,
    EMPTY_SHA256_HEX,
};

/// Largest chunk accepted: 16 MiB (default). SDKs send 64 KiB–8 MiB chunks. Because a signed
/// chunk is buffered until its signature is checked, this bounds memory per upload against a
/// client announcing a huge chunk.
pub const MAX_CHUNK_BYTES: u64 = 16 * 1024 * 1024;
/// Longest chunk header line (`hex-size;chunk-signature=…`): 256 bytes (default; a real one is
/// under 100). Stops unbounded buffering while looking for the line end.
pub const MAX_CHUNK_HEADER_BYTES: usize = 256;
/// Most bytes of trailing header lines in total: 4 KiB (default; a checksum trailer is under
/// 100). Stops unbounded buffering of the trailer section.
pub const MAX_TRAILER_BYTES: usize = 4096;
/// Most trailing headers (not counting `x-amz-trailer-signature`): 4 (default; S3 sends one
/// checksum). Stops a trailer section of many tiny lines.
pub const MAX_TRAILERS: usize = 4;
/// Most decoded bytes in one body: 5 GiB (default), S3's limit for a single PUT or part.
/// Stops an endless stream of small valid chunks.
pub const MAX_DECODED_BYTES: u64 = 5 * 1024 * 1024 * 1024;

const CHUNK_SIG_PREFIX: &str = "chunk-signature=";
const TRAILER_SIG_NAME: &str = "x-amz-trailer-signature";

fn chunk_signature(
    key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    prev_sig: &str,
    data_hash: &[u8],
) -> [u8; 32] {
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev_sig}\n{EMPTY_SHA256_HEX}\n{}",
        match <&[u8; 32]>::try_from(data_hash) {
            Ok(h) => hex32(h),
            Err(_) => hex::encode(data_hash),
        }
    );
    sign(key, &sts)
}

fn trailer_signature(
    key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    prev_sig: &str,
    canonical_trailers: &[u8],
) -> [u8; 32] {
    let sts = format!(
        "AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{prev_sig}\n{}",
        sha256_hex(canonical_trailers)
    );
    sign(key, &sts)
}

/// Parses `x-amz-trailer` (the name of the one trailing checksum header, e.g.
/// `x-amz-checksum-crc32`).
pub fn parse_trailer_header(value: &str) -> Result<ChecksumAlgorithm> {
    ChecksumAlgorithm::from_header_name(value).ok_or_else(|| {
        SigError::MalformedTrailer(format!(
            "x-amz-trailer '{}' is not a supported x-amz-checksum-* header",
            value.chars().take(64).collect::<String>()
        ))
    })
}

mod decode;
mod encode;
mod stream;

pub use decode::{ChunkedDecoder, DecodeSummary, DeferredCheck};
pub use encode::{signed_chunk_len, unsigned_chunk, unsigned_final_chunk, ChunkedSigner};
pub use stream::{ChunkedStream, Unverified};

#[cfg(test)]
mod tests;
