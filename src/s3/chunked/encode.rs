//! Encoders of aws-chunked bodies: the signed chain (re-signing toward a backend) and unsigned
//! frames.

use super::*;

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
        self.next_signature_of(&hash)
    }

    /// The next signature of the chain for a chunk whose SHA-256 is `hash`.
    fn next_signature_of(&mut self, hash: &[u8; 32]) -> String {
        let sig = chunk_signature(
            &self.signing_key,
            &self.amz_date,
            &self.scope,
            &self.prev_sig,
            hash,
        );
        self.prev_sig = hex32(&sig);
        self.prev_sig.clone()
    }

    /// [`Self::sign_chunk`] for a chunk whose SHA-256 the caller already has (the decoder
    /// computed it to verify the client's signature), framed straight into `out`: one hash
    /// pass and one copy of the data instead of two each.
    pub fn sign_hashed_chunk_into(&mut self, data: &[u8], hash: &[u8; 32], out: &mut BytesMut) {
        let sig = self.next_signature_of(hash);
        out.reserve(data.len() + 100);
        out.put_slice(format!("{:x};{CHUNK_SIG_PREFIX}{sig}\r\n", data.len()).as_bytes());
        out.put_slice(data);
        out.put_slice(b"\r\n");
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
        self.prev_sig = hex32(&tsig);
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
