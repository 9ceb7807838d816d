//! Query strings read strictly (an unknown or repeated parameter is 422 naming it) and the
//! `?limit=&cursor=` paging every list shares: `{items, next_cursor}`, the cursor being the last
//! id of the page (ids sort by creation time).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use super::error::ApiError;
use crate::domain::ErrorCode;
use crate::domain::FieldError;
use crate::store::cursors::{self, Listed};
use crate::store::Db;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The query string's parameters. Handlers `take` the ones they know, then `finish`.
pub struct QueryParams {
    params: BTreeMap<String, String>,
    errors: Vec<FieldError>,
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Query(pairs) =
            Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(|_| {
                ApiError::new(ErrorCode::MalformedQuery, "the query string is malformed")
            })?;
        let mut params = BTreeMap::new();
        let mut errors = Vec::new();
        for (k, v) in pairs {
            match params.entry(k) {
                Entry::Occupied(e) => {
                    errors.push(FieldError::new(e.key().clone(), "given more than once"))
                }
                Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        Ok(QueryParams { params, errors })
    }
}

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

impl QueryParams {
    /// Parameters given in code (the web pages call the handlers in-process).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> QueryParams {
        QueryParams {
            params: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            errors: Vec::new(),
        }
    }

    pub fn take(&mut self, key: &str) -> Option<String> {
        self.params.remove(key)
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// `limit` (1 to 200, default 50) and `cursor`.
    pub fn page(&mut self) -> Page {
        let limit = match self.take("limit") {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    self.error(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    );
                    DEFAULT_LIMIT
                }
            },
        };
        let after = self.take("cursor").filter(|c| !c.is_empty());
        Page { limit, after }
    }

    /// 422 naming every unknown or bad parameter.
    pub fn finish(mut self) -> Result<(), ApiError> {
        for k in std::mem::take(&mut self.params).into_keys() {
            self.errors
                .push(FieldError::new(k, "unknown query parameter"));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.errors))
        }
    }
}
