//! Idempotency of the money use cases, for the API and the pages alike: claim the key, do the
//! work, store its result, commit, all in one transaction; on a retry, hand back the stored
//! result marked as a replay, and do nothing.
//!
//! The stored answer is the use case's typed result in its wire form (serde), so a replay reads
//! back exactly what the first call returned; the API answers it with the route's status (201,
//! which every idempotent route answers for a new effect) and `Idempotent-Replayed: true`.

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::caller::Caller;
use crate::store::idempotency::{self, Claim};
use crate::store::{Db, StoreError, Tx};

/// The status stored with a first answer (the column predates this module; every idempotent
/// route answers 201 for a new effect).
const STORED_STATUS: u16 = 201;

/// A client's `Idempotency-Key` (the header for the API, a hidden field drawn with each form
/// for the pages): 1 to 255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an Idempotency-Key is 1 to 255 ASCII characters")]
pub struct KeyInvalid;

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<IdempotencyKey, KeyInvalid> {
        if text.is_empty()
            || text.len() > 255
            || !text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        {
            return Err(KeyInvalid);
        }
        Ok(IdempotencyKey(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A new key nobody used: what a page draws with each form.
    pub fn fresh() -> IdempotencyKey {
        IdempotencyKey(crate::auth::new_token("k"))
    }

    /// The key a page's form sent back, or a fresh one when it sent none or a bad one (a form
    /// without its key can only be new work).
    pub fn from_form(sent: Option<&str>) -> IdempotencyKey {
        sent.and_then(|k| IdempotencyKey::parse(k).ok())
            .unwrap_or_else(IdempotencyKey::fresh)
    }
}

/// A use case's result, and whether it is the stored answer of an earlier call with the same
/// key and request (nothing moved this time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<T> {
    pub value: T,
    pub replayed: bool,
}

/// Why a key could not be honoured.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key was used with another request: 409 `idempotency_key_reused`.
    #[error("this Idempotency-Key was used with another request")]
    Reused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `work` once per (caller, key). The same key with the same `request` (compared by a hash
/// of the route and the request's serde form) answers the first result again and changes
/// nothing; with another request it is [`IdempotencyError::Reused`]. A failed `work` rolls back
/// and stores nothing, so the retry runs it again. `Db::write`: on SQLite, concurrent payments
/// share one commit (group commit).
pub async fn run<T, E, R, F>(
    db: &Db,
    caller: &Caller,
    key: &IdempotencyKey,
    route: &str,
    request: &R,
    work: F,
) -> Result<Recorded<T>, E>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    E: From<IdempotencyError> + From<sqlx::Error> + Send + 'static,
    R: Serialize + ?Sized,
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
{
    let request = serde_json::to_value(request)
        .map_err(|e| IdempotencyError::Store(StoreError::Corrupt(e.to_string())))?;
    let hash = idempotency::request_hash(route, &request);
    let (fund, actor, key) = (
        caller.fund().to_string(),
        caller.actor().to_string(),
        key.0.clone(),
    );
    db.write(move |tx| {
        async move {
            match idempotency::claim(tx, &fund, &actor, &key, &hash)
                .await
                .map_err(IdempotencyError::Store)?
            {
                Claim::Replay { body, .. } => {
                    let value = serde_json::from_str(&body).map_err(|e| {
                        IdempotencyError::Store(StoreError::Corrupt(format!(
                            "stored answer of key {key}: {e}"
                        )))
                    })?;
                    Ok(Recorded {
                        value,
                        replayed: true,
                    })
                }
                Claim::Mismatch => Err(IdempotencyError::Reused.into()),
                Claim::New => {
                    let value = work(&mut *tx).await?;
                    let json = serde_json::to_string(&value)
                        .map_err(|e| IdempotencyError::Store(StoreError::Corrupt(e.to_string())))?;
                    idempotency::complete(tx, &fund, &actor, &key, STORED_STATUS, &json)
                        .await
                        .map_err(IdempotencyError::Store)?;
                    Ok(Recorded {
                        value,
                        replayed: false,
                    })
                }
            }
        }
        .boxed()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("k-1").is_ok());
        assert!(IdempotencyKey::parse(&"a".repeat(255)).is_ok());
        assert_eq!(IdempotencyKey::parse(""), Err(KeyInvalid));
        assert_eq!(IdempotencyKey::parse(&"a".repeat(256)), Err(KeyInvalid));
        assert_eq!(IdempotencyKey::parse("clé"), Err(KeyInvalid));
    }
}
