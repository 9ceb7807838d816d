//! The key that encrypts card secrets at rest (ChaCha20-Poly1305). A stolen database alone gives
//! no working card: the key lives in a file beside it (mode 0600), never in the database, and is
//! never logged.

use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

/// Marks the format of a stored ciphertext: `v1:` + base64(nonce ‖ ciphertext).
const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 12;

pub struct CardKey {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardKey(***)")
    }
}

impl CardKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> CardKey {
        CardKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
        }
    }

    /// Reads the key file (64 hex digits, as `openssl rand -hex 32` prints), creating it with
    /// a random key and mode 0600 when it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<CardKey> {
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
                    file.sync_all()?;
                    tracing::info!(path = %path.display(), "created a new card key file");
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the card key file {}", path.display()))?;
        let bytes = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .with_context(|| {
                format!(
                    "the card key file {} must hold 64 hex digits (32 bytes)",
                    path.display()
                )
            })?;
        Ok(CardKey::from_bytes(&bytes))
    }

    /// Encrypts a card secret; `context` (fund and card ids) is bound to it, so a ciphertext
    /// copied onto another card's row does not decrypt.
    pub fn seal(&self, secret: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: context.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption of a short message");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", data_encoding::BASE64.encode(&out))
    }

    /// The secret back, or `None` when the text was not sealed by this key for this context.
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        let raw = data_encoding::BASE64
            .decode(sealed.strip_prefix(VERSION)?.as_bytes())
            .ok()?;
        if raw.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let key = CardKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"secret", "fund:card_1");
        assert!(sealed.starts_with("v1:"));
        assert_ne!(sealed, key.seal(b"secret", "fund:card_1"), "fresh nonce");
        assert_eq!(key.open(&sealed, "fund:card_1").unwrap(), b"secret");
        assert!(key.open(&sealed, "fund:card_2").is_none());
        assert!(CardKey::from_bytes(&[8; 32])
            .open(&sealed, "fund:card_1")
            .is_none());
        assert!(format!("{key:?}").contains("***"));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("caisse-key-{}", crate::domain::new_id("k")));
        let path = dir.join("card.key");
        let a = CardKey::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = CardKey::load_or_create(&path).unwrap();
        assert_eq!(b.open(&a.seal(b"x", "c"), "c").unwrap(), b"x");
        std::fs::write(&path, "short").unwrap();
        assert!(CardKey::load_or_create(&path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
