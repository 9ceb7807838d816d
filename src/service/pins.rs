//! Printed cards' PINs: how they are stored and checked, off the write path.
//!
//! A PIN is stored as `pinmac1:` + hex(HMAC-SHA256(PIN key, fund:card ‖ PIN)), the PIN key being
//! derived from the card key file ([`CardKey::pin_mac`]). A 4-to-6-digit PIN has at most a
//! million values, so no slow hash protects it once the database is read; the key, kept apart
//! from the database, and the attempt limit (`pin_attempts`) do. The MAC takes about a
//! microsecond where Argon2id took 15 ms and 19 MiB.
//!
//! Cards issued before keep an Argon2id PHC string until their next right PIN. The check runs
//! in two halves so that nothing slow ever runs in the shared write transaction:
//! - [`prove`], before the payment enters `Db::write`: computes the MAC of the PIN typed, and,
//!   if the card (read without a lock) still has an Argon2 hash, checks the PIN against it once,
//!   at most [`LEGACY_CHECKS`] at a time in memory reused between checks;
//! - [`check`], inside the payment's transaction, on the card's row as locked there: compares
//!   the stored MAC with the proof's in constant time, or, for an Argon2 hash, takes the verdict
//!   of [`prove`] only if the hash is still the one verified, and then answers the MAC form to
//!   write in its place, in the same transaction.

use std::sync::Mutex;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::card_key::CardKey;
use crate::domain::card::{self, CardKind, Token};
use crate::domain::FundId;
use crate::service::cards::seal_context;
use crate::store::cards as store;
use crate::store::{Db, StoreError};

/// Marks the keyed-MAC form of a stored PIN.
pub const MAC_PREFIX: &str = "pinmac1:";

/// Legacy Argon2 checks at once: each holds 19 MiB, so a burst of old cards stays within
/// 2 × 19 MiB instead of 19 MiB per till (3 GB was measured with 16 PIN tills on PostgreSQL).
pub const LEGACY_CHECKS: usize = 2;
static LEGACY_PERMITS: Semaphore = Semaphore::const_new(LEGACY_CHECKS);
/// The Argon2 memory of the checks, kept and reused: allocating 19 MiB per check let the
/// allocator's arenas each keep a copy.
static LEGACY_MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());
/// Refuses legacy hashes asking for more memory than this (ours ask 19 MiB).
const LEGACY_MAX_KIB: u32 = 64 * 1024;

/// The stored form of a new PIN (issuing a card, changing its PIN).
pub fn stored_form(key: &CardKey, fund_id: &str, card_id: &str, pin: &str) -> String {
    mac_form(&key.pin_mac(&seal_context(fund_id, card_id), pin))
}

fn mac_form(mac: &[u8; 32]) -> String {
    format!("{MAC_PREFIX}{}", hex::encode(mac))
}

/// What was learnt of a PIN before the payment's transaction; see the module's documentation.
#[derive(Clone)]
pub struct PinProof {
    card_id: String,
    mac: [u8; 32],
    /// The Argon2 hash the card had when read, and whether the PIN matched it.
    legacy: Option<(String, bool)>,
}

impl std::fmt::Debug for PinProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinProof(***)")
    }
}

impl PinProof {
    pub fn card_id(&self) -> &str {
        &self.card_id
    }
}

/// The proof for a printed card's token and its PIN, computed outside any write transaction;
/// `None` when there is no PIN or the token is not a printed card's (the check inside the
/// transaction then answers `pin_required` or the token's decline).
pub async fn prove(
    db: &Db,
    key: &CardKey,
    fund_id: &FundId,
    token: &str,
    pin: Option<&str>,
) -> Result<Option<PinProof>, StoreError> {
    let (Some(pin), Some(Token::Printed { card_id })) = (pin, card::parse_token(token)) else {
        return Ok(None);
    };
    let mac = key.pin_mac(&seal_context(fund_id, &card_id), pin);
    // A plain read, no lock: the transaction checks again that the hash is still this one.
    // A locked or revoked card is checked too: it may be unlocked before the transaction
    // reads it, and a proof that does not match the stored hash would then be an error. A
    // card's PIN never changes once issued, so the only change in between is another payment
    // rewriting it to the MAC form, which the transaction's MAC comparison handles.
    let legacy = match store::find(db, fund_id, &card_id).await? {
        Some(c)
            if c.kind == CardKind::Printed
                && c.pin_hash
                    .as_deref()
                    .is_some_and(|h| !h.starts_with(MAC_PREFIX)) =>
        {
            let hash = c.pin_hash.unwrap_or_default();
            let right = verify_legacy(pin, &hash).await?;
            Some((hash, right))
        }
        _ => None,
    };
    Ok(Some(PinProof {
        card_id,
        mac,
        legacy,
    }))
}

/// The outcome of [`check`].
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// The PIN is right; `rewrite` is the MAC form to store in place of an Argon2 hash.
    Right {
        rewrite: Option<String>,
    },
    Wrong,
}

/// Checks the proof against the card's stored PIN, inside the payment's transaction: a
/// constant-time comparison, nothing slow. An Argon2 hash other than the one [`prove`]
/// verified cannot happen with this server (a PIN is fixed at issuance, and `prove` checks
/// every Argon2 card, locked or not); only another program writing the column could cause it,
/// and that is reported as the corruption it is.
pub fn check(proof: &PinProof, card_id: &str, stored: &str) -> Result<Checked, StoreError> {
    if proof.card_id != card_id {
        return Err(StoreError::Corrupt(format!(
            "a PIN proof for card {} used on card {card_id}",
            proof.card_id
        )));
    }
    if let Some(hex_mac) = stored.strip_prefix(MAC_PREFIX) {
        let stored_mac = hex::decode(hex_mac)
            .map_err(|_| StoreError::Corrupt(format!("card {card_id}: unreadable PIN MAC")))?;
        return Ok(if bool::from(stored_mac.ct_eq(&proof.mac)) {
            Checked::Right { rewrite: None }
        } else {
            Checked::Wrong
        });
    }
    match &proof.legacy {
        Some((seen, right)) if seen == stored => Ok(if *right {
            Checked::Right {
                rewrite: Some(mac_form(&proof.mac)),
            }
        } else {
            Checked::Wrong
        }),
        _ => Err(StoreError::Corrupt(format!(
            "the PIN hash of card {card_id} changed during the payment; retry"
        ))),
    }
}

/// Checks a PIN against an Argon2 PHC string, at most [`LEGACY_CHECKS`] at a time, on a
/// blocking thread, in memory reused between checks.
async fn verify_legacy(pin: &str, phc: &str) -> Result<bool, StoreError> {
    let _permit = LEGACY_PERMITS
        .acquire()
        .await
        .map_err(|e| StoreError::Corrupt(format!("PIN check: {e}")))?;
    let (pin, phc) = (pin.to_string(), phc.to_string());
    tokio::task::spawn_blocking(move || {
        let mut memory = LEGACY_MEMORY
            .lock()
            .map(|mut pool| pool.pop())
            .unwrap_or_default()
            .unwrap_or_default();
        let right = verify_argon2(&pin, &phc, &mut memory);
        if let Ok(mut pool) = LEGACY_MEMORY.lock() {
            pool.push(memory);
        }
        right
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("PIN check failed: {e}")))
}

/// Argon2 verification with caller-provided memory; an unreadable hash never matches.
fn verify_argon2(pin: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()
        .ok()
        .flatten()
        .unwrap_or_default();
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if params.m_cost() > LEGACY_MAX_KIB {
        return false;
    }
    memory.resize(params.block_count(), Block::new());
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    argon
        .hash_password_into_with_memory(pin.as_bytes(), salt, &mut out, &mut memory[..])
        .is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_hashes_verify_with_reused_memory() {
        let phc = crate::auth::hash_password("4821");
        let mut memory = Vec::new();
        assert!(verify_argon2("4821", &phc, &mut memory));
        assert_eq!(memory.len(), 19 * 1024);
        assert!(!verify_argon2("4822", &phc, &mut memory));
        assert!(verify_argon2("4821", &phc, &mut memory));
        assert!(!verify_argon2("4821", "not a hash", &mut memory));
    }

    #[test]
    fn mac_form_checks_in_place_and_legacy_needs_its_proof() {
        let key = CardKey::from_bytes(&[3; 32]);
        let proof = |pin: &str, legacy: Option<(String, bool)>| PinProof {
            card_id: "card_1".into(),
            mac: key.pin_mac(&seal_context("f", "card_1"), pin),
            legacy,
        };
        let stored = stored_form(&key, "f", "card_1", "4821");
        assert!(stored.starts_with(MAC_PREFIX));
        assert_eq!(
            check(&proof("4821", None), "card_1", &stored).unwrap(),
            Checked::Right { rewrite: None }
        );
        assert_eq!(
            check(&proof("4820", None), "card_1", &stored).unwrap(),
            Checked::Wrong
        );
        assert!(check(&proof("4821", None), "card_2", &stored).is_err());
        // Another card's MAC for the same PIN does not match.
        let other = stored_form(&key, "f", "card_2", "4821");
        assert_eq!(
            check(&proof("4821", None), "card_1", &other).unwrap(),
            Checked::Wrong
        );
        // Argon2: the verdict counts only for the hash it was reached on.
        let old = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".to_string();
        assert_eq!(
            check(&proof("4821", Some((old.clone(), true))), "card_1", &old).unwrap(),
            Checked::Right {
                rewrite: Some(stored.clone())
            }
        );
        assert_eq!(
            check(&proof("4821", Some((old.clone(), false))), "card_1", &old).unwrap(),
            Checked::Wrong
        );
        assert!(check(&proof("4821", None), "card_1", &old).is_err());
        assert!(check(&proof("4821", Some(("other".into(), true))), "card_1", &old).is_err());
    }
}
