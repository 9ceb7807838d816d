//! Imported bank statements and their lines, with what each line was matched to.

use sqlx::Row;

use super::{Db, StoreError, Tx};

#[derive(Clone, Debug)]
pub struct NewStatement<'a> {
    pub id: &'a str,
    pub format: &'a str,
    pub bank_id: Option<&'a str>,
    pub opening: Option<i64>,
    pub closing: Option<i64>,
    pub imported_by: &'a str,
    pub now: i64,
}

pub async fn insert_statement(
    tx: &mut Tx,
    fund_id: &str,
    s: &NewStatement<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO bank_statements (fund_id, id, format, bank_id, opening, closing, imported, \
         duplicates, imported_by, imported_at) VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8)",
    )
    .bind(fund_id)
    .bind(s.id)
    .bind(s.format)
    .bind(s.bank_id)
    .bind(s.opening)
    .bind(s.closing)
    .bind(s.imported_by)
    .bind(s.now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_statement_counts(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
    imported: i64,
    duplicates: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE bank_statements SET imported = $3, duplicates = $4 WHERE fund_id = $1 AND id = $2",
    )
    .bind(fund_id)
    .bind(id)
    .bind(imported)
    .bind(duplicates)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct NewLine<'a> {
    pub id: &'a str,
    pub statement_id: &'a str,
    pub booked_on: &'a str,
    pub amount: i64,
    pub reference: &'a str,
    pub counterparty: Option<&'a str>,
    pub bank_ref: Option<&'a str>,
    pub end_to_end_id: Option<&'a str>,
    pub dedupe_key: &'a str,
    pub now: i64,
}

/// Inserts a line unless one with the same dedupe key was imported before: `false` for a
/// duplicate. On PostgreSQL a concurrent import of the same line waits for the other to
/// commit, then sees the duplicate.
pub async fn insert_line(tx: &mut Tx, fund_id: &str, l: &NewLine<'_>) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "INSERT INTO bank_lines (fund_id, id, statement_id, booked_on, amount, reference, \
         counterparty, bank_ref, end_to_end_id, dedupe_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (fund_id, dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(fund_id)
    .bind(l.id)
    .bind(l.statement_id)
    .bind(l.booked_on)
    .bind(l.amount)
    .bind(l.reference)
    .bind(l.counterparty)
    .bind(l.bank_ref)
    .bind(l.end_to_end_id)
    .bind(l.dedupe_key)
    .bind(l.now)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

pub async fn set_match(
    tx: &mut Tx,
    fund_id: &str,
    line_id: &str,
    kind: &str,
    matched_id: &str,
    entry_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE bank_lines SET matched_kind = $3, matched_id = $4, entry_id = $5 \
         WHERE fund_id = $1 AND id = $2",
    )
    .bind(fund_id)
    .bind(line_id)
    .bind(kind)
    .bind(matched_id)
    .bind(entry_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct BankLine {
    pub id: String,
    pub statement_id: String,
    pub booked_on: String,
    pub amount: i64,
    pub reference: String,
    pub counterparty: Option<String>,
    pub bank_ref: Option<String>,
    pub end_to_end_id: Option<String>,
}

/// One line, locked until the end of the transaction (PostgreSQL), with what it was matched
/// to if anything: (kind, matched id, entry id).
#[allow(clippy::type_complexity)]
pub async fn line_for_update(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
) -> Result<Option<(BankLine, Option<(String, String, i64)>)>, StoreError> {
    let lock = tx.for_update();
    let row = sqlx::query(&format!(
        "SELECT id, statement_id, booked_on, amount, reference, counterparty, bank_ref, \
         end_to_end_id, matched_kind, matched_id, entry_id FROM bank_lines \
         WHERE fund_id = $1 AND id = $2{lock}"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let line = line_from(&r)?;
    let kind: Option<String> = r.try_get("matched_kind")?;
    let matched = match kind {
        Some(kind) => Some((
            kind,
            r.try_get::<Option<String>, _>("matched_id")?
                .unwrap_or_default(),
            r.try_get::<Option<i64>, _>("entry_id")?.unwrap_or_default(),
        )),
        None => None,
    };
    Ok(Some((line, matched)))
}

/// Lines no payout or payment was found for, oldest first.
pub async fn unmatched(db: &Db, fund_id: &str) -> Result<Vec<BankLine>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, statement_id, booked_on, amount, reference, counterparty, bank_ref, \
         end_to_end_id FROM bank_lines WHERE fund_id = $1 AND matched_kind IS NULL \
         ORDER BY booked_on, id",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(line_from).collect()
}

fn line_from(r: &sqlx::any::AnyRow) -> Result<BankLine, StoreError> {
    Ok(BankLine {
        id: r.try_get("id")?,
        statement_id: r.try_get("statement_id")?,
        booked_on: r.try_get("booked_on")?,
        amount: r.try_get("amount")?,
        reference: r.try_get("reference")?,
        counterparty: r.try_get("counterparty")?,
        bank_ref: r.try_get("bank_ref")?,
        end_to_end_id: r.try_get("end_to_end_id")?,
    })
}

/// The member whose payment reference (`RFxx...`) this is.
pub async fn member_by_payment_reference(
    tx: &mut Tx,
    fund_id: &str,
    reference: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT id FROM members WHERE fund_id = $1 AND payment_reference = $2")
        .bind(fund_id)
        .bind(reference)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// The member a treasurer names by number (`42`) or payment reference (`RF47M000042`, any
/// case, spaces ignored), for matching a bank line by hand.
pub async fn member_by_number_or_reference(
    tx: &mut Tx,
    fund_id: &str,
    text: &str,
) -> Result<Option<String>, StoreError> {
    super::members::id_named(&mut **tx, fund_id, text).await
}
