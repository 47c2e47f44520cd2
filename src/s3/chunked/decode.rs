//! The incremental aws-chunked decoder and verifier.

use super::*;

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

/// The signature check of one chunk emitted unverified by a decoder in deferred mode
/// ([`ChunkedDecoder::defer_hashing`]): the link from the previous signature to the one the
/// client claimed for this chunk, completed by [`ChunkedDecoder::check_deferred`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeferredCheck {
    /// The previous signature of the chain (the seed, or the previous chunk's claimed one),
    /// lower-case hex.
    prev_sig: String,
    /// The `chunk-signature` the client sent for this chunk.
    claimed: [u8; 32],
}

/// Incremental aws-chunked decoder. Feed the raw body in pieces of any size; decoded data is
/// appended to `out` as [`Bytes`] (a verified signed chunk is handed over without copying).
#[derive(Debug)]
pub struct ChunkedDecoder {
    pub(super) signed: bool,
    pub(super) trailer_mode: bool,
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
    /// SHA-256 of each signed chunk emitted and not yet taken, in the order of the pieces (one
    /// per piece in signed modes): the re-chaining signer takes them instead of hashing the same
    /// bytes again (issue 13: aws-chunked uploads hashed every byte twice).
    pub(super) chunk_hashes: std::collections::VecDeque<[u8; 32]>,
    /// Deferred hashing ([`Self::defer_hashing`]): signed chunks are emitted before they are
    /// hashed or verified, each with the check to make once its hash is known.
    defer: bool,
    /// The checks of the chunks emitted by this call in deferred mode, in the order of the
    /// pieces (one per piece); the caller must complete every one ([`Self::check_deferred`])
    /// before it releases the piece's bytes or calls [`Self::finish`].
    pub(super) deferred: std::collections::VecDeque<DeferredCheck>,
    /// In deferred mode, a trailing checksum that did not match, reported by [`Self::finish`]:
    /// the checksum covers chunks whose signatures are not checked yet, and a changed byte must
    /// answer as the chunk signature it breaks (as inline), not as the checksum it also breaks.
    checksum_failure: Option<SigError>,
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
            chunk_hashes: std::collections::VecDeque::new(),
            defer: false,
            deferred: std::collections::VecDeque::new(),
            checksum_failure: None,
            trailer_canonical: Vec::new(),
            trailers: Vec::new(),
            trailer_sig_ok: false,
            failed: None,
        })
    }

    /// Switches a signed decoder to deferred hashing (issue 13: the SHA-256 of a chunk computed
    /// on another core while the request's thread moves the previous chunk on): `feed` then
    /// emits each signed chunk's bytes **unverified**, with a [`DeferredCheck`] in
    /// `deferred`, and chains the next chunk from the signature the client claimed. The chain
    /// is exactly as strong as the inline one only if the caller completes every check, in any
    /// order, with [`Self::check_deferred`] before the piece's bytes go anywhere: a wrong link
    /// fails the check of the chunk that carries it. No effect on an unsigned decoder.
    pub fn defer_hashing(&mut self) {
        self.defer = self.signed;
    }

    /// Whether [`Self::defer_hashing`] is on.
    pub fn defers_hashing(&self) -> bool {
        self.defer
    }

    /// Completes the check of a chunk emitted in deferred mode, given the SHA-256 of its bytes.
    /// A mismatch poisons the decoder like an inline one.
    pub fn check_deferred(&mut self, check: &DeferredCheck, data_hash: &[u8; 32]) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = match &self.verifier {
            Some(v) => {
                let expected = chunk_signature(
                    &v.signing_key,
                    &v.amz_date,
                    &v.scope,
                    &check.prev_sig,
                    data_hash,
                );
                if signatures_match(&expected, &check.claimed) {
                    Ok(())
                } else {
                    Err(SigError::ChunkSignatureMismatch)
                }
            }
            None => Err(SigError::ChunkSignatureMismatch),
        };
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
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
        // hashes and checks are for the pieces of this call only (bounded by one input's chunks)
        self.chunk_hashes.clear();
        self.deferred.clear();
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
        if let Some(e) = self.checksum_failure.take() {
            return Err(e);
        }
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
            if !self.defer {
                self.chunk_hash.update(piece);
            }
            self.chunk_buf.extend_from_slice(piece);
        } else if !piece.is_empty() {
            out.push(Bytes::copy_from_slice(piece));
        }
    }

    fn end_chunk(&mut self, out: &mut Vec<Bytes>) -> Result<()> {
        if self.defer {
            // chained from the claimed signature; `check_deferred` verifies this link
            let claimed = self.chunk_sig;
            let prev_sig = std::mem::replace(&mut self.prev_sig, hex32(&claimed));
            out.push(Bytes::from(std::mem::take(&mut self.chunk_buf)));
            self.deferred.push_back(DeferredCheck { prev_sig, claimed });
        } else if self.signed {
            let hash: [u8; 32] = std::mem::take(&mut self.chunk_hash).finalize().into();
            self.verify_chunk(&hash)?;
            out.push(Bytes::from(std::mem::take(&mut self.chunk_buf)));
            self.chunk_hashes.push_back(hash);
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
        self.prev_sig = hex32(&expected);
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
            let e = SigError::ChecksumMismatch {
                algorithm: algorithm.header_name(),
            };
            if !self.defer {
                return Err(e);
            }
            self.checksum_failure = Some(e);
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
        self.prev_sig = hex32(&expected);
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
