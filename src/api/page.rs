//! The `?limit=&cursor=` paging every list shares (the query string itself is read by
//! [`super::query::Query`]): `{items, next_cursor}`, the cursor being the last
//! id of the page (ids sort by creation time).

use super::error::ApiError;
use crate::domain::FieldError;
use crate::store::cursors::{self, Listed};
use crate::store::Db;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// One page's bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub after: Option<String>,
}

impl Page {
    /// How many rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// 422 on `cursor` unless it is a row of this list in the fund: a `next_cursor` is the id
    /// of a page's last row, so anything else was not handed out by this list.
    pub async fn check_cursor(
        &self,
        db: &Db,
        fund_id: &str,
        listed: Listed<'_>,
    ) -> Result<(), ApiError> {
        match &self.after {
            Some(cursor) if !cursors::known(db, fund_id, listed, cursor).await? => {
                Err(ApiError::invalid(vec![FieldError::new(
                    "cursor",
                    "not the next_cursor of a page of this list",
                )]))
            }
            _ => Ok(()),
        }
    }

    /// Cuts the fetched rows to the page and gives the cursor of the next one.
    pub fn split<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = if more {
            rows.last().map(|r| id(r).to_string())
        } else {
            None
        };
        (rows, next)
    }
}
