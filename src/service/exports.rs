//! The FEC and the journal CSV as streams of text chunks: the journal is read page by page
//! (see `store::exports`), each page on a pooled connection of its own, formatted, handed to
//! the HTTP body and dropped. Memory stays flat whatever the size of the year.
//!
//! An export covers the journal as it was when it started: it reads the journal head first and
//! pages up to it, so entries posted meanwhile are left for the next export (the FEC of a year
//! stays one consistent, gapless set).

use std::collections::HashMap;

use chrono::NaiveDate;
use futures_util::stream::{self, Stream};

use crate::domain::export::{
    write_csv_line, write_fec_line, write_opening_entry, ExportLine, CSV_HEADER, FEC_HEADER,
};
use crate::domain::{ErrorCode, FundId};
use crate::service::error::ServiceError;
use crate::store::exports::{self, ExportRow};
use crate::store::{funds, Db, StoreError};

/// An export's text, chunk by chunk, as it is read from the journal.
pub trait Chunks: Stream<Item = Result<String, StoreError>> + Send + 'static {}
impl<T: Stream<Item = Result<String, StoreError>> + Send + 'static> Chunks for T {}

/// A fiscal (calendar) year as typed: four digits, 1900 to 9999; `validation_failed` on
/// `field` otherwise.
pub fn parse_year(field: &str, text: &str) -> Result<i32, ServiceError> {
    let text = text.trim();
    match text.parse::<i32>() {
        Ok(y) if text.len() == 4 && (1900..=9999).contains(&y) => Ok(y),
        _ => Err(ServiceError::field(
            ErrorCode::ValidationFailed,
            field,
            "must be a year YYYY",
        )),
    }
}

/// Entries per page (a page is one query).
pub const PAGE_ENTRIES: i64 = 5_000;

enum Format {
    /// Numbers the year's entries 1, 2, 3...; shop account labels by code.
    Fec {
        number: i64,
        last_seq: i64,
        shops: HashMap<String, String>,
    },
    Csv,
}

struct State {
    db: Db,
    fund_id: String,
    after: i64,
    upto: i64,
    from: String,
    to: String,
    format: Format,
    header: Option<String>,
}

/// The FEC of a calendar year: its file name and its text, chunk by chunk. A year without
/// entries gives the header alone; otherwise entry 1 is the opening entry (*à-nouveaux*) with
/// the balance-sheet accounts' balances at the end of the year before.
pub async fn fec(
    db: &Db,
    fund_id: &FundId,
    year: i32,
) -> Result<(String, impl Chunks), ServiceError> {
    let settings = funds::settings(db, fund_id).await?;
    let name = crate::domain::export::fec_file_name(settings.siren.as_deref(), fund_id, year);
    let upto = exports::journal_head(db, fund_id).await?;
    let shops = exports::shop_account_labels(db, fund_id).await?;
    let (from, to) = (format!("{year:04}-01-01"), format!("{year:04}-12-31"));
    // The year opens with the balances carried from the years before (entry 1, journal AN),
    // when it has entries at all: a year without any gives the header alone.
    let mut header = format!("{FEC_HEADER}\n");
    let mut number = 0;
    let before = format!("{:04}-12-31", year - 1);
    if exports::any_entry_dated(db, fund_id, &from, &to, upto).await?
        && exports::any_entry_dated(db, fund_id, "", &before, upto).await?
    {
        let balances = exports::balances_before(db, fund_id, &from, upto).await?;
        if write_opening_entry(&mut header, year, &balances, |a| shops.get(a).cloned()) {
            number = 1;
        }
    }
    let state = State {
        db: db.clone(),
        fund_id: fund_id.to_string(),
        after: 0,
        upto,
        from,
        to,
        format: Format::Fec {
            number,
            last_seq: 0,
            shops,
        },
        header: Some(header),
    };
    Ok((name, chunks(state)))
}

/// The journal as CSV, entries dated within `[from, to]` (inclusive; `None` for no bound),
/// one row per posting; `to` before `from` is `validation_failed` on `to`.
pub async fn journal_csv(
    db: &Db,
    fund_id: &FundId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<impl Chunks, ServiceError> {
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(ServiceError::field(
                ErrorCode::ValidationFailed,
                "to",
                "must not be before from",
            ));
        }
    }
    let upto = exports::journal_head(db, fund_id).await?;
    let state = State {
        db: db.clone(),
        fund_id: fund_id.to_string(),
        after: 0,
        upto,
        from: from.map(|d| d.to_string()).unwrap_or_default(),
        // Above every date.
        to: to.map_or_else(|| "9999-99-99".to_string(), |d| d.to_string()),
        format: Format::Csv,
        header: Some(format!("{CSV_HEADER}\r\n")),
    };
    Ok(chunks(state))
}

fn chunks(state: State) -> impl Stream<Item = Result<String, StoreError>> {
    stream::try_unfold(state, |mut st| async move {
        if let Some(h) = st.header.take() {
            return Ok(Some((h, st)));
        }
        // Pages with no entry of the range produce nothing; go on to the next.
        while st.after < st.upto {
            let upto = (st.after + PAGE_ENTRIES).min(st.upto);
            let rows = exports::page(&st.db, &st.fund_id, st.after, upto, &st.from, &st.to)
                .await
                .inspect_err(|e| tracing::error!(error = %e, "export page failed"))?;
            st.after = upto;
            if rows.is_empty() {
                continue;
            }
            let out = st.format.write(&rows);
            return Ok(Some((out, st)));
        }
        Ok(None)
    })
}

impl Format {
    fn write(&mut self, rows: &[ExportRow]) -> String {
        let mut out = String::with_capacity(rows.len() * 170);
        let mut created_on = (i64::MIN, String::new());
        for r in rows {
            // Consecutive postings share their entry's instant: format its date once.
            if created_on.0 != r.created_at {
                created_on = (
                    r.created_at,
                    crate::domain::local_date(r.created_at).to_string(),
                );
            }
            let line = ExportLine {
                seq: r.seq,
                entry_id: r.entry_id,
                journal: &r.journal,
                kind: &r.kind,
                entry_date: &r.entry_date,
                label: &r.label,
                reference: r.reference.as_deref(),
                created_on: &created_on.1,
                account: &r.account,
                debit: r.debit,
                credit: r.credit,
            };
            match self {
                Format::Fec {
                    number,
                    last_seq,
                    shops,
                } => {
                    if *last_seq != r.seq {
                        *last_seq = r.seq;
                        *number += 1;
                    }
                    let label = shops.get(&r.account).map(String::as_str);
                    write_fec_line(&mut out, &line, *number, label);
                }
                Format::Csv => write_csv_line(&mut out, &line),
            }
        }
        out
    }
}
