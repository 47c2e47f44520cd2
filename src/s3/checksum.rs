//! S3 additional checksums (`x-amz-checksum-*`): the five algorithms, their header names and an
//! incremental hasher producing the base64 value S3 sends and expects.
//!
//! Spec: AWS S3 User Guide, "Checking object integrity" (`checking-object-integrity.html`), and
//! the `x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}` headers of `PutObject`. Values are
//! the big-endian digest bytes, base64-encoded with padding (e.g. CRC32 of `hello world` is
//! `0x0d4a1185` → `DUoRhQ==`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A checksum algorithm S3 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (IEEE 802.3, as zlib), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli), 4 bytes.
    Crc32c,
    /// SHA-1, 20 bytes.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
    /// CRC-64/NVME, 8 bytes.
    Crc64Nvme,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in a fixed order (for scanning request headers).
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Crc64Nvme,
    ];

    /// `x-amz-checksum-crc32` → `Crc32` (case-insensitive); `None` for anything else.
    pub fn from_header_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name.trim()))
    }

    /// The lower-case header (and trailer) name, e.g. `x-amz-checksum-crc32`.
    pub fn header_name(&self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
        }
    }

    /// `CRC32` → `Crc32` (case-insensitive), as in `x-amz-checksum-algorithm` /
    /// `x-amz-sdk-checksum-algorithm`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The upper-case name used in `x-amz-checksum-algorithm`, e.g. `CRC32`.
    pub fn name(&self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
        }
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(&self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// A fresh incremental hasher.
    pub fn hasher(&self) -> Hasher {
        Hasher::new(*self)
    }

    /// Decodes a base64 checksum value and checks its length; `None` if it is not a valid value
    /// of this algorithm.
    pub fn decode_value(&self, value: &str) -> Option<Vec<u8>> {
        let raw = B64.decode(value.trim()).ok()?;
        (raw.len() == self.digest_len()).then_some(raw)
    }
}

#[derive(Clone)]
enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Sha1(Sha1),
    Sha256(Sha256),
    Crc64Nvme(crc64fast_nvme::Digest),
}

/// Incremental checksum over a body fed in pieces of any size.
#[derive(Clone)]
pub struct Hasher {
    algorithm: ChecksumAlgorithm,
    state: State,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => State::Crc32c(0),
            ChecksumAlgorithm::Sha1 => State::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => State::Sha256(Sha256::new()),
            ChecksumAlgorithm::Crc64Nvme => State::Crc64Nvme(crc64fast_nvme::Digest::new()),
        };
        Hasher { algorithm, state }
    }

    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Crc64Nvme(h) => h.write(data),
        }
    }

    /// The raw big-endian digest.
    pub fn finish(self) -> Vec<u8> {
        match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(c) => c.to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
            State::Crc64Nvme(h) => h.sum64().to_be_bytes().to_vec(),
        }
    }

    /// The digest as S3 writes it in `x-amz-checksum-*`: standard base64 with padding.
    pub fn finish_base64(self) -> String {
        B64.encode(self.finish())
    }
}

/// One-shot: the base64 checksum of `data`.
pub fn checksum_base64(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(algorithm);
    h.update(data);
    h.finish_base64()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed independently in Python:
    //   base64.b64encode(zlib.crc32(d).to_bytes(4, 'big'))             (CRC32)
    //   base64.b64encode(hashlib.sha1(d).digest()) / sha256             (SHA*)
    //   a bitwise reflected CRC with poly 0x82F63B78 (CRC32C) and 0x9A6C9329AC4BC9B5
    //   (CRC64/NVME), init and xorout all ones, which give the catalogue check values
    //   0xE3069283 and 0xAE8B14860A799888 for b"123456789".
    const HELLO: &[u8] = b"hello world";

    #[test]
    fn known_values_hello_world() {
        use ChecksumAlgorithm::*;
        assert_eq!(checksum_base64(Crc32, HELLO), "DUoRhQ==");
        assert_eq!(checksum_base64(Crc32c, HELLO), "yZRlqg==");
        assert_eq!(checksum_base64(Crc64Nvme, HELLO), "jSnVw/bqjr4=");
        assert_eq!(checksum_base64(Sha1, HELLO), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(
            checksum_base64(Sha256, HELLO),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }

    #[test]
    fn catalogue_check_values() {
        let mut h = Hasher::new(ChecksumAlgorithm::Crc32c);
        h.update(b"123456789");
        assert_eq!(h.finish(), 0xE306_9283u32.to_be_bytes());
        let mut h = Hasher::new(ChecksumAlgorithm::Crc64Nvme);
        h.update(b"123456789");
        assert_eq!(h.finish(), 0xAE8B_1486_0A79_9888u64.to_be_bytes());
        let mut h = Hasher::new(ChecksumAlgorithm::Crc32);
        h.update(b"123456789");
        assert_eq!(h.finish(), 0xCBF4_3926u32.to_be_bytes());
    }

    #[test]
    fn empty_input() {
        assert_eq!(checksum_base64(ChecksumAlgorithm::Crc32, b""), "AAAAAA==");
        assert_eq!(checksum_base64(ChecksumAlgorithm::Crc32c, b""), "AAAAAA==");
        assert_eq!(
            checksum_base64(ChecksumAlgorithm::Crc64Nvme, b""),
            "AAAAAAAAAAA="
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for alg in ChecksumAlgorithm::ALL {
            let mut h = alg.hasher();
            for piece in data.chunks(7) {
                h.update(piece);
            }
            assert_eq!(h.finish_base64(), checksum_base64(alg, &data), "{alg:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for alg in ChecksumAlgorithm::ALL {
            assert_eq!(
                ChecksumAlgorithm::from_header_name(alg.header_name()),
                Some(alg)
            );
            assert_eq!(ChecksumAlgorithm::from_name(alg.name()), Some(alg));
            let v = checksum_base64(alg, HELLO);
            assert_eq!(
                alg.decode_value(&v).map(|r| r.len()),
                Some(alg.digest_len())
            );
        }
        assert_eq!(
            ChecksumAlgorithm::from_header_name("X-Amz-Checksum-CRC32"),
            Some(ChecksumAlgorithm::Crc32)
        );
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-md5"),
            None
        );
        assert_eq!(ChecksumAlgorithm::Crc32.decode_value("AAAAAAAAAAA="), None);
        assert_eq!(ChecksumAlgorithm::Crc32.decode_value("not base64!"), None);
    }
}
