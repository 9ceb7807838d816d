//! The key that encrypts card secrets at rest (ChaCha20-Poly1305) and keys the MAC of printed
//! cards' PINs. A stolen database alone gives no working card and no PIN: the key lives in a file
//! beside it (mode 0600), never in the database, and is never logged.
//!
//! The PIN key is a sub-key derived from the file's key (HMAC-SHA256 of a fixed label), so the
//! sealing key itself never keys anything else.

use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Marks the format of a stored ciphertext: `v1:` + base64(nonce ‖ ciphertext).
const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 12;
/// The label of the PIN sub-key; a new scheme gets a new label, never the same key.
const PIN_KEY_LABEL: &[u8] = b"caisse pin v1";

pub struct CardKey {
    cipher: ChaCha20Poly1305,
    /// HMAC-SHA256(file key, [`PIN_KEY_LABEL`]).
    pin_key: [u8; 32],
}

impl fmt::Debug for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardKey(***)")
    }
}

impl CardKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> CardKey {
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(bytes).expect("HMAC takes any key");
        derive.update(PIN_KEY_LABEL);
        CardKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
            pin_key: derive.finalize().into_bytes().into(),
        }
    }

    /// The keyed MAC of a printed card's PIN, bound to `context` (fund and card ids) so that
    /// equal PINs on two cards give different MACs. A microsecond, where Argon2 took 15 ms:
    /// with at most a million PINs no slow hash protects them once the database is read; the
    /// key, kept out of the database, and the attempt limit do.
    pub fn pin_mac(&self, context: &str, pin: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.pin_key).expect("HMAC takes any key");
        // Ids never hold a NUL: context and PIN cannot run into each other.
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(pin.as_bytes());
        mac.finalize().into_bytes().into()
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
    fn pin_macs_depend_on_key_context_and_pin() {
        let key = CardKey::from_bytes(&[7; 32]);
        let mac = key.pin_mac("fund:card_1", "4821");
        assert_eq!(mac, key.pin_mac("fund:card_1", "4821"));
        assert_ne!(mac, key.pin_mac("fund:card_2", "4821"));
        assert_ne!(mac, key.pin_mac("fund:card_1", "4822"));
        assert_ne!(mac, key.pin_mac("fund:card_14821", ""));
        assert_ne!(
            mac,
            CardKey::from_bytes(&[8; 32]).pin_mac("fund:card_1", "4821")
        );
        // The PIN key is a sub-key, not the sealing key itself.
        assert_ne!(key.pin_key, [7; 32]);
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
