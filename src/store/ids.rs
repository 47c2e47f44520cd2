//! Identifiers and secrets Osprey mints, all from the operating system's CSPRNG.

use rand::rngs::OsRng;
use rand::Rng;

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// AWS secret keys are 40 characters of base64's alphabet.
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn pick(alphabet: &[u8], n: usize) -> String {
    let mut rng = OsRng;
    (0..n)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

fn hex_id(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill(&mut b[..]);
    hex::encode(b)
}

/// An access key id in AWS's format: 20 characters of `[A-Z0-9]`.
pub fn access_key() -> String {
    pick(UPPER_DIGITS, 20)
}

/// A secret access key in AWS's format: 40 characters of `[A-Za-z0-9+/]` (238 bits).
pub fn secret_key() -> String {
    pick(SECRET_ALPHABET, 40)
}

/// Platform tenant id: `t` + 16 hex digits. Lower-case letters and digits only, so every backend
/// can use it in names (RGW tenants reject `-`; IAM paths and bucket prefixes accept it).
pub fn tenant_id() -> String {
    format!("t{}", hex_id(8))
}

/// Canonical user id (the S3 owner id): 64 hex digits, the form AWS uses.
pub fn canonical_id() -> String {
    hex_id(32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        let a = super::access_key();
        assert_eq!(a.len(), 20);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        let s = super::secret_key();
        assert_eq!(s.len(), 40);
        assert_ne!(super::secret_key(), s);
        let t = super::tenant_id();
        assert_eq!(t.len(), 17);
        assert!(t.starts_with('t'));
        assert_eq!(super::canonical_id().len(), 64);
    }
}
