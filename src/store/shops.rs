//! Shops: applications and their criteria answers, committee votes, decisions and status
//! changes.
//!
//! Every write that depends on a shop's status first takes the shop's row with a no-op
//! `UPDATE ... RETURNING status`: on PostgreSQL that is a row lock held to the end of the
//! transaction, on SQLite the writer lock is already held, so a vote, a decision and a
//! suspension of one shop never interleave (a decision counts exactly the votes committed before
//! it, and no vote lands on a shop just rejected).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Db, StoreError, Tx};
use crate::domain::shop::{
    Decision, ShopStatus, StatusChange, Tally, ValidApplication, VoteChoice,
};
use crate::domain::{new_id, now_micros};

/// A shop write that found no shop (the rules of its status are `domain::shop`'s, checked by
/// the service under [`lock`]).
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    #[error("shop not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ShopError {
    fn from(e: sqlx::Error) -> Self {
        ShopError::Store(StoreError::Db(e))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shop {
    pub id: String,
    pub name: String,
    pub legal_name: String,
    pub siret: Option<String>,
    pub iban: String,
    pub bic: Option<String>,
    pub address: String,
    pub categories: Vec<String>,
    pub status: ShopStatus,
    pub review_on: Option<NaiveDate>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One line of a shop's history: a decision (with the tally it was taken on), a suspension or
/// a reinstatement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRecord {
    pub id: String,
    pub kind: StatusChange,
    pub note: Option<String>,
    pub review_on: Option<NaiveDate>,
    pub tally: Option<Tally>,
    pub decided_by: String,
    pub decided_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    pub voter_id: String,
    pub voter_email: String,
    pub choice: VoteChoice,
    pub comment: Option<String>,
    pub voted_at: i64,
}

const SHOP_COLUMNS: &str = "id, name, legal_name, siret, iban, bic, address, categories, \
     status, review_on, created_by, created_at, updated_at";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value}"))
}

fn date(value: Option<String>) -> Result<Option<NaiveDate>, StoreError> {
    value
        .map(|v| NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| corrupt("date", &v)))
        .transpose()
}

fn shop_from_row(row: &AnyRow) -> Result<Shop, StoreError> {
    let status: String = row.try_get("status")?;
    let categories: String = row.try_get("categories")?;
    Ok(Shop {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        legal_name: row.try_get("legal_name")?,
        siret: row.try_get("siret")?,
        iban: row.try_get("iban")?,
        bic: row.try_get("bic")?,
        address: row.try_get("address")?,
        categories: serde_json::from_str(&categories)
            .map_err(|_| corrupt("shop categories", &categories))?,
        status: ShopStatus::parse(&status).ok_or_else(|| corrupt("shop status", &status))?,
        review_on: date(row.try_get("review_on")?)?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Records an application, `pending`, with its answers to the fund's criteria.
#[tracing::instrument(skip(tx, app))]
pub async fn create(
    tx: &mut Tx,
    fund_id: &str,
    app: &ValidApplication,
    created_by: &str,
) -> Result<Shop, StoreError> {
    let id = new_id("shop");
    let now = now_micros();
    let categories = serde_json::to_string(&app.categories).expect("strings serialize");
    sqlx::query(
        "INSERT INTO shops (fund_id, id, name, legal_name, siret, iban, bic, address, \
         categories, status, review_on, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', NULL, $10, $11, $11)",
    )
    .bind(fund_id)
    .bind(&id)
    .bind(&app.name)
    .bind(&app.legal_name)
    .bind(app.siret.as_deref())
    .bind(&app.iban)
    .bind(app.bic.as_deref())
    .bind(&app.address)
    .bind(&categories)
    .bind(created_by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for (criterion, answer) in &app.criteria {
        sqlx::query(
            "INSERT INTO shop_criteria (fund_id, shop_id, criterion_id, answer) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(fund_id)
        .bind(&id)
        .bind(criterion)
        .bind(answer)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Shop {
        id,
        name: app.name.clone(),
        legal_name: app.legal_name.clone(),
        siret: app.siret.clone(),
        iban: app.iban.clone(),
        bic: app.bic.clone(),
        address: app.address.clone(),
        categories: app.categories.clone(),
        status: ShopStatus::Pending,
        review_on: None,
        created_by: created_by.to_string(),
        created_at: now,
        updated_at: now,
    })
}

/// Replaces a shop's details (not its status, votes or criteria answers); `false` when the
/// fund has no such shop.
pub async fn update_details(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
    d: &ValidApplication,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE shops SET name = $3, legal_name = $4, siret = $5, iban = $6, bic = $7, \
         address = $8, categories = $9, updated_at = $10 WHERE fund_id = $1 AND id = $2",
    )
    .bind(fund_id)
    .bind(id)
    .bind(&d.name)
    .bind(&d.legal_name)
    .bind(&d.siret)
    .bind(&d.iban)
    .bind(&d.bic)
    .bind(&d.address)
    .bind(serde_json::to_string(&d.categories).map_err(StoreError::from_json)?)
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A shop, locked until the end of the transaction (PostgreSQL).
pub async fn get_for_update(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
) -> Result<Option<Shop>, StoreError> {
    let lock = tx.for_update();
    let row = sqlx::query(&format!(
        "SELECT {SHOP_COLUMNS} FROM shops WHERE fund_id = $1 AND id = $2{lock}"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(shop_from_row).transpose()
}

pub async fn get(db: &Db, fund_id: &str, id: &str) -> Result<Option<Shop>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {SHOP_COLUMNS} FROM shops WHERE fund_id = $1 AND id = $2"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(shop_from_row).transpose()
}

/// Which shops a list shows.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Empty: every status.
    pub statuses: Vec<ShopStatus>,
    pub category: Option<String>,
    /// Only the shops whose review date is on or before this day.
    pub review_due_on: Option<NaiveDate>,
    /// Only this shop (a till sees its own shop).
    pub only: Option<String>,
    /// The cursor: the last id of the previous page.
    pub after: Option<String>,
    pub limit: i64,
}

/// A page of shops in id order (creation order).
#[tracing::instrument(skip(db))]
pub async fn list(db: &Db, fund_id: &str, filter: &ListFilter) -> Result<Vec<Shop>, StoreError> {
    let mut sql = format!("SELECT {SHOP_COLUMNS} FROM shops WHERE fund_id = $1");
    let mut binds: Vec<String> = vec![fund_id.to_string()];
    let mut next = |sql: &mut String, clause: &str, value: String| {
        binds.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    if !filter.statuses.is_empty() {
        sql.push_str(" AND status IN (");
        for (i, s) in filter.statuses.iter().enumerate() {
            next(
                &mut sql,
                if i == 0 { "?" } else { ", ?" },
                s.as_str().into(),
            );
        }
        sql.push(')');
    }
    if let Some(c) = &filter.category {
        // Categories are stored as a JSON array of strings: match the name as JSON encodes it,
        // with LIKE's own special characters escaped.
        let quoted = serde_json::to_string(c).expect("a string serializes");
        let escaped = quoted
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        next(
            &mut sql,
            " AND categories LIKE ? ESCAPE '\\'",
            format!("%{escaped}%"),
        );
    }
    if let Some(d) = filter.review_due_on {
        next(
            &mut sql,
            " AND review_on IS NOT NULL AND review_on <= ?",
            d.format("%Y-%m-%d").to_string(),
        );
    }
    if let Some(only) = &filter.only {
        next(&mut sql, " AND id = ?", only.clone());
    }
    if let Some(after) = &filter.after {
        next(&mut sql, " AND id > ?", after.clone());
    }
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", binds.len() + 1));
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b.as_str());
    }
    let rows = q.bind(filter.limit).fetch_all(db.pool()).await?;
    rows.iter().map(shop_from_row).collect()
}

/// The shop's answers, by criterion id.
pub async fn criteria(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let rows = sqlx::query(
        "SELECT criterion_id, answer FROM shop_criteria WHERE fund_id = $1 AND shop_id = $2",
    )
    .bind(fund_id)
    .bind(shop_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("criterion_id")?, r.try_get("answer")?)))
        .collect()
}

/// The votes as they stand.
pub async fn tally(
    conn: &mut AnyConnection,
    fund_id: &str,
    shop_id: &str,
) -> Result<Tally, StoreError> {
    let rows = sqlx::query(
        "SELECT choice, CAST(COUNT(*) AS BIGINT) AS n FROM shop_votes \
         WHERE fund_id = $1 AND shop_id = $2 GROUP BY choice",
    )
    .bind(fund_id)
    .bind(shop_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut t = Tally::default();
    for r in rows {
        let choice: String = r.try_get("choice")?;
        let choice = VoteChoice::parse(&choice).ok_or_else(|| corrupt("vote", &choice))?;
        t.add(choice, r.try_get("n")?);
    }
    Ok(t)
}

pub async fn current_tally(db: &Db, fund_id: &str, shop_id: &str) -> Result<Tally, StoreError> {
    let mut conn = db.pool().acquire().await?;
    tally(&mut conn, fund_id, shop_id).await
}

/// The votes on a shop, oldest first; only `voter`'s when given.
pub async fn votes(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    voter: Option<&str>,
) -> Result<Vec<Vote>, StoreError> {
    let rows = sqlx::query(
        "SELECT v.voter_id, u.email, v.choice, v.comment, v.voted_at FROM shop_votes v \
         JOIN users u ON u.fund_id = v.fund_id AND u.id = v.voter_id \
         WHERE v.fund_id = $1 AND v.shop_id = $2 AND ($3 = '' OR v.voter_id = $3) \
         ORDER BY v.voted_at, v.voter_id",
    )
    .bind(fund_id)
    .bind(shop_id)
    .bind(voter.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let choice: String = r.try_get("choice")?;
            Ok(Vote {
                voter_id: r.try_get("voter_id")?,
                voter_email: r.try_get("email")?,
                choice: VoteChoice::parse(&choice).ok_or_else(|| corrupt("vote", &choice))?,
                comment: r.try_get("comment")?,
                voted_at: r.try_get("voted_at")?,
            })
        })
        .collect()
}

/// The shop's history of status changes, oldest first.
pub async fn history(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
) -> Result<Vec<StatusRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, kind, note, review_on, votes_for, votes_against, votes_abstain, \
         decided_by, decided_at FROM shop_decisions WHERE fund_id = $1 AND shop_id = $2 \
         ORDER BY id",
    )
    .bind(fund_id)
    .bind(shop_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            let counts: (Option<i64>, Option<i64>, Option<i64>) = (
                r.try_get("votes_for")?,
                r.try_get("votes_against")?,
                r.try_get("votes_abstain")?,
            );
            let tally = match counts {
                (Some(votes_for), Some(against), Some(abstain)) => Some(Tally {
                    votes_for,
                    against,
                    abstain,
                }),
                _ => None,
            };
            Ok(StatusRecord {
                id: r.try_get("id")?,
                kind: StatusChange::parse(&kind).ok_or_else(|| corrupt("decision", &kind))?,
                note: r.try_get("note")?,
                review_on: date(r.try_get("review_on")?)?,
                tally,
                decided_by: r.try_get("decided_by")?,
                decided_at: r.try_get("decided_at")?,
            })
        })
        .collect()
}

/// Takes the shop's row for the rest of the transaction and answers its status: every write
/// below is made under it, after the service checked the status allows it.
pub async fn lock(tx: &mut Tx, fund_id: &str, shop_id: &str) -> Result<ShopStatus, ShopError> {
    let row = sqlx::query(
        "UPDATE shops SET status = status WHERE fund_id = $1 AND id = $2 RETURNING status",
    )
    .bind(fund_id)
    .bind(shop_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ShopError::NotFound)?;
    let status: String = row.try_get("status")?;
    ShopStatus::parse(&status).ok_or_else(|| corrupt("shop status", &status).into())
}

/// What [`vote`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteOutcome {
    /// The voter had voted before: that vote is replaced.
    pub replaced: bool,
    pub voted_at: i64,
}

/// Records a committee member's vote, replacing their previous one on this shop (under
/// [`lock`]).
#[tracing::instrument(skip(tx, comment))]
pub async fn vote(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    voter_id: &str,
    choice: VoteChoice,
    comment: Option<&str>,
) -> Result<VoteOutcome, StoreError> {
    let before = sqlx::query(
        "SELECT 1 AS one FROM shop_votes WHERE fund_id = $1 AND shop_id = $2 AND voter_id = $3",
    )
    .bind(fund_id)
    .bind(shop_id)
    .bind(voter_id)
    .fetch_optional(&mut **tx)
    .await?;
    let now = now_micros();
    sqlx::query(
        "INSERT INTO shop_votes (fund_id, shop_id, voter_id, choice, comment, voted_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (fund_id, shop_id, voter_id) \
         DO UPDATE SET choice = excluded.choice, comment = excluded.comment, \
         voted_at = excluded.voted_at",
    )
    .bind(fund_id)
    .bind(shop_id)
    .bind(voter_id)
    .bind(choice.as_str())
    .bind(comment)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(VoteOutcome {
        replaced: before.is_some(),
        voted_at: now,
    })
}

/// An admin's decision (under [`lock`]): the shop becomes approved or rejected, and the
/// decision keeps the tally of the votes as they stand now. An approval sets (or clears) the
/// next review date.
#[tracing::instrument(skip(tx, note))]
pub async fn decide(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    decision: Decision,
    note: Option<&str>,
    review_on: Option<NaiveDate>,
    decided_by: &str,
) -> Result<StatusRecord, StoreError> {
    let tally = tally(tx, fund_id, shop_id).await?;
    let review_on = review_on.filter(|_| decision == Decision::Approved);
    set_status(tx, fund_id, shop_id, decision.status(), Some(review_on)).await?;
    record(
        tx,
        fund_id,
        shop_id,
        decision.into(),
        note,
        review_on,
        Some(tally),
        decided_by,
    )
    .await
}

/// Records a suspension or a reinstatement (under [`lock`]), effective at once: the next
/// payment at the shop's tills sees the new status `to`.
#[tracing::instrument(skip(tx, note))]
pub async fn change_status(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    change: StatusChange,
    to: ShopStatus,
    note: Option<&str>,
    decided_by: &str,
) -> Result<StatusRecord, StoreError> {
    set_status(tx, fund_id, shop_id, to, None).await?;
    record(tx, fund_id, shop_id, change, note, None, None, decided_by).await
}

/// `review_on`: `None` keeps it, `Some(x)` sets it to `x`.
async fn set_status(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    status: ShopStatus,
    review_on: Option<Option<NaiveDate>>,
) -> Result<(), StoreError> {
    let q = match review_on {
        None => sqlx::query(
            "UPDATE shops SET status = $3, updated_at = $4 WHERE fund_id = $1 AND id = $2",
        ),
        Some(_) => sqlx::query(
            "UPDATE shops SET status = $3, updated_at = $4, review_on = $5 \
             WHERE fund_id = $1 AND id = $2",
        ),
    };
    let mut q = q
        .bind(fund_id)
        .bind(shop_id)
        .bind(status.as_str())
        .bind(now_micros());
    if let Some(r) = review_on {
        q = q.bind(r.map(|d| d.format("%Y-%m-%d").to_string()));
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    kind: StatusChange,
    note: Option<&str>,
    review_on: Option<NaiveDate>,
    tally: Option<Tally>,
    decided_by: &str,
) -> Result<StatusRecord, StoreError> {
    let id = new_id("sdec");
    let now = now_micros();
    sqlx::query(
        "INSERT INTO shop_decisions (fund_id, id, shop_id, kind, note, review_on, votes_for, \
         votes_against, votes_abstain, decided_by, decided_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(fund_id)
    .bind(&id)
    .bind(shop_id)
    .bind(kind.as_str())
    .bind(note)
    .bind(review_on.map(|d| d.format("%Y-%m-%d").to_string()))
    .bind(tally.map(|t| t.votes_for))
    .bind(tally.map(|t| t.against))
    .bind(tally.map(|t| t.abstain))
    .bind(decided_by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(StatusRecord {
        id,
        kind,
        note: note.map(String::from),
        review_on,
        tally,
        decided_by: decided_by.to_string(),
        decided_at: now,
    })
}

/// The shop's name, inside a transaction.
pub async fn name(
    conn: &mut AnyConnection,
    fund_id: &str,
    shop_id: &str,
) -> Result<String, ShopError> {
    let row = sqlx::query("SELECT name FROM shops WHERE fund_id = $1 AND id = $2")
        .bind(fund_id)
        .bind(shop_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ShopError::NotFound)?;
    Ok(row.try_get("name")?)
}

/// Whether the shop's tills may take payments now: it exists in this fund and is approved (not
/// pending, rejected or suspended). The redemption path calls this inside its transaction.
pub async fn is_accepting_payments(
    conn: &mut AnyConnection,
    fund_id: &str,
    shop_id: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT status FROM shops WHERE fund_id = $1 AND id = $2")
        .bind(fund_id)
        .bind(shop_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => ShopStatus::parse(&r.try_get::<String, _>("status")?)
            .is_some_and(ShopStatus::accepts_payments),
        None => false,
    })
}
