//! Whether a list's cursor is one it could have handed out: every list pages by id (`id > $cursor`
//! or, newest first, `id < $cursor`), and its `next_cursor` is the id of the last row of a
//! page, so a cursor that names no row of the list in this fund was made up.

use sqlx::Row;

use super::{Db, StoreError};

/// The lists that page by id, with the scope their rows are listed in.
#[derive(Clone, Copy, Debug)]
pub enum Listed<'a> {
    Members,
    Users,
    Shops,
    Settlements,
    /// One shop's tills.
    Terminals {
        shop_id: &'a str,
    },
    /// One member's cards.
    Cards {
        member_id: &'a str,
    },
}

/// Whether `id` is a row of this list in the fund.
#[tracing::instrument(skip(db))]
pub async fn known(
    db: &Db,
    fund_id: &str,
    listed: Listed<'_>,
    id: &str,
) -> Result<bool, StoreError> {
    // Table and column names come from this match only, never from the request.
    let (table, scope_column, scope) = match listed {
        Listed::Members => ("members", None, None),
        Listed::Users => ("users", None, None),
        Listed::Shops => ("shops", None, None),
        Listed::Settlements => ("settlements", None, None),
        Listed::Terminals { shop_id } => ("terminals", Some("shop_id"), Some(shop_id)),
        Listed::Cards { member_id } => ("cards", Some("member_id"), Some(member_id)),
    };
    let scoped = scope_column.map_or(String::new(), |c| format!(" AND {c} = $3"));
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE fund_id = $1 AND id = $2{scoped}");
    let mut query = sqlx::query(&sql).bind(fund_id).bind(id);
    if let Some(scope) = scope {
        query = query.bind(scope);
    }
    let row = query.fetch_one(db.pool()).await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
