//! SSE-S3 at rest (AWS S3 user guide, "Using server-side encryption with Amazon S3 managed keys
//! (SSE-S3)"): object data is AES-256-GCM encrypted under a random per-object data key, which is
//! itself stored wrapped (AES-256-GCM) under the store key in the object's sidecar.
//!
//! Blob layout: the plaintext is cut into segments of `segment` bytes (the last may be shorter);
//! each is stored as its ciphertext followed by its 16-byte tag, so a Range GET reads and
//! decrypts only the segments it overlaps. Segment `i` uses the nonce `prefix ‖ i` (a random
//! 64-bit per-object prefix and a 32-bit big-endian counter: never reused under one data key,
//! NIST SP 800-38D §8.2.1) and the associated data "last segment or not", so reordering,
//! truncation at a segment boundary or a shortened size in the sidecar fail authentication
//! instead of returning wrong bytes. An empty object has no segments (an empty blob).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;
use s3s::{s3_error, S3Result};
use serde::{Deserialize, Serialize};

use super::{internal, Store};

/// Plaintext bytes per segment of newly written objects. Default 64 KiB: a Range GET decrypts
/// at most two segments more than it returns, and the tag overhead stays at 0.02 %; the value is
/// stored in each object's sidecar, so changing it never affects existing objects.
pub(crate) const SEGMENT_SIZE: u32 = 64 * 1024;

/// Smallest and largest segment size accepted from a sidecar. Defaults 1 KiB and 16 MiB; stop a
/// corrupted sidecar from making a read allocate an absurd buffer (or divide by zero).
const SEGMENT_SIZE_RANGE: std::ops::RangeInclusive<u32> = 1024..=16 * 1024 * 1024;

/// AES-GCM tag length (bytes), stored after each segment.
pub(crate) const TAG_LEN: u64 = 16;

const PREFIX_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const DATA_KEY_LEN: usize = 32;

/// Associated data of a wrapped data key: ties the wrapping to this use of the store key.
const WRAP_AAD: &[u8] = b"osprey embedded store: SSE-S3 data key v1";

/// The only algorithm stored (`x-amz-server-side-encryption: AES256`).
pub(crate) const AES256: &str = "AES256";

/// What a sidecar (object or part) records about its encrypted data. Never the data key itself:
/// only its wrapping under the store key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SseMeta {
    /// `AES256` (SSE-S3).
    pub algorithm: String,
    /// base64 of nonce ‖ AES-256-GCM(store key, data key) ‖ tag.
    pub wrapped_key: String,
    /// hex of the 8-byte per-object nonce prefix.
    pub nonce_prefix: String,
    /// Plaintext bytes per segment.
    pub segment: u32,
}

/// The store key: wraps and unwraps per-object data keys.
pub(crate) struct SseKey(Aes256Gcm);

impl SseKey {
    pub(crate) fn new(raw: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(raw.into()))
    }

    /// A fresh random data key and nonce prefix for one object (or part).
    pub(crate) fn new_object(&self) -> io::Result<(SseMeta, ObjectCipher)> {
        let mut rng = rand::rngs::OsRng;
        let mut data_key = [0u8; DATA_KEY_LEN];
        rng.fill_bytes(&mut data_key);
        let mut prefix = [0u8; PREFIX_LEN];
        rng.fill_bytes(&mut prefix);
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut wrapped = data_key.to_vec();
        self.0
            .encrypt_in_place(Nonce::from_slice(&nonce), WRAP_AAD, &mut wrapped)
            .map_err(|_| io::Error::other("data key wrapping failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&wrapped);
        let meta = SseMeta {
            algorithm: AES256.to_owned(),
            wrapped_key: base64::engine::general_purpose::STANDARD.encode(sealed),
            nonce_prefix: hex::encode(prefix),
            segment: SEGMENT_SIZE,
        };
        let cipher = ObjectCipher {
            aead: Aes256Gcm::new((&data_key).into()),
            prefix,
            segment: SEGMENT_SIZE,
        };
        Ok((meta, cipher))
    }

    /// The cipher of an existing object; fails if the sidecar is damaged or was written under
    /// another store key.
    pub(crate) fn open(&self, meta: &SseMeta) -> io::Result<ObjectCipher> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        if meta.algorithm != AES256 {
            return Err(bad("unknown SSE algorithm in sidecar"));
        }
        if !SEGMENT_SIZE_RANGE.contains(&meta.segment) {
            return Err(bad("SSE segment size in sidecar out of range"));
        }
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&meta.wrapped_key)
            .map_err(|_| bad("wrapped data key is not base64"))?;
        if sealed.len() != NONCE_LEN + DATA_KEY_LEN + TAG_LEN as usize {
            return Err(bad("wrapped data key has the wrong length"));
        }
        let (nonce, wrapped) = sealed.split_at(NONCE_LEN);
        let mut key = wrapped.to_vec();
        self.0
            .decrypt_in_place(Nonce::from_slice(nonce), WRAP_AAD, &mut key)
            .map_err(|_| bad("data key does not unwrap under this store key"))?;
        let key: [u8; DATA_KEY_LEN] = key
            .try_into()
            .map_err(|_| bad("unwrapped data key has the wrong length"))?;
        let prefix: [u8; PREFIX_LEN] = hex::decode(&meta.nonce_prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| bad("nonce prefix in sidecar is invalid"))?;
        Ok(ObjectCipher {
            aead: Aes256Gcm::new((&key).into()),
            prefix,
            segment: meta.segment,
        })
    }
}

/// One object's data key and nonce prefix.
#[derive(Clone)]
pub(crate) struct ObjectCipher {
    aead: Aes256Gcm,
    prefix: [u8; PREFIX_LEN],
    segment: u32,
}

fn auth_failed() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "encrypted object data failed authentication (damaged or tampered with)",
    )
}

impl ObjectCipher {
    pub(crate) fn segment(&self) -> u64 {
        u64::from(self.segment)
    }

    fn nonce(&self, idx: u64) -> io::Result<[u8; NONCE_LEN]> {
        let counter = u32::try_from(idx)
            .map_err(|_| io::Error::other("object too large for SSE segment counter"))?;
        let mut n = [0u8; NONCE_LEN];
        n[..PREFIX_LEN].copy_from_slice(&self.prefix);
        n[PREFIX_LEN..].copy_from_slice(&counter.to_be_bytes());
        Ok(n)
    }

    /// Encrypts segment `idx` in place and appends its tag.
    fn seal(&self, idx: u64, last: bool, buf: &mut Vec<u8>) -> io::Result<()> {
        let nonce = self.nonce(idx)?;
        self.aead
            .encrypt_in_place(Nonce::from_slice(&nonce), &[u8::from(last)], buf)
            .map_err(|_| io::Error::other("segment encryption failed"))
    }

    /// Checks and decrypts segment `idx` (ciphertext ‖ tag) in place, leaving the plaintext.
    fn open(&self, idx: u64, last: bool, buf: &mut Vec<u8>) -> io::Result<()> {
        let nonce = self.nonce(idx)?;
        self.aead
            .decrypt_in_place(Nonce::from_slice(&nonce), &[u8::from(last)], buf)
            .map_err(|_| auth_failed())
    }

    /// Reads segment `idx` of an object of `size` plaintext bytes from `src` (positioned at the
    /// segment's start) and returns its plaintext.
    pub(crate) fn read_segment(
        &self,
        src: &mut impl Read,
        idx: u64,
        size: u64,
    ) -> io::Result<Vec<u8>> {
        let seg = self.segment();
        let plain = segment_plain_len(idx, size, seg);
        let mut buf = vec![0u8; usize::try_from(plain + TAG_LEN).map_err(io::Error::other)?];
        src.read_exact(&mut buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "encrypted object data is truncated",
                )
            } else {
                e
            }
        })?;
        self.open(idx, idx + 1 == segment_count(size, seg), &mut buf)?;
        Ok(buf)
    }

    /// Decrypts one segment already read (`plain_len(idx) + TAG_LEN` bytes).
    pub(crate) fn open_segment(
        &self,
        idx: u64,
        size: u64,
        mut buf: Vec<u8>,
    ) -> io::Result<Vec<u8>> {
        self.open(
            idx,
            idx + 1 == segment_count(size, self.segment()),
            &mut buf,
        )?;
        Ok(buf)
    }
}

// ----- segment math --------------------------------------------------------------------------

/// Number of segments of an object of `size` plaintext bytes.
pub(crate) fn segment_count(size: u64, seg: u64) -> u64 {
    size.div_ceil(seg)
}

/// Plaintext length of segment `idx` (the last one may be short).
pub(crate) fn segment_plain_len(idx: u64, size: u64, seg: u64) -> u64 {
    size.saturating_sub(idx.saturating_mul(seg)).min(seg)
}

/// Bytes on disk of an object of `size` plaintext bytes.
pub(crate) fn stored_len(size: u64, seg: u64) -> u64 {
    size + segment_count(size, seg) * TAG_LEN
}

/// Offset on disk of segment `idx`.
pub(crate) fn segment_offset(idx: u64, seg: u64) -> u64 {
    idx * (seg + TAG_LEN)
}

// ----- streaming encryption ------------------------------------------------------------------

/// Cuts a plaintext stream into sealed segments. A full segment is kept until more data arrives,
/// because only then is it known not to be the last.
pub(crate) struct Sealer {
    cipher: ObjectCipher,
    buf: Vec<u8>,
    idx: u64,
}

impl Sealer {
    pub(crate) fn new(cipher: ObjectCipher) -> Self {
        let cap = cipher.segment as usize + TAG_LEN as usize;
        Self {
            cipher,
            buf: Vec::with_capacity(cap),
            idx: 0,
        }
    }

    /// Adds plaintext; appends the segments it completes to `out`.
    pub(crate) fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let seg = self.cipher.segment as usize;
        while !data.is_empty() {
            if self.buf.len() == seg {
                self.flush(false, out)?;
            }
            let take = (seg - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals what is left as the last segment.
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.flush(true, out)?;
        }
        Ok(())
    }

    fn flush(&mut self, last: bool, out: &mut Vec<u8>) -> io::Result<()> {
        self.cipher.seal(self.idx, last, &mut self.buf)?;
        out.extend_from_slice(&self.buf);
        self.buf.clear();
        self.idx += 1;
        Ok(())
    }
}

/// A [`Write`] that stores what is written to it sealed (call [`SealWriter::finish`]).
pub(crate) struct SealWriter<W: Write> {
    sealer: Sealer,
    inner: W,
    scratch: Vec<u8>,
}

impl<W: Write> SealWriter<W> {
    pub(crate) fn new(cipher: ObjectCipher, inner: W) -> Self {
        Self {
            sealer: Sealer::new(cipher),
            inner,
            scratch: Vec::new(),
        }
    }

    /// Seals the last segment and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.scratch.clear();
        self.sealer.finish(&mut self.scratch)?;
        self.inner.write_all(&self.scratch)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.scratch.clear();
        self.sealer.push(data, &mut self.scratch)?;
        self.inner.write_all(&self.scratch)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where object data is written: as it is, or sealed.
pub(crate) enum Sink<W: Write> {
    Plain(W),
    /// Boxed: the AES key schedule makes the writer ~1 KiB.
    Sealed(Box<SealWriter<W>>),
}

impl<W: Write> Sink<W> {
    pub(crate) fn new(inner: W, seal: Option<ObjectCipher>) -> Self {
        match seal {
            Some(c) => Self::Sealed(Box::new(SealWriter::new(c, inner))),
            None => Self::Plain(inner),
        }
    }

    /// The inner writer when nothing is sealed (for the kernel's copy fast path).
    pub(crate) fn as_plain(&mut self) -> Option<&mut W> {
        match self {
            Self::Plain(w) => Some(w),
            Self::Sealed(_) => None,
        }
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Self::Plain(w) => Ok(w),
            Self::Sealed(s) => (*s).finish(),
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(data),
            Self::Sealed(s) => s.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Sealed(s) => s.flush(),
        }
    }
}

/// The answer to an SSE-S3 request when the store has no store key.
pub(crate) const NO_KEY_MESSAGE: &str = "Server-side encryption (SSE-S3) is not available: the embedded store was started without an encryption key";

impl Store {
    /// A fresh data key for a new encrypted object or part; `NotImplemented` without a store key.
    pub(crate) fn new_cipher(&self) -> S3Result<(SseMeta, ObjectCipher)> {
        let key = self
            .sse_key()
            .ok_or_else(|| s3_error!(NotImplemented, "{}", NO_KEY_MESSAGE))?;
        key.new_object().map_err(internal)
    }

    /// The cipher of an encrypted object or part.
    pub(crate) fn cipher(&self, sse: &SseMeta) -> S3Result<ObjectCipher> {
        let key = self.sse_key().ok_or_else(|| {
            s3_error!(
                InternalError,
                "This object is stored encrypted (SSE-S3) and the embedded store was started without its encryption key"
            )
        })?;
        key.open(sse).map_err(internal)
    }

    /// Plaintext bytes `start..start + len` of data of `size` plaintext bytes in `file`,
    /// decrypted when `sse` says it is encrypted.
    pub(crate) fn plain_reader(
        &self,
        sse: Option<&SseMeta>,
        mut file: File,
        size: u64,
        start: u64,
        len: u64,
    ) -> S3Result<Box<dyn Read + Send>> {
        match sse {
            None => {
                file.seek(SeekFrom::Start(start)).map_err(internal)?;
                Ok(Box::new(file.take(len)))
            }
            Some(m) => {
                let cipher = self.cipher(m)?;
                Ok(Box::new(
                    OpenReader::new(cipher, file, size, start, len).map_err(internal)?,
                ))
            }
        }
    }
}

// ----- streaming decryption ------------------------------------------------------------------

/// A [`Read`] of plaintext bytes `start..start + len` of an encrypted object of `size` bytes:
/// reads and authenticates only the segments that range overlaps.
pub(crate) struct OpenReader<R> {
    cipher: ObjectCipher,
    inner: R,
    size: u64,
    idx: u64,
    buf: Vec<u8>,
    pos: usize,
    remaining: u64,
}

impl<R: Read + Seek> OpenReader<R> {
    pub(crate) fn new(
        cipher: ObjectCipher,
        mut inner: R,
        size: u64,
        start: u64,
        len: u64,
    ) -> io::Result<Self> {
        let seg = cipher.segment();
        let idx = start / seg;
        inner.seek(SeekFrom::Start(segment_offset(idx, seg)))?;
        let mut r = Self {
            cipher,
            inner,
            size,
            idx,
            buf: Vec::new(),
            pos: 0,
            remaining: len,
        };
        if len > 0 {
            r.load()?;
            r.pos = usize::try_from(start - idx * seg).map_err(io::Error::other)?;
        }
        Ok(r)
    }
}

impl<R: Read> OpenReader<R> {
    fn load(&mut self) -> io::Result<()> {
        self.buf = self
            .cipher
            .read_segment(&mut self.inner, self.idx, self.size)?;
        self.idx += 1;
        self.pos = 0;
        Ok(())
    }
}

impl<R: Read> Read for OpenReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.buf.len() {
            self.load()?;
        }
        let avail = (self.buf.len() - self.pos).min(out.len());
        let n = avail.min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const SEG: u64 = SEGMENT_SIZE as u64;

    #[test]
    fn segment_math() {
        assert_eq!(segment_count(0, SEG), 0);
        assert_eq!(segment_count(1, SEG), 1);
        assert_eq!(segment_count(SEG, SEG), 1);
        assert_eq!(segment_count(SEG + 1, SEG), 2);
        assert_eq!(stored_len(0, SEG), 0);
        assert_eq!(stored_len(SEG, SEG), SEG + TAG_LEN);
        assert_eq!(stored_len(2 * SEG + 5, SEG), 2 * SEG + 5 + 3 * TAG_LEN);
        assert_eq!(segment_plain_len(0, 2 * SEG + 5, SEG), SEG);
        assert_eq!(segment_plain_len(2, 2 * SEG + 5, SEG), 5);
        assert_eq!(segment_plain_len(3, 2 * SEG + 5, SEG), 0);
        assert_eq!(segment_offset(2, SEG), 2 * (SEG + TAG_LEN));
    }

    fn sealed(key: &SseKey, data: &[u8], pieces: usize) -> (SseMeta, Vec<u8>) {
        let (meta, cipher) = key.new_object().unwrap();
        let mut w = SealWriter::new(cipher, Vec::new());
        for chunk in data.chunks(pieces.max(1)) {
            w.write_all(chunk).unwrap();
        }
        (meta, w.finish().unwrap())
    }

    #[test]
    fn round_trip_and_ranges() {
        let key = SseKey::new(&[9; 32]);
        let size = 3 * SEG as usize + 17;
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        for pieces in [1000, SEG as usize, 7 * 1024 * 1024] {
            let (meta, blob) = sealed(&key, &data, pieces);
            assert_eq!(blob.len() as u64, stored_len(size as u64, SEG));
            assert!(!blob.windows(64).any(|w| data.windows(64).next() == Some(w)));
            let cipher = key.open(&meta).unwrap();
            let n = size as u64;
            for (start, len) in [
                (0, n),
                (0, 1),
                (SEG - 1, 2),
                (SEG, SEG),
                (n - 1, 1),
                (n - 20, 20),
                (5, 2 * SEG + 3),
                (7, 0),
            ] {
                let mut r =
                    OpenReader::new(cipher.clone(), Cursor::new(&blob), n, start, len).unwrap();
                let mut got = Vec::new();
                r.read_to_end(&mut got).unwrap();
                assert_eq!(
                    got,
                    &data[start as usize..(start + len) as usize],
                    "{start}+{len}"
                );
            }
        }
    }

    #[test]
    fn exact_segment_multiple_and_empty() {
        let key = SseKey::new(&[1; 32]);
        for size in [0usize, SEG as usize, 2 * SEG as usize] {
            let data = vec![7u8; size];
            let (meta, blob) = sealed(&key, &data, 4096);
            assert_eq!(blob.len() as u64, stored_len(size as u64, SEG));
            let mut r = OpenReader::new(
                key.open(&meta).unwrap(),
                Cursor::new(&blob),
                size as u64,
                0,
                size as u64,
            )
            .unwrap();
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            assert_eq!(got, data);
        }
    }

    #[test]
    fn tampering_truncation_and_wrong_key_fail() {
        let key = SseKey::new(&[2; 32]);
        let data = vec![5u8; 2 * SEG as usize + 10];
        let n = data.len() as u64;
        let (meta, blob) = sealed(&key, &data, 10_000);
        let read = |blob: &[u8], size: u64| -> io::Result<Vec<u8>> {
            let mut r = OpenReader::new(key.open(&meta)?, Cursor::new(blob), size, 0, size)?;
            let mut got = Vec::new();
            r.read_to_end(&mut got)?;
            Ok(got)
        };
        assert_eq!(read(&blob, n).unwrap(), data);
        let mut bad = blob.clone();
        bad[SEG as usize + 100] ^= 1;
        assert!(read(&bad, n).is_err());
        // dropping the last segment and claiming a shorter size: the new "last" was not sealed
        // as last
        let cut = segment_offset(2, SEG) as usize;
        assert!(read(&blob[..cut], 2 * SEG).is_err());
        assert!(read(&blob[..blob.len() - 1], n).is_err());
        assert!(SseKey::new(&[3; 32]).open(&meta).is_err());
        let mut other = meta.clone();
        other.segment = 0;
        assert!(key.open(&other).is_err());
    }
}
