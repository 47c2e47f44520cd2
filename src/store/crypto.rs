//! Secrets at rest: AES-256-GCM under a 256-bit master key (issue 2, "secrets encrypted at rest").
//!
//! Every sealed value carries its own random 96-bit nonce (NIST SP 800-38D §8.2.2: random nonces
//! are safe up to 2^32 messages per key, far beyond any identity store) and is bound to the row it
//! belongs to through the associated data, so a ciphertext copied into another row fails to open.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

/// Environment variable holding the master key (64 hex digits); wins over the key file.
pub const MASTER_KEY_ENV: &str = "OSPREY_MASTER_KEY";
/// Length of the sealed-value prefix that identifies the format, so a future key rotation can tell
/// old values from new ones.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key {0}: {1}")]
    Io(String, std::io::Error),
    #[error("master key {0}: expected 64 hexadecimal digits (a 256-bit key)")]
    Malformed(String),
    #[error("master key file {0} is readable by other users (mode {1:o}); run `chmod 600 {0}`")]
    TooOpen(String, u32),
}

#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    /// Raw key bytes, kept only to derive sub-keys (e.g. the OSIS JWT signing key).
    raw: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

fn parse_hex_key(text: &str, origin: &str) -> Result<[u8; 32], KeyError> {
    let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Malformed(origin.to_string()))?;
    bytes
        .try_into()
        .map_err(|_| KeyError::Malformed(origin.to_string()))
}

impl MasterKey {
    pub fn from_bytes(raw: [u8; 32]) -> Self {
        MasterKey {
            cipher: Aes256Gcm::new(&raw.into()),
            raw,
        }
    }

    /// The key from `OSPREY_MASTER_KEY` if set, else from `file`, generating the file (mode 0600,
    /// created exclusively so two starting processes cannot each write a different key) if absent.
    pub fn load_or_create(file: &Path, env_value: Option<&str>) -> Result<Self, KeyError> {
        if let Some(v) = env_value {
            return Ok(Self::from_bytes(parse_hex_key(v, MASTER_KEY_ENV)?));
        }
        let name = file.display().to_string();
        match std::fs::read_to_string(file) {
            Ok(text) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(file)
                        .map_err(|e| KeyError::Io(name.clone(), e))?
                        .permissions()
                        .mode()
                        & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(KeyError::TooOpen(name, mode));
                    }
                }
                Ok(Self::from_bytes(parse_hex_key(&text, &name)?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut raw);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                match opts.open(file) {
                    Ok(mut f) => {
                        f.write_all(format!("{}\n", hex::encode(raw)).as_bytes())
                            .and_then(|_| f.sync_all())
                            .map_err(|e| KeyError::Io(name.clone(), e))?;
                        if let Some(dir) = file.parent() {
                            // make the new directory entry durable too
                            if let Ok(d) = std::fs::File::open(dir) {
                                let _ = d.sync_all();
                            }
                        }
                        Ok(Self::from_bytes(raw))
                    }
                    // lost a race with another process: use its key
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(file, None)
                    }
                    Err(e) => Err(KeyError::Io(name, e)),
                }
            }
            Err(e) => Err(KeyError::Io(name, e)),
        }
    }

    /// Seal `plain` bound to `context` (the row's identity).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            // AES-GCM encryption only fails for inputs over 64 GiB
            .expect("AES-GCM encrypt of a short secret");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Open a sealed value; `None` if it was sealed under another key or for another row.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != FORMAT_V1 {
            return None;
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }

    /// A sub-key for `purpose` (HMAC-SHA256 of the label under the master key), so one secret on
    /// disk serves several uses without reusing the same key material directly.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.raw)
            .expect("HMAC accepts any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = MasterKey::from_bytes([7; 32]);
        let s = k.seal("AKIA1", b"secret");
        assert_eq!(k.open("AKIA1", &s).as_deref(), Some(&b"secret"[..]));
        assert!(k.open("AKIA2", &s).is_none(), "bound to its row");
        assert!(MasterKey::from_bytes([8; 32]).open("AKIA1", &s).is_none());
        let mut t = s.clone();
        let n = t.len() - 1;
        t[n] ^= 1;
        assert!(k.open("AKIA1", &t).is_none(), "tamper detected");
    }

    #[test]
    fn key_file_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("master.key");
        let a = MasterKey::load_or_create(&f, None).unwrap();
        let b = MasterKey::load_or_create(&f, None).unwrap();
        assert_eq!(a.raw, b.raw);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                MasterKey::load_or_create(&f, None),
                Err(KeyError::TooOpen(..))
            ));
        }
        assert!(matches!(
            MasterKey::load_or_create(&f, Some("zz")),
            Err(KeyError::Malformed(_))
        ));
    }
}
