//! Month end: settling what the fund owes each shop, the SEPA credit-transfer file that pays
//! them, bank-statement import and reconciliation.
//!
//! A settlement posts nothing to the ledger: each sale already credited the shop's 401 account.
//! The payout entry (401 shop / 512, kind `shop_payout`, journal BQ) is posted when the bank
//! statement shows the transfer, matched by its EndToEndId. Members' transfers found on the
//! statement by their payment reference are recorded as contribution payments (512 / 411).

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::member::find_payment_references;
use crate::domain::sepa::{CreditTransfer, Debtor, Transfer};
use crate::domain::statement::{Line, Statement, StatementError};
use crate::domain::ErrorCode;
use crate::domain::{format_instant, new_id, now_micros, Cents};
use crate::service::error::ServiceError;
use crate::store::settlements::{self as store, Settlement, SettlementLine};
use crate::store::{bank, funds, ledger, Db, StoreError, Tx};

/// A new EndToEndId: `CC` and 26 time-ordered letters and digits (28 characters, all in the
/// SEPA set, unique by construction and by a UNIQUE constraint).
pub fn new_end_to_end_id() -> String {
    let id = new_id("cc");
    id.replace('_', "").to_uppercase()
}

/// Why no settlement is made.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("cutoff: must not be later than now: sales after now are not known yet")]
    CutoffInFuture,
    #[error("no shop is owed anything for sales before {}", format_instant(*.cutoff))]
    NothingToSettle { cutoff: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] ServiceError),
}

impl From<sqlx::Error> for SettleError {
    fn from(e: sqlx::Error) -> Self {
        SettleError::Store(StoreError::Db(e))
    }
}

impl SettleError {
    /// The stable code a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            SettleError::CutoffInFuture => ErrorCode::CutoffInFuture,
            SettleError::NothingToSettle { .. } => ErrorCode::NothingToSettle,
            SettleError::Store(_) => ErrorCode::InternalError,
            SettleError::Other(e) => e.code(),
        }
    }
}

impl From<SettleError> for ServiceError {
    fn from(e: SettleError) -> Self {
        let code = e.code();
        match e {
            SettleError::CutoffInFuture => ServiceError::field(
                code,
                "cutoff",
                "must not be later than now: sales after now are not known yet",
            ),
            e @ SettleError::NothingToSettle { .. } => ServiceError::refused(code, e.to_string()),
            SettleError::Store(s) => ServiceError::Store(s),
            SettleError::Other(e) => e,
        }
    }
}

/// Settles every unsettled redemption and refund before `cutoff` (microseconds): one line per
/// shop owed something. A cutoff in the future is refused: sales after now cannot be known.
#[tracing::instrument(skip(db))]
pub async fn settle(
    db: &Db,
    fund_id: &str,
    cutoff: i64,
    by: &str,
) -> Result<Settlement, SettleError> {
    let mut tx = db.begin().await?;
    match settle_in(&mut tx, fund_id, cutoff, by).await {
        Ok(settlement) => {
            tx.commit().await?;
            Ok(settlement)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// [`settle`] in the caller's transaction (an idempotent request's); nothing is written when
/// it fails, as long as the caller rolls back.
pub async fn settle_in(
    tx: &mut Tx,
    fund_id: &str,
    cutoff: i64,
    by: &str,
) -> Result<Settlement, SettleError> {
    let now = now_micros();
    if cutoff > now {
        return Err(SettleError::CutoffInFuture);
    }
    store::lock_fund(tx, fund_id).await?;
    let id = new_id("stl");
    let nets = store::claim(tx, fund_id, &id, cutoff).await?;
    if nets.is_empty() {
        return Err(SettleError::NothingToSettle { cutoff });
    }
    let lines: Vec<SettlementLine> = nets
        .iter()
        .map(|n| SettlementLine {
            settlement_id: id.clone(),
            shop_id: n.shop_id.clone(),
            shop_name: String::new(),
            amount: n.net(),
            redemptions: n.redemptions,
            refunds: n.refunds,
            reversals: n.reversals,
            end_to_end_id: new_end_to_end_id(),
            status: "unpaid".into(),
            paid_entry_id: None,
            bank_line_id: None,
            paid_at: None,
        })
        .collect();
    let settlement = Settlement {
        id: id.clone(),
        cutoff,
        total: lines.iter().map(|l| l.amount).sum(),
        created_by: by.to_string(),
        created_at: now,
        lines,
    };
    store::insert(tx, fund_id, &settlement).await?;
    store::get_on(&mut *tx, fund_id, &id)
        .await?
        .ok_or_else(|| ServiceError::internal("settlement vanished after its insert").into())
}

/// The pain.001.001.03 file paying a settlement's lines from the fund's account.
pub async fn sepa_file(db: &Db, fund_id: &str, id: &str) -> Result<String, ServiceError> {
    let settings = funds::settings(db, fund_id).await?;
    let iban = crate::domain::bank::normalize_iban(&settings.iban);
    if iban.is_empty() || crate::domain::bank::validate_iban(&iban).is_err() {
        return Err(ServiceError::refused(
            ErrorCode::FundIbanMissing,
            "the fund has no valid IBAN in its settings (PUT /api/v1/settings): the transfer \
             file needs the account to pay from",
        ));
    }
    let s = store::get(db, fund_id, id)
        .await?
        .ok_or_else(|| ServiceError::not_found("settlement"))?;
    let payees: HashMap<String, store::Payee> = store::payees(db, fund_id, id)
        .await?
        .into_iter()
        .map(|p| (p.shop_id.clone(), p))
        .collect();
    // The cutoff as the shops read it: in the fund's time zone.
    let cutoff = chrono::DateTime::from_timestamp_micros(s.cutoff)
        .unwrap_or_default()
        .with_timezone(&crate::domain::timezone());
    let created = chrono::DateTime::from_timestamp_micros(s.created_at).unwrap_or_default();
    let today = crate::domain::today();
    let mut transfers = Vec::with_capacity(s.lines.len());
    for l in &s.lines {
        let payee = payees
            .get(&l.shop_id)
            .ok_or_else(|| ServiceError::internal(format!("settled shop {} is gone", l.shop_id)))?;
        transfers.push(Transfer {
            end_to_end_id: l.end_to_end_id.clone(),
            amount: Cents::from_cents(l.amount).map_err(ServiceError::internal)?,
            creditor_name: payee.legal_name.clone(),
            creditor_iban: crate::domain::bank::normalize_iban(&payee.iban),
            creditor_bic: payee.bic.clone().filter(|b| !b.is_empty()),
            remittance: format!(
                "{} - {} : achats jusqu'au {} ({} achats, {} remboursements)",
                settings.fund_name,
                payee.name,
                cutoff.format("%d/%m/%Y %H:%M"),
                l.redemptions,
                l.refunds
            ),
        });
    }
    let file = CreditTransfer {
        message_id: s.id.clone(),
        created_at: created.naive_utc(),
        execution_date: crate::domain::local_date(s.created_at).max(today),
        debtor: Debtor {
            name: settings.fund_name.clone(),
            iban,
            bic: settings.bic.clone().filter(|b| !b.is_empty()),
        },
        transfers,
    };
    Ok(file.to_xml())
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// `None` when every line was already imported (nothing is stored then).
    pub statement_id: Option<String>,
    pub imported: i64,
    pub duplicates: i64,
    pub matched: i64,
    pub unmatched: i64,
}

/// 400 for a body that cannot be read, 422 for a statement that is not valid or not balanced.
pub fn statement_error(e: StatementError) -> ServiceError {
    match e {
        StatementError::Unreadable(m) => ServiceError::refused(ErrorCode::StatementUnreadable, m),
        StatementError::Invalid(m) => ServiceError::refused(ErrorCode::StatementInvalid, m),
        e @ StatementError::TooDeep { .. } => ServiceError::refused(
            ErrorCode::InputTooDeep,
            format!("{e}; nothing was imported"),
        ),
        StatementError::TooLarge(m) => ServiceError::refused(
            ErrorCode::PayloadTooLarge,
            format!("{m}; nothing was imported"),
        ),
        e @ StatementError::Unbalanced { .. } => ServiceError::refused(
            ErrorCode::StatementUnbalanced,
            format!("{e}; nothing was imported"),
        ),
    }
}

/// Imports a parsed statement in one transaction: all of it or nothing. Lines seen before
/// (same bank reference, else same date, amount and text) are counted as duplicates.
#[tracing::instrument(skip(db, statement), fields(format = %statement.format, lines = statement.lines.len()))]
pub async fn import_statement(
    db: &Db,
    fund_id: &str,
    by: &str,
    statement: &Statement,
) -> Result<ImportOutcome, ServiceError> {
    let now = now_micros();
    let mut tx = db.begin().await?;
    let statement_id = new_id("bst");
    bank::insert_statement(
        &mut tx,
        fund_id,
        &bank::NewStatement {
            id: &statement_id,
            format: &statement.format,
            bank_id: statement.bank_id.as_deref(),
            opening: statement.opening,
            closing: statement.closing,
            imported_by: by,
            now,
        },
    )
    .await?;
    let mut outcome = ImportOutcome::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in &statement.lines {
        let base = dedupe_key(line);
        // Two identical lines in one statement (two equal transfers the same day) are two
        // movements: the rank keeps them apart, and stays the same when the file comes again.
        let rank = seen.entry(base.clone()).or_default();
        *rank += 1;
        let key = if *rank == 1 {
            base
        } else {
            format!("{base}#{rank}")
        };
        let line_id = new_id("bkl");
        let booked_on = line.booked_on.format("%Y-%m-%d").to_string();
        let inserted = bank::insert_line(
            &mut tx,
            fund_id,
            &bank::NewLine {
                id: &line_id,
                statement_id: &statement_id,
                booked_on: &booked_on,
                amount: line.amount,
                reference: &line.reference,
                counterparty: line.counterparty.as_deref(),
                bank_ref: line.bank_ref.as_deref(),
                end_to_end_id: line.end_to_end_id.as_deref(),
                dedupe_key: &key,
                now,
            },
        )
        .await?;
        if !inserted {
            outcome.duplicates += 1;
            continue;
        }
        outcome.imported += 1;
        let matched = if line.amount < 0 {
            match_payout(&mut tx, fund_id, &line_id, line, now).await?
        } else {
            match_contribution(&mut tx, fund_id, &line_id, line).await?
        };
        if matched {
            outcome.matched += 1;
        } else {
            outcome.unmatched += 1;
        }
    }
    if outcome.imported == 0 {
        tx.rollback().await?;
        return Ok(outcome);
    }
    bank::set_statement_counts(
        &mut tx,
        fund_id,
        &statement_id,
        outcome.imported,
        outcome.duplicates,
    )
    .await?;
    tx.commit().await?;
    outcome.statement_id = Some(statement_id);
    Ok(outcome)
}

fn dedupe_key(line: &Line) -> String {
    match &line.bank_ref {
        Some(r) if !r.is_empty() => format!("ref:{r}"),
        _ => format!(
            "dar:{}|{}|{}",
            line.booked_on.format("%Y-%m-%d"),
            line.amount,
            line.reference.trim()
        ),
    }
}

/// A debit whose EndToEndId (or, from a CSV, a word of its text) is an unpaid settlement line
/// of the same amount: the line is paid, 401 shop / 512.
async fn match_payout(
    tx: &mut Tx,
    fund_id: &str,
    line_id: &str,
    line: &Line,
    now: i64,
) -> Result<bool, ServiceError> {
    let mut candidates: Vec<&str> = line.end_to_end_id.iter().map(String::as_str).collect();
    candidates.extend(
        line.reference
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() >= 10 && w.len() <= 35),
    );
    for e2e in candidates {
        // Same id, another amount: a human must look (the reconciliation lists both).
        if pay(tx, fund_id, line_id, line.amount, line.booked_on, e2e, now).await? == Paid::Yes {
            return Ok(true);
        }
    }
    Ok(false)
}

#[derive(Debug, PartialEq, Eq)]
enum Paid {
    Yes,
    /// No unpaid settlement line has this EndToEndId.
    NoSuchLine,
    /// The settlement line is for another amount than the debit.
    OtherAmount(i64),
}

/// Books the debit `line_id` (amount < 0) as the payment of the unpaid settlement line `e2e`
/// when the amounts agree: 401 shop / 512, the line paid, the bank line matched.
async fn pay(
    tx: &mut Tx,
    fund_id: &str,
    line_id: &str,
    amount: i64,
    booked_on: NaiveDate,
    e2e: &str,
    now: i64,
) -> Result<Paid, ServiceError> {
    let Some(found) = store::unpaid_line_for_update(tx, fund_id, e2e).await? else {
        return Ok(Paid::NoSuchLine);
    };
    if found.amount != -amount {
        return Ok(Paid::OtherAmount(found.amount));
    }
    let amount = Cents::from_cents(found.amount).map_err(ServiceError::internal)?;
    let entry = EntryBuilder::new(
        Journal::Bank,
        "shop_payout",
        booked_on,
        &format!("Paiement commerce — {}", found.shop_name),
    )
    .reference(found.end_to_end_id.clone())
    .debit(
        AccountCode::auxiliary(General::Shops, &found.shop_id),
        amount,
    )
    .credit(AccountCode::general(General::Bank), amount)
    .build()
    .map_err(ServiceError::internal)?;
    let posted = ledger::post(tx, fund_id, &entry).await?;
    if !store::mark_paid(
        tx,
        fund_id,
        &found.end_to_end_id,
        posted.entry_id,
        line_id,
        now,
    )
    .await?
    {
        return Err(ServiceError::internal(
            "locked settlement line was paid meanwhile",
        ));
    }
    bank::set_match(
        tx,
        fund_id,
        line_id,
        "payout",
        &found.end_to_end_id,
        posted.entry_id,
    )
    .await?;
    Ok(Paid::Yes)
}

/// A credit whose text holds a member's payment reference: a contribution payment by transfer,
/// recorded by the same service as a payment entered by hand.
async fn match_contribution(
    tx: &mut Tx,
    fund_id: &str,
    line_id: &str,
    line: &Line,
) -> Result<bool, ServiceError> {
    for reference in find_payment_references(&line.reference) {
        let Some(member_id) = bank::member_by_payment_reference(tx, fund_id, &reference).await?
        else {
            continue;
        };
        let bank_reference = line
            .bank_ref
            .clone()
            .unwrap_or_else(|| line.reference.chars().take(140).collect());
        let amount = line.amount;
        contribution(
            tx,
            fund_id,
            line_id,
            amount,
            line.booked_on,
            bank_reference,
            &member_id,
        )
        .await?;
        return Ok(true);
    }
    Ok(false)
}

/// Books the credit `line_id` as `member_id`'s contribution paid by transfer.
async fn contribution(
    tx: &mut Tx,
    fund_id: &str,
    line_id: &str,
    amount: i64,
    booked_on: NaiveDate,
    bank_reference: String,
    member_id: &str,
) -> Result<(), ServiceError> {
    let amount = Cents::from_cents(amount).map_err(ServiceError::internal)?;
    let payment = super::contributions::record_payment(
        tx,
        fund_id,
        member_id,
        amount,
        "transfer",
        booked_on,
        Some(bank_reference),
    )
    .await?;
    bank::set_match(
        tx,
        fund_id,
        line_id,
        "contribution",
        &payment.id,
        payment.entry_id,
    )
    .await?;
    Ok(())
}

/// What the treasurer says a bank line is, when the automatic matching found nothing (a
/// member who mistyped the payment reference, a payout the bank showed before the settlement
/// was recorded...).
#[derive(Clone, Debug)]
pub enum ManualMatch {
    /// A debit: the payment of this settlement line (EndToEndId).
    Payout(String),
    /// A credit: this member's contribution.
    Contribution(String),
}

/// What a bank line was matched to.
#[derive(Clone, Debug)]
pub struct Matched {
    pub bank_line_id: String,
    pub kind: String,
    pub matched_id: String,
    pub entry_id: i64,
}

/// Matches an unmatched bank line by hand, booking what the automatic matching would have.
pub async fn match_line(
    db: &Db,
    fund_id: &str,
    line_id: &str,
    target: ManualMatch,
) -> Result<Matched, ServiceError> {
    let mut tx = db.begin().await?;
    let result = match_line_in(&mut tx, fund_id, line_id, target).await;
    match result {
        Ok(m) => {
            tx.commit().await?;
            Ok(m)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

async fn match_line_in(
    tx: &mut Tx,
    fund_id: &str,
    line_id: &str,
    target: ManualMatch,
) -> Result<Matched, ServiceError> {
    let (line, matched) = bank::line_for_update(tx, fund_id, line_id)
        .await?
        .ok_or_else(|| ServiceError::not_found("bank line"))?;
    if let Some((kind, id, _)) = matched {
        return Err(ServiceError::refused(
            ErrorCode::BankLineAlreadyMatched,
            format!("this bank line is already matched ({kind} {id})"),
        ));
    }
    let booked_on: NaiveDate = line
        .booked_on
        .parse()
        .map_err(|_| ServiceError::internal(format!("bank line {line_id} date")))?;
    match target {
        ManualMatch::Payout(e2e) => {
            if line.amount >= 0 {
                return Err(ServiceError::field(
                    ErrorCode::WrongDirection,
                    "end_to_end_id",
                    "this line is a credit: a payout to a shop is a debit",
                ));
            }
            match pay(
                tx,
                fund_id,
                line_id,
                line.amount,
                booked_on,
                &e2e,
                now_micros(),
            )
            .await?
            {
                Paid::Yes => {}
                Paid::NoSuchLine => {
                    return Err(ServiceError::field(
                        ErrorCode::SettlementLineNotFound,
                        "end_to_end_id",
                        "no unpaid settlement line has this EndToEndId",
                    ))
                }
                Paid::OtherAmount(owed) => {
                    return Err(ServiceError::field(
                        ErrorCode::AmountMismatch,
                        "end_to_end_id",
                        format!(
                            "this settlement line is for {}, the bank line for {}",
                            Cents::from_cents(owed).map_err(ServiceError::internal)?,
                            Cents::from_cents(-line.amount).map_err(ServiceError::internal)?
                        ),
                    ))
                }
            }
        }
        ManualMatch::Contribution(member_id) => {
            if line.amount <= 0 {
                return Err(ServiceError::field(
                    ErrorCode::WrongDirection,
                    "member_id",
                    "this line is a debit: a contribution is a credit",
                ));
            }
            let bank_reference = line
                .bank_ref
                .clone()
                .unwrap_or_else(|| line.reference.chars().take(140).collect());
            contribution(
                tx,
                fund_id,
                line_id,
                line.amount,
                booked_on,
                bank_reference,
                &member_id,
            )
            .await?;
        }
    }
    let (_, matched) = bank::line_for_update(tx, fund_id, line_id)
        .await?
        .ok_or_else(|| ServiceError::internal("bank line vanished"))?;
    let (kind, matched_id, entry_id) =
        matched.ok_or_else(|| ServiceError::internal("bank line not matched after its match"))?;
    Ok(Matched {
        bank_line_id: line_id.to_string(),
        kind,
        matched_id,
        entry_id,
    })
}

/// What is left to reconcile on both sides.
#[derive(Clone, Debug)]
pub struct Reconciliation {
    pub unmatched_bank_lines: Vec<bank::BankLine>,
    pub unpaid_settlement_lines: Vec<SettlementLine>,
}

pub async fn reconciliation(db: &Db, fund_id: &str) -> Result<Reconciliation, ServiceError> {
    Ok(Reconciliation {
        unmatched_bank_lines: bank::unmatched(db, fund_id).await?,
        unpaid_settlement_lines: store::unpaid_lines(db, fund_id).await?,
    })
}

/// A camt.053 statement (version .001.02 or .001.08) showing the payment of `lines` from the
/// fund's account: one booked debit per line, with its EndToEndId. The demo imports one to fill
/// the reconciliation screen; tests build theirs the same way.
pub fn camt053_for_payouts(
    version: &str,
    iban: &str,
    statement_id: &str,
    opening: i64,
    booked_on: NaiveDate,
    lines: &[(String, String, i64)],
) -> String {
    use std::fmt::Write;
    let v08 = version == "08";
    let money = |c: i64| crate::domain::money::format_signed_cents(c.abs());
    let side = |c: i64| if c < 0 { "DBIT" } else { "CRDT" };
    let date = booked_on.format("%Y-%m-%d");
    let total: i64 = lines.iter().map(|l| l.2).sum();
    let closing = opening - total;
    let status = if v08 {
        "<Sts><Cd>BOOK</Cd></Sts>"
    } else {
        "<Sts>BOOK</Sts>"
    };
    let mut x = String::new();
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}\">\n\
         <BkToCstmrStmt>\n<GrpHdr><MsgId>{statement_id}</MsgId><CreDtTm>{date}T18:00:00</CreDtTm></GrpHdr>\n\
         <Stmt>\n<Id>{statement_id}</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>{date}T18:00:00</CreDtTm>\n\
         <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
    );
    for (code, amount) in [("OPBD", opening), ("CLBD", closing)] {
        let _ = writeln!(
            x,
            "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{}</Amt>\
             <CdtDbtInd>{}</CdtDbtInd><Dt><Dt>{date}</Dt></Dt></Bal>",
            money(amount),
            side(amount)
        );
    }
    for (i, (e2e, name, amount)) in lines.iter().enumerate() {
        let name = crate::domain::sepa::sepa_text(name, 70);
        let party = if v08 {
            format!("<Cdtr><Pty><Nm>{name}</Nm></Pty></Cdtr>")
        } else {
            format!("<Cdtr><Nm>{name}</Nm></Cdtr>")
        };
        let _ = writeln!(
            x,
            "<Ntry><Amt Ccy=\"EUR\">{}</Amt><CdtDbtInd>DBIT</CdtDbtInd>{status}\
             <BookgDt><Dt>{date}</Dt></BookgDt><ValDt><Dt>{date}</Dt></ValDt>\
             <AcctSvcrRef>{statement_id}-{}</AcctSvcrRef>\
             <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\
             <NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>\
             <RltdPties>{party}</RltdPties><RmtInf><Ustrd>Reglement caisse alimentaire</Ustrd></RmtInf>\
             </TxDtls></NtryDtls></Ntry>",
            money(*amount),
            i + 1
        );
    }
    x.push_str("</Stmt>\n</BkToCstmrStmt>\n</Document>\n");
    x
}
