//! Who is calling: the same answer for the API's bearer tokens and the pages' cookie sessions,
//! so that both faces see one `Caller` built in one place. A till's key is checked on every
//! request (revoking it ends the till's API access and its web session at once).

use crate::auth::{new_token, token_hash};
use crate::caller::Caller;
use crate::domain::{now_micros, FundId, MemberId, ShopId, TerminalId, UserId};
use crate::store::terminals::{self, TerminalAuth};
use crate::store::users::{self, User};
use crate::store::web_sessions::{self, Owner};
use crate::store::{Db, StoreError};

/// The prefix of a till's API key: `ct_` and 64 hex digits.
pub const TILL_KEY_PREFIX: &str = "ct_";

fn till(t: TerminalAuth) -> Caller {
    Caller::Till {
        fund: FundId::new(t.fund_id),
        terminal: TerminalId::new(t.terminal_id),
        shop: ShopId::new(t.shop_id),
    }
}

fn person(u: User) -> Caller {
    Caller::User {
        fund: FundId::new(u.fund_id),
        user: UserId::new(u.id),
        role: u.role,
        member: u.member_id.map(MemberId::new),
    }
}

/// The caller behind an API bearer token: a till's key (`ct_…`, not revoked) or a person's
/// session token (not expired). `None` for anything else.
pub async fn of_bearer(db: &Db, token: &str) -> Result<Option<Caller>, StoreError> {
    let hash = token_hash(token);
    if token.starts_with(TILL_KEY_PREFIX) {
        return Ok(terminals::authenticate(db, &hash).await?.map(till));
    }
    Ok(users::session_user(db, &hash).await?.map(person))
}

/// The caller behind a web session id's hash, while the session lives (and, for a till, while
/// its key is not revoked).
pub async fn of_web_session(db: &Db, id_hash: &str) -> Result<Option<Caller>, StoreError> {
    match web_sessions::find(db, id_hash).await? {
        Some(Owner::User(u)) => Ok(Some(person(u))),
        Some(Owner::Terminal { key_hash }) => {
            Ok(terminals::authenticate(db, &key_hash).await?.map(till))
        }
        None => Ok(None),
    }
}

/// Whose web session to open: a person who gave their password, or a till that gave its key.
pub enum SessionFor<'a> {
    Person(&'a User),
    /// The till's fund and the hash of its key, which the session stays tied to.
    Till {
        fund: &'a FundId,
        key_hash: String,
    },
}

/// A till's key typed on the login page: the session to open for it, or `None` when the key is
/// unknown, revoked or not a till key. Not rate limited: a key is 256 random bits.
pub async fn till_by_key(db: &Db, key: &str) -> Result<Option<(FundId, String)>, StoreError> {
    if !key.starts_with(TILL_KEY_PREFIX) {
        return Ok(None);
    }
    let hash = token_hash(key);
    Ok(terminals::authenticate(db, &hash)
        .await?
        .map(|t| (FundId::new(t.fund_id), hash)))
}

/// Opens a web session, ending `previous` (the session the browser came with, if any): the id
/// is always new, so a session id planted before the login is worth nothing. Returns the
/// session id for the cookie (only its hash is stored).
pub async fn open_web_session(
    db: &Db,
    previous: Option<&str>,
    owner: SessionFor<'_>,
    hours: i64,
) -> Result<String, StoreError> {
    if let Some(old) = previous {
        web_sessions::delete(db, old).await?;
    }
    let sid = new_token("ws");
    let expires = now_micros() + hours * 3600 * 1_000_000;
    let (fund, user, key_hash) = match &owner {
        SessionFor::Person(u) => (u.fund_id.as_str(), Some(u.id.as_str()), None),
        SessionFor::Till { fund, key_hash } => (fund.as_str(), None, Some(key_hash.as_str())),
    };
    web_sessions::create(db, &token_hash(&sid), fund, user, key_hash, expires).await?;
    Ok(sid)
}

/// Ends a web session (its id's hash).
pub async fn close_web_session(db: &Db, id_hash: &str) -> Result<(), StoreError> {
    web_sessions::delete(db, id_hash).await
}
