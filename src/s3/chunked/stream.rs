//! The gateway's body transform over the decoder and the encoder.

use super::*;

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
    /// Chunks handed out by [`Self::push_deferred`] and not yet [`Self::release`]d.
    unreleased: usize,
}

/// A signed chunk's bytes that have not verified yet ([`ChunkedStream::push_deferred`]): they
/// may be hashed anywhere but go nowhere until [`ChunkedStream::release`] checked that hash.
#[derive(Debug)]
pub struct Unverified {
    /// The chunk's decoded bytes.
    pub data: Bytes,
    check: DeferredCheck,
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
            unreleased: 0,
        }
    }

    /// Deferred hashing (see [`ChunkedDecoder::defer_hashing`]): signed chunks then come out of
    /// [`Self::push_deferred`] unverified, for the caller to hash (on another core) and hand
    /// back to [`Self::release`] in order. Returns whether the mode is on (signed bodies only).
    pub fn defer_hashing(&mut self) -> bool {
        self.decoder.defer_hashing();
        self.decoder.defers_hashing()
    }

    /// Whether [`Self::defer_hashing`] is on.
    pub fn defers_hashing(&self) -> bool {
        self.decoder.defers_hashing()
    }

    /// Deferred mode's [`Self::push`]: consumes the next piece of the client's body and appends
    /// the chunks it completed, unverified, to `chunks`.
    pub fn push_deferred(&mut self, input: &[u8], chunks: &mut Vec<Unverified>) -> Result<()> {
        if !self.decoder.defers_hashing() {
            return Err(SigError::MalformedChunk(
                "push_deferred needs a signed body in deferred mode".into(),
            ));
        }
        self.decoder.feed(input, &mut self.pieces)?;
        for (data, check) in self.pieces.drain(..).zip(self.decoder.deferred.drain(..)) {
            self.unreleased += 1;
            chunks.push(Unverified { data, check });
        }
        Ok(())
    }

    /// Verifies a chunk from [`Self::push_deferred`] against `hash` (the SHA-256 of its bytes)
    /// and appends what may be sent on to `out`. Chunks must come back in the order they were
    /// handed out (the backend's chain and body follow that order).
    pub fn release(
        &mut self,
        chunk: Unverified,
        hash: &[u8; 32],
        out: &mut BytesMut,
    ) -> Result<()> {
        self.decoder.check_deferred(&chunk.check, hash)?;
        self.unreleased = self.unreleased.saturating_sub(1);
        match &mut self.forward {
            Forward::Plain => Self::put_holding_last(&mut self.held, &chunk.data, out),
            Forward::Rechain(signer) => signer.sign_hashed_chunk_into(&chunk.data, hash, out),
            // only unsigned bodies pass through, and they are never deferred
            Forward::Passthrough => {}
        }
        Ok(())
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
                // the decoder hashed each chunk to verify it: sign with that hash (one piece
                // and one hash per client chunk in signed modes, `rechain` checks the mode)
                for p in self.pieces.drain(..) {
                    match self.decoder.chunk_hashes.pop_front() {
                        Some(h) => signer.sign_hashed_chunk_into(&p, &h, out),
                        None => out.put_slice(&signer.sign_chunk(&p)),
                    }
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
        if self.unreleased > 0 {
            // a deferred chunk never verified: the body is not complete (a caller bug, but the
            // backend must not see a complete body either way)
            return Err(SigError::IncompleteBody);
        }
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
