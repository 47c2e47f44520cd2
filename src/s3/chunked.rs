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
    sha256_hex, sign, signatures_match, PayloadMode, Result, SigError, EMPTY_SHA256_HEX,
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

/// What the decoder needs to verify (and the encoder to produce) a chunk-signature chain:
/// the signing key of the request's scope, never the secret. `Debug` redacts the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkVerifier {
    pub signing_key: [u8; 32],
    /// `yyyymmddThhmmssZ` of the request.
    pub amz_date: String,
    /// `yyyymmdd/region/service/aws4_request`.
    pub scope: String,
    /// The request (seed) signature, lower-case hex.
    pub seed_signature: String,
}

impl std::fmt::Debug for ChunkVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkVerifier")
            .field("signing_key", &"<redacted>")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("seed_signature", &self.seed_signature)
            .finish()
    }
}

fn chunk_signature(
    key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    prev_sig: &str,
    data_hash: &[u8],
) -> [u8; 32] {
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev_sig}\n{EMPTY_SHA256_HEX}\n{}",
        hex::encode(data_hash)
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

/// What a completely decoded body carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeSummary {
    /// Decoded bytes (equal to `x-amz-decoded-content-length` when one was given).
    pub decoded_len: u64,
    /// The trailing headers (lower-case name, value), without `x-amz-trailer-signature`.
    pub trailers: Vec<(String, String)>,
    /// The verified trailing checksum, base64 as sent.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a `hex-size[;chunk-signature=…]` line.
    Header,
    /// Reading chunk data; this many bytes remain.
    Data(u64),
    /// Expecting the `\r` after chunk data.
    DataCr,
    /// Expecting the `\n` after chunk data.
    DataLf,
    /// After the final chunk: reading trailer lines until the empty line.
    Trailer,
    /// The body is complete; only the end of input may follow.
    Done,
}

/// Incremental aws-chunked decoder. Feed the raw body in pieces of any size; decoded data is
/// appended to `out` as [`Bytes`] (a verified signed chunk is handed over without copying).
#[derive(Debug)]
pub struct ChunkedDecoder {
    signed: bool,
    trailer_mode: bool,
    verifier: Option<ChunkVerifier>,
    prev_sig: String,
    expected_trailer: Option<ChecksumAlgorithm>,
    checksum: Option<Hasher>,
    checksum_value: Option<String>,
    declared_len: Option<u64>,
    decoded: u64,
    state: State,
    line: Vec<u8>,
    chunk_buf: Vec<u8>,
    chunk_sig: [u8; 32],
    chunk_hash: Sha256,
    trailer_canonical: Vec<u8>,
    trailers: Vec<(String, String)>,
    trailer_sig_ok: bool,
    failed: Option<SigError>,
}

impl ChunkedDecoder {
    /// A decoder for a body whose `x-amz-content-sha256` was `mode` (one of the `STREAMING-*`
    /// values). Signed modes need `verifier` ([`super::sigv4::Verified::chunk_verifier`]);
    /// trailer modes need `trailer` (from `x-amz-trailer`, see [`parse_trailer_header`]), and
    /// a non-trailer mode must not have one. `decoded_content_length` is
    /// `x-amz-decoded-content-length`, checked exactly when given.
    pub fn new(
        mode: PayloadMode,
        verifier: Option<ChunkVerifier>,
        trailer: Option<ChecksumAlgorithm>,
        decoded_content_length: Option<u64>,
    ) -> Result<Self> {
        let (signed, trailer_mode) = match mode {
            PayloadMode::StreamingSigned => (true, false),
            PayloadMode::StreamingSignedTrailer => (true, true),
            PayloadMode::StreamingUnsignedTrailer => (false, true),
            PayloadMode::Sha256(_) | PayloadMode::Unsigned => {
                return Err(SigError::MalformedChunk(
                    "x-amz-content-sha256 is not a STREAMING-* value".into(),
                ))
            }
        };
        if signed && verifier.is_none() {
            return Err(SigError::MalformedChunk(
                "a signed aws-chunked body needs the request's signing context".into(),
            ));
        }
        match (trailer_mode, trailer) {
            (true, None) => {
                return Err(SigError::MalformedTrailer(
                    "x-amz-trailer is required with a *-TRAILER x-amz-content-sha256".into(),
                ))
            }
            (false, Some(_)) => {
                return Err(SigError::MalformedTrailer(
                    "x-amz-trailer requires a *-TRAILER x-amz-content-sha256".into(),
                ))
            }
            _ => {}
        }
        if decoded_content_length.is_some_and(|n| n > MAX_DECODED_BYTES) {
            return Err(SigError::BodyTooLarge);
        }
        let verifier = if signed { verifier } else { None };
        let prev_sig = verifier
            .as_ref()
            .map(|v| v.seed_signature.to_ascii_lowercase())
            .unwrap_or_default();
        Ok(ChunkedDecoder {
            signed,
            trailer_mode,
            verifier,
            prev_sig,
            expected_trailer: trailer,
            checksum: trailer.map(Hasher::new),
            checksum_value: None,
            declared_len: decoded_content_length,
            decoded: 0,
            state: State::Header,
            line: Vec::new(),
            chunk_buf: Vec::new(),
            chunk_sig: [0; 32],
            chunk_hash: Sha256::new(),
            trailer_canonical: Vec::new(),
            trailers: Vec::new(),
            trailer_sig_ok: false,
            failed: None,
        })
    }

    /// Decoded bytes so far (including a signed chunk still awaiting verification).
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Whether the complete body (through the final empty line) has been received.
    pub fn is_done(&self) -> bool {
        self.state == State::Done && self.failed.is_none()
    }

    /// Consumes the next piece of the raw body. Verified data is appended to `out`. After an
    /// error the decoder is poisoned: every later call returns the same error.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Bytes>) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.feed_inner(input, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    /// Call at the end of the raw body. `Ok` only if the body was complete, every signature and
    /// the trailing checksum verified, and the decoded length matched the declared one. A
    /// missing final empty line is tolerated once everything it would close has verified.
    pub fn finish(&mut self) -> Result<DecodeSummary> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.finish_inner();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn finish_inner(&mut self) -> Result<DecodeSummary> {
        match self.state {
            State::Done => {}
            State::Trailer if self.line.is_empty() => self.check_trailers_complete()?,
            _ => return Err(SigError::IncompleteBody),
        }
        self.state = State::Done;
        self.check_declared_len()?;
        Ok(DecodeSummary {
            decoded_len: self.decoded,
            trailers: self.trailers.clone(),
            checksum: self.expected_trailer.zip(self.checksum_value.clone()),
        })
    }

    fn feed_inner(&mut self, input: &[u8], out: &mut Vec<Bytes>) -> Result<()> {
        let mut i = 0;
        while i < input.len() {
            let rest = &input[i..];
            match self.state {
                State::Header | State::Trailer => {
                    let limit = if self.state == State::Header {
                        MAX_CHUNK_HEADER_BYTES
                    } else {
                        MAX_TRAILER_BYTES
                    };
                    let (take, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(pos) => (pos + 1, true),
                        None => (rest.len(), false),
                    };
                    if self.line.len() + take > limit + 2 {
                        return Err(if self.state == State::Header {
                            SigError::MalformedChunk(format!(
                                "chunk header longer than {MAX_CHUNK_HEADER_BYTES} bytes"
                            ))
                        } else {
                            SigError::MalformedTrailer(format!(
                                "trailer line longer than {MAX_TRAILER_BYTES} bytes"
                            ))
                        });
                    }
                    self.line.extend_from_slice(&rest[..take]);
                    i += take;
                    if complete {
                        let line = std::mem::take(&mut self.line);
                        if self.state == State::Header {
                            self.on_header_line(&line)?;
                        } else {
                            self.on_trailer_line(&line)?;
                        }
                    }
                }
                State::Data(remaining) => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    self.on_data(&rest[..n], out);
                    i += n;
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                }
                State::DataCr => {
                    if rest[0] != b'\r' {
                        return Err(SigError::MalformedChunk(
                            "chunk data is longer than its declared size".into(),
                        ));
                    }
                    i += 1;
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if rest[0] != b'\n' {
                        return Err(SigError::MalformedChunk(
                            "chunk data not followed by CRLF".into(),
                        ));
                    }
                    i += 1;
                    self.end_chunk(out)?;
                    self.state = State::Header;
                }
                State::Done => {
                    return Err(SigError::MalformedChunk(
                        "data after the end of the aws-chunked body".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Strips the CRLF of a complete line; a bare LF or a stray CR is malformed.
    fn line_content(line: &[u8]) -> Option<&[u8]> {
        let content = line.strip_suffix(b"\r\n")?;
        (!content.contains(&b'\r')).then_some(content)
    }

    fn on_header_line(&mut self, line: &[u8]) -> Result<()> {
        let bad = |why: &str| SigError::MalformedChunk(why.to_owned());
        let content =
            Self::line_content(line).ok_or_else(|| bad("chunk header not terminated by CRLF"))?;
        let text = std::str::from_utf8(content).map_err(|_| bad("chunk header is not ASCII"))?;
        let (size_hex, ext) = match text.split_once(';') {
            Some((s, e)) => (s, Some(e)),
            None => (text, None),
        };
        if size_hex.is_empty()
            || size_hex.len() > 16
            || !size_hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(bad("chunk size is not a hexadecimal number"));
        }
        // Signed bodies may be re-chained toward the backend with the client's Content-Length,
        // so their framing must be the canonical one the re-chainer writes (`{size:x}`): a
        // leading zero would change the body's length (found by fuzzing, fuzz/crashes/chunked/).
        if self.signed && size_hex.len() > 1 && size_hex.starts_with('0') {
            return Err(bad("chunk size has leading zeros"));
        }
        let size = u64::from_str_radix(size_hex, 16)
            .map_err(|_| bad("chunk size is not a hexadecimal number"))?;
        if self.signed {
            let sig_hex = ext
                .and_then(|e| e.strip_prefix(CHUNK_SIG_PREFIX))
                .ok_or_else(|| bad("chunk header has no chunk-signature"))?;
            if sig_hex.len() != 64 || hex::decode_to_slice(sig_hex, &mut self.chunk_sig).is_err() {
                return Err(bad("chunk-signature is not 64 hexadecimal characters"));
            }
        } else if ext.is_some() {
            return Err(bad(
                "chunk extensions are not allowed in STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            ));
        }
        if size > MAX_CHUNK_BYTES {
            return Err(SigError::MalformedChunk(format!(
                "chunk of {size} bytes exceeds the {MAX_CHUNK_BYTES}-byte limit"
            )));
        }
        let total = self.decoded.saturating_add(size);
        if total > MAX_DECODED_BYTES {
            return Err(SigError::BodyTooLarge);
        }
        if self.declared_len.is_some_and(|d| total > d) {
            return Err(SigError::IncompleteBody);
        }
        if size == 0 {
            // The final chunk: its signature covers empty data; then the trailer section.
            if self.signed {
                let empty: [u8; 32] = Sha256::digest(b"").into();
                self.verify_chunk(&empty)?;
            }
            self.check_declared_len()?;
            self.state = State::Trailer;
            return Ok(());
        }
        self.chunk_hash = Sha256::new();
        self.chunk_buf = Vec::with_capacity(usize::try_from(size.min(64 * 1024)).unwrap_or(0));
        self.state = State::Data(size);
        Ok(())
    }

    fn on_data(&mut self, piece: &[u8], out: &mut Vec<Bytes>) {
        if let Some(h) = &mut self.checksum {
            h.update(piece);
        }
        self.decoded += piece.len() as u64;
        if self.signed {
            self.chunk_hash.update(piece);
            self.chunk_buf.extend_from_slice(piece);
        } else if !piece.is_empty() {
            out.push(Bytes::copy_from_slice(piece));
        }
    }

    fn end_chunk(&mut self, out: &mut Vec<Bytes>) -> Result<()> {
        if self.signed {
            let hash: [u8; 32] = std::mem::take(&mut self.chunk_hash).finalize().into();
            self.verify_chunk(&hash)?;
            out.push(Bytes::from(std::mem::take(&mut self.chunk_buf)));
        }
        Ok(())
    }

    fn verify_chunk(&mut self, data_hash: &[u8; 32]) -> Result<()> {
        let v = self
            .verifier
            .as_ref()
            .ok_or(SigError::ChunkSignatureMismatch)?;
        let expected = chunk_signature(
            &v.signing_key,
            &v.amz_date,
            &v.scope,
            &self.prev_sig,
            data_hash,
        );
        if !signatures_match(&expected, &self.chunk_sig) {
            return Err(SigError::ChunkSignatureMismatch);
        }
        self.prev_sig = hex::encode(expected);
        Ok(())
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<()> {
        let bad = |why: String| SigError::MalformedTrailer(why);
        let content = Self::line_content(line)
            .ok_or_else(|| bad("trailer line not terminated by CRLF".into()))?;
        if content.is_empty() {
            self.check_trailers_complete()?;
            self.state = State::Done;
            return Ok(());
        }
        if !self.trailer_mode {
            return Err(bad(
                "trailing headers are not allowed with STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into(),
            ));
        }
        if self.trailer_sig_ok {
            return Err(bad("trailing header after x-amz-trailer-signature".into()));
        }
        let text =
            std::str::from_utf8(content).map_err(|_| bad("trailer line is not UTF-8".into()))?;
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| bad("trailer line is not name:value".into()))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        // signed trailers are re-serialised as `name:value` when re-chained (same length rule as
        // the chunk sizes above)
        if self.signed && (text.len() != name.len() + 1 + value.len() || !text.starts_with(&name)) {
            return Err(bad(
                "signed trailing headers must be written lower-case `name:value` without spaces"
                    .into(),
            ));
        }

        if name == TRAILER_SIG_NAME {
            return self.verify_trailer_signature(value);
        }
        if self.trailer_canonical.len() + content.len() + 1 > MAX_TRAILER_BYTES {
            return Err(bad(format!(
                "trailing headers longer than {MAX_TRAILER_BYTES} bytes"
            )));
        }
        if self.trailers.len() >= MAX_TRAILERS {
            return Err(bad(format!("more than {MAX_TRAILERS} trailing headers")));
        }
        if self.trailers.iter().any(|(n, _)| *n == name) {
            return Err(bad(format!("duplicate trailing header {name}")));
        }
        // The trailer signature covers the lines as sent, each ended by "\n".
        self.trailer_canonical.extend_from_slice(content);
        self.trailer_canonical.push(b'\n');

        let algorithm = ChecksumAlgorithm::from_header_name(&name)
            .filter(|a| Some(*a) == self.expected_trailer)
            .ok_or_else(|| {
                bad(format!(
                    "unexpected trailing header '{}'; x-amz-trailer declared '{}'",
                    name.chars().take(64).collect::<String>(),
                    self.expected_trailer.map_or("", |a| a.header_name())
                ))
            })?;
        let sent = algorithm.decode_value(value).ok_or_else(|| {
            bad(format!(
                "value of {} is not a valid checksum",
                algorithm.header_name()
            ))
        })?;
        let computed = self
            .checksum
            .take()
            .map(Hasher::finish)
            .ok_or_else(|| bad("checksum trailer sent twice".into()))?;
        if computed != sent {
            return Err(SigError::ChecksumMismatch {
                algorithm: algorithm.header_name(),
            });
        }
        self.checksum_value = Some(value.to_owned());
        self.trailers.push((name, value.to_owned()));
        Ok(())
    }

    fn verify_trailer_signature(&mut self, value: &str) -> Result<()> {
        if !self.signed {
            return Err(SigError::MalformedTrailer(
                "x-amz-trailer-signature in an unsigned-trailer body".into(),
            ));
        }
        let mut sent = [0u8; 32];
        if value.len() != 64 || hex::decode_to_slice(value, &mut sent).is_err() {
            return Err(SigError::MalformedTrailer(
                "x-amz-trailer-signature is not 64 hexadecimal characters".into(),
            ));
        }
        let v = self
            .verifier
            .as_ref()
            .ok_or(SigError::ChunkSignatureMismatch)?;
        let expected = trailer_signature(
            &v.signing_key,
            &v.amz_date,
            &v.scope,
            &self.prev_sig,
            &self.trailer_canonical,
        );
        if !signatures_match(&expected, &sent) {
            return Err(SigError::ChunkSignatureMismatch);
        }
        self.prev_sig = hex::encode(expected);
        self.trailer_sig_ok = true;
        Ok(())
    }

    fn check_trailers_complete(&self) -> Result<()> {
        if !self.trailer_mode {
            return Ok(());
        }
        if self.checksum_value.is_none() {
            return Err(SigError::MalformedTrailer(format!(
                "missing trailing header {}",
                self.expected_trailer.map_or("", |a| a.header_name())
            )));
        }
        if self.signed && !self.trailer_sig_ok {
            return Err(SigError::MalformedTrailer(
                "missing x-amz-trailer-signature".into(),
            ));
        }
        Ok(())
    }

    fn check_declared_len(&self) -> Result<()> {
        match self.declared_len {
            Some(d) if d != self.decoded => Err(SigError::IncompleteBody),
            _ => Ok(()),
        }
    }
}

/// Length of one signed chunk frame carrying `data_len` bytes:
/// `hex(len)` + `;chunk-signature=` + 64 + CRLF + data + CRLF. Use it to compute the
/// `Content-Length` of a re-encoded body (sum over chunks, plus the final chunk with
/// `data_len = 0`, plus any trailer section).
pub fn signed_chunk_len(data_len: u64) -> u64 {
    let hex_digits = if data_len == 0 {
        1
    } else {
        u64::from((64 - data_len.leading_zeros()).div_ceil(4))
    };
    (hex_digits + CHUNK_SIG_PREFIX.len() as u64 + 1 + 64 + 2 + 2).saturating_add(data_len)
}

/// Encoder of a signed aws-chunked body: produces the chunk-signature chain for a signing key
/// and seed signature (used to re-sign a client's body under the backend's credentials).
#[derive(Clone)]
pub struct ChunkedSigner {
    signing_key: [u8; 32],
    amz_date: String,
    scope: String,
    prev_sig: String,
}

impl std::fmt::Debug for ChunkedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedSigner")
            .field("signing_key", &"<redacted>")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("prev_sig", &self.prev_sig)
            .finish()
    }
}

impl ChunkedSigner {
    /// `seed_signature` is the hex signature of the request head the body belongs to.
    pub fn new(
        signing_key: [u8; 32],
        amz_date: impl Into<String>,
        scope: impl Into<String>,
        seed_signature: impl Into<String>,
    ) -> Self {
        ChunkedSigner {
            signing_key,
            amz_date: amz_date.into(),
            scope: scope.into(),
            prev_sig: seed_signature.into().to_ascii_lowercase(),
        }
    }

    /// A signer continuing the chain described by `v`.
    pub fn from_verifier(v: &ChunkVerifier) -> Self {
        Self::new(
            v.signing_key,
            v.amz_date.clone(),
            v.scope.clone(),
            v.seed_signature.clone(),
        )
    }

    /// The last signature produced (the seed before any chunk).
    pub fn previous_signature(&self) -> &str {
        &self.prev_sig
    }

    fn next_signature(&mut self, data: &[u8]) -> String {
        let hash: [u8; 32] = Sha256::digest(data).into();
        let sig = chunk_signature(
            &self.signing_key,
            &self.amz_date,
            &self.scope,
            &self.prev_sig,
            &hash,
        );
        self.prev_sig = hex::encode(sig);
        self.prev_sig.clone()
    }

    /// One framed, signed chunk: `hex(len);chunk-signature=SIG\r\n DATA \r\n`. Empty `data`
    /// produces the final chunk of a body without trailers (same as [`Self::final_chunk`]).
    pub fn sign_chunk(&mut self, data: &[u8]) -> Bytes {
        let sig = self.next_signature(data);
        let mut b = BytesMut::with_capacity(data.len() + 100);
        b.put_slice(format!("{:x};{CHUNK_SIG_PREFIX}{sig}\r\n", data.len()).as_bytes());
        b.put_slice(data);
        b.put_slice(b"\r\n");
        b.freeze()
    }

    /// The final chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body:
    /// `0;chunk-signature=SIG\r\n\r\n`.
    pub fn final_chunk(&mut self) -> Bytes {
        self.sign_chunk(&[])
    }

    /// The final chunk and signed trailer section of a
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` body:
    /// `0;chunk-signature=SIG\r\n` + `name:value\r\n`… + `x-amz-trailer-signature:SIG\r\n\r\n`.
    pub fn final_chunk_with_trailers(&mut self, trailers: &[(&str, &str)]) -> Bytes {
        let sig = self.next_signature(&[]);
        let mut canonical = Vec::new();
        for (name, value) in trailers {
            canonical.extend_from_slice(format!("{name}:{value}\n").as_bytes());
        }
        let tsig = trailer_signature(
            &self.signing_key,
            &self.amz_date,
            &self.scope,
            &self.prev_sig,
            &canonical,
        );
        self.prev_sig = hex::encode(tsig);
        let mut b = BytesMut::with_capacity(canonical.len() + 200);
        b.put_slice(format!("0;{CHUNK_SIG_PREFIX}{sig}\r\n").as_bytes());
        for (name, value) in trailers {
            b.put_slice(format!("{name}:{value}\r\n").as_bytes());
        }
        b.put_slice(format!("{TRAILER_SIG_NAME}:{}\r\n\r\n", self.prev_sig).as_bytes());
        b.freeze()
    }
}

/// One framed chunk of a `STREAMING-UNSIGNED-PAYLOAD-TRAILER` body: `hex(len)\r\n DATA \r\n`.
pub fn unsigned_chunk(data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(data.len() + 20);
    b.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
    b.put_slice(data);
    b.put_slice(b"\r\n");
    b.freeze()
}

/// The final chunk and trailer section of a `STREAMING-UNSIGNED-PAYLOAD-TRAILER` body:
/// `0\r\n` + `name:value\r\n`… + `\r\n`.
pub fn unsigned_final_chunk(trailers: &[(&str, &str)]) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_slice(b"0\r\n");
    for (name, value) in trailers {
        b.put_slice(format!("{name}:{value}\r\n").as_bytes());
    }
    b.put_slice(b"\r\n");
    b.freeze()
}

/// What [`ChunkedStream`] sends on towards the backend.
#[derive(Debug)]
enum Forward {
    /// The decoded bytes (the backend gets a plain body of `x-amz-decoded-content-length`).
    Plain,
    /// The same chunks, re-signed under the backend's key (same mode, same length).
    Rechain(ChunkedSigner),
    /// The client's aws-chunked bytes unchanged (verified on the way).
    Passthrough,
}

/// The body transform of the gateway: verifies the client's aws-chunked body with a
/// [`ChunkedDecoder`] and produces the backend's body, in one of three ways (see the
/// constructors). In every mode the backend cannot see a complete body before the client's body
/// fully verified: the plain and pass-through modes hold back their last byte, and the re-chained
/// mode its final chunk, until [`Self::finish`] succeeds. On any error the caller must abort the
/// upstream request instead of completing it.
#[derive(Debug)]
pub struct ChunkedStream {
    decoder: ChunkedDecoder,
    forward: Forward,
    pieces: Vec<Bytes>,
    held: Option<u8>,
}

impl ChunkedStream {
    /// Decode to a plain body.
    pub fn decode(decoder: ChunkedDecoder) -> Self {
        Self::with(decoder, Forward::Plain)
    }

    /// Re-sign the client's chunks under `signer` (the backend request's signing context).
    /// Only for signed modes (the decoder then emits exactly one piece per client chunk, so the
    /// backend body has the client's chunk sizes and the same `Content-Length`).
    pub fn rechain(decoder: ChunkedDecoder, signer: ChunkedSigner) -> Result<Self> {
        if !decoder.signed {
            return Err(SigError::MalformedChunk(
                "only a signed aws-chunked body can be re-chained".into(),
            ));
        }
        Ok(Self::with(decoder, Forward::Rechain(signer)))
    }

    /// Forward the client's bytes unchanged while verifying them (e.g.
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER` to a backend that accepts it).
    pub fn passthrough(decoder: ChunkedDecoder) -> Self {
        Self::with(decoder, Forward::Passthrough)
    }

    fn with(decoder: ChunkedDecoder, forward: Forward) -> Self {
        ChunkedStream {
            decoder,
            forward,
            pieces: Vec::new(),
            held: None,
        }
    }

    /// Appends `p` to `out`, keeping its last byte back until the next piece or `finish`.
    fn put_holding_last(held: &mut Option<u8>, p: &[u8], out: &mut BytesMut) {
        if let Some((&last, init)) = p.split_last() {
            if let Some(b) = held.take() {
                out.put_u8(b);
            }
            out.put_slice(init);
            *held = Some(last);
        }
    }

    /// Consumes the next piece of the client's body and appends what may be sent on to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<()> {
        self.decoder.feed(input, &mut self.pieces)?;
        match &mut self.forward {
            Forward::Plain => {
                for p in self.pieces.drain(..) {
                    Self::put_holding_last(&mut self.held, &p, out);
                }
            }
            Forward::Rechain(signer) => {
                for p in self.pieces.drain(..) {
                    out.put_slice(&signer.sign_chunk(&p));
                }
            }
            Forward::Passthrough => {
                self.pieces.clear();
                Self::put_holding_last(&mut self.held, input, out);
            }
        }
        Ok(())
    }

    /// Call at the end of the client's body: verifies completeness, the declared length and the
    /// trailer, then appends the held-back end of the backend body to `out`.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<DecodeSummary> {
        let summary = self.decoder.finish()?;
        match &mut self.forward {
            Forward::Plain | Forward::Passthrough => {
                if let Some(b) = self.held.take() {
                    out.put_u8(b);
                }
            }
            Forward::Rechain(signer) => {
                if self.decoder.trailer_mode {
                    let trailers: Vec<(&str, &str)> = summary
                        .trailers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    out.put_slice(&signer.final_chunk_with_trailers(&trailers));
                } else {
                    out.put_slice(&signer.final_chunk());
                }
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::checksum::checksum_base64;
    use crate::s3::sigv4::signing_key;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const AMZ_DATE: &str = "20130524T000000Z";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
    /// AWS `sigv4-streaming.html` example: seed (request) signature and the three chunk
    /// signatures for 65536 × 'a', 1024 × 'a', then the empty final chunk.
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const SIG1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    const SIG2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
    const SIG3: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

    fn key() -> [u8; 32] {
        signing_key(SECRET, "20130524", "us-east-1", "s3")
    }

    fn verifier(seed: &str) -> ChunkVerifier {
        ChunkVerifier {
            signing_key: key(),
            amz_date: AMZ_DATE.into(),
            scope: SCOPE.into(),
            seed_signature: seed.into(),
        }
    }

    fn aws_example_body() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(format!("10000;chunk-signature={SIG1}\r\n").as_bytes());
        b.extend(std::iter::repeat_n(b'a', 65536));
        b.extend_from_slice(format!("\r\n400;chunk-signature={SIG2}\r\n").as_bytes());
        b.extend(std::iter::repeat_n(b'a', 1024));
        b.extend_from_slice(format!("\r\n0;chunk-signature={SIG3}\r\n\r\n").as_bytes());
        b
    }

    /// Tiny deterministic PRNG (xorshift64) for split points and payloads.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Feeds `body` in pieces of the given sizes (cycled), returning the decoded data.
    fn decode_with(
        dec: &mut ChunkedDecoder,
        body: &[u8],
        mut piece: impl FnMut() -> usize,
    ) -> Result<(Vec<u8>, DecodeSummary)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < body.len() {
            let n = piece().clamp(1, body.len() - i);
            dec.feed(&body[i..i + n], &mut out)?;
            i += n;
        }
        let summary = dec.finish()?;
        Ok((out.concat(), summary))
    }

    fn signed_decoder(len: Option<u64>) -> ChunkedDecoder {
        ChunkedDecoder::new(
            PayloadMode::StreamingSigned,
            Some(verifier(SEED)),
            None,
            len,
        )
        .expect("valid decoder")
    }

    #[test]
    fn aws_example_decodes_whole() {
        let mut dec = signed_decoder(Some(66560));
        let (data, summary) = decode_with(&mut dec, &aws_example_body(), || usize::MAX).unwrap();
        assert_eq!(data, vec![b'a'; 66560]);
        assert_eq!(summary.decoded_len, 66560);
        assert!(summary.trailers.is_empty());
        assert!(dec.is_done());
    }

    #[test]
    fn aws_example_decodes_one_byte_at_a_time() {
        let mut dec = signed_decoder(Some(66560));
        let (data, _) = decode_with(&mut dec, &aws_example_body(), || 1).unwrap();
        assert_eq!(data, vec![b'a'; 66560]);
    }

    #[test]
    fn aws_example_decodes_at_random_boundaries() {
        let body = aws_example_body();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..50 {
            let mut dec = signed_decoder(Some(66560));
            let (data, _) = decode_with(&mut dec, &body, || rng.below(300) as usize + 1).unwrap();
            assert_eq!(data.len(), 66560);
        }
    }

    #[test]
    fn reencoding_aws_example_is_byte_identical() {
        let mut signer = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
        let mut out = Vec::new();
        out.extend_from_slice(&signer.sign_chunk(&[b'a'; 65536]));
        assert_eq!(signer.previous_signature(), SIG1);
        out.extend_from_slice(&signer.sign_chunk(&[b'a'; 1024]));
        assert_eq!(signer.previous_signature(), SIG2);
        out.extend_from_slice(&signer.final_chunk());
        assert_eq!(signer.previous_signature(), SIG3);
        assert_eq!(out, aws_example_body());
        // The example's Content-Length is 66824.
        assert_eq!(out.len(), 66824);
        let computed: u64 = [65536, 1024, 0].iter().map(|&n| signed_chunk_len(n)).sum();
        assert_eq!(computed, 66824);
    }

    #[test]
    fn tampered_data_is_never_released() {
        let mut body = aws_example_body();
        // Flip a byte inside the second chunk's data.
        let pos = body.len() - 200;
        body[pos] = b'b';
        let mut dec = signed_decoder(Some(66560));
        let mut out = Vec::new();
        let err = body
            .chunks(1000)
            .try_for_each(|p| dec.feed(p, &mut out))
            .unwrap_err();
        assert_eq!(err, SigError::ChunkSignatureMismatch);
        // Only the verified first chunk was released.
        assert_eq!(out.concat().len(), 65536);
        // Poisoned afterwards.
        assert_eq!(
            dec.feed(b"x", &mut out),
            Err(SigError::ChunkSignatureMismatch)
        );
        assert_eq!(dec.finish(), Err(SigError::ChunkSignatureMismatch));
    }

    #[test]
    fn wrong_seed_rejects_first_chunk_before_release() {
        let mut dec = ChunkedDecoder::new(
            PayloadMode::StreamingSigned,
            Some(verifier(SIG3)),
            None,
            None,
        )
        .unwrap();
        let mut out = Vec::new();
        assert_eq!(
            dec.feed(&aws_example_body(), &mut out),
            Err(SigError::ChunkSignatureMismatch)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn reordered_chunks_are_rejected() {
        // Chunk 2 signed as if it were first: the chain binds the order.
        let mut s = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
        let c1 = s.sign_chunk(b"first");
        let c2 = s.sign_chunk(b"second");
        let mut body = c2.to_vec();
        body.extend_from_slice(&c1);
        let mut dec = signed_decoder(None);
        assert_eq!(
            dec.feed(&body, &mut Vec::new()),
            Err(SigError::ChunkSignatureMismatch)
        );
    }

    #[test]
    fn truncated_body_is_incomplete() {
        let body = aws_example_body();
        for cut in [10, 100, 65600, body.len() - 90, body.len() - 3] {
            let mut dec = signed_decoder(Some(66560));
            dec.feed(&body[..cut], &mut Vec::new()).unwrap();
            assert_eq!(dec.finish(), Err(SigError::IncompleteBody), "cut at {cut}");
        }
        // Only the final empty line missing: tolerated, everything has verified.
        let mut dec = signed_decoder(Some(66560));
        dec.feed(&body[..body.len() - 2], &mut Vec::new()).unwrap();
        assert!(dec.finish().is_ok());
    }

    #[test]
    fn declared_length_is_enforced() {
        let body = aws_example_body();
        let mut dec = signed_decoder(Some(66561));
        dec.feed(&body, &mut Vec::new()).unwrap_err();
        let mut dec = signed_decoder(Some(66559));
        assert_eq!(
            dec.feed(&body, &mut Vec::new()),
            Err(SigError::IncompleteBody)
        );
    }

    #[test]
    fn trailing_garbage_and_framing_errors() {
        let mut body = aws_example_body();
        body.extend_from_slice(b"junk");
        let mut dec = signed_decoder(None);
        assert!(matches!(
            dec.feed(&body, &mut Vec::new()),
            Err(SigError::MalformedChunk(_))
        ));

        let mut s = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
        let good = s.sign_chunk(b"hello").to_vec();
        let cases: Vec<Vec<u8>> = vec![
            // data longer than the size
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("5;", "4;", 1)
                .into_bytes(),
            // missing signature
            b"5\r\nhello\r\n".to_vec(),
            // non-hex size
            format!("zz;chunk-signature={SIG1}\r\n").into_bytes(),
            // bare LF
            format!("5;chunk-signature={SIG1}\n").into_bytes(),
            // short signature
            b"5;chunk-signature=abcd\r\n".to_vec(),
            // oversized header line
            vec![b'0'; MAX_CHUNK_HEADER_BYTES + 10],
            // size over 16 hex digits
            format!("00000000000000001;chunk-signature={SIG1}\r\n").into_bytes(),
        ];
        for (i, case) in cases.iter().enumerate() {
            let mut dec = signed_decoder(None);
            let mut out = Vec::new();
            let r = dec
                .feed(case, &mut out)
                .and_then(|()| dec.finish().map(|_| ()));
            assert!(r.is_err(), "case {i} accepted");
            assert!(out.is_empty(), "case {i} released data");
        }
    }

    #[test]
    fn oversized_chunk_is_refused_before_buffering() {
        let mut dec = signed_decoder(None);
        let header = format!("{:x};chunk-signature={SIG1}\r\n", MAX_CHUNK_BYTES + 1);
        assert!(matches!(
            dec.feed(header.as_bytes(), &mut Vec::new()),
            Err(SigError::MalformedChunk(_))
        ));
    }

    #[test]
    fn trailers_refused_in_plain_signed_mode() {
        let mut s = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
        let mut body = s.sign_chunk(b"abc").to_vec();
        body.extend_from_slice(&s.final_chunk_with_trailers(&[(
            "x-amz-checksum-crc32",
            &checksum_base64(ChecksumAlgorithm::Crc32, b"abc"),
        )]));
        let mut dec = signed_decoder(Some(3));
        assert!(matches!(
            dec.feed(&body, &mut Vec::new()),
            Err(SigError::MalformedTrailer(_))
        ));
    }

    fn random_payload(rng: &mut Rng, len: usize) -> Vec<u8> {
        (0..len).map(|_| rng.next() as u8).collect()
    }

    fn encode_signed_trailer(
        data: &[u8],
        rng: &mut Rng,
        alg: ChecksumAlgorithm,
        checksum: Option<&str>,
    ) -> Vec<u8> {
        let mut s = ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED);
        let mut body = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let n = (rng.below(5000) as usize + 1).min(data.len() - i);
            body.extend_from_slice(&s.sign_chunk(&data[i..i + n]));
            i += n;
        }
        let value = checksum
            .map(str::to_owned)
            .unwrap_or_else(|| checksum_base64(alg, data));
        body.extend_from_slice(&s.final_chunk_with_trailers(&[(alg.header_name(), &value)]));
        body
    }

    #[test]
    fn signed_trailer_round_trip_random() {
        let mut rng = Rng(42);
        for alg in ChecksumAlgorithm::ALL {
            let len = rng.below(40_000) as usize;
            let data = random_payload(&mut rng, len);
            let body = encode_signed_trailer(&data, &mut rng, alg, None);
            let mut dec = ChunkedDecoder::new(
                PayloadMode::StreamingSignedTrailer,
                Some(verifier(SEED)),
                Some(alg),
                Some(len as u64),
            )
            .unwrap();
            let (decoded, summary) =
                decode_with(&mut dec, &body, || rng.below(700) as usize + 1).unwrap();
            assert_eq!(decoded, data, "{alg:?}");
            assert_eq!(
                summary.checksum,
                Some((alg, checksum_base64(alg, &data))),
                "{alg:?}"
            );
            assert_eq!(summary.trailers.len(), 1);
        }
    }

    #[test]
    fn signed_trailer_one_byte_at_a_time() {
        let mut rng = Rng(7);
        let data = random_payload(&mut rng, 3000);
        let alg = ChecksumAlgorithm::Crc32c;
        let body = encode_signed_trailer(&data, &mut rng, alg, None);
        let mut dec = ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(verifier(SEED)),
            Some(alg),
            Some(3000),
        )
        .unwrap();
        let (decoded, _) = decode_with(&mut dec, &body, || 1).unwrap();
        assert_eq!(decoded, data);
    }

    #[test]
    fn signed_trailer_bad_checksum_and_bad_signature() {
        let mut rng = Rng(9);
        let data = random_payload(&mut rng, 1000);
        let alg = ChecksumAlgorithm::Crc32;
        // Correctly signed, but the checksum is of other data.
        let body = encode_signed_trailer(&data, &mut rng, alg, Some("AAAAAA=="));
        let mut dec = ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(verifier(SEED)),
            Some(alg),
            None,
        )
        .unwrap();
        assert_eq!(
            decode_with(&mut dec, &body, || 97).map(|_| ()),
            Err(SigError::ChecksumMismatch {
                algorithm: "x-amz-checksum-crc32"
            })
        );
        // Valid checksum, trailer signature altered.
        let body = encode_signed_trailer(&data, &mut rng, alg, None);
        let sig_at = body
            .windows(24)
            .position(|w| w == b"x-amz-trailer-signature:")
            .unwrap();
        let at = sig_at + 24;
        let mut tampered = body.clone();
        tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
        let mut dec = ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(verifier(SEED)),
            Some(alg),
            None,
        )
        .unwrap();
        assert_eq!(
            decode_with(&mut dec, &tampered, || 97).map(|_| ()),
            Err(SigError::ChunkSignatureMismatch)
        );
        // Trailer signature missing entirely.
        let mut missing = body[..sig_at].to_vec();
        missing.extend_from_slice(b"\r\n");
        let mut dec = ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(verifier(SEED)),
            Some(alg),
            None,
        )
        .unwrap();
        assert!(matches!(
            decode_with(&mut dec, &missing, || 97).map(|_| ()),
            Err(SigError::MalformedTrailer(_))
        ));
    }

    #[test]
    fn trailer_of_other_algorithm_is_refused() {
        let mut rng = Rng(11);
        let data = random_payload(&mut rng, 100);
        let body = encode_signed_trailer(&data, &mut rng, ChecksumAlgorithm::Sha256, None);
        let mut dec = ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(verifier(SEED)),
            Some(ChecksumAlgorithm::Crc32),
            None,
        )
        .unwrap();
        assert!(matches!(
            decode_with(&mut dec, &body, || 50).map(|_| ()),
            Err(SigError::MalformedTrailer(_))
        ));
    }

    fn unsigned_body(data: &[u8], rng: &mut Rng, trailer: &[(&str, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let n = (rng.below(3000) as usize + 1).min(data.len() - i);
            body.extend_from_slice(&unsigned_chunk(&data[i..i + n]));
            i += n;
        }
        body.extend_from_slice(&unsigned_final_chunk(trailer));
        body
    }

    fn unsigned_decoder(alg: ChecksumAlgorithm, len: Option<u64>) -> ChunkedDecoder {
        ChunkedDecoder::new(PayloadMode::StreamingUnsignedTrailer, None, Some(alg), len).unwrap()
    }

    #[test]
    fn unsigned_trailer_round_trip() {
        let mut rng = Rng(5);
        let data = random_payload(&mut rng, 20_000);
        let alg = ChecksumAlgorithm::Crc64Nvme;
        let sum = checksum_base64(alg, &data);
        let body = unsigned_body(&data, &mut rng, &[(alg.header_name(), &sum)]);
        for step in [1usize, 13, 4096, usize::MAX] {
            let mut dec = unsigned_decoder(alg, Some(20_000));
            let (decoded, summary) = decode_with(&mut dec, &body, || step).unwrap();
            assert_eq!(decoded, data);
            assert_eq!(summary.checksum, Some((alg, sum.clone())));
        }
        // The literal form SDKs send: "0\r\nx-amz-checksum-crc32:…\r\n\r\n".
        let mut dec = unsigned_decoder(ChecksumAlgorithm::Crc32, Some(11));
        let body = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (decoded, _) = decode_with(&mut dec, body, || 3).unwrap();
        assert_eq!(decoded, b"hello world");
    }

    /// A body and a predicate its error must satisfy (`None`: the body must be accepted).
    type ErrCase = (&'static [u8], Option<fn(&SigError) -> bool>);

    #[test]
    fn unsigned_trailer_errors() {
        let alg = ChecksumAlgorithm::Crc32;
        let cases: Vec<ErrCase> = vec![
            (
                b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
                Some(|e| matches!(e, SigError::ChecksumMismatch { .. })),
            ),
            (
                b"b\r\nhello world\r\n0\r\n\r\n",
                Some(|e| matches!(e, SigError::MalformedTrailer(_))),
            ),
            (
                b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:00\r\n\r\n",
                Some(|e| matches!(e, SigError::MalformedTrailer(_))),
            ),
            (
                b"b;chunk-signature=00\r\nhello world\r\n",
                Some(|e| matches!(e, SigError::MalformedChunk(_))),
            ),
            // Complete apart from the final empty line: accepted by finish().
            (
                b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n",
                None,
            ),
        ];
        for (i, (body, expect)) in cases.into_iter().enumerate() {
            let mut dec = unsigned_decoder(alg, None);
            let r = dec
                .feed(body, &mut Vec::new())
                .and_then(|()| dec.finish().map(|_| ()));
            match (r, expect) {
                (Ok(()), None) => {}
                (Err(e), Some(pred)) => assert!(pred(&e), "case {i}: {e:?}"),
                (r, _) => panic!("case {i}: unexpected {r:?}"),
            }
        }
    }

    #[test]
    fn constructor_checks_mode() {
        assert!(ChunkedDecoder::new(PayloadMode::Unsigned, None, None, None).is_err());
        assert!(ChunkedDecoder::new(PayloadMode::StreamingSigned, None, None, None).is_err());
        assert!(ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(verifier(SEED)),
            None,
            None
        )
        .is_err());
        assert!(ChunkedDecoder::new(
            PayloadMode::StreamingSigned,
            Some(verifier(SEED)),
            Some(ChecksumAlgorithm::Crc32),
            None
        )
        .is_err());
        assert_eq!(
            parse_trailer_header("x-amz-checksum-crc32c"),
            Ok(ChecksumAlgorithm::Crc32c)
        );
        assert!(parse_trailer_header("x-amz-meta-foo").is_err());
    }

    #[test]
    fn stream_rechain_same_key_is_identical_and_other_key_verifies() {
        let body = aws_example_body();
        let mut out = BytesMut::new();
        let mut st = ChunkedStream::rechain(
            signed_decoder(Some(66560)),
            ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED),
        )
        .unwrap();
        for p in body.chunks(1000) {
            st.push(p, &mut out).unwrap();
        }
        // The final chunk is withheld until the client's body has fully verified.
        assert!(out.len() < body.len());
        st.finish(&mut out).unwrap();
        assert_eq!(&out[..], &body[..]);

        // Under another key and seed, the backend's verifier accepts the result.
        let other_key = signing_key("backend-secret", "20130524", "eu-west-1", "s3");
        let other = ChunkVerifier {
            signing_key: other_key,
            amz_date: AMZ_DATE.into(),
            scope: "20130524/eu-west-1/s3/aws4_request".into(),
            seed_signature: "11".repeat(32),
        };
        let mut st = ChunkedStream::rechain(
            signed_decoder(Some(66560)),
            ChunkedSigner::from_verifier(&other),
        )
        .unwrap();
        let mut out = BytesMut::new();
        st.push(&body, &mut out).unwrap();
        st.finish(&mut out).unwrap();
        assert_eq!(out.len(), body.len());
        let mut dec =
            ChunkedDecoder::new(PayloadMode::StreamingSigned, Some(other), None, Some(66560))
                .unwrap();
        let (data, _) = decode_with(&mut dec, &out, || 333).unwrap();
        assert_eq!(data, vec![b'a'; 66560]);
    }

    #[test]
    fn stream_rechain_signed_trailer() {
        let mut rng = Rng(77);
        let data = random_payload(&mut rng, 9000);
        let alg = ChecksumAlgorithm::Sha256;
        let body = encode_signed_trailer(&data, &mut rng, alg, None);
        let other = ChunkVerifier {
            signing_key: signing_key("backend-secret", "20130524", "us-east-1", "s3"),
            amz_date: AMZ_DATE.into(),
            scope: SCOPE.into(),
            seed_signature: "ab".repeat(32),
        };
        let dec = ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(verifier(SEED)),
            Some(alg),
            Some(9000),
        )
        .unwrap();
        let mut st = ChunkedStream::rechain(dec, ChunkedSigner::from_verifier(&other)).unwrap();
        let mut out = BytesMut::new();
        for p in body.chunks(501) {
            st.push(p, &mut out).unwrap();
        }
        st.finish(&mut out).unwrap();
        assert_eq!(out.len(), body.len());
        let mut dec = ChunkedDecoder::new(
            PayloadMode::StreamingSignedTrailer,
            Some(other),
            Some(alg),
            Some(9000),
        )
        .unwrap();
        let (decoded, summary) = decode_with(&mut dec, &out, || 64).unwrap();
        assert_eq!(decoded, data);
        assert_eq!(summary.checksum.map(|c| c.0), Some(alg));
    }

    #[test]
    fn stream_plain_and_passthrough_hold_back_the_end() {
        let alg = ChecksumAlgorithm::Crc32;
        let good: &[u8] = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let bad: &[u8] = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";

        let mut st = ChunkedStream::decode(unsigned_decoder(alg, Some(11)));
        let mut out = BytesMut::new();
        st.push(good, &mut out).unwrap();
        assert_eq!(&out[..], b"hello worl");
        st.finish(&mut out).unwrap();
        assert_eq!(&out[..], b"hello world");

        let mut st = ChunkedStream::decode(unsigned_decoder(alg, Some(11)));
        let mut out = BytesMut::new();
        assert!(st.push(bad, &mut out).is_err());
        assert!(st.finish(&mut out).is_err());
        assert!(out.len() < 11, "never the complete body");

        let mut st = ChunkedStream::passthrough(unsigned_decoder(alg, Some(11)));
        let mut out = BytesMut::new();
        for p in good.chunks(5) {
            st.push(p, &mut out).unwrap();
        }
        assert_eq!(&out[..], &good[..good.len() - 1]);
        st.finish(&mut out).unwrap();
        assert_eq!(&out[..], good);

        assert!(ChunkedStream::rechain(
            unsigned_decoder(alg, None),
            ChunkedSigner::new(key(), AMZ_DATE, SCOPE, SEED)
        )
        .is_err());
    }

    #[test]
    fn garbage_input_never_panics() {
        let mut rng = Rng(1234);
        for _ in 0..500 {
            let len = rng.below(400) as usize;
            let mut body: Vec<u8> = (0..len)
                .map(|_| b"0123456789abcdef;=\r\nchunk-signature:x"[rng.below(37) as usize])
                .collect();
            if rng.below(2) == 0 {
                body.splice(0..0, b"5;chunk-signature=".iter().copied());
            }
            for mode in [
                PayloadMode::StreamingSigned,
                PayloadMode::StreamingUnsignedTrailer,
            ] {
                let trailer = (mode == PayloadMode::StreamingUnsignedTrailer)
                    .then_some(ChecksumAlgorithm::Crc32);
                let v = (mode == PayloadMode::StreamingSigned).then(|| verifier(SEED));
                let mut dec = ChunkedDecoder::new(mode, v, trailer, None).unwrap();
                let mut out = Vec::new();
                let _ = body.chunks(7).try_for_each(|p| dec.feed(p, &mut out));
                let _ = dec.finish();
            }
        }
    }
}
