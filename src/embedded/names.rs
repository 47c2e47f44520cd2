//! Mapping of S3 names (buckets, object keys, upload ids) onto file names.
//!
//! Every name that reaches the file system goes through this module, so path traversal is
//! impossible by construction: a key never becomes a path, only one flat file name made of
//! `[a-z0-9._%-]` with a one-letter prefix (so it can never be `.` or `..`), and bucket names are
//! checked against the S3 rules (which exclude `/`, `\`, NUL and a leading dot) before use.

use s3s::crypto::Checksum as _;
use s3s::crypto::Sha256;

/// Longest object key accepted, in bytes. Default 1024 (the S3 limit); stops keys whose encoded
/// form or sidecar would grow without bound.
pub(crate) const MAX_KEY_LEN: usize = 1024;

/// Longest file name produced by the readable (percent-encoded) key mapping. Default 200, below
/// `NAME_MAX` (255 on Linux/macOS file systems); longer encodings fall back to a fixed-size
/// SHA-256 name, so no key can fail with `ENAMETOOLONG`.
pub(crate) const MAX_DIRECT_NAME: usize = 200;

/// Length of a generated id (upload ids, blob names, temp names): 32 lowercase hex digits.
pub(crate) const ID_LEN: usize = 32;

/// Prefix of a meta file name that holds the percent-encoded key itself.
const DIRECT_PREFIX: char = 'k';
/// Prefix of a meta file name that holds the SHA-256 of a key too long to encode readably.
const HASHED_PREFIX: char = 'h';

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// What a meta file name tells about its key without opening the file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NameKey {
    /// The key, decoded from the name.
    Direct(String),
    /// The name is a hash; the key must be read from the sidecar.
    Hashed,
}

/// True for the bytes kept verbatim in a file name. Only lowercase letters are kept (uppercase is
/// encoded) so that two distinct keys never map to names that differ only in case, which would
/// collide on case-insensitive file systems.
fn is_kept(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
}

/// File name of the sidecar for `key`: `k<percent-encoded key>` or, when that would be longer
/// than [`MAX_DIRECT_NAME`], `h<sha256 hex>`.
pub(crate) fn key_to_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    out.push(DIRECT_PREFIX);
    for &b in key.as_bytes() {
        if is_kept(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
        if out.len() > MAX_DIRECT_NAME {
            let digest = Sha256::checksum(key.as_bytes());
            return format!("{HASHED_PREFIX}{}", hex::encode(digest));
        }
    }
    out
}

/// Inverse of [`key_to_name`]; `None` for names this module never produces (stray files).
pub(crate) fn name_to_key(name: &str) -> Option<NameKey> {
    if let Some(hash) = name.strip_prefix(HASHED_PREFIX) {
        let ok = hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        return ok.then_some(NameKey::Hashed);
    }
    let enc = name.strip_prefix(DIRECT_PREFIX)?.as_bytes();
    let mut out = Vec::with_capacity(enc.len());
    let mut i = 0;
    while i < enc.len() {
        let b = enc[i];
        if b == b'%' {
            let hi = hex_val(*enc.get(i + 1)?)?;
            let lo = hex_val(*enc.get(i + 2)?)?;
            let v = (hi << 4) | lo;
            // Reject non-canonical spellings so that name -> key -> name round-trips exactly.
            if is_kept(v) {
                return None;
            }
            out.push(v);
            i += 3;
        } else if is_kept(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok().map(NameKey::Direct)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// S3 bucket naming rules (3–63 chars of `[a-z0-9.-]`, starting and ending with a letter or
/// digit, no `..`). s3s checks names taken from the request path, but names inside headers
/// (`x-amz-copy-source`) reach us unchecked, and the name becomes a directory, so check here too.
pub(crate) fn is_valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    let edge_ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !edge_ok(b[0]) || !edge_ok(b[b.len() - 1]) {
        return false;
    }
    b.iter().all(|&c| edge_ok(c) || c == b'.' || c == b'-') && !name.contains("..")
}

/// True for ids produced by [`new_id`]; anything else (e.g. `../x` as an upload id) is refused
/// before it is joined to a path.
pub(crate) fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh random 128-bit id in lowercase hex.
pub(crate) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_flat() {
        for key in [
            "a", "A", "..", ".", "/", "a/b/../c", "\u{0}x", "ü/ß", "%41", "k", "h", "x y+z",
        ] {
            let name = key_to_name(key);
            assert!(!name.contains('/') && name != "." && name != "..", "{name}");
            assert_eq!(
                name_to_key(&name),
                Some(NameKey::Direct(key.to_owned())),
                "{key}"
            );
        }
    }

    #[test]
    fn case_distinct_keys_get_case_insensitively_distinct_names() {
        let a = key_to_name("a").to_ascii_lowercase();
        let b = key_to_name("A").to_ascii_lowercase();
        assert_ne!(a, b);
    }

    #[test]
    fn long_keys_hash() {
        let key = "ä".repeat(512); // 1024 bytes, 3072 encoded
        let name = key_to_name(&key);
        assert_eq!(name.len(), 65);
        assert_eq!(name_to_key(&name), Some(NameKey::Hashed));
        assert!(key_to_name(&"a".repeat(199)).starts_with('k'));
        assert!(key_to_name(&"a".repeat(200)).starts_with('h'));
    }

    #[test]
    fn rejects_foreign_names() {
        for name in ["", ".tmp", "k%2", "k%61", "kA", "k%zz", "hxyz"] {
            assert_eq!(name_to_key(name), None, "{name}");
        }
    }

    #[test]
    fn bucket_names() {
        assert!(is_valid_bucket_name("my-bucket.1"));
        for bad in [
            "ab",
            ".abc",
            "abc.",
            "a..b",
            "ABC",
            "a/b",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn ids() {
        let id = new_id();
        assert!(is_valid_id(&id));
        assert!(!is_valid_id("../../etc/passwd"));
        assert!(!is_valid_id(&id.to_uppercase()));
    }
}
