//! Settlements: which redemptions and refunds each one claimed, and the transfer lines to the
//! shops, with their payment state.

use sqlx::Row;

use super::{Backend, Db, StoreError, Tx};

/// What one shop sold and refunded among the rows a settlement looked at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShopNet {
    pub shop_id: String,
    pub redeemed: i64,
    pub redemptions: i64,
    pub refunded: i64,
    pub refunds: i64,
    /// Reversed sales netted (their amounts, a deduction like a refund).
    pub reversed_sales: i64,
    /// Reversed refunds netted (their amounts, owed to the shop again).
    pub reversed_refunds: i64,
    /// How many reversals of either kind.
    pub reversals: i64,
}

impl ShopNet {
    pub fn net(&self) -> i64 {
        self.redeemed - self.refunded - self.reversed_sales + self.reversed_refunds
    }
}

/// Serialises settlements of one fund (PostgreSQL; SQLite's writer already does). The per-row
/// claim below is what guarantees a row is never settled twice; this lock only keeps two
/// settlements from interleaving their claims, which could deadlock on PostgreSQL.
pub async fn lock_fund(tx: &mut Tx, fund_id: &str) -> Result<(), StoreError> {
    if tx.backend() == Backend::Postgres {
        sqlx::query("SELECT id FROM funds WHERE id = $1 FOR UPDATE")
            .bind(fund_id)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// What a settlement claims: sales and refunds by their settlement, and the reversals of sales
/// and refunds by the settlement that nets them (`reversed_at` is when a reversal starts to
/// count: the row's own instant if no settlement had claimed the row when it was reversed, so
/// that the two are claimed together and a reversed sale is never paid).
#[derive(Clone, Copy)]
enum Source {
    Sales,
    Refunds,
    SaleReversals,
    RefundReversals,
}

impl Source {
    const ALL: [Source; 4] = [
        Source::Sales,
        Source::Refunds,
        Source::SaleReversals,
        Source::RefundReversals,
    ];

    /// (table, claim column, instant column).
    fn columns(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Source::Sales => ("redemptions", "settlement_id", "created_at"),
            Source::Refunds => ("refunds", "settlement_id", "created_at"),
            Source::SaleReversals => ("redemptions", "reversal_settlement_id", "reversed_at"),
            Source::RefundReversals => ("refunds", "reversal_settlement_id", "reversed_at"),
        }
    }

    fn add(self, net: &mut ShopNet, total: i64, n: i64) {
        match self {
            Source::Sales => {
                net.redeemed += total;
                net.redemptions += n;
            }
            Source::Refunds => {
                net.refunded += total;
                net.refunds += n;
            }
            Source::SaleReversals => {
                net.reversed_sales += total;
                net.reversals += n;
            }
            Source::RefundReversals => {
                net.reversed_refunds += total;
                net.reversals += n;
            }
        }
    }
}

/// Claims for `settlement_id` every unsettled redemption and refund, and every reversal of one
/// not netted yet, created (reversed) before `cutoff` (microseconds), of the shops whose net is
/// positive, and answers those shops' figures. Rows of a shop whose net is zero or less stay
/// unclaimed: the next settlement nets them with what it sells by then.
///
/// The claim is a conditional `UPDATE ... WHERE settlement_id IS NULL`: two settlements can
/// never claim the same row, and a payment committed after this one with an earlier instant is
/// simply left for the next.
pub async fn claim(
    tx: &mut Tx,
    fund_id: &str,
    settlement_id: &str,
    cutoff: i64,
) -> Result<Vec<ShopNet>, StoreError> {
    let mut nets = Nets::new();
    match tx.backend() {
        Backend::Postgres => claim_postgres(tx, &mut nets, fund_id, settlement_id, cutoff).await?,
        Backend::Sqlite => claim_sqlite(tx, &mut nets, fund_id, settlement_id, cutoff).await?,
    }
    Ok(nets.into_values().filter(|n| n.net() > 0).collect())
}

type Nets = std::collections::BTreeMap<String, ShopNet>;

/// PostgreSQL: claim everything, sum what was claimed, then give back the shops not owed
/// anything: the sums are exactly of the rows this transaction holds.
async fn claim_postgres(
    tx: &mut Tx,
    nets: &mut Nets,
    fund_id: &str,
    settlement_id: &str,
    cutoff: i64,
) -> Result<(), StoreError> {
    for source in Source::ALL {
        let (table, column, instant) = source.columns();
        let rows = sqlx::query(&format!(
            "WITH c AS (UPDATE {table} SET {column} = $1 WHERE fund_id = $2 \
             AND {column} IS NULL AND {instant} < $3 RETURNING shop_id, amount) \
             SELECT shop_id, CAST(SUM(amount) AS BIGINT) AS total, \
             CAST(COUNT(*) AS BIGINT) AS n FROM c GROUP BY shop_id"
        ))
        .bind(settlement_id)
        .bind(fund_id)
        .bind(cutoff)
        .fetch_all(&mut **tx)
        .await?;
        add_rows(nets, &rows, source)?;
    }
    let release: Vec<&String> = nets
        .values()
        .filter(|n| n.net() <= 0)
        .map(|n| &n.shop_id)
        .collect();
    if !release.is_empty() {
        let list = serde_json::to_string(&release).map_err(StoreError::from_json)?;
        for source in Source::ALL {
            let (table, column, _) = source.columns();
            sqlx::query(&format!(
                "UPDATE {table} SET {column} = NULL WHERE fund_id = $1 \
                 AND {column} = $2 AND shop_id IN \
                 (SELECT jsonb_array_elements_text(CAST($3 AS jsonb)))"
            ))
            .bind(fund_id)
            .bind(settlement_id)
            .bind(&list)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// SQLite: the writer lock (BEGIN IMMEDIATE) is held: read the sums, then claim the same rows
/// of the shops owed something.
async fn claim_sqlite(
    tx: &mut Tx,
    nets: &mut Nets,
    fund_id: &str,
    settlement_id: &str,
    cutoff: i64,
) -> Result<(), StoreError> {
    for source in Source::ALL {
        let (table, column, instant) = source.columns();
        let rows = sqlx::query(&format!(
            "SELECT shop_id, CAST(SUM(amount) AS BIGINT) AS total, \
             CAST(COUNT(*) AS BIGINT) AS n FROM {table} WHERE fund_id = $1 \
             AND {column} IS NULL AND {instant} < $2 GROUP BY shop_id"
        ))
        .bind(fund_id)
        .bind(cutoff)
        .fetch_all(&mut **tx)
        .await?;
        add_rows(nets, &rows, source)?;
    }
    let owed: Vec<&String> = nets
        .values()
        .filter(|n| n.net() > 0)
        .map(|n| &n.shop_id)
        .collect();
    if !owed.is_empty() {
        let list = serde_json::to_string(&owed).map_err(StoreError::from_json)?;
        for source in Source::ALL {
            let (table, column, instant) = source.columns();
            sqlx::query(&format!(
                "UPDATE {table} SET {column} = $1 WHERE fund_id = $2 \
                 AND {column} IS NULL AND {instant} < $3 \
                 AND shop_id IN (SELECT value FROM json_each($4))"
            ))
            .bind(settlement_id)
            .bind(fund_id)
            .bind(cutoff)
            .bind(&list)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

fn add_rows(
    nets: &mut std::collections::BTreeMap<String, ShopNet>,
    rows: &[sqlx::any::AnyRow],
    source: Source,
) -> Result<(), StoreError> {
    for r in rows {
        let shop_id: String = r.try_get("shop_id")?;
        let total: i64 = r.try_get("total")?;
        let n: i64 = r.try_get("n")?;
        let e = nets.entry(shop_id.clone()).or_insert_with(|| ShopNet {
            shop_id,
            ..Default::default()
        });
        source.add(e, total, n);
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Settlement {
    pub id: String,
    pub cutoff: i64,
    pub total: i64,
    pub created_by: String,
    pub created_at: i64,
    pub lines: Vec<SettlementLine>,
}

#[derive(Clone, Debug)]
pub struct SettlementLine {
    pub settlement_id: String,
    pub shop_id: String,
    pub shop_name: String,
    pub amount: i64,
    pub redemptions: i64,
    pub refunds: i64,
    /// Reversals of sales and refunds this line nets.
    pub reversals: i64,
    pub end_to_end_id: String,
    pub status: String,
    pub paid_entry_id: Option<i64>,
    pub bank_line_id: Option<String>,
    pub paid_at: Option<i64>,
}

pub async fn insert(tx: &mut Tx, fund_id: &str, s: &Settlement) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO settlements (fund_id, id, cutoff, total, lines, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(fund_id)
    .bind(&s.id)
    .bind(s.cutoff)
    .bind(s.total)
    .bind(s.lines.len() as i64)
    .bind(&s.created_by)
    .bind(s.created_at)
    .execute(&mut **tx)
    .await?;
    for l in &s.lines {
        // With the shop's payment details as they stand now.
        let done = sqlx::query(
            "INSERT INTO settlement_lines (fund_id, settlement_id, shop_id, amount, redemptions, \
             refunds, end_to_end_id, status, creditor_name, creditor_iban, creditor_bic, \
             reversals) \
             SELECT $1, $2, $3, $4, $5, $6, $7, 'unpaid', s.legal_name, s.iban, s.bic, $8 \
             FROM shops s WHERE s.fund_id = $1 AND s.id = $3",
        )
        .bind(fund_id)
        .bind(&s.id)
        .bind(&l.shop_id)
        .bind(l.amount)
        .bind(l.redemptions)
        .bind(l.refunds)
        .bind(&l.end_to_end_id)
        .bind(l.reversals)
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::on_unique(e, "a settlement line with this EndToEndId"))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Corrupt(format!(
                "settled shop {} does not exist",
                l.shop_id
            )));
        }
    }
    Ok(())
}

const LINE_COLUMNS: &str = "l.settlement_id, l.shop_id, s.name AS shop_name, l.amount, \
     l.redemptions, l.refunds, l.reversals, l.end_to_end_id, l.status, l.paid_entry_id, l.bank_line_id, \
     l.paid_at";

fn line_from(r: &sqlx::any::AnyRow) -> Result<SettlementLine, StoreError> {
    Ok(SettlementLine {
        settlement_id: r.try_get("settlement_id")?,
        shop_id: r.try_get("shop_id")?,
        shop_name: r.try_get("shop_name")?,
        amount: r.try_get("amount")?,
        redemptions: r.try_get("redemptions")?,
        refunds: r.try_get("refunds")?,
        reversals: r.try_get("reversals")?,
        end_to_end_id: r.try_get("end_to_end_id")?,
        status: r.try_get("status")?,
        paid_entry_id: r.try_get("paid_entry_id")?,
        bank_line_id: r.try_get("bank_line_id")?,
        paid_at: r.try_get("paid_at")?,
    })
}

fn settlement_from(r: &sqlx::any::AnyRow) -> Result<Settlement, StoreError> {
    Ok(Settlement {
        id: r.try_get("id")?,
        cutoff: r.try_get("cutoff")?,
        total: r.try_get("total")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        lines: Vec::new(),
    })
}

pub async fn get(db: &Db, fund_id: &str, id: &str) -> Result<Option<Settlement>, StoreError> {
    let mut conn = db.pool().acquire().await?;
    get_on(&mut conn, fund_id, id).await
}

/// [`get`] on a given connection, such as a transaction's.
pub async fn get_on(
    conn: &mut sqlx::AnyConnection,
    fund_id: &str,
    id: &str,
) -> Result<Option<Settlement>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT id, cutoff, total, created_by, created_at FROM settlements \
         WHERE fund_id = $1 AND id = $2",
    )
    .bind(fund_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let mut s = settlement_from(&row)?;
    let rows = sqlx::query(&format!(
        "SELECT {LINE_COLUMNS} FROM settlement_lines l JOIN shops s \
         ON s.fund_id = l.fund_id AND s.id = l.shop_id \
         WHERE l.fund_id = $1 AND l.settlement_id = $2 ORDER BY s.name, l.shop_id"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    s.lines = rows.iter().map(line_from).collect::<Result<_, _>>()?;
    Ok(Some(s))
}

/// Settlements, newest first, without their lines; `before` is a settlement id (cursor).
pub async fn list(
    db: &Db,
    fund_id: &str,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Settlement>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, cutoff, total, created_by, created_at FROM settlements \
         WHERE fund_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(fund_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(settlement_from).collect()
}

/// A shop's bank details for the transfer file.
#[derive(Clone, Debug)]
pub struct Payee {
    pub shop_id: String,
    pub name: String,
    pub legal_name: String,
    pub iban: String,
    pub bic: Option<String>,
}

/// Who each line of a settlement pays: the details kept with the line when it was settled
/// (for lines settled before they were kept: the shop's current ones).
pub async fn payees(db: &Db, fund_id: &str, settlement_id: &str) -> Result<Vec<Payee>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.id, s.name, COALESCE(l.creditor_name, s.legal_name) AS legal_name, \
         COALESCE(l.creditor_iban, s.iban) AS iban, \
         CASE WHEN l.creditor_iban IS NULL THEN s.bic ELSE l.creditor_bic END AS bic \
         FROM settlement_lines l JOIN shops s ON s.fund_id = l.fund_id AND s.id = l.shop_id \
         WHERE l.fund_id = $1 AND l.settlement_id = $2",
    )
    .bind(fund_id)
    .bind(settlement_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Payee {
                shop_id: r.try_get("id")?,
                name: r.try_get("name")?,
                legal_name: r.try_get("legal_name")?,
                iban: r.try_get("iban")?,
                bic: r.try_get("bic")?,
            })
        })
        .collect()
}

/// The unpaid line with this EndToEndId, locked until the end of the transaction.
pub async fn unpaid_line_for_update(
    tx: &mut Tx,
    fund_id: &str,
    end_to_end_id: &str,
) -> Result<Option<SettlementLine>, StoreError> {
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE OF l",
        Backend::Sqlite => "",
    };
    let row = sqlx::query(&format!(
        "SELECT {LINE_COLUMNS} FROM settlement_lines l JOIN shops s \
         ON s.fund_id = l.fund_id AND s.id = l.shop_id \
         WHERE l.fund_id = $1 AND l.end_to_end_id = $2 AND l.status = 'unpaid'{lock}"
    ))
    .bind(fund_id)
    .bind(end_to_end_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(line_from).transpose()
}

pub async fn mark_paid(
    tx: &mut Tx,
    fund_id: &str,
    end_to_end_id: &str,
    entry_id: i64,
    bank_line_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE settlement_lines SET status = 'paid', paid_entry_id = $3, bank_line_id = $4, \
         paid_at = $5 WHERE fund_id = $1 AND end_to_end_id = $2 AND status = 'unpaid'",
    )
    .bind(fund_id)
    .bind(end_to_end_id)
    .bind(entry_id)
    .bind(bank_line_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every line not yet seen paid on a bank statement, oldest settlement first.
pub async fn unpaid_lines(db: &Db, fund_id: &str) -> Result<Vec<SettlementLine>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {LINE_COLUMNS} FROM settlement_lines l JOIN shops s \
         ON s.fund_id = l.fund_id AND s.id = l.shop_id \
         WHERE l.fund_id = $1 AND l.status = 'unpaid' ORDER BY l.settlement_id, s.name"
    ))
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(line_from).collect()
}
