//! What a reversal changes beside the journal: the rows that mirror the reversed entry (a sale,
//! a refund, an allowance credit, a due, a payment, a payout and its bank line), written in the
//! reversal's transaction. `ledger verify` checks the other direction (see
//! [`super::ledger::verify`]).

use sqlx::Row;

use super::{StoreError, Tx};

/// An entry as a reversal needs it.
#[derive(Clone, Debug)]
pub struct EntryHead {
    pub kind: String,
    pub reference: Option<String>,
    /// The entry this one reverses, if it is a reversal.
    pub reverses: Option<i64>,
    /// The entry that reversed this one, if any.
    pub reversed_by: Option<i64>,
}

pub async fn entry_head(
    tx: &mut Tx,
    fund_id: &str,
    entry_id: i64,
) -> Result<Option<EntryHead>, StoreError> {
    let row = sqlx::query(
        "SELECT e.kind, e.reference, e.reverses_id, \
         (SELECT r.id FROM journal_entries r WHERE r.reverses_id = e.id) AS reversed_by \
         FROM journal_entries e WHERE e.fund_id = $1 AND e.id = $2",
    )
    .bind(fund_id)
    .bind(entry_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(EntryHead {
            kind: r.try_get("kind")?,
            reference: r.try_get("reference")?,
            reverses: r.try_get("reverses_id")?,
            reversed_by: r.try_get("reversed_by")?,
        })
    })
    .transpose()
}

/// A sale as its reversal, or the reversal of one of its refunds, sees it.
#[derive(Clone, Debug)]
pub struct Sale {
    pub id: String,
    pub shop_id: String,
    pub member_id: String,
    pub amount: i64,
    pub refunded: i64,
    pub entry_id: i64,
    pub reversed: bool,
}

/// The sale `id`, locked until the end of the transaction (PostgreSQL): the same row a refund
/// updates first, so a refund and a reversal of one sale take their locks in the same order.
pub async fn sale_for_update(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
) -> Result<Option<Sale>, StoreError> {
    let lock = tx.for_update();
    let row = sqlx::query(&format!(
        "SELECT id, shop_id, member_id, amount, refunded, entry_id, reversed_entry_id \
         FROM redemptions WHERE fund_id = $1 AND id = $2{lock}"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(Sale {
            id: r.try_get("id")?,
            shop_id: r.try_get("shop_id")?,
            member_id: r.try_get("member_id")?,
            amount: r.try_get("amount")?,
            refunded: r.try_get("refunded")?,
            entry_id: r.try_get("entry_id")?,
            reversed: r.try_get::<Option<i64>, _>("reversed_entry_id")?.is_some(),
        })
    })
    .transpose()
}

/// Marks a sale or a refund reversed. Its reversal counts for settlement from the row's own
/// instant when no settlement has claimed the row yet (the settlement that claims it then
/// claims the reversal with it: nothing is paid for it), else from `now` (the next settlement
/// nets it, as it nets a refund).
pub async fn mark_sale_or_refund_reversed(
    tx: &mut Tx,
    table: SaleTable,
    fund_id: &str,
    id: &str,
    reversal_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE {} SET reversed_entry_id = $3, \
         reversed_at = CASE WHEN settlement_id IS NULL THEN created_at ELSE $4 END \
         WHERE fund_id = $1 AND id = $2 AND reversed_entry_id IS NULL",
        table.name()
    ))
    .bind(fund_id)
    .bind(id)
    .bind(reversal_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    expect_one(done.rows_affected(), table.name(), id)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaleTable {
    Redemptions,
    Refunds,
}

impl SaleTable {
    fn name(self) -> &'static str {
        match self {
            SaleTable::Redemptions => "redemptions",
            SaleTable::Refunds => "refunds",
        }
    }
}

fn expect_one(rows: u64, table: &str, id: &str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "{table} row {id}: expected one row marked reversed, got {rows}"
        )))
    }
}

/// A refund as its reversal sees it.
#[derive(Clone, Debug)]
pub struct RefundRow {
    pub id: String,
    pub amount: i64,
    pub reversed: bool,
}

/// The refund of sale `redemption_id` posted as `entry_id`, locked (PostgreSQL).
pub async fn refund_for_update(
    tx: &mut Tx,
    fund_id: &str,
    redemption_id: &str,
    entry_id: i64,
) -> Result<Option<RefundRow>, StoreError> {
    let lock = tx.for_update();
    let row = sqlx::query(&format!(
        "SELECT id, amount, reversed_entry_id FROM refunds \
         WHERE fund_id = $1 AND redemption_id = $2 AND entry_id = $3{lock}"
    ))
    .bind(fund_id)
    .bind(redemption_id)
    .bind(entry_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(RefundRow {
            id: r.try_get("id")?,
            amount: r.try_get("amount")?,
            reversed: r.try_get::<Option<i64>, _>("reversed_entry_id")?.is_some(),
        })
    })
    .transpose()
}

/// A reversed refund no longer counts in what was refunded of its sale: the sale can be
/// refunded again up to its amount.
pub async fn unrefund(
    tx: &mut Tx,
    fund_id: &str,
    redemption_id: &str,
    amount: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE redemptions SET refunded = refunded - $3 \
         WHERE fund_id = $1 AND id = $2 AND refunded >= $3",
    )
    .bind(fund_id)
    .bind(redemption_id)
    .bind(amount)
    .execute(&mut **tx)
    .await?;
    expect_one(done.rows_affected(), "redemptions", redemption_id)
}

/// The tables whose rows mirror one entry each, found by `entry_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mirror {
    AllowanceCredits,
    ContributionCalls,
    ContributionPayments,
}

impl Mirror {
    pub fn table(self) -> &'static str {
        match self {
            Mirror::AllowanceCredits => "allowance_credits",
            Mirror::ContributionCalls => "contribution_calls",
            Mirror::ContributionPayments => "contribution_payments",
        }
    }
}

/// A row of a [`Mirror`] table.
#[derive(Clone, Debug)]
pub struct MirrorRow {
    pub member_id: String,
    pub amount: i64,
    /// What the balance cap sent back (allowance credits only).
    pub returned: i64,
    pub reversed: bool,
}

/// The row of `mirror` for `entry_id`, locked (PostgreSQL). These tables have no index on
/// `entry_id` (the monthly batches write them in bulk): a reversal is rare, a scan of the
/// fund's rows acceptable.
pub async fn mirror_for_update(
    tx: &mut Tx,
    mirror: Mirror,
    fund_id: &str,
    entry_id: i64,
) -> Result<Option<MirrorRow>, StoreError> {
    let lock = tx.for_update();
    let returned = match mirror {
        Mirror::AllowanceCredits => "returned",
        _ => "CAST(0 AS BIGINT)",
    };
    let row = sqlx::query(&format!(
        "SELECT member_id, amount, {returned} AS returned_, reversed_entry_id FROM {} \
         WHERE fund_id = $1 AND entry_id = $2{lock}",
        mirror.table()
    ))
    .bind(fund_id)
    .bind(entry_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(MirrorRow {
            member_id: r.try_get("member_id")?,
            amount: r.try_get("amount")?,
            returned: r.try_get("returned_")?,
            reversed: r.try_get::<Option<i64>, _>("reversed_entry_id")?.is_some(),
        })
    })
    .transpose()
}

pub async fn mark_mirror_reversed(
    tx: &mut Tx,
    mirror: Mirror,
    fund_id: &str,
    entry_id: i64,
    reversal_id: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(&format!(
        "UPDATE {} SET reversed_entry_id = $3 \
         WHERE fund_id = $1 AND entry_id = $2 AND reversed_entry_id IS NULL",
        mirror.table()
    ))
    .bind(fund_id)
    .bind(entry_id)
    .bind(reversal_id)
    .execute(&mut **tx)
    .await?;
    expect_one(done.rows_affected(), mirror.table(), &entry_id.to_string())
}

/// The unreversed cap return of a member's allowance period: the entry the issuance posted
/// beside the credit (same reference), found through the member's postings (indexed).
pub async fn cap_return_entry(
    tx: &mut Tx,
    fund_id: &str,
    allowance_account: &str,
    reference: &str,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "SELECT e.id FROM postings p JOIN journal_entries e ON e.id = p.entry_id \
         WHERE p.fund_id = $1 AND p.account = $2 AND e.kind = 'allowance_cap_return' \
         AND e.reference = $3 AND NOT EXISTS \
         (SELECT 1 FROM journal_entries r WHERE r.reverses_id = e.id) ORDER BY e.id LIMIT 1",
    )
    .bind(fund_id)
    .bind(allowance_account)
    .bind(reference)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// A bank line matched to this entry (a contribution payment, a payout) is unmatched again: it
/// shows in the reconciliation and can be matched by hand.
pub async fn unmatch_bank_lines(
    tx: &mut Tx,
    fund_id: &str,
    entry_id: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE bank_lines SET matched_kind = NULL, matched_id = NULL, entry_id = NULL \
         WHERE fund_id = $1 AND entry_id = $2",
    )
    .bind(fund_id)
    .bind(entry_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// The settlement line paid by the payout entry `entry_id`, unpaid again. `false` when no
/// line names this entry (a payout posted by hand).
pub async fn unpay_line(tx: &mut Tx, fund_id: &str, entry_id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE settlement_lines SET status = 'unpaid', paid_entry_id = NULL, \
         bank_line_id = NULL, paid_at = NULL \
         WHERE fund_id = $1 AND paid_entry_id = $2 AND status = 'paid'",
    )
    .bind(fund_id)
    .bind(entry_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// What `ledger verify` checks beside the journal: that each table mirroring the ledger
/// agrees with it. Each query answers one line of text per problem (at most 20 per check).
const MIRROR_CHECKS: &[&str] = &[
    // Each shop's 401: what it is owed for sales not yet settled (less refunds, reversals
    // netted) plus the settlement lines not yet paid. A negative net carried is in the first
    // part: its rows stay unclaimed.
    "SELECT 'shop ' || id || ': 401 balance ' || CAST(balance AS TEXT) || ' ≠ ' || \
       CAST(expected AS TEXT) || ' from its unsettled sales, refunds, reversals and unpaid \
       settlement lines' AS problem FROM (SELECT s.id, a.balance, CAST( \
       COALESCE((SELECT SUM(r.amount) FROM redemptions r WHERE r.fund_id = s.fund_id \
         AND r.shop_id = s.id AND r.settlement_id IS NULL), 0) \
     - COALESCE((SELECT SUM(f.amount) FROM refunds f WHERE f.fund_id = s.fund_id \
         AND f.shop_id = s.id AND f.settlement_id IS NULL), 0) \
     - COALESCE((SELECT SUM(r.amount) FROM redemptions r WHERE r.fund_id = s.fund_id \
         AND r.shop_id = s.id AND r.reversed_at IS NOT NULL \
         AND r.reversal_settlement_id IS NULL), 0) \
     + COALESCE((SELECT SUM(f.amount) FROM refunds f WHERE f.fund_id = s.fund_id \
         AND f.shop_id = s.id AND f.reversed_at IS NOT NULL \
         AND f.reversal_settlement_id IS NULL), 0) \
     + COALESCE((SELECT SUM(l.amount) FROM settlement_lines l WHERE l.fund_id = s.fund_id \
         AND l.shop_id = s.id AND l.status = 'unpaid'), 0) AS BIGINT) AS expected \
       FROM shops s JOIN accounts a ON a.fund_id = s.fund_id AND a.code = '401.' || s.id \
       WHERE s.fund_id = $1) x WHERE balance <> expected ORDER BY id LIMIT 20",
    // What a sale says was refunded is the sum of its refunds not reversed.
    "SELECT 'redemption ' || r.id || ': refunded ' || CAST(r.refunded AS TEXT) || ' ≠ ' || \
       CAST(COALESCE(f.total, 0) AS TEXT) || ' in its refunds not reversed' AS problem \
     FROM redemptions r LEFT JOIN (SELECT redemption_id, CAST(SUM(amount) AS BIGINT) AS total \
       FROM refunds WHERE fund_id = $1 AND reversed_entry_id IS NULL GROUP BY redemption_id) f \
       ON f.redemption_id = r.id \
     WHERE r.fund_id = $1 AND r.refunded <> COALESCE(f.total, 0) ORDER BY r.id LIMIT 20",
    // A member who left handed the allowance back: nothing may land on their 467 again.
    "SELECT 'member ' || m.id || ' has left but their 467 holds ' || \
       CAST(a.balance AS TEXT) AS problem FROM members m JOIN accounts a \
       ON a.fund_id = m.fund_id AND a.code = '467.' || m.account_ref \
     WHERE m.fund_id = $1 AND m.status = 'left' AND a.balance <> 0 ORDER BY m.id LIMIT 20",
    // Each member's 411: the dues called less the payments, reversed ones left out.
    "SELECT 'member ' || m.id || ': 411 balance ' || CAST(a.balance AS TEXT) || ' ≠ ' || \
       CAST(COALESCE(c.total, 0) - COALESCE(p.total, 0) AS TEXT) || \
       ' from the dues and payments not reversed' AS problem \
     FROM members m JOIN accounts a ON a.fund_id = m.fund_id AND a.code = '411.' || m.account_ref \
     LEFT JOIN (SELECT member_id, CAST(SUM(amount) AS BIGINT) AS total FROM contribution_calls \
       WHERE fund_id = $1 AND reversed_entry_id IS NULL GROUP BY member_id) c \
       ON c.member_id = m.id \
     LEFT JOIN (SELECT member_id, CAST(SUM(amount) AS BIGINT) AS total \
       FROM contribution_payments WHERE fund_id = $1 AND reversed_entry_id IS NULL \
       GROUP BY member_id) p ON p.member_id = m.id \
     WHERE m.fund_id = $1 AND a.balance <> COALESCE(c.total, 0) - COALESCE(p.total, 0) \
     ORDER BY m.id LIMIT 20",
    // A paid settlement line's payout stands; a payout that stands pays a line.
    "SELECT 'settlement line ' || l.end_to_end_id || ' is paid by ' || \
       COALESCE('entry ' || CAST(l.paid_entry_id AS TEXT) || ', which was reversed', \
       'no entry') AS problem FROM settlement_lines l WHERE l.fund_id = $1 \
       AND l.status = 'paid' AND (l.paid_entry_id IS NULL OR EXISTS (SELECT 1 FROM \
       journal_entries r WHERE r.reverses_id = l.paid_entry_id)) \
     ORDER BY l.end_to_end_id LIMIT 20",
    "SELECT 'payout entry ' || CAST(e.id AS TEXT) || ' pays no settlement line' AS problem \
     FROM journal_entries e WHERE e.fund_id = $1 AND e.kind = 'shop_payout' \
       AND NOT EXISTS (SELECT 1 FROM journal_entries r WHERE r.reverses_id = e.id) \
       AND NOT EXISTS (SELECT 1 FROM settlement_lines l WHERE l.fund_id = e.fund_id \
         AND l.paid_entry_id = e.id AND l.status = 'paid') ORDER BY e.id LIMIT 20",
    // A bank line is matched to an entry that stands.
    "SELECT 'bank line ' || b.id || ' is matched to ' || COALESCE('entry ' || \
       CAST(b.entry_id AS TEXT) || ', which was reversed', 'no entry') AS problem \
     FROM bank_lines b WHERE b.fund_id = $1 AND b.matched_kind IS NOT NULL \
       AND (b.entry_id IS NULL OR EXISTS (SELECT 1 FROM journal_entries r \
         WHERE r.reverses_id = b.entry_id)) ORDER BY b.id LIMIT 20",
];

/// The mirror tables whose rows say whether their entry was reversed: (table, row name).
const REVERSIBLE: &[(&str, &str)] = &[
    ("redemptions", "id"),
    ("refunds", "id"),
    ("allowance_credits", "member_id || ' ' || t.period"),
    ("contribution_calls", "member_id || ' ' || t.period"),
    ("contribution_payments", "id"),
];

/// Every mirror problem found, as lines for the verify report.
pub async fn mirror_problems(db: &super::Db, fund_id: &str) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let reversible = REVERSIBLE.iter().map(|(table, name)| {
        // Marked reversed exactly when the journal holds a reversal of its entry, and by it.
        format!(
            "SELECT '{table} ' || t.{name} || ': entry ' || CAST(t.entry_id AS TEXT) || \
             CASE WHEN r.id IS NULL THEN ' is not reversed but the row says it is (by ' || \
               CAST(t.reversed_entry_id AS TEXT) || ')' \
             WHEN t.reversed_entry_id IS NULL THEN ' was reversed by entry ' || \
               CAST(r.id AS TEXT) || ' but the row does not say so' \
             ELSE ' was reversed by entry ' || CAST(r.id AS TEXT) || ', the row names ' || \
               CAST(t.reversed_entry_id AS TEXT) END AS problem \
             FROM {table} t LEFT JOIN journal_entries r ON r.reverses_id = t.entry_id \
             WHERE t.fund_id = $1 AND t.entry_id IS NOT NULL \
             AND COALESCE(t.reversed_entry_id, -1) <> COALESCE(r.id, -1) LIMIT 20"
        )
    });
    let checks = MIRROR_CHECKS
        .iter()
        .map(|s| s.to_string())
        .chain(reversible);
    for sql in checks {
        let rows = sqlx::query(&sql).bind(fund_id).fetch_all(db.pool()).await?;
        for r in rows {
            problems.push(r.try_get::<String, _>("problem")?);
        }
    }
    Ok(problems)
}
