//! The double-entry journal: accounts of the *plan comptable associatif*, balanced entries and
//! the hash chain that makes the journal tamper-evident.
//!
//! Nothing here touches the database: an entry is validated when it is built, so an unbalanced
//! entry cannot even be handed to the store.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::money::Cents;

pub mod verify;

/// General accounts used by a fund (French *plan comptable associatif*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum General {
    /// 512 Banque.
    Bank,
    /// 411 Adhérents: contributions called and not yet paid (one auxiliary account per member).
    Members,
    /// 401 Fournisseurs: what the fund owes each approved shop (one auxiliary per shop).
    Shops,
    /// 467 Autres comptes débiteurs ou créditeurs: each member's allowance balance.
    AllowanceBalances,
    /// 6571 Aides versées: allowances granted.
    AllowancesGranted,
    /// 741 Subventions d'exploitation.
    Subsidies,
    /// 756 Cotisations.
    Contributions,
}

impl General {
    pub const ALL: [General; 7] = [
        General::Members,
        General::Shops,
        General::AllowanceBalances,
        General::Bank,
        General::AllowancesGranted,
        General::Subsidies,
        General::Contributions,
    ];

    pub fn code(self) -> &'static str {
        match self {
            General::Bank => "512",
            General::Members => "411",
            General::Shops => "401",
            General::AllowanceBalances => "467",
            General::AllowancesGranted => "6571",
            General::Subsidies => "741",
            General::Contributions => "756",
        }
    }

    pub fn from_code(code: &str) -> Option<General> {
        General::ALL.into_iter().find(|g| g.code() == code)
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            General::Bank => "Banque",
            General::Members => "Adhérents — cotisations à recevoir",
            General::Shops => "Commerces conventionnés — à payer",
            General::AllowanceBalances => "Soldes d'allocation des adhérents",
            General::AllowancesGranted => "Allocations alimentaires versées",
            General::Subsidies => "Subventions d'exploitation",
            General::Contributions => "Cotisations",
        }
    }

    /// Which side increases the account's balance.
    pub fn normal_side(self) -> Side {
        match self {
            General::Bank | General::Members | General::AllowancesGranted => Side::Debit,
            General::Shops
            | General::AllowanceBalances
            | General::Subsidies
            | General::Contributions => Side::Credit,
        }
    }

    /// Whether the account has one auxiliary account per member or shop.
    pub fn has_auxiliaries(self) -> bool {
        matches!(
            self,
            General::Members | General::Shops | General::AllowanceBalances
        )
    }

    /// A member's allowance balance is money they can spend: it can never go below zero.
    pub fn may_go_negative(self) -> bool {
        !matches!(self, General::AllowanceBalances)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Debit => "debit",
            Side::Credit => "credit",
        }
    }
}

/// An account of the fund: a general account, or an auxiliary of 411, 401 or 467 named by a
/// pseudonymous reference (a member's payment reference, a shop id), never by a person's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountCode(String);

impl AccountCode {
    pub fn general(g: General) -> AccountCode {
        debug_assert!(!g.has_auxiliaries());
        AccountCode(g.code().to_string())
    }

    /// An auxiliary account such as `467.M00042K`.
    pub fn auxiliary(g: General, aux: &str) -> AccountCode {
        debug_assert!(g.has_auxiliaries());
        AccountCode(format!("{}.{}", g.code(), aux))
    }

    pub fn parse(s: &str) -> Option<AccountCode> {
        let (g, aux) = match s.split_once('.') {
            Some((g, a)) => (General::from_code(g)?, Some(a)),
            None => (General::from_code(s)?, None),
        };
        match (g.has_auxiliaries(), aux) {
            (false, None) => Some(AccountCode(s.to_string())),
            (true, Some(a))
                if !a.is_empty()
                    && a.len() <= 64
                    && a.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                Some(AccountCode(s.to_string()))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn general_account(&self) -> General {
        let g = self.0.split('.').next().unwrap_or_default();
        General::from_code(g).expect("an AccountCode is always built from a known general account")
    }

    pub fn aux(&self) -> Option<&str> {
        self.0.split_once('.').map(|(_, a)| a)
    }
}

impl fmt::Display for AccountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// FEC journal codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Journal {
    /// Cotisations appelées.
    Contributions,
    /// Allocations.
    Allowances,
    /// Achats chez les commerces (redemptions and refunds).
    Purchases,
    /// Banque.
    Bank,
    /// Opérations diverses (corrections, reversals).
    Miscellaneous,
}

impl Journal {
    pub fn code(self) -> &'static str {
        match self {
            Journal::Contributions => "CO",
            Journal::Allowances => "AL",
            Journal::Purchases => "AC",
            Journal::Bank => "BQ",
            Journal::Miscellaneous => "OD",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Journal::Contributions => "Cotisations",
            Journal::Allowances => "Allocations",
            Journal::Purchases => "Achats alimentaires",
            Journal::Bank => "Banque",
            Journal::Miscellaneous => "Opérations diverses",
        }
    }

    pub fn from_code(code: &str) -> Option<Journal> {
        [
            Journal::Contributions,
            Journal::Allowances,
            Journal::Purchases,
            Journal::Bank,
            Journal::Miscellaneous,
        ]
        .into_iter()
        .find(|j| j.code() == code)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    pub account: AccountCode,
    pub debit: Cents,
    pub credit: Cents,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("an entry needs at least two postings")]
    TooFewPostings,
    #[error("a posting must move a positive amount")]
    ZeroPosting,
    #[error("entry does not balance: debits {debit} ≠ credits {credit}")]
    Unbalanced { debit: i64, credit: i64 },
    #[error("amounts overflow")]
    Overflow,
    #[error("label must be 1 to 200 characters")]
    BadLabel,
}

/// A journal entry that has been checked: at least two postings, every amount positive,
/// debits equal to credits. The only way to build one is [`EntryBuilder::build`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    journal: Journal,
    kind: String,
    date: NaiveDate,
    label: String,
    reference: Option<String>,
    reverses: Option<i64>,
    postings: Vec<Posting>,
}

impl NewEntry {
    pub fn journal(&self) -> Journal {
        self.journal
    }
    pub fn kind(&self) -> &str {
        &self.kind
    }
    pub fn date(&self) -> NaiveDate {
        self.date
    }
    pub fn label(&self) -> &str {
        &self.label
    }
    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }
    pub fn reverses(&self) -> Option<i64> {
        self.reverses
    }
    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    /// Net movement per account, as (debit, credit) totals, in account order: the order in
    /// which the store locks account rows, so that two writers never wait on each other in a
    /// cycle.
    pub fn movements(&self) -> BTreeMap<&AccountCode, (i64, i64)> {
        let mut m: BTreeMap<&AccountCode, (i64, i64)> = BTreeMap::new();
        for p in &self.postings {
            let e = m.entry(&p.account).or_default();
            e.0 += p.debit.cents();
            e.1 += p.credit.cents();
        }
        m
    }

    /// The entry that cancels this one, posted by the store with `reverses` pointing at `seq`.
    pub fn reversal(
        original_seq: i64,
        date: NaiveDate,
        label: &str,
        postings: &[Posting],
    ) -> Result<NewEntry, EntryError> {
        let mut b = EntryBuilder::new(Journal::Miscellaneous, "reversal", date, label)
            .reverses(original_seq);
        for p in postings {
            b = b.line(p.account.clone(), p.credit, p.debit);
        }
        b.build()
    }
}

pub struct EntryBuilder {
    entry: NewEntry,
}

impl EntryBuilder {
    pub fn new(journal: Journal, kind: &str, date: NaiveDate, label: &str) -> EntryBuilder {
        EntryBuilder {
            entry: NewEntry {
                journal,
                kind: kind.to_string(),
                date,
                label: label.to_string(),
                reference: None,
                reverses: None,
                postings: Vec::new(),
            },
        }
    }

    pub fn reference(mut self, r: impl Into<String>) -> Self {
        self.entry.reference = Some(r.into());
        self
    }

    fn reverses(mut self, seq: i64) -> Self {
        self.entry.reverses = Some(seq);
        self
    }

    pub fn debit(self, account: AccountCode, amount: Cents) -> Self {
        self.line(account, amount, Cents::ZERO)
    }

    pub fn credit(self, account: AccountCode, amount: Cents) -> Self {
        self.line(account, Cents::ZERO, amount)
    }

    fn line(mut self, account: AccountCode, debit: Cents, credit: Cents) -> Self {
        self.entry.postings.push(Posting {
            account,
            debit,
            credit,
        });
        self
    }

    pub fn build(self) -> Result<NewEntry, EntryError> {
        let e = self.entry;
        let label_len = e.label.chars().count();
        if label_len == 0 || label_len > 200 {
            return Err(EntryError::BadLabel);
        }
        if e.postings.len() < 2 {
            return Err(EntryError::TooFewPostings);
        }
        let (mut debit, mut credit) = (0i64, 0i64);
        for p in &e.postings {
            // Exactly one side of a posting carries the amount.
            if p.debit.is_zero() == p.credit.is_zero() {
                return Err(EntryError::ZeroPosting);
            }
            debit = debit
                .checked_add(p.debit.cents())
                .ok_or(EntryError::Overflow)?;
            credit = credit
                .checked_add(p.credit.cents())
                .ok_or(EntryError::Overflow)?;
        }
        if debit != credit {
            return Err(EntryError::Unbalanced { debit, credit });
        }
        Ok(e)
    }
}

/// The first entry of a fund chains onto this.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Everything an entry's content hash covers, as stored. The entry's number is not in it: the
/// number is taken when the entry joins the chain, and the chain hash, which follows the
/// numbers, fixes each entry's place.
pub struct EntryContent<'a> {
    pub fund_id: &'a str,
    pub journal: &'a str,
    pub kind: &'a str,
    pub entry_date: &'a str,
    pub label: &'a str,
    pub reference: Option<&'a str>,
    pub reverses: Option<i64>,
    pub created_at: i64,
    /// (account, debit cents, credit cents) in line order.
    pub postings: &'a [(String, i64, i64)],
}

impl EntryContent<'_> {
    /// SHA-256 over a length-prefixed encoding of every field, so no two different entries can
    /// produce the same byte string.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        field("caisse-entry-v1");
        field(self.fund_id);
        field(self.journal);
        field(self.kind);
        field(self.entry_date);
        field(self.label);
        field(self.reference.unwrap_or("\u{0}none"));
        field(&self.reverses.map(|r| r.to_string()).unwrap_or_default());
        field(&self.created_at.to_string());
        field(&self.postings.len().to_string());
        for (account, debit, credit) in self.postings {
            field(account);
            field(&debit.to_string());
            field(&credit.to_string());
        }
        hex::encode(h.finalize())
    }
}

/// The chain hash of an entry: SHA-256 of the previous entry's chain hash and this entry's
/// content hash. Changing or removing any past entry changes every chain hash after it.
pub fn chain_hash(previous: &str, content_hash: &str) -> String {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(content_hash.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
    }
    fn c(s: &str) -> Cents {
        s.parse().unwrap()
    }

    #[test]
    fn balanced_entry_builds() {
        let e = EntryBuilder::new(Journal::Allowances, "allowance", d(), "Allocation 2026-11")
            .debit(
                AccountCode::general(General::AllowancesGranted),
                c("150.00"),
            )
            .credit(
                AccountCode::auxiliary(General::AllowanceBalances, "M1"),
                c("150.00"),
            )
            .build()
            .unwrap();
        assert_eq!(e.postings().len(), 2);
    }

    #[test]
    fn unbalanced_entry_is_refused() {
        let err = EntryBuilder::new(Journal::Allowances, "allowance", d(), "x")
            .debit(
                AccountCode::general(General::AllowancesGranted),
                c("150.00"),
            )
            .credit(
                AccountCode::auxiliary(General::AllowanceBalances, "M1"),
                c("149.99"),
            )
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            EntryError::Unbalanced {
                debit: 15000,
                credit: 14999
            }
        );
    }

    #[test]
    fn degenerate_entries_are_refused() {
        let one = EntryBuilder::new(Journal::Bank, "x", d(), "x")
            .debit(AccountCode::general(General::Bank), c("1"))
            .build();
        assert_eq!(one.unwrap_err(), EntryError::TooFewPostings);
        let zero = EntryBuilder::new(Journal::Bank, "x", d(), "x")
            .debit(AccountCode::general(General::Bank), c("0"))
            .credit(AccountCode::general(General::Subsidies), c("0"))
            .build();
        assert_eq!(zero.unwrap_err(), EntryError::ZeroPosting);
        let nolabel = EntryBuilder::new(Journal::Bank, "x", d(), "")
            .debit(AccountCode::general(General::Bank), c("1"))
            .credit(AccountCode::general(General::Subsidies), c("1"))
            .build();
        assert_eq!(nolabel.unwrap_err(), EntryError::BadLabel);
    }

    #[test]
    fn reversal_swaps_sides() {
        let e = EntryBuilder::new(Journal::Bank, "subsidy", d(), "Subvention")
            .debit(AccountCode::general(General::Bank), c("1000"))
            .credit(AccountCode::general(General::Subsidies), c("1000"))
            .build()
            .unwrap();
        let r = NewEntry::reversal(7, d(), "Annulation", e.postings()).unwrap();
        assert_eq!(r.reverses(), Some(7));
        assert_eq!(r.postings()[0].credit, c("1000"));
        assert_eq!(r.postings()[1].debit, c("1000"));
    }

    #[test]
    fn account_codes_parse() {
        assert!(AccountCode::parse("512").is_some());
        assert!(AccountCode::parse("467.M0001").is_some());
        assert!(AccountCode::parse("467").is_none());
        assert!(AccountCode::parse("512.X").is_none());
        assert!(AccountCode::parse("999").is_none());
        assert!(AccountCode::parse("467.a b").is_none());
        assert_eq!(
            AccountCode::parse("401.shop_1").unwrap().general_account(),
            General::Shops
        );
    }

    #[test]
    fn hash_changes_with_any_field() {
        let p = vec![("512".to_string(), 100, 0), ("741".to_string(), 0, 100)];
        let base = EntryContent {
            fund_id: "f",
            journal: "BQ",
            kind: "subsidy",
            entry_date: "2026-11-01",
            label: "a",
            reference: None,
            reverses: None,
            created_at: 1,
            postings: &p,
        };
        let h = base.hash();
        let p2 = vec![("512".to_string(), 101, 0), ("741".to_string(), 0, 101)];
        let changed = EntryContent {
            postings: &p2,
            ..base
        };
        assert_ne!(h, changed.hash());
        assert_ne!(chain_hash(GENESIS_HASH, &h), chain_hash(&h, &h));
    }
}
