//! The in-memory model: what the fund should hold after each step.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Active,
    Suspended,
    Left,
}

#[derive(Debug)]
pub(crate) struct AppCard {
    pub(crate) id: String,
    pub(crate) secret: Vec<u8>,
    pub(crate) used: BTreeSet<i64>,
    pub(crate) revoked: bool,
}

#[derive(Debug)]
pub(crate) struct Printed {
    pub(crate) id: String,
    pub(crate) payload: String,
    pub(crate) pin: String,
    pub(crate) wrong: u32,
    pub(crate) locked: bool,
    pub(crate) revoked: bool,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) account_ref: String,
    pub(crate) payment_reference: String,
    pub(crate) status: Status,
    pub(crate) adults: u32,
    pub(crate) children: u32,
    pub(crate) chosen: Option<i64>,
    /// `contribution_calls`: period → (amount, reversed).
    pub(crate) calls: BTreeMap<String, (i64, bool)>,
    pub(crate) app: Vec<AppCard>,
    pub(crate) printed: Vec<Printed>,
}

impl Member {
    pub(crate) fn allowance(&self) -> i64 {
        FIRST_PERSON
            + ADDITIONAL_ADULT * i64::from(self.adults - 1)
            + CHILD * i64::from(self.children)
    }
    pub(crate) fn contribution(&self) -> i64 {
        self.chosen.unwrap_or(MINIMUM).max(MINIMUM)
    }
    pub(crate) fn a467(&self) -> String {
        format!("467.{}", self.account_ref)
    }
    pub(crate) fn a411(&self) -> String {
        format!("411.{}", self.account_ref)
    }
}

#[derive(Debug)]
pub(crate) struct Shop {
    pub(crate) id: String,
    pub(crate) till: String,
    pub(crate) suspended: bool,
}

impl Shop {
    pub(crate) fn a401(&self) -> String {
        format!("401.{}", self.id)
    }
}

/// A correction of a sale or a refund, as a settlement sees it: netted or still to net.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rev {
    Pending,
    Netted,
}

#[derive(Debug)]
pub(crate) struct Sale {
    pub(crate) id: String,
    pub(crate) shop: usize,
    pub(crate) member: usize,
    pub(crate) amount: i64,
    /// Sum of the refunds not reversed.
    pub(crate) refunded: i64,
    pub(crate) claimed: bool,
    pub(crate) reversed: Option<Rev>,
}

#[derive(Debug)]
pub(crate) struct RefundRow {
    pub(crate) sale: usize,
    pub(crate) amount: i64,
    pub(crate) claimed: bool,
    pub(crate) reversed: Option<Rev>,
}

#[derive(Debug)]
pub(crate) struct Payment {
    pub(crate) member: usize,
    pub(crate) amount: i64,
    pub(crate) bank_line: Option<usize>,
    pub(crate) reversed: bool,
}

#[derive(Debug)]
pub(crate) struct Line {
    pub(crate) shop: usize,
    pub(crate) amount: i64,
    pub(crate) e2e: String,
    /// The bank line that paid it.
    pub(crate) paid_by: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct BankLine {
    pub(crate) id: String,
    pub(crate) amount: i64,
    /// What the bank line's payment would be booked with (bank_ref, else the text).
    pub(crate) booking_ref: String,
    pub(crate) matched: bool,
}

/// A line of an imported statement, and what the model expects it to book.
pub(crate) struct BankRow {
    pub(crate) amount: i64,
    pub(crate) booking_ref: String,
    pub(crate) id: String,
    pub(crate) books: Option<Expect>,
    pub(crate) member: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Sale(usize),
    Refund(usize),
    Allowance { member: usize },
    CapReturn { member: usize },
    LeaveReturn { member: usize },
    Call { member: usize, period: String },
    Payment(usize),
    Payout(usize),
    Subsidy,
    Reversal(i64),
}

pub(crate) type Postings = Vec<(String, i64, i64)>;

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) kind: String,
    pub(crate) postings: Postings,
    pub(crate) origin: Origin,
    pub(crate) reversed_by: Option<i64>,
}

/// An entry the model expects a step to post.
#[derive(Clone, Debug)]
pub(crate) struct Expect {
    pub(crate) kind: &'static str,
    pub(crate) reference: Option<String>,
    pub(crate) reverses: Option<i64>,
    pub(crate) postings: Postings,
    pub(crate) origin: Origin,
}

/// `amount` from `debit` to `credit`, lines sorted as the journal is compared.
pub(crate) fn dc(debit: &str, credit: &str, amount: i64) -> Postings {
    let mut p = vec![
        (debit.to_string(), amount, 0),
        (credit.to_string(), 0, amount),
    ];
    p.sort();
    p
}

pub(crate) fn swapped(p: &Postings) -> Postings {
    let mut out: Postings = p.iter().map(|(a, d, c)| (a.clone(), *c, *d)).collect();
    out.sort();
    out
}

#[derive(Default, Debug)]
pub(crate) struct Model {
    /// Account code → (debit total, credit total).
    pub(crate) accounts: BTreeMap<String, (i64, i64)>,
    pub(crate) entries: BTreeMap<i64, Entry>,
    /// Entry ids in the order the model expected them: ids themselves are not (PostgreSQL's
    /// connections each take ids 1,000 at a time), and a pick by position must not depend on
    /// which connection wrote.
    pub(crate) order: Vec<i64>,
    pub(crate) members: Vec<Member>,
    pub(crate) shops: Vec<Shop>,
    pub(crate) sales: Vec<Sale>,
    pub(crate) refunds: Vec<RefundRow>,
    pub(crate) payments: Vec<Payment>,
    pub(crate) lines: Vec<Line>,
    pub(crate) bank: Vec<BankLine>,
    /// Allowance credit entry → the cap return of the same member and period.
    pub(crate) cap_of: BTreeMap<i64, i64>,
    pub(crate) issued: BTreeMap<String, (i64, i64, i64)>,
    pub(crate) called: BTreeMap<String, (i64, i64)>,
    /// Statements imported: (content type, body, lines).
    pub(crate) statements: Vec<(String, String, i64)>,
}

impl Model {
    /// Debit minus credit.
    pub(crate) fn signed(&self, code: &str) -> i64 {
        self.accounts.get(code).map(|(d, c)| d - c).unwrap_or(0)
    }
    pub(crate) fn balance(&self, m: usize) -> i64 {
        -self.signed(&self.members[m].a467())
    }
    pub(crate) fn paid(&self, m: usize) -> i64 {
        self.payments
            .iter()
            .filter(|p| p.member == m && !p.reversed)
            .map(|p| p.amount)
            .sum()
    }
    pub(crate) fn called_total(&self, m: usize, before: Option<&str>) -> i64 {
        self.members[m]
            .calls
            .iter()
            .filter(|(p, (_, rev))| !rev && before.is_none_or(|b| p.as_str() < b))
            .map(|(_, (a, _))| a)
            .sum()
    }
    /// What a shop is owed and not yet settled: its rows a settlement would claim.
    /// (net, sales, refunds, reversals) a settlement would claim for this shop.
    pub(crate) fn unsettled(&self, shop: usize) -> (i64, i64, i64, i64) {
        let (mut net, mut sales, mut refunds, mut reversals) = (0, 0, 0, 0);
        for s in self.sales.iter().filter(|s| s.shop == shop) {
            if !s.claimed {
                net += s.amount;
                sales += 1;
            }
            if s.reversed == Some(Rev::Pending) {
                net -= s.amount;
                reversals += 1;
            }
        }
        for r in self.refunds.iter() {
            if self.sales[r.sale].shop != shop {
                continue;
            }
            if !r.claimed {
                net -= r.amount;
                refunds += 1;
            }
            if r.reversed == Some(Rev::Pending) {
                net += r.amount;
                reversals += 1;
            }
        }
        (net, sales, refunds, reversals)
    }
    pub(crate) fn unpaid_lines(&self, shop: usize) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.shop == shop && l.paid_by.is_none())
            .map(|l| l.amount)
            .sum()
    }
    pub(crate) fn apply(&mut self, postings: &Postings) {
        for (a, d, c) in postings {
            let e = self.accounts.entry(a.clone()).or_default();
            e.0 += d;
            e.1 += c;
        }
    }
    /// Whether these postings keep every allowance balance at zero or above.
    pub(crate) fn affordable(&self, postings: &[Postings]) -> bool {
        let mut after: BTreeMap<&str, i64> = BTreeMap::new();
        for p in postings {
            for (a, d, c) in p {
                if a.starts_with("467.") {
                    let b = after.entry(a).or_insert_with(|| -self.signed(a));
                    *b += c - d;
                    if *b < 0 {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The invariants the corrections promise, on the model's own state.
    pub(crate) fn invariants(&self) -> Result<(), String> {
        for (i, s) in self.shops.iter().enumerate() {
            let owed = -self.signed(&s.a401());
            let expected = self.unsettled(i).0 + self.unpaid_lines(i);
            if owed != expected {
                return Err(format!(
                    "shop {i} ({}): 401 is {owed}, unsettled + unpaid lines are {expected}",
                    s.id
                ));
            }
        }
        for (i, m) in self.members.iter().enumerate() {
            let dues = self.signed(&m.a411());
            let expected = self.called_total(i, None) - self.paid(i);
            if dues != expected {
                return Err(format!(
                    "member {i}: 411 is {dues}, calls − payments are {expected}"
                ));
            }
            let b = self.balance(i);
            if b < 0 || (m.status == Status::Left && b != 0) {
                return Err(format!("member {i} ({:?}): 467 is {b}", m.status));
            }
        }
        Ok(())
    }
}
