//! Members and their households.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{json_col as c, json_rows, ledger, Db, StoreError, Tx};
use crate::domain::household::Household;
use crate::domain::ledger::{AccountCode, General};
use crate::domain::member::{account_ref, payment_reference, MemberStatus};
use crate::domain::{new_id, now_micros, Cents};

#[derive(Clone, Debug)]
pub struct Member {
    pub id: String,
    pub number: i64,
    pub account_ref: String,
    pub payment_reference: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub household: Household,
    pub monthly_income: Option<Cents>,
    pub chosen_contribution: Option<Cents>,
    pub status: MemberStatus,
    pub joined_on: String,
    pub left_on: Option<String>,
}

impl Member {
    /// The member's allowance balance account (467) and contributions account (411).
    pub fn allowance_account(&self) -> AccountCode {
        AccountCode::auxiliary(General::AllowanceBalances, &self.account_ref)
    }
    pub fn contribution_account(&self) -> AccountCode {
        AccountCode::auxiliary(General::Members, &self.account_ref)
    }
}

#[derive(Clone, Debug)]
pub struct NewMember {
    pub full_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub household: Household,
    pub monthly_income: Option<Cents>,
    pub chosen_contribution: Option<Cents>,
    pub joined_on: String,
}

const COLUMNS: &str = "id, number, account_ref, payment_reference, full_name, email, phone, \
    adults, children, monthly_income, chosen_contribution, status, joined_on, left_on";

fn from_row(r: &AnyRow) -> Result<Member, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("member {what}"));
    let adults: i64 = r.try_get("adults")?;
    let children: i64 = r.try_get("children")?;
    let money = |v: Option<i64>| -> Result<Option<Cents>, StoreError> {
        v.map(|c| Cents::from_cents(c).map_err(|_| corrupt("amount")))
            .transpose()
    };
    let status: String = r.try_get("status")?;
    Ok(Member {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        account_ref: r.try_get("account_ref")?,
        payment_reference: r.try_get("payment_reference")?,
        full_name: r.try_get("full_name")?,
        email: r.try_get("email")?,
        phone: r.try_get("phone")?,
        household: Household::new(
            u32::try_from(adults).map_err(|_| corrupt("adults"))?,
            u32::try_from(children).map_err(|_| corrupt("children"))?,
        )
        .ok_or_else(|| corrupt("household"))?,
        monthly_income: money(r.try_get("monthly_income")?)?,
        chosen_contribution: money(r.try_get("chosen_contribution")?)?,
        status: status.parse().map_err(|_| corrupt("status"))?,
        joined_on: r.try_get("joined_on")?,
        left_on: r.try_get("left_on")?,
    })
}

/// Takes the next value of a per-fund counter (the row lock serialises concurrent takers).
pub async fn next_counter(
    tx: &mut Tx,
    fund_id: &str,
    name: &str,
    n: i64,
) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO fund_counters (fund_id, name, value) VALUES ($1, $2, 0) \
         ON CONFLICT (fund_id, name) DO NOTHING",
    )
    .bind(fund_id)
    .bind(name)
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(
        "UPDATE fund_counters SET value = value + $3 WHERE fund_id = $1 AND name = $2 \
         RETURNING value",
    )
    .bind(fund_id)
    .bind(name)
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get::<i64, _>("value")? - n + 1)
}

/// Creates members with their ledger accounts (411 and 467 auxiliaries), in one go for
/// imports; numbers are consecutive.
#[tracing::instrument(skip_all, fields(count = members.len()))]
pub async fn create_many(
    tx: &mut Tx,
    fund_id: &str,
    members: &[NewMember],
) -> Result<Vec<Member>, StoreError> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let first = next_counter(tx, fund_id, "member", members.len() as i64).await?;
    let now = now_micros();
    let mut created = Vec::with_capacity(members.len());
    let mut rows = Vec::with_capacity(members.len());
    let mut accounts = Vec::with_capacity(members.len() * 2);
    for (i, m) in members.iter().enumerate() {
        let number = first + i as i64;
        let member = Member {
            id: new_id("mem"),
            number,
            account_ref: account_ref(number),
            payment_reference: payment_reference(number),
            full_name: Some(m.full_name.clone()),
            email: m.email.clone(),
            phone: m.phone.clone(),
            household: m.household,
            monthly_income: m.monthly_income,
            chosen_contribution: m.chosen_contribution,
            status: MemberStatus::Active,
            joined_on: m.joined_on.clone(),
            left_on: None,
        };
        rows.push(insert_row(&member));
        accounts.push(member.contribution_account());
        accounts.push(member.allowance_account());
        created.push(member);
    }
    let b = tx.backend();
    sqlx::query(&format!(
        "INSERT INTO members (fund_id, id, number, account_ref, payment_reference, full_name, \
         email, phone, adults, children, monthly_income, chosen_contribution, status, joined_on, \
         created_at, updated_at) \
         SELECT $2, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'active', {}, $3, $3 FROM {}",
        c(b, 0, "TEXT"),
        c(b, 1, "BIGINT"),
        c(b, 2, "TEXT"),
        c(b, 3, "TEXT"),
        c(b, 4, "TEXT"),
        c(b, 5, "TEXT"),
        c(b, 6, "TEXT"),
        c(b, 7, "BIGINT"),
        c(b, 8, "BIGINT"),
        c(b, 9, "BIGINT"),
        c(b, 10, "BIGINT"),
        c(b, 11, "TEXT"),
        json_rows(b, 1)
    ))
    .bind(serde_json::Value::Array(rows).to_string())
    .bind(fund_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "a member with this number"))?;
    ledger::open_accounts(tx, fund_id, &accounts, "Adhérent").await?;
    Ok(created)
}

/// A new member as the JSON row [`create_many`] inserts, in its column order.
fn insert_row(member: &Member) -> serde_json::Value {
    serde_json::json!([
        member.id,
        member.number,
        member.account_ref,
        member.payment_reference,
        member.full_name,
        member.email,
        member.phone,
        member.household.adults(),
        member.household.children(),
        member.monthly_income.map(Cents::cents),
        member.chosen_contribution.map(Cents::cents),
        member.joined_on,
    ])
}

/// The member a treasurer names by number (`42`) or payment reference (`RF47M000042`, any
/// case, spaces ignored).
pub async fn id_by_number_or_reference(
    db: &Db,
    fund_id: &str,
    text: &str,
) -> Result<Option<String>, StoreError> {
    id_named(db.pool(), fund_id, text).await
}

/// The same lookup, on a pool or inside a transaction (matching a bank line by hand).
pub(crate) async fn id_named<'e, E>(
    executor: E,
    fund_id: &str,
    text: &str,
) -> Result<Option<String>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let wanted: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if wanted.is_empty() {
        return Ok(None);
    }
    let number = wanted.parse::<i64>().ok();
    let row = sqlx::query(
        "SELECT id FROM members WHERE fund_id = $1 AND (payment_reference = $2 OR number = $3)",
    )
    .bind(fund_id)
    .bind(wanted)
    .bind(number)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// Who a member is for telling people apart in an import: number, email (stored in lower
/// case), full name. Every member with a name, whatever the status: a fund has 30 to 450, a
/// large one a few thousand, a few hundred kilobytes at most.
#[tracing::instrument(skip_all)]
pub(crate) async fn identities<'e, E>(
    executor: E,
    fund_id: &str,
) -> Result<Vec<(i64, Option<String>, String)>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "SELECT number, email, full_name FROM members \
         WHERE fund_id = $1 AND full_name IS NOT NULL ORDER BY number",
    )
    .bind(fund_id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("number")?,
                r.try_get("email")?,
                r.try_get("full_name")?,
            ))
        })
        .collect()
}

pub async fn get(
    conn: &mut AnyConnection,
    fund_id: &str,
    id: &str,
) -> Result<Option<Member>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM members WHERE fund_id = $1 AND id = $2"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find(db: &Db, fund_id: &str, id: &str) -> Result<Option<Member>, StoreError> {
    let mut conn = db.pool().acquire().await?;
    get(&mut conn, fund_id, id).await
}

/// Locks the member's row for the rest of the transaction (PostgreSQL; SQLite's writer holds
/// the whole database already).
pub async fn get_for_update(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
) -> Result<Option<Member>, StoreError> {
    let lock = tx.for_update();
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM members WHERE fund_id = $1 AND id = $2{lock}"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Reads and locks the member's row until the end of the transaction (PostgreSQL): what a
/// payment, a refund or a correction does before it touches the member's allowance balance.
/// A leave holds the row while it hands the balance back, so a payment either commits before
/// the leave reads the balance, or reads the member as left (`member_inactive`). Same lock
/// order everywhere: member row, then accounts.
///
/// `FOR NO KEY UPDATE` rather than `FOR SHARE`: shared locks let a stream of payments starve a
/// waiting leave (each new payment joins the share holders ahead of it); exclusive ones queue
/// in order, and payments of one member were serialised on their 467 row anyway. It does not
/// conflict with the key-share locks of foreign keys (a contribution payment's insert).
pub async fn get_for_payment(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
) -> Result<Option<Member>, StoreError> {
    let lock = match tx.backend() {
        super::Backend::Postgres => " FOR NO KEY UPDATE",
        super::Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM members WHERE fund_id = $1 AND id = $2{lock}"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Writes back the editable fields of a member.
pub async fn save(tx: &mut Tx, fund_id: &str, m: &Member) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE members SET full_name = $3, email = $4, phone = $5, adults = $6, children = $7, \
         monthly_income = $8, chosen_contribution = $9, status = $10, left_on = $11, \
         updated_at = $12 WHERE fund_id = $1 AND id = $2",
    )
    .bind(fund_id)
    .bind(&m.id)
    .bind(&m.full_name)
    .bind(&m.email)
    .bind(&m.phone)
    .bind(i64::from(m.household.adults()))
    .bind(i64::from(m.household.children()))
    .bind(m.monthly_income.map(Cents::cents))
    .bind(m.chosen_contribution.map(Cents::cents))
    .bind(m.status.as_str())
    .bind(&m.left_on)
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A page of members by id (creation order), after `cursor`.
pub async fn list(
    db: &Db,
    fund_id: &str,
    status: Option<MemberStatus>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<Member>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM members WHERE fund_id = $1 AND ($2 IS NULL OR status = $2) \
         AND id > $3 ORDER BY id LIMIT $4"
    ))
    .bind(fund_id)
    .bind(status.map(|s| s.as_str()))
    .bind(cursor.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// A page of active members inside a transaction (for calls and issuances).
pub async fn active_page(
    tx: &mut Tx,
    fund_id: &str,
    after: &str,
    joined_before: i64,
    limit: i64,
) -> Result<Vec<Member>, StoreError> {
    // Locked on PostgreSQL: a member who leaves meanwhile is read again and dropped.
    let lock = tx.for_update();
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM members WHERE fund_id = $1 AND status = 'active' AND id > $2 \
         AND created_at < $4 ORDER BY id LIMIT $3{lock}"
    ))
    .bind(fund_id)
    .bind(after)
    .bind(limit)
    .bind(joined_before)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes the logins of a member who leaves (their email is personal data).
pub async fn delete_logins(tx: &mut Tx, fund_id: &str, member_id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM sessions WHERE fund_id = $1 AND user_id IN \
         (SELECT id FROM users WHERE fund_id = $1 AND member_id = $2)",
    )
    .bind(fund_id)
    .bind(member_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM users WHERE fund_id = $1 AND member_id = $2")
        .bind(fund_id)
        .bind(member_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
