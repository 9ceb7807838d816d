//! A model test of the money paths, in the spirit of TigerBeetle's simulator.
//!
//! A seeded random sequence of every operation that moves money (allowances, calls, payments
//! by hand, payments at the till with an app code or a printed card and its PIN, refunds,
//! reversals of every kind of entry, suspensions, departures, settlements, bank statements in
//! camt.053 and CSV, matches by hand, subsidies) runs against the real server, over HTTP, on
//! both backends. A small in-memory model predicts each answer — approved, or refused with
//! its code — and the journal entries each step posts (kind, reference, postings); after each
//! step the journal and every account's totals are compared with the model, and every
//! `FULL_CHECK_EVERY` steps (and at the end) the mirrored tables too: each member's balance,
//! dues, arrears and credit, each sale's refunded amount, the unpaid settlement lines and the
//! unmatched bank lines, the model's own invariants (each shop's 401 is what it is owed), the
//! trial balance and `ledger verify`.
//!
//! `CAISSE_MODEL_SEED=N` replays a run (the seed is printed on failure, with the failing step,
//! the last operations and the model's state); `CAISSE_MODEL_STEPS` sets the length (default
//! 1500 per backend). All random choices are drawn from the seed; only the 30-second TOTP step
//! is the clock's, and the model never lets it decide what happens.
// Amounts in cents are written euros_cents: 150_00 is 150.00 €.
#![allow(clippy::inconsistent_digit_grouping)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use caisse::domain::card::{app_payload, secret_from_base32, step_at, totp};
use caisse::domain::Role;
use caisse::service::settlements::camt053_for_payouts;
use common::{Reply, TestApp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::Row;

both_backends!(money_paths);

/// The corrections of issue 13 points 1 and 2 (branch `money`): what reversing each kind of
/// entry does to the tables that mirror it, and a refund after the member left going back to
/// the pot. Off: only subsidies are reversed, and sales of departed members are not refunded.
const CORRECTIONS: bool = true;

const FULL_CHECK_EVERY: usize = 50;
const PIN_ATTEMPTS: u32 = 5;
const MAX_MEMBERS: usize = 24;
const FIRST_PERSON: i64 = 150_00;
const ADDITIONAL_ADULT: i64 = 75_00;
const CHILD: i64 = 45_00;
const CAP: i64 = 300_00;
const MINIMUM: i64 = 5_00;
const FUND_IBAN: &str = "FR7630006000011234567890189";

// ---------------------------------------------------------------------------------------
// The model

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Active,
    Suspended,
    Left,
}

#[derive(Debug)]
struct AppCard {
    id: String,
    secret: Vec<u8>,
    used: BTreeSet<i64>,
    revoked: bool,
}

#[derive(Debug)]
struct Printed {
    id: String,
    payload: String,
    pin: String,
    wrong: u32,
    locked: bool,
    revoked: bool,
}

#[derive(Debug)]
struct Member {
    id: String,
    account_ref: String,
    payment_reference: String,
    status: Status,
    adults: u32,
    children: u32,
    chosen: Option<i64>,
    /// `contribution_calls`: period → (amount, reversed).
    calls: BTreeMap<String, (i64, bool)>,
    app: Vec<AppCard>,
    printed: Vec<Printed>,
}

impl Member {
    fn allowance(&self) -> i64 {
        FIRST_PERSON
            + ADDITIONAL_ADULT * i64::from(self.adults - 1)
            + CHILD * i64::from(self.children)
    }
    fn contribution(&self) -> i64 {
        self.chosen.unwrap_or(MINIMUM).max(MINIMUM)
    }
    fn a467(&self) -> String {
        format!("467.{}", self.account_ref)
    }
    fn a411(&self) -> String {
        format!("411.{}", self.account_ref)
    }
}

#[derive(Debug)]
struct Shop {
    id: String,
    till: String,
    suspended: bool,
}

impl Shop {
    fn a401(&self) -> String {
        format!("401.{}", self.id)
    }
}

/// A correction of a sale or a refund, as a settlement sees it: netted or still to net.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rev {
    Pending,
    Netted,
}

#[derive(Debug)]
struct Sale {
    id: String,
    shop: usize,
    member: usize,
    amount: i64,
    /// Sum of the refunds not reversed.
    refunded: i64,
    claimed: bool,
    reversed: Option<Rev>,
}

#[derive(Debug)]
struct RefundRow {
    sale: usize,
    amount: i64,
    claimed: bool,
    reversed: Option<Rev>,
}

#[derive(Debug)]
struct Payment {
    member: usize,
    amount: i64,
    bank_line: Option<usize>,
    reversed: bool,
}

#[derive(Debug)]
struct Line {
    shop: usize,
    amount: i64,
    e2e: String,
    /// The bank line that paid it.
    paid_by: Option<usize>,
}

#[derive(Debug)]
struct BankLine {
    id: String,
    amount: i64,
    /// What the bank line's payment would be booked with (bank_ref, else the text).
    booking_ref: String,
    matched: bool,
}

/// A line of an imported statement, and what the model expects it to book.
struct BankRow {
    amount: i64,
    booking_ref: String,
    id: String,
    books: Option<Expect>,
    member: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
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

type Postings = Vec<(String, i64, i64)>;

#[derive(Clone, Debug)]
struct Entry {
    kind: String,
    postings: Postings,
    origin: Origin,
    reversed_by: Option<i64>,
}

/// An entry the model expects a step to post.
#[derive(Clone, Debug)]
struct Expect {
    kind: &'static str,
    reference: Option<String>,
    reverses: Option<i64>,
    postings: Postings,
    origin: Origin,
}

/// `amount` from `debit` to `credit`, lines sorted as the journal is compared.
fn dc(debit: &str, credit: &str, amount: i64) -> Postings {
    let mut p = vec![
        (debit.to_string(), amount, 0),
        (credit.to_string(), 0, amount),
    ];
    p.sort();
    p
}

fn swapped(p: &Postings) -> Postings {
    let mut out: Postings = p.iter().map(|(a, d, c)| (a.clone(), *c, *d)).collect();
    out.sort();
    out
}

#[derive(Default, Debug)]
struct Model {
    /// Account code → (debit total, credit total).
    accounts: BTreeMap<String, (i64, i64)>,
    entries: BTreeMap<i64, Entry>,
    members: Vec<Member>,
    shops: Vec<Shop>,
    sales: Vec<Sale>,
    refunds: Vec<RefundRow>,
    payments: Vec<Payment>,
    lines: Vec<Line>,
    bank: Vec<BankLine>,
    /// Allowance credit entry → the cap return of the same member and period.
    cap_of: BTreeMap<i64, i64>,
    issued: BTreeMap<String, (i64, i64, i64)>,
    called: BTreeMap<String, (i64, i64)>,
    /// Statements imported: (content type, body, lines).
    statements: Vec<(String, String, i64)>,
}

impl Model {
    /// Debit minus credit.
    fn signed(&self, code: &str) -> i64 {
        self.accounts.get(code).map(|(d, c)| d - c).unwrap_or(0)
    }
    fn balance(&self, m: usize) -> i64 {
        -self.signed(&self.members[m].a467())
    }
    fn paid(&self, m: usize) -> i64 {
        self.payments
            .iter()
            .filter(|p| p.member == m && !p.reversed)
            .map(|p| p.amount)
            .sum()
    }
    fn called_total(&self, m: usize, before: Option<&str>) -> i64 {
        self.members[m]
            .calls
            .iter()
            .filter(|(p, (_, rev))| !rev && before.is_none_or(|b| p.as_str() < b))
            .map(|(_, (a, _))| a)
            .sum()
    }
    /// What a shop is owed and not yet settled: its rows a settlement would claim.
    fn unsettled(&self, shop: usize) -> (i64, i64, i64) {
        let (mut net, mut sales, mut refunds) = (0, 0, 0);
        for s in self.sales.iter().filter(|s| s.shop == shop) {
            if !s.claimed {
                net += s.amount;
                sales += 1;
            }
            if s.reversed == Some(Rev::Pending) {
                net -= s.amount;
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
            }
        }
        (net, sales, refunds)
    }
    fn unpaid_lines(&self, shop: usize) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.shop == shop && l.paid_by.is_none())
            .map(|l| l.amount)
            .sum()
    }
    fn apply(&mut self, postings: &Postings) {
        for (a, d, c) in postings {
            let e = self.accounts.entry(a.clone()).or_default();
            e.0 += d;
            e.1 += c;
        }
    }
    /// Whether these postings keep every allowance balance at zero or above.
    fn affordable(&self, postings: &[Postings]) -> bool {
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
    fn invariants(&self) -> Result<(), String> {
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

// ---------------------------------------------------------------------------------------
// Money as the API writes it

fn eur(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
}

#[track_caller]
fn cents(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not an amount: {v}"));
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (e, c) = s.split_once('.').unwrap_or((s, "00"));
    let v = e.parse::<i64>().unwrap() * 100 + c.parse::<i64>().unwrap();
    if neg {
        -v
    } else {
        v
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------
// The simulation

#[derive(Clone, Copy, Debug)]
enum Op {
    Issue,
    Call,
    PayByHand,
    PayApp,
    PayPrinted,
    ReplaySale,
    Refund,
    Reverse,
    Suspend,
    Reactivate,
    Leave,
    Join,
    Patch,
    Settle,
    ImportCsv,
    ImportCamt,
    Reimport,
    MatchByHand,
    Subsidy,
    ShopToggle,
    RevokeCard,
    UnlockCard,
}

const WEIGHTS: &[(Op, u32)] = &[
    (Op::Issue, 4),
    (Op::Call, 3),
    (Op::PayByHand, 6),
    (Op::PayApp, 18),
    (Op::PayPrinted, 6),
    (Op::ReplaySale, 2),
    (Op::Refund, 10),
    (Op::Reverse, 10),
    (Op::Suspend, 2),
    (Op::Reactivate, 2),
    (Op::Leave, 1),
    (Op::Join, 2),
    (Op::Patch, 1),
    (Op::Settle, 5),
    (Op::ImportCsv, 4),
    (Op::ImportCamt, 2),
    (Op::Reimport, 1),
    (Op::MatchByHand, 3),
    (Op::Subsidy, 2),
    (Op::ShopToggle, 1),
    (Op::RevokeCard, 1),
    (Op::UnlockCard, 1),
];

struct Sim {
    app: TestApp,
    rng: StdRng,
    seed: u64,
    step: usize,
    treasurer: String,
    admin: String,
    m: Model,
    last_seq: i64,
    keys: u64,
    log: Vec<String>,
    periods: Vec<String>,
    current: String,
    next_issue: usize,
    next_call: usize,
    last_sale: Option<(String, String, Value, Value)>,
    last_payment: Option<(String, Value, Value)>,
    touched: Vec<usize>,
    /// Per operation: steps that posted something, steps that did not.
    stats: BTreeMap<String, (u32, u32)>,
    /// Outcomes of the refunds, reversals (by kind) and matches by hand: what the run covered.
    outcomes: BTreeMap<String, u32>,
    done: bool,
}

impl Drop for Sim {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.done {
            eprintln!("{}", self.report());
        }
    }
}

async fn money_paths(app: TestApp) {
    let seed = env_u64("CAISSE_MODEL_SEED").unwrap_or_else(rand::random);
    let steps = env_u64("CAISSE_MODEL_STEPS").unwrap_or(1500) as usize;
    eprintln!(
        "model test on {:?}: CAISSE_MODEL_SEED={seed} CAISSE_MODEL_STEPS={steps}",
        app.backend
    );
    let mut sim = Sim::new(app, seed).await;
    let started = std::time::Instant::now();
    for step in 0..steps {
        sim.step = step;
        let op = sim.pick();
        sim.run(op).await;
        if (step + 1) % FULL_CHECK_EVERY == 0 {
            sim.full_check().await;
        }
    }
    sim.full_check().await;
    sim.final_check().await;
    eprintln!(
        "{steps} steps in {:.1} s: {} entries, {} sales, {} refunds, {} settlement lines, {} bank lines",
        started.elapsed().as_secs_f64(),
        sim.m.entries.len(),
        sim.m.sales.len(),
        sim.m.refunds.len(),
        sim.m.lines.len(),
        sim.m.bank.len()
    );
    eprintln!("(steps that posted, steps that did not): {:?}", sim.stats);
    eprintln!("outcomes: {:#?}", sim.outcomes);
    sim.done = true;
}

impl Sim {
    async fn new(app: TestApp, seed: u64) -> Sim {
        let admin = app.login(Role::Admin).await;
        let treasurer = app.login(Role::Treasurer).await;
        let mut settings = app
            .get("/api/v1/settings", Some(&admin))
            .await
            .ok(200)
            .clone();
        settings["allowance"] = json!({
            "first_person": eur(FIRST_PERSON), "additional_adult": eur(ADDITIONAL_ADULT),
            "child": eur(CHILD), "balance_cap": eur(CAP)});
        settings["contribution_scale"] = json!({"kind": "free", "minimum": eur(MINIMUM)});
        settings["pin_attempts"] = json!(PIN_ATTEMPTS);
        settings["iban"] = json!(FUND_IBAN);
        app.put("/api/v1/settings", Some(&admin), settings)
            .await
            .ok(200);
        let today = caisse::domain::today();
        let current = today.format("%Y-%m").to_string();
        // From twelve months before this one on: calls before the current period are arrears,
        // the others not yet.
        let (y, mo) = (
            today.format("%Y").to_string().parse::<i32>().unwrap(),
            today.format("%m").to_string().parse::<i32>().unwrap(),
        );
        let periods = (0..240)
            .map(|i| {
                let n = y * 12 + (mo - 1) - 12 + i;
                format!("{}-{:02}", n / 12, n % 12 + 1)
            })
            .collect();
        let mut sim = Sim {
            app,
            rng: StdRng::seed_from_u64(seed),
            seed,
            step: 0,
            treasurer,
            admin,
            m: Model::default(),
            last_seq: 0,
            keys: 0,
            log: Vec::new(),
            periods,
            current,
            next_issue: 0,
            next_call: 0,
            last_sale: None,
            last_payment: None,
            touched: Vec::new(),
            stats: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            done: false,
        };
        sim.last_seq = sim.max_entry().await;
        for _ in 0..3 {
            let (id, till) = sim.app.terminal_login().await;
            sim.m.shops.push(Shop {
                id,
                till,
                suspended: false,
            });
        }
        for _ in 0..8 {
            sim.join().await;
        }
        sim.check_accounts().await;
        sim
    }

    fn pick(&mut self) -> Op {
        let total: u32 = WEIGHTS.iter().map(|w| w.1).sum();
        let mut roll = self.rng.gen_range(0..total);
        for (op, w) in WEIGHTS {
            if roll < *w {
                return *op;
            }
            roll -= w;
        }
        unreachable!()
    }

    /// A member, `preferred` ones most of the time (a payment is mostly by an active member).
    fn member_with(&mut self, preferred: Status, chance: f64) -> usize {
        let prefer = self.rng.gen_bool(chance);
        let pick: usize = self.rng.gen();
        let those: Vec<usize> = (0..self.m.members.len())
            .filter(|m| self.m.members[*m].status == preferred)
            .collect();
        if prefer && !those.is_empty() {
            those[pick % those.len()]
        } else {
            pick % self.m.members.len()
        }
    }

    fn count(&mut self, what: &str, refusal: Option<(u16, &str)>) {
        let key = format!("{what}: {}", refusal.map_or("done", |r| r.1));
        *self.outcomes.entry(key).or_default() += 1;
    }

    fn note(&mut self, text: String) {
        self.log.push(format!("step {}: {text}", self.step));
        if self.log.len() > 30 {
            self.log.remove(0);
        }
    }

    fn key(&mut self) -> String {
        self.keys += 1;
        format!("model-{}-{}", self.step, self.keys)
    }

    async fn run(&mut self, op: Op) {
        self.touched.clear();
        self.note(format!("{op:?}"));
        let before = self.m.entries.len();
        match op {
            Op::Issue => self.issue().await,
            Op::Call => self.call().await,
            Op::PayByHand => self.pay_by_hand().await,
            Op::PayApp => self.pay_app().await,
            Op::PayPrinted => self.pay_printed().await,
            Op::ReplaySale => self.replay_sale().await,
            Op::Refund => self.refund().await,
            Op::Reverse => self.reverse().await,
            Op::Suspend => self.status_change("suspend").await,
            Op::Reactivate => self.status_change("reactivate").await,
            Op::Leave => self.status_change("leave").await,
            Op::Join => {
                if self.m.members.len() < MAX_MEMBERS {
                    self.join().await
                }
            }
            Op::Patch => self.patch().await,
            Op::Settle => self.settle().await,
            Op::ImportCsv => self.import_csv().await,
            Op::ImportCamt => self.import_camt().await,
            Op::Reimport => self.reimport().await,
            Op::MatchByHand => self.match_by_hand().await,
            Op::Subsidy => self.subsidy().await,
            Op::ShopToggle => self.shop_toggle().await,
            Op::RevokeCard => self.revoke_card().await,
            Op::UnlockCard => self.unlock_card().await,
        }
        let stat = self.stats.entry(format!("{op:?}")).or_default();
        if self.m.entries.len() > before {
            stat.0 += 1;
        } else {
            stat.1 += 1;
        }
        self.check_accounts().await;
        let touched = std::mem::take(&mut self.touched);
        for m in touched {
            self.check_member(m).await;
        }
    }

    // -- the journal ---------------------------------------------------------------------

    async fn max_entry(&self) -> i64 {
        sqlx::query_scalar::<_, i64>(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM journal_chain WHERE fund_id = $1",
        )
        .bind(&self.app.fund_id)
        .fetch_one(self.app.db.pool())
        .await
        .unwrap()
    }

    /// The entries posted since the last step (by journal number: entry ids are not in
    /// commit order on PostgreSQL, whose connections each take ids 1,000 at a time), matched one for one with what the model
    /// expects; applies them to the model and answers their ids, in `expected`'s order.
    async fn commit(&mut self, expected: Vec<Expect>) -> Vec<i64> {
        let rows = sqlx::query(
            "SELECT c.seq, e.id, e.kind, e.reference, e.reverses_id, p.account, p.debit, \
             p.credit FROM journal_chain c JOIN journal_entries e ON e.id = c.entry_id \
             JOIN postings p ON p.entry_id = e.id \
             WHERE c.fund_id = $1 AND c.seq > $2 ORDER BY c.seq, p.line",
        )
        .bind(&self.app.fund_id)
        .bind(self.last_seq)
        .fetch_all(self.app.db.pool())
        .await
        .unwrap();
        type Actual = (i64, String, Option<String>, Option<i64>, Postings);
        let mut actual: Vec<Actual> = Vec::new();
        let mut last_seq = self.last_seq;
        for r in rows {
            let id: i64 = r.try_get("id").unwrap();
            last_seq = last_seq.max(r.try_get("seq").unwrap());
            if actual.last().is_none_or(|a| a.0 != id) {
                actual.push((
                    id,
                    r.try_get("kind").unwrap(),
                    r.try_get("reference").unwrap(),
                    r.try_get("reverses_id").unwrap(),
                    Vec::new(),
                ));
            }
            actual.last_mut().unwrap().4.push((
                r.try_get("account").unwrap(),
                r.try_get("debit").unwrap(),
                r.try_get("credit").unwrap(),
            ));
        }
        for a in &mut actual {
            a.4.sort();
        }
        assert_eq!(
            actual.len(),
            expected.len(),
            "the step posted {} entries, the model expects {}:\nposted {actual:#?}\nexpected {expected:#?}",
            actual.len(),
            expected.len()
        );
        let mut used = vec![false; actual.len()];
        let mut ids = Vec::with_capacity(expected.len());
        for e in &expected {
            let found = actual.iter().enumerate().position(|(i, a)| {
                !used[i]
                    && a.1 == e.kind
                    && a.3 == e.reverses
                    && a.4 == e.postings
                    && e.reference.as_ref().is_none_or(|r| a.2.as_ref() == Some(r))
            });
            let i = found.unwrap_or_else(|| {
                panic!("no posted entry is the expected {e:#?}\nposted {actual:#?}")
            });
            used[i] = true;
            ids.push(actual[i].0);
        }
        for (e, id) in expected.into_iter().zip(&ids) {
            self.m.apply(&e.postings);
            if let Some(orig) = e.reverses {
                self.m.entries.get_mut(&orig).unwrap().reversed_by = Some(*id);
            }
            self.m.entries.insert(
                *id,
                Entry {
                    kind: e.kind.to_string(),
                    postings: e.postings,
                    origin: e.origin,
                    reversed_by: None,
                },
            );
        }
        self.last_seq = last_seq;
        ids
    }

    /// A refused step: nothing was posted.
    async fn nothing_posted(&mut self) {
        self.commit(Vec::new()).await;
    }

    async fn check_accounts(&self) {
        let rows = sqlx::query(
            "SELECT code, debit_total, credit_total FROM accounts WHERE fund_id = $1 \
             AND (debit_total <> 0 OR credit_total <> 0)",
        )
        .bind(&self.app.fund_id)
        .fetch_all(self.app.db.pool())
        .await
        .unwrap();
        let server: BTreeMap<String, (i64, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get("code").unwrap(),
                    (
                        r.try_get("debit_total").unwrap(),
                        r.try_get("credit_total").unwrap(),
                    ),
                )
            })
            .collect();
        let model: BTreeMap<String, (i64, i64)> = self
            .m
            .accounts
            .iter()
            .filter(|(_, (d, c))| *d != 0 || *c != 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        if server != model {
            let mut diff = String::new();
            for k in server.keys().chain(model.keys()).collect::<BTreeSet<_>>() {
                if server.get(k) != model.get(k) {
                    let _ = writeln!(
                        diff,
                        "  {k}: server {:?}, model {:?}",
                        server.get(k),
                        model.get(k)
                    );
                }
            }
            panic!("account totals differ from the model:\n{diff}");
        }
    }

    // -- members -----------------------------------------------------------------------

    async fn join(&mut self) {
        let adults = self.rng.gen_range(1..=3u32);
        let children = self.rng.gen_range(0..=3u32);
        let chosen = self
            .rng
            .gen_bool(0.7)
            .then(|| self.rng.gen_range(5..60) * 100);
        let n = self.m.members.len();
        let mut body = json!({"full_name": format!("Adhérente {n}"),
            "household": {"adults": adults, "children": children}});
        if let Some(c) = chosen {
            body["chosen_contribution"] = json!(eur(c));
        }
        let r = self
            .app
            .post("/api/v1/members", Some(&self.treasurer), body)
            .await;
        let b = r.ok(201);
        let member = Member {
            id: b["id"].as_str().unwrap().into(),
            account_ref: b["account_ref"].as_str().unwrap().into(),
            payment_reference: b["payment_reference"].as_str().unwrap().into(),
            status: Status::Active,
            adults,
            children,
            chosen,
            calls: BTreeMap::new(),
            app: Vec::new(),
            printed: Vec::new(),
        };
        assert_eq!(cents(&b["contribution"]), member.contribution());
        assert_eq!(cents(&b["monthly_allowance"]), member.allowance());
        self.note(format!("member {n} joins: {}", member.id));
        self.m.members.push(member);
        self.nothing_posted().await;
    }

    async fn patch(&mut self) {
        let m = self.rng.gen_range(0..self.m.members.len());
        let adults = self.rng.gen_range(1..=3u32);
        let children = self.rng.gen_range(0..=3u32);
        let chosen = self.rng.gen_range(1..60) * 100;
        let body = json!({"household": {"adults": adults, "children": children},
            "chosen_contribution": eur(chosen)});
        // A chosen contribution under the fund's minimum is refused, naming the field.
        let path = format!("/api/v1/members/{}", self.m.members[m].id);
        let r = self
            .app
            .send_json(
                reqwest::Method::PATCH,
                &path,
                Some(&self.treasurer),
                None,
                body,
            )
            .await;
        if self.m.members[m].status == Status::Left {
            r.problem(409, "member_left");
        } else if chosen < MINIMUM {
            r.problem(422, "validation_failed");
            assert_eq!(r.fields(), ["chosen_contribution"]);
        } else {
            let b = r.ok(200).clone();
            let mm = &mut self.m.members[m];
            (mm.adults, mm.children, mm.chosen) = (adults, children, Some(chosen));
            assert_eq!(cents(&b["contribution"]), mm.contribution());
            assert_eq!(cents(&b["monthly_allowance"]), mm.allowance());
        }
        self.nothing_posted().await;
    }

    async fn status_change(&mut self, change: &str) {
        let from = match change {
            "reactivate" => Status::Suspended,
            _ => Status::Active,
        };
        let m = self.member_with(from, 0.8);
        let status = self.m.members[m].status;
        let path = format!("/api/v1/members/{}/{change}", self.m.members[m].id);
        self.note(format!("{change} member {m} ({status:?})"));
        let r = self.app.post(&path, Some(&self.treasurer), json!({})).await;
        let to = match (change, status) {
            ("suspend", Status::Active) => Some(Status::Suspended),
            ("reactivate", Status::Suspended) => Some(Status::Active),
            ("leave", Status::Active | Status::Suspended) => Some(Status::Left),
            _ => None,
        };
        self.touched.push(m);
        let Some(to) = to else {
            r.problem(409, "invalid_status_change");
            return self.nothing_posted().await;
        };
        assert_eq!(r.ok(200)["status"], format!("{to:?}").to_lowercase());
        self.m.members[m].status = to;
        let left = self.m.balance(m);
        let mut expected = Vec::new();
        if to == Status::Left && left > 0 {
            expected.push(Expect {
                kind: "allowance_return",
                reference: None,
                reverses: None,
                postings: dc(&self.m.members[m].a467(), "6571", left),
                origin: Origin::LeaveReturn { member: m },
            });
        }
        self.commit(expected).await;
    }

    // -- allowances and calls ----------------------------------------------------------

    fn period_for(&mut self, next: usize, done: usize) -> (usize, bool) {
        let again = done > 0 && (self.rng.gen_bool(0.25) || next == self.periods.len());
        let any = self.rng.gen_range(0..done.max(1));
        if again {
            (any, false)
        } else {
            (next, true)
        }
    }

    async fn issue(&mut self) {
        let (i, new) = self.period_for(self.next_issue, self.next_issue);
        let period = self.periods[i].clone();
        let r = self
            .app
            .post(
                "/api/v1/allowances/issuances",
                Some(&self.treasurer),
                json!({"period": period}),
            )
            .await;
        let b = r.ok(200).clone();
        let mut expected = Vec::new();
        if new {
            self.next_issue += 1;
            let (mut credited, mut total, mut returned) = (0, 0, 0);
            for (k, m) in self.m.members.iter().enumerate() {
                if m.status != Status::Active {
                    continue;
                }
                let amount = m.allowance();
                let back = (self.m.balance(k) + amount - CAP).max(0);
                let reference = Some(format!("{period}-{}", m.account_ref));
                credited += 1;
                total += amount;
                returned += back;
                expected.push(Expect {
                    kind: "allowance",
                    reference: reference.clone(),
                    reverses: None,
                    postings: dc("6571", &m.a467(), amount),
                    origin: Origin::Allowance { member: k },
                });
                if back > 0 {
                    expected.push(Expect {
                        kind: "allowance_cap_return",
                        reference,
                        reverses: None,
                        postings: dc(&m.a467(), "6571", back),
                        origin: Origin::CapReturn { member: k },
                    });
                }
            }
            self.m
                .issued
                .insert(period.clone(), (credited, total, returned));
        }
        let (credited, total, returned) = self.m.issued[&period];
        assert_eq!(
            (
                b["members_credited"].as_i64().unwrap(),
                cents(&b["total"]),
                cents(&b["returned_by_cap"])
            ),
            (credited, total, returned),
            "issuance of {period}: {b}"
        );
        self.note(format!("issue {period} (new: {new}): {b}"));
        let ids = self.commit(expected.clone()).await;
        // Each credit knows its cap return: a reversal of the credit takes it back too.
        let mut last_credit = None;
        for (e, id) in expected.iter().zip(ids) {
            match e.origin {
                Origin::Allowance { .. } => last_credit = Some(id),
                Origin::CapReturn { .. } => {
                    self.m.cap_of.insert(last_credit.unwrap(), id);
                }
                _ => {}
            }
        }
    }

    async fn call(&mut self) {
        let (i, new) = self.period_for(self.next_call, self.next_call);
        let period = self.periods[i].clone();
        let r = self
            .app
            .post(
                "/api/v1/contributions/calls",
                Some(&self.treasurer),
                json!({"period": period}),
            )
            .await;
        let b = r.ok(200).clone();
        let mut expected = Vec::new();
        if new {
            self.next_call += 1;
            let (mut n, mut total) = (0, 0);
            for (k, m) in self.m.members.iter_mut().enumerate() {
                if m.status != Status::Active {
                    continue;
                }
                let amount = m.contribution();
                n += 1;
                total += amount;
                m.calls.insert(period.clone(), (amount, false));
                expected.push(Expect {
                    kind: "contribution_call",
                    reference: Some(format!("{period}-{}", m.account_ref)),
                    reverses: None,
                    postings: dc(&m.a411(), "756", amount),
                    origin: Origin::Call {
                        member: k,
                        period: period.clone(),
                    },
                });
            }
            self.m.called.insert(period.clone(), (n, total));
        }
        let (n, total) = self.m.called[&period];
        assert_eq!(
            (b["members_called"].as_i64().unwrap(), cents(&b["total"])),
            (n, total),
            "call of {period}: {b}"
        );
        self.note(format!("call {period} (new: {new}): {b}"));
        self.commit(expected).await;
    }

    // -- payments of dues --------------------------------------------------------------

    async fn pay_by_hand(&mut self) {
        let roll = self.rng.gen_range(0..100);
        let m = self.rng.gen_range(0..self.m.members.len());
        let amount = self.rng.gen_range(1..80) * 100 + self.rng.gen_range(0..100);
        let method =
            ["transfer", "cash", "cheque", "card", "direct_debit"][self.rng.gen_range(0..5)];
        let today = caisse::domain::today().to_string();
        let reference = format!("Reçu {}-{}", self.step, self.keys);
        let path = "/api/v1/contributions/payments";
        if roll < 8 && self.last_payment.is_some() {
            // The same key: the same body replays the first answer, another is refused.
            let (key, body, answer) = self.last_payment.clone().unwrap();
            if roll < 5 {
                let r = self.app.post_idem(path, &self.treasurer, &key, body).await;
                assert_eq!(r.ok(201), &answer);
                assert_eq!(r.headers["idempotent-replayed"], "true");
            } else {
                let mut other = body.clone();
                other["amount"] = json!(eur(cents(&body["amount"]) + 1));
                self.app
                    .post_idem(path, &self.treasurer, &key, other)
                    .await
                    .problem(409, "idempotency_key_reused");
            }
            return self.nothing_posted().await;
        }
        let key = self.key();
        let mut body = json!({"member_id": self.m.members[m].id, "amount": eur(amount),
            "method": method, "paid_on": today, "reference": reference});
        if roll < 12 {
            body["amount"] = json!("0.00");
            let r = self.app.post_idem(path, &self.treasurer, &key, body).await;
            r.problem(422, "amount_invalid");
            return self.nothing_posted().await;
        }
        if roll < 16 {
            body["member_id"] = json!("mem_nobody");
            let r = self.app.post_idem(path, &self.treasurer, &key, body).await;
            r.problem(422, "member_not_found");
            return self.nothing_posted().await;
        }
        let r = self
            .app
            .post_idem(path, &self.treasurer, &key, body.clone())
            .await;
        let answer = r.ok(201).clone();
        self.note(format!("member {m} pays {} by hand", eur(amount)));
        let pay = self.m.payments.len();
        self.m.payments.push(Payment {
            member: m,
            amount,
            bank_line: None,
            reversed: false,
        });
        let mm = &self.m.members[m];
        let ids = self
            .commit(vec![Expect {
                kind: "contribution_payment",
                reference: Some(reference),
                reverses: None,
                postings: dc("512", &mm.a411(), amount),
                origin: Origin::Payment(pay),
            }])
            .await;
        assert_eq!(answer["entry_id"].as_i64(), Some(ids[0]));
        self.last_payment = Some((key, body, answer));
        self.touched.push(m);
    }

    // -- the till ------------------------------------------------------------------------

    /// How much to try to pay: usually what the balance affords, sometimes more.
    fn till_amount(&self, m: usize, raw: u64, too_much: bool) -> i64 {
        let balance = self.m.balance(m);
        if too_much || balance == 0 {
            balance + 1 + (raw % 3_000) as i64
        } else {
            1 + (raw % balance.min(6_000) as u64) as i64
        }
    }

    async fn card_for(&mut self, m: usize) -> Option<usize> {
        let step = step_at(chrono::Utc::now().timestamp());
        let mm = &self.m.members[m];
        if let Some(i) = mm
            .app
            .iter()
            .position(|c| !c.revoked && !c.used.contains(&step))
        {
            return Some(i);
        }
        if mm.status != Status::Active {
            // Only an active member gets a card.
            let r = self
                .app
                .post(
                    &format!("/api/v1/members/{}/cards", mm.id),
                    Some(&self.treasurer),
                    json!({"kind": "app"}),
                )
                .await;
            r.problem(409, "member_not_active");
            return None;
        }
        let r = self
            .app
            .post(
                &format!("/api/v1/members/{}/cards", mm.id),
                Some(&self.treasurer),
                json!({"kind": "app"}),
            )
            .await;
        let b = r.ok(201);
        self.m.members[m].app.push(AppCard {
            id: b["card_id"].as_str().unwrap().into(),
            secret: secret_from_base32(b["secret"].as_str().unwrap()).unwrap(),
            used: BTreeSet::new(),
            revoked: false,
        });
        Some(self.m.members[m].app.len() - 1)
    }

    /// The model's answer to a payment that got past the card: member, then balance.
    fn decide(&self, m: usize, shop: usize, amount: i64) -> Result<(), &'static str> {
        if self.m.shops[shop].suspended {
            return Err("shop_not_approved");
        }
        if self.m.members[m].status != Status::Active {
            return Err("member_inactive");
        }
        if self.m.balance(m) < amount {
            return Err("insufficient_balance");
        }
        Ok(())
    }

    async fn redeem(&mut self, shop: usize, body: Value) -> (String, Reply) {
        let key = self.key();
        let till = self.m.shops[shop].till.clone();
        let r = self
            .app
            .post_idem("/api/v1/redemptions", &till, &key, body)
            .await;
        (key, r)
    }

    /// Books an approved sale in the model.
    async fn approved(&mut self, m: usize, shop: usize, amount: i64, r: &Reply) -> String {
        let b = r.ok(201);
        assert_eq!(b["status"], "approved");
        assert_eq!(cents(&b["amount"]), amount);
        let before = self.m.balance(m);
        assert_eq!(cents(&b["remaining_balance"]), before - amount, "{b}");
        let id = b["id"].as_str().unwrap().to_string();
        let s = self.m.sales.len();
        self.m.sales.push(Sale {
            id: id.clone(),
            shop,
            member: m,
            amount,
            refunded: 0,
            claimed: false,
            reversed: None,
        });
        let (a467, a401) = (self.m.members[m].a467(), self.m.shops[shop].a401());
        self.commit(vec![Expect {
            kind: "redemption",
            reference: Some(id.clone()),
            reverses: None,
            postings: dc(&a467, &a401, amount),
            origin: Origin::Sale(s),
        }])
        .await;
        self.note(format!(
            "sale {s} {id}: member {m} pays {} at shop {shop}",
            eur(amount)
        ));
        id
    }

    async fn pay_app(&mut self) {
        let m = self.member_with(Status::Active, 0.85);
        let shop = self.rng.gen_range(0..self.m.shops.len());
        let variant = self.rng.gen_range(0..100);
        let raw: u64 = self.rng.gen();
        let garbage: u32 = self.rng.gen_range(0..100_000_000);
        let amount = self.till_amount(m, raw, variant >= 93);
        self.touched.push(m);
        if variant < 5 {
            // A revoked card, when the member has one.
            let Some(c) = self.m.members[m].app.iter().position(|c| c.revoked) else {
                return self.nothing_posted().await;
            };
            let card = &self.m.members[m].app[c];
            let step = step_at(chrono::Utc::now().timestamp());
            let token = app_payload(&card.id, &totp(&card.secret, step));
            let (_, r) = self
                .redeem(shop, json!({"token": token, "amount": eur(amount)}))
                .await;
            let code = if self.m.shops[shop].suspended {
                "shop_not_approved"
            } else {
                "card_revoked"
            };
            r.problem(422, code);
            return self.nothing_posted().await;
        }
        let Some(c) = self.card_for(m).await else {
            return self.nothing_posted().await;
        };
        let now_step = step_at(chrono::Utc::now().timestamp());
        let card = &self.m.members[m].app[c];
        let (card_id, secret) = (card.id.clone(), card.secret.clone());
        if variant < 15 {
            // An expired code, or one that matches no step at all.
            let (token, code) = if variant < 10 {
                (
                    app_payload(&card_id, &totp(&secret, now_step - 3)),
                    "token_expired",
                )
            } else {
                let mut g = garbage;
                let window = (now_step - 125..=now_step + 2)
                    .map(|s| totp(&secret, s))
                    .collect::<BTreeSet<_>>();
                while window.contains(&format!("{g:08}")) {
                    g = (g + 1) % 100_000_000;
                }
                (app_payload(&card_id, &format!("{g:08}")), "token_invalid")
            };
            let (_, r) = self
                .redeem(shop, json!({"token": token, "amount": eur(amount)}))
                .await;
            let code = if self.m.shops[shop].suspended {
                "shop_not_approved"
            } else {
                code
            };
            r.problem(422, code);
            return self.nothing_posted().await;
        }
        let token = app_payload(&card_id, &totp(&secret, now_step));
        let body = json!({"token": token, "amount": eur(amount)});
        let (key, r) = self.redeem(shop, body.clone()).await;
        match self.decide(m, shop, amount) {
            Err(code) => {
                r.problem(422, code);
                self.nothing_posted().await;
            }
            Ok(()) => {
                self.m.members[m].app[c].used.insert(now_step);
                self.approved(m, shop, amount, &r).await;
                let till = self.m.shops[shop].till.clone();
                self.last_sale = Some((till, key, body, r.body.clone()));
            }
        }
        if variant < 25 {
            // The same code again, under a new key: spent if it paid, else refused the same.
            let (_, again) = self
                .redeem(shop, json!({"token": token, "amount": "0.01"}))
                .await;
            let spent = self.m.members[m].app[c].used.contains(&now_step);
            match self.decide(m, shop, 1) {
                Err("shop_not_approved") => again.problem(422, "shop_not_approved"),
                _ if spent => again.problem(422, "token_reused"),
                Err(code) => again.problem(422, code),
                Ok(()) => {
                    // The first try was refused for its amount: the code is still good.
                    self.m.members[m].app[c].used.insert(now_step);
                    self.approved(m, shop, 1, &again).await;
                    return;
                }
            };
            self.nothing_posted().await;
        }
    }

    async fn pay_printed(&mut self) {
        let m = self.member_with(Status::Active, 0.85);
        let shop = self.rng.gen_range(0..self.m.shops.len());
        let variant = self.rng.gen_range(0..100);
        let raw: u64 = self.rng.gen();
        let pin = format!("{:04}", self.rng.gen_range(0..10_000));
        let amount = self.till_amount(m, raw, variant >= 93);
        self.touched.push(m);
        let mm = &self.m.members[m];
        let c = match mm.printed.iter().position(|c| !c.revoked) {
            Some(c) => c,
            None if mm.status == Status::Active => {
                let r = self
                    .app
                    .post(
                        &format!("/api/v1/members/{}/cards", mm.id),
                        Some(&self.treasurer),
                        json!({"kind": "printed", "pin": pin}),
                    )
                    .await;
                let b = r.ok(201);
                self.m.members[m].printed.push(Printed {
                    id: b["card_id"].as_str().unwrap().into(),
                    payload: b["qr_payload"].as_str().unwrap().into(),
                    pin,
                    wrong: 0,
                    locked: false,
                    revoked: false,
                });
                self.m.members[m].printed.len() - 1
            }
            None if !mm.printed.is_empty() => 0,
            None => return self.nothing_posted().await,
        };
        let card = &self.m.members[m].printed[c];
        let wrong_pin = format!("{:04}", (card.pin.parse::<u32>().unwrap() + 1) % 10_000);
        let mut body = json!({"token": card.payload, "amount": eur(amount)});
        let pin = match variant {
            70..=87 => Some(wrong_pin),
            88..=92 => None,
            _ => Some(card.pin.clone()),
        };
        let wrong = pin.as_ref().is_some_and(|p| *p != card.pin);
        if let Some(p) = &pin {
            body["pin"] = json!(p);
        }
        let (revoked, locked) = (card.revoked, card.locked);
        let (key, r) = self.redeem(shop, body.clone()).await;
        let code = if self.m.shops[shop].suspended {
            Some("shop_not_approved")
        } else if revoked {
            Some("card_revoked")
        } else if locked {
            Some("card_locked")
        } else if pin.is_none() {
            Some("pin_required")
        } else if wrong {
            let card = &mut self.m.members[m].printed[c];
            card.wrong += 1;
            card.locked = card.wrong >= PIN_ATTEMPTS;
            Some(if card.locked {
                "card_locked"
            } else {
                "pin_wrong"
            })
        } else {
            self.decide(m, shop, amount).err()
        };
        match code {
            Some(code) => {
                self.note(format!("printed card of member {m} at shop {shop}: {code}"));
                r.problem(422, code);
                self.nothing_posted().await;
            }
            None => {
                // A right PIN starts the count again, when the payment commits.
                self.m.members[m].printed[c].wrong = 0;
                self.approved(m, shop, amount, &r).await;
                let till = self.m.shops[shop].till.clone();
                self.last_sale = Some((till, key, body, r.body.clone()));
            }
        }
    }

    async fn replay_sale(&mut self) {
        let other = self.rng.gen_bool(0.3);
        let Some((till, key, body, answer)) = self.last_sale.clone() else {
            return self.nothing_posted().await;
        };
        if other {
            let mut changed = body.clone();
            changed["amount"] = json!(eur(cents(&body["amount"]) + 1));
            self.app
                .post_idem("/api/v1/redemptions", &till, &key, changed)
                .await
                .problem(409, "idempotency_key_reused");
        } else {
            let r = self
                .app
                .post_idem("/api/v1/redemptions", &till, &key, body)
                .await;
            assert_eq!(r.ok(201), &answer);
            assert_eq!(r.headers["idempotent-replayed"], "true");
        }
        self.nothing_posted().await;
    }

    async fn refund(&mut self) {
        let pick: usize = self.rng.gen();
        let variant = self.rng.gen_range(0..100);
        let raw: i64 = self.rng.gen_range(0..1_000_000);
        let other_shop = self.rng.gen_range(1..self.m.shops.len().max(2));
        if self.m.sales.is_empty() {
            return self.nothing_posted().await;
        }
        // Recent sales more often: they are the ones still refundable.
        let n = self.m.sales.len();
        let s = if variant % 2 == 0 {
            n - 1 - pick % n.min(10)
        } else {
            pick % n
        };
        let sale = &self.m.sales[s];
        let (shop, m, sale_id, reversed) = (
            sale.shop,
            sale.member,
            sale.id.clone(),
            sale.reversed.is_some(),
        );
        let left = sale.amount - sale.refunded;
        if !CORRECTIONS && self.m.members[m].status == Status::Left {
            // Point 2 of issue 13: not modelled until the corrections land.
            return self.nothing_posted().await;
        }
        let amount = match variant {
            0..=4 => 0,
            5..=49 if left > 1 => 1 + raw % (left - 1),
            5..=69 => left.max(1),
            _ => left + 1 + raw % 500,
        };
        let till_shop = if (90..100).contains(&variant) {
            (shop + other_shop) % self.m.shops.len()
        } else {
            shop
        };
        let key = self.key();
        let till = self.m.shops[till_shop].till.clone();
        let r = self
            .app
            .post_idem(
                &format!("/api/v1/redemptions/{sale_id}/refunds"),
                &till,
                &key,
                json!({"amount": eur(amount)}),
            )
            .await;
        self.touched.push(m);
        let refusal = if amount == 0 {
            Some((422, "amount_invalid"))
        } else if till_shop != shop {
            Some((404, "not_found"))
        } else if reversed {
            Some((409, "redemption_reversed"))
        } else if amount > left {
            Some((422, "refund_exceeds_redemption"))
        } else {
            None
        };
        self.count("refund", refusal);
        self.note(format!(
            "refund {} of sale {s} (left {}) at shop {till_shop}: {refusal:?}",
            eur(amount),
            eur(left)
        ));
        if let Some((status, code)) = refusal {
            r.problem(status, code);
            return self.nothing_posted().await;
        }
        let b = r.ok(201).clone();
        assert_eq!(cents(&b["refundable"]), left - amount, "{b}");
        self.m.sales[s].refunded += amount;
        let f = self.m.refunds.len();
        self.m.refunds.push(RefundRow {
            sale: s,
            amount,
            claimed: false,
            reversed: None,
        });
        let to = if self.m.members[m].status == Status::Left {
            "6571".to_string()
        } else {
            self.m.members[m].a467()
        };
        self.commit(vec![Expect {
            kind: "refund",
            reference: Some(sale_id),
            reverses: None,
            postings: dc(&self.m.shops[shop].a401(), &to, amount),
            origin: Origin::Refund(f),
        }])
        .await;
    }

    // -- reversals -----------------------------------------------------------------------

    async fn reverse(&mut self) {
        let pick: usize = self.rng.gen();
        let variant = self.rng.gen_range(0..100);
        let kind_pick: usize = self.rng.gen();
        // A kind first, then one of its entries: each kind is tried as often as the others.
        let mut by_kind: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (id, e) in &self.m.entries {
            if CORRECTIONS || e.kind == "subsidy" {
                by_kind.entry(e.kind.as_str()).or_default().push(*id);
            }
        }
        let candidates: Vec<i64> = by_kind
            .values()
            .nth(kind_pick % by_kind.len().max(1))
            .cloned()
            .unwrap_or_default();
        let path = |id: i64| format!("/api/v1/ledger/entries/{id}/reversal");
        let body = json!({"reason": format!("Correction {}", self.step)});
        if variant < 4 || candidates.is_empty() {
            let r = self
                .app
                .post(&path(i64::MAX / 2), Some(&self.treasurer), body)
                .await;
            r.problem(404, "not_found");
            return self.nothing_posted().await;
        }
        let id = candidates[pick % candidates.len()];
        let e = self.m.entries[&id].clone();
        let (refusal, expected) = self.reversal_of(id, &e);
        self.count(&format!("reverse {}", e.kind), refusal);
        self.note(format!(
            "reverse entry {id} ({} {:?}): {refusal:?}",
            e.kind, e.origin
        ));
        let r = self.app.post(&path(id), Some(&self.treasurer), body).await;
        if let Some((status, code)) = refusal {
            r.problem(status, code);
            return self.nothing_posted().await;
        }
        let b = r.ok(201).clone();
        let ids = self.commit(expected).await;
        assert_eq!(b["entry_id"].as_i64(), ids.last().copied(), "{b}");
        self.reversed(&e.origin);
    }

    /// What reversing entry `id` answers, and the entries it posts.
    fn reversal_of(&self, id: i64, e: &Entry) -> (Option<(u16, &'static str)>, Vec<Expect>) {
        let plain = |id: i64, e: &Entry| Expect {
            kind: "reversal",
            reference: None,
            reverses: Some(id),
            postings: swapped(&e.postings),
            origin: Origin::Reversal(id),
        };
        if e.reversed_by.is_some() {
            return (Some((409, "already_reversed")), vec![]);
        }
        let left = |m: usize| self.m.members[m].status == Status::Left;
        let mut expected = vec![plain(id, e)];
        match &e.origin {
            Origin::Reversal(_) => return (Some((409, "reversal_not_reversible")), vec![]),
            Origin::CapReturn { .. } => return (Some((409, "entry_not_reversible")), vec![]),
            Origin::LeaveReturn { .. } => return (Some((409, "member_left")), vec![]),
            Origin::Sale(s) => {
                let sale = &self.m.sales[*s];
                if sale.refunded > 0 {
                    return (Some((409, "redemption_refunded")), vec![]);
                }
                if left(sale.member) {
                    expected[0].postings = dc(&self.m.shops[sale.shop].a401(), "6571", sale.amount);
                }
            }
            Origin::Refund(f) => {
                let r = &self.m.refunds[*f];
                let sale = &self.m.sales[r.sale];
                if left(sale.member) {
                    expected[0].postings = dc("6571", &self.m.shops[sale.shop].a401(), r.amount);
                }
            }
            Origin::Allowance { member } => {
                if left(*member) {
                    return (Some((409, "member_left")), vec![]);
                }
                if let Some(cap) = self.m.cap_of.get(&id) {
                    expected.insert(0, plain(*cap, &self.m.entries[cap]));
                }
            }
            _ => {}
        }
        let postings: Vec<Postings> = expected.iter().map(|x| x.postings.clone()).collect();
        if !self.m.affordable(&postings) {
            return (Some((422, "insufficient_balance")), vec![]);
        }
        (None, expected)
    }

    /// What a reversal does to the tables that mirror the entry.
    fn reversed(&mut self, origin: &Origin) {
        match origin {
            Origin::Sale(s) => {
                let sale = &mut self.m.sales[*s];
                sale.reversed = Some(Rev::Pending);
                self.touched.push(sale.member);
            }
            Origin::Refund(f) => {
                let r = &mut self.m.refunds[*f];
                r.reversed = Some(Rev::Pending);
                let sale = &mut self.m.sales[r.sale];
                sale.refunded -= r.amount;
                self.touched.push(sale.member);
            }
            Origin::Call { member, period } => {
                self.m.members[*member]
                    .calls
                    .get_mut(period)
                    .expect("the call's row")
                    .1 = true;
                self.touched.push(*member);
            }
            Origin::Payment(p) => {
                let p = &mut self.m.payments[*p];
                p.reversed = true;
                self.touched.push(p.member);
                if let Some(b) = p.bank_line {
                    self.m.bank[b].matched = false;
                }
            }
            Origin::Payout(l) => {
                let line = &mut self.m.lines[*l];
                if let Some(b) = line.paid_by.take() {
                    self.m.bank[b].matched = false;
                }
            }
            Origin::Allowance { member } => self.touched.push(*member),
            _ => {}
        }
    }

    // -- month end -----------------------------------------------------------------------

    async fn settle(&mut self) {
        let variant = self.rng.gen_range(0..100);
        let now = chrono::Utc::now();
        let cutoff = match variant {
            0..=7 => now + chrono::Duration::hours(1),
            8..=14 => chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
                .unwrap()
                .to_utc(),
            _ => now,
        };
        let r = self
            .app
            .post(
                "/api/v1/settlements",
                Some(&self.treasurer),
                json!({"cutoff": cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)}),
            )
            .await;
        if variant <= 7 {
            r.problem(422, "cutoff_in_future");
            return self.nothing_posted().await;
        }
        let owed: Vec<(usize, (i64, i64, i64))> = (0..self.m.shops.len())
            .map(|i| (i, self.m.unsettled(i)))
            .filter(|(_, n)| variant > 14 && n.0 > 0)
            .collect();
        self.note(format!("settle: {owed:?}"));
        if owed.is_empty() {
            r.problem(422, "nothing_to_settle");
            return self.nothing_posted().await;
        }
        let b = r.ok(201).clone();
        let lines = b["lines"].as_array().unwrap();
        assert_eq!(lines.len(), owed.len(), "{b}");
        for (shop, (net, sales, refunds)) in owed {
            let l = lines
                .iter()
                .find(|l| l["shop_id"] == self.m.shops[shop].id)
                .unwrap_or_else(|| panic!("no line for shop {shop}: {b}"));
            assert_eq!(cents(&l["amount"]), net, "{l}");
            assert_eq!(l["redemptions"].as_i64(), Some(sales), "{l}");
            assert_eq!(l["refunds"].as_i64(), Some(refunds), "{l}");
            assert_eq!(l["status"], "unpaid");
            self.m.lines.push(Line {
                shop,
                amount: net,
                e2e: l["end_to_end_id"].as_str().unwrap().into(),
                paid_by: None,
            });
            for s in self.m.sales.iter_mut().filter(|s| s.shop == shop) {
                s.claimed = true;
                if s.reversed == Some(Rev::Pending) {
                    s.reversed = Some(Rev::Netted);
                }
            }
            for r in self.m.refunds.iter_mut() {
                if self.m.sales[r.sale].shop == shop {
                    r.claimed = true;
                    if r.reversed == Some(Rev::Pending) {
                        r.reversed = Some(Rev::Netted);
                    }
                }
            }
        }
        self.nothing_posted().await;
    }

    fn unpaid(&self) -> Vec<usize> {
        (0..self.m.lines.len())
            .filter(|l| self.m.lines[*l].paid_by.is_none())
            .collect()
    }

    fn payout(&self, l: usize) -> Expect {
        let line = &self.m.lines[l];
        Expect {
            kind: "shop_payout",
            reference: Some(line.e2e.clone()),
            reverses: None,
            postings: dc(&self.m.shops[line.shop].a401(), "512", line.amount),
            origin: Origin::Payout(l),
        }
    }

    async fn import_csv(&mut self) {
        let unpaid = self.unpaid();
        let rolls: Vec<u32> = unpaid.iter().map(|_| self.rng.gen_range(0..100)).collect();
        let credits: Vec<(usize, i64, bool)> = (0..self.rng.gen_range(0..4))
            .map(|_| {
                (
                    self.rng.gen_range(0..self.m.members.len()),
                    self.rng.gen_range(1..6_000),
                    self.rng.gen_bool(0.2),
                )
            })
            .collect();
        let fees: Vec<i64> = (0..self.rng.gen_range(0..3))
            .map(|_| self.rng.gen_range(50..900))
            .collect();
        let today = caisse::domain::today().to_string();
        // (amount, text, what it books, whose payment); each text is unique in the fund.
        let mut rows: Vec<(i64, String, Option<Expect>, Option<usize>)> = Vec::new();
        let step = self.step;
        let tag = |i: usize| format!("n{step}x{i}");
        for (l, roll) in unpaid.iter().zip(rolls) {
            let line = &self.m.lines[*l];
            let text = format!("VIR SEPA {} {}", line.e2e, tag(rows.len()));
            match roll {
                0..=49 => rows.push((-line.amount, text, Some(self.payout(*l)), None)),
                50..=59 => rows.push((-line.amount - 1, text, None, None)),
                _ => {}
            }
        }
        for (m, amount, unknown) in credits {
            let mm = &self.m.members[m];
            if unknown {
                rows.push((
                    amount,
                    format!("Don anonyme {}", tag(rows.len())),
                    None,
                    None,
                ));
                continue;
            }
            let text = format!("Cotisation {} {}", mm.payment_reference, tag(rows.len()));
            let books = Expect {
                kind: "contribution_payment",
                reference: Some(text.clone()),
                reverses: None,
                postings: dc("512", &mm.a411(), amount),
                origin: Origin::Payment(usize::MAX),
            };
            rows.push((amount, text, Some(books), Some(m)));
            self.touched.push(m);
        }
        for fee in fees {
            rows.push((
                -fee,
                format!("Frais bancaires {}", tag(rows.len())),
                None,
                None,
            ));
        }
        if rows.is_empty() {
            return self.nothing_posted().await;
        }
        let mut csv = String::from("date,amount,reference,counterparty\n");
        for (amount, text, _, _) in &rows {
            let _ = writeln!(csv, "{today},{},{text},", eur(*amount));
        }
        let r = self
            .app
            .post_raw(
                "/api/v1/bank-statements",
                &self.treasurer,
                "text/csv",
                csv.clone(),
            )
            .await;
        let b = r.ok(200).clone();
        let n = rows.len() as i64;
        let matched = rows.iter().filter(|r| r.2.is_some()).count() as i64;
        assert_eq!(
            (
                b["imported"].as_i64(),
                b["duplicates"].as_i64(),
                b["matched"].as_i64(),
                b["unmatched"].as_i64()
            ),
            (Some(n), Some(0), Some(matched), Some(n - matched)),
            "{b}"
        );
        self.note(format!("csv statement of {n} lines: {b}"));
        self.m.statements.push(("text/csv".into(), csv, n));
        let ids = self
            .bank_line_ids(b["statement_id"].as_str().unwrap(), false)
            .await;
        let rows = rows
            .into_iter()
            .map(|(amount, text, books, member)| BankRow {
                amount,
                id: ids[&text].clone(),
                booking_ref: text,
                books,
                member,
            })
            .collect();
        self.booked(rows).await;
    }

    /// The ids of a statement's lines, by bank reference (camt) or text (CSV).
    async fn bank_line_ids(&self, statement: &str, by_bank_ref: bool) -> BTreeMap<String, String> {
        let rows = sqlx::query(
            "SELECT id, reference, bank_ref FROM bank_lines WHERE fund_id = $1 AND statement_id = $2",
        )
        .bind(&self.app.fund_id)
        .bind(statement)
        .fetch_all(self.app.db.pool())
        .await
        .unwrap();
        rows.iter()
            .map(|r| {
                let k: Option<String> = if by_bank_ref {
                    r.try_get("bank_ref").unwrap()
                } else {
                    r.try_get("reference").unwrap()
                };
                (k.unwrap(), r.try_get("id").unwrap())
            })
            .collect()
    }

    /// Books an imported statement's lines in the model, in order: the payments they book
    /// get their numbers here.
    async fn booked(&mut self, rows: Vec<BankRow>) {
        let mut expected = Vec::new();
        for row in rows {
            let b = self.m.bank.len();
            self.m.bank.push(BankLine {
                id: row.id,
                amount: row.amount,
                booking_ref: row.booking_ref,
                matched: row.books.is_some(),
            });
            let Some(mut e) = row.books else { continue };
            match (&e.origin, row.member) {
                (Origin::Payout(l), _) => self.m.lines[*l].paid_by = Some(b),
                (_, Some(member)) => {
                    e.origin = Origin::Payment(self.m.payments.len());
                    self.m.payments.push(Payment {
                        member,
                        amount: row.amount,
                        bank_line: Some(b),
                        reversed: false,
                    });
                }
                _ => unreachable!("a bank line books a payout or a member's payment"),
            }
            expected.push(e);
        }
        self.commit(expected).await;
    }

    async fn import_camt(&mut self) {
        let unpaid = self.unpaid();
        let rolls: Vec<u32> = unpaid.iter().map(|_| self.rng.gen_range(0..100)).collect();
        let stray = self.rng.gen_bool(0.6);
        let stray_pick: usize = self.rng.gen();
        let stray_id: String = (0..26)
            .map(|_| {
                let c = self.rng.gen_range(0..36u8);
                (if c < 10 { b'0' + c } else { b'A' + c - 10 }) as char
            })
            .collect();
        let version = if self.rng.gen_bool(0.5) { "02" } else { "08" };
        let opening = self.rng.gen_range(0..10_000_000);
        let statement_id = format!("RELEVE{}S{}", self.seed % 100_000, self.step);
        let mut lines: Vec<(String, String, i64)> = Vec::new();
        let mut books: Vec<Option<Expect>> = Vec::new();
        for (l, roll) in unpaid.iter().zip(rolls) {
            let line = &self.m.lines[*l];
            match roll {
                0..=49 => {
                    lines.push((line.e2e.clone(), "Commerce".into(), line.amount));
                    books.push(Some(self.payout(*l)));
                }
                50..=59 => {
                    lines.push((line.e2e.clone(), "Commerce".into(), line.amount + 1));
                    books.push(None);
                }
                _ => {}
            }
        }
        if stray || lines.is_empty() {
            // A transfer the settlements do not know (yet): of the amount of some unpaid
            // line, so that a match by hand can pay it.
            let amount = match unpaid.len() {
                0 => 1234,
                n => self.m.lines[unpaid[stray_pick % n]].amount,
            };
            lines.push((format!("CC{stray_id}"), "Inconnu".into(), amount));
            books.push(None);
        }
        let xml = camt053_for_payouts(
            version,
            FUND_IBAN,
            &statement_id,
            opening,
            caisse::domain::today(),
            &lines,
        );
        let r = self
            .app
            .post_raw(
                "/api/v1/bank-statements",
                &self.treasurer,
                "application/xml",
                xml.clone(),
            )
            .await;
        let b = r.ok(200).clone();
        let matched = books.iter().filter(|x| x.is_some()).count() as i64;
        let n = lines.len() as i64;
        assert_eq!(
            (
                b["imported"].as_i64(),
                b["matched"].as_i64(),
                b["unmatched"].as_i64()
            ),
            (Some(n), Some(matched), Some(n - matched)),
            "{b}"
        );
        self.note(format!("camt.053 statement of {n} lines: {b}"));
        self.m.statements.push(("application/xml".into(), xml, n));
        let ids = self
            .bank_line_ids(b["statement_id"].as_str().unwrap(), true)
            .await;
        let rows = lines
            .iter()
            .zip(books)
            .enumerate()
            .map(|(i, ((_, _, amount), books))| {
                let bank_ref = format!("{statement_id}-{}", i + 1);
                BankRow {
                    amount: -amount,
                    id: ids[&bank_ref].clone(),
                    booking_ref: bank_ref,
                    books,
                    member: None,
                }
            })
            .collect();
        self.booked(rows).await;
    }

    async fn reimport(&mut self) {
        let pick: usize = self.rng.gen();
        if self.m.statements.is_empty() {
            return self.nothing_posted().await;
        }
        let (ct, body, n) = self.m.statements[pick % self.m.statements.len()].clone();
        let r = self
            .app
            .post_raw("/api/v1/bank-statements", &self.treasurer, &ct, body)
            .await;
        let b = r.ok(200);
        assert_eq!(b["statement_id"], Value::Null, "{b}");
        assert_eq!(
            (b["imported"].as_i64(), b["duplicates"].as_i64()),
            (Some(0), Some(n)),
            "{b}"
        );
        self.nothing_posted().await;
    }

    async fn match_by_hand(&mut self) {
        let pick: usize = self.rng.gen();
        let variant = self.rng.gen_range(0..100);
        let m = self.rng.gen_range(0..self.m.members.len());
        let other: usize = self.rng.gen();
        // Unmatched lines most of the time.
        let open: Vec<usize> = (0..self.m.bank.len())
            .filter(|b| !self.m.bank[*b].matched)
            .collect();
        let b = match (open.is_empty(), variant < 85) {
            (false, true) => open[pick % open.len()],
            _ if !self.m.bank.is_empty() => pick % self.m.bank.len(),
            _ => return self.nothing_posted().await,
        };
        let (line_id, line_amount, line_matched, booking_ref) = {
            let l = &self.m.bank[b];
            (l.id.clone(), l.amount, l.matched, l.booking_ref.clone())
        };
        let unpaid = self.unpaid();
        let same: Vec<usize> = unpaid
            .iter()
            .copied()
            .filter(|l| self.m.lines[*l].amount == -line_amount)
            .collect();
        let by_member = if line_amount > 0 {
            variant % 10 != 0
        } else {
            variant % 10 == 0
        };
        let (body, target) = if by_member {
            let member = if variant % 7 == 0 {
                "mem_nobody".to_string()
            } else {
                self.m.members[m].id.clone()
            };
            (json!({"member_id": member}), None)
        } else {
            // The unpaid line of its amount, another unpaid one, or one paid already.
            let l = match (same.is_empty(), unpaid.is_empty(), variant % 4) {
                (false, _, 0 | 1) => Some(same[other % same.len()]),
                (_, false, 0..=2) => Some(unpaid[other % unpaid.len()]),
                _ if !self.m.lines.is_empty() => Some(other % self.m.lines.len()),
                _ => None,
            };
            let e2e = l.map(|l| self.m.lines[l].e2e.clone());
            (
                json!({"end_to_end_id": e2e.unwrap_or_else(|| "CCNOSUCHLINE0000000000000000".into())}),
                l,
            )
        };
        let r = self
            .app
            .post(
                &format!("/api/v1/bank-lines/{line_id}/match"),
                Some(&self.treasurer),
                body.clone(),
            )
            .await;
        let refusal = if line_matched {
            Some((409, "bank_line_already_matched"))
        } else if by_member && line_amount <= 0 || !by_member && line_amount >= 0 {
            Some((422, "wrong_direction"))
        } else if by_member && body["member_id"] == "mem_nobody" {
            Some((422, "member_not_found"))
        } else if !by_member && target.is_none_or(|l| self.m.lines[l].paid_by.is_some()) {
            Some((422, "settlement_line_not_found"))
        } else if !by_member && self.m.lines[target.unwrap()].amount != -line_amount {
            Some((422, "amount_mismatch"))
        } else {
            None
        };
        self.count(
            if by_member {
                "match by member"
            } else {
                "match by e2e"
            },
            refusal,
        );
        self.note(format!(
            "match bank line {b} ({}) with {body}: {refusal:?}",
            eur(line_amount)
        ));
        if let Some((status, code)) = refusal {
            r.problem(status, code);
            return self.nothing_posted().await;
        }
        let answer = r.ok(200).clone();
        let amount = line_amount;
        let expected = if by_member {
            let p = self.m.payments.len();
            self.m.payments.push(Payment {
                member: m,
                amount,
                bank_line: Some(b),
                reversed: false,
            });
            self.touched.push(m);
            Expect {
                kind: "contribution_payment",
                reference: Some(booking_ref.chars().take(140).collect()),
                reverses: None,
                postings: dc("512", &self.m.members[m].a411(), amount),
                origin: Origin::Payment(p),
            }
        } else {
            let l = target.unwrap();
            self.m.lines[l].paid_by = Some(b);
            self.payout(l)
        };
        self.m.bank[b].matched = true;
        let ids = self.commit(vec![expected]).await;
        assert_eq!(answer["entry_id"].as_i64(), Some(ids[0]), "{answer}");
    }

    async fn subsidy(&mut self) {
        let amount = self.rng.gen_range(1..5_000) * 100;
        let key = self.key();
        let r = self
            .app
            .post_idem(
                "/api/v1/subsidies",
                &self.treasurer,
                &key,
                json!({"amount": eur(amount), "received_on": caisse::domain::today().to_string(),
                       "label": format!("Subvention {}", self.step)}),
            )
            .await;
        let b = r.ok(201).clone();
        let ids = self
            .commit(vec![Expect {
                kind: "subsidy",
                reference: None,
                reverses: None,
                postings: dc("512", "741", amount),
                origin: Origin::Subsidy,
            }])
            .await;
        assert_eq!(b["entry_id"].as_i64(), Some(ids[0]));
    }

    // -- shops and cards -----------------------------------------------------------------

    async fn shop_toggle(&mut self) {
        // Suspended shops are reinstated soon: most payments go to shops that take them.
        let back = self.rng.gen_bool(0.8);
        let pick = self.rng.gen_range(0..self.m.shops.len());
        let s = match self.m.shops.iter().position(|s| s.suspended) {
            Some(s) if back => s,
            _ => pick,
        };
        let shop = &mut self.m.shops[s];
        let action = if shop.suspended {
            "reinstate"
        } else {
            "suspend"
        };
        let r = self
            .app
            .post(
                &format!("/api/v1/shops/{}/{action}", shop.id),
                Some(&self.admin),
                json!({}),
            )
            .await;
        r.ok(200);
        shop.suspended = !shop.suspended;
        self.note(format!("shop {s}: {action}"));
        self.nothing_posted().await;
    }

    async fn revoke_card(&mut self) {
        let m = self.rng.gen_range(0..self.m.members.len());
        let printed = self.rng.gen_bool(0.5);
        let mm = &mut self.m.members[m];
        let id = if printed {
            mm.printed.iter_mut().find(|c| !c.revoked).map(|c| {
                c.revoked = true;
                c.id.clone()
            })
        } else {
            mm.app.iter_mut().find(|c| !c.revoked).map(|c| {
                c.revoked = true;
                c.id.clone()
            })
        };
        if let Some(id) = id {
            let r = self
                .app
                .post(
                    &format!("/api/v1/cards/{id}/revoke"),
                    Some(&self.admin),
                    json!({}),
                )
                .await;
            r.ok(200);
        }
        self.nothing_posted().await;
    }

    async fn unlock_card(&mut self) {
        let locked = self
            .m
            .members
            .iter_mut()
            .flat_map(|m| m.printed.iter_mut())
            .find(|c| c.locked && !c.revoked);
        if let Some(c) = locked {
            c.locked = false;
            c.wrong = 0;
            let path = format!("/api/v1/cards/{}/unlock", c.id);
            self.app
                .post(&path, Some(&self.admin), json!({}))
                .await
                .ok(200);
        }
        self.nothing_posted().await;
    }

    // -- checks --------------------------------------------------------------------------

    async fn check_member(&self, m: usize) {
        let mm = &self.m.members[m];
        let r = self
            .app
            .get(
                &format!("/api/v1/members/{}/account", mm.id),
                Some(&self.treasurer),
            )
            .await;
        let b = r.ok(200);
        let called = self.m.called_total(m, None);
        let before = self.m.called_total(m, Some(&self.current));
        let paid = self.m.paid(m);
        let got = (
            cents(&b["balance"]),
            cents(&b["contributions_due"]),
            cents(&b["arrears"]),
            cents(&b["credit"]),
        );
        let want = (
            self.m.balance(m),
            (called - paid).max(0),
            (before - paid).max(0),
            (paid - called).max(0),
        );
        assert_eq!(
            got, want,
            "member {m} ({}): (balance, due, arrears, credit) from the server, then the model",
            mm.id
        );
    }

    async fn full_check(&mut self) {
        if let Err(e) = self.m.invariants() {
            panic!("the model breaks its own invariant: {e}");
        }
        for m in 0..self.m.members.len() {
            self.check_member(m).await;
        }
        self.check_arrears().await;
        self.check_sales().await;
        self.check_reconciliation().await;
        self.check_ledger().await;
    }

    async fn check_arrears(&self) {
        let r = self
            .app
            .get("/api/v1/contributions/arrears", Some(&self.treasurer))
            .await;
        let b = r.ok(200);
        let got: BTreeMap<String, (i64, i64, Option<String>)> = b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["member_id"].as_str().unwrap().to_string(),
                    (
                        cents(&i["arrears"]),
                        cents(&i["outstanding"]),
                        i["oldest_unpaid_period"].as_str().map(String::from),
                    ),
                )
            })
            .collect();
        let mut want = BTreeMap::new();
        for (k, m) in self.m.members.iter().enumerate() {
            let paid = self.m.paid(k);
            let before = self.m.called_total(k, Some(&self.current));
            if before <= paid {
                continue;
            }
            let mut left = paid;
            let mut oldest = None;
            for (p, (a, rev)) in &m.calls {
                if *rev || p.as_str() >= self.current.as_str() {
                    continue;
                }
                if left >= *a {
                    left -= a;
                } else {
                    oldest = Some(p.clone());
                    break;
                }
            }
            want.insert(
                m.id.clone(),
                (
                    before - paid,
                    (self.m.called_total(k, None) - paid).max(0),
                    oldest,
                ),
            );
        }
        assert_eq!(got, want, "arrears: the server's, then the model's");
        assert_eq!(
            cents(&b["total"]),
            want.values().map(|v| v.0).sum::<i64>(),
            "{b}"
        );
    }

    async fn check_sales(&self) {
        let mut got = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/api/v1/redemptions?limit=200".to_string(),
                Some(c) => format!("/api/v1/redemptions?limit=200&cursor={c}"),
            };
            let page = self.app.get(&path, Some(&self.treasurer)).await;
            let page = page.ok(200);
            for i in page["items"].as_array().unwrap() {
                got.insert(
                    i["id"].as_str().unwrap().to_string(),
                    (
                        i["shop_id"].as_str().unwrap().to_string(),
                        cents(&i["amount"]),
                        cents(&i["refunded"]),
                    ),
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let want: BTreeMap<String, (String, i64, i64)> = self
            .m
            .sales
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    (self.m.shops[s.shop].id.clone(), s.amount, s.refunded),
                )
            })
            .collect();
        assert_eq!(
            got, want,
            "sales (shop, amount, refunded): the server's, then the model's"
        );
    }

    async fn check_reconciliation(&self) {
        let r = self
            .app
            .get("/api/v1/reconciliation", Some(&self.treasurer))
            .await;
        let b = r.ok(200);
        let got_unpaid: BTreeMap<String, i64> = b["unpaid_settlement_lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["end_to_end_id"].as_str().unwrap().into(),
                    cents(&l["amount"]),
                )
            })
            .collect();
        let want_unpaid: BTreeMap<String, i64> = self
            .m
            .lines
            .iter()
            .filter(|l| l.paid_by.is_none())
            .map(|l| (l.e2e.clone(), l.amount))
            .collect();
        assert_eq!(
            got_unpaid, want_unpaid,
            "unpaid settlement lines: server, model"
        );
        assert_eq!(cents(&b["unpaid_total"]), want_unpaid.values().sum::<i64>());
        let got_open: BTreeMap<String, i64> = b["unmatched_bank_lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["id"].as_str().unwrap().into(), cents(&l["amount"])))
            .collect();
        let want_open: BTreeMap<String, i64> = self
            .m
            .bank
            .iter()
            .filter(|l| !l.matched)
            .map(|l| (l.id.clone(), l.amount))
            .collect();
        assert_eq!(got_open, want_open, "unmatched bank lines: server, model");
        assert_eq!(
            cents(&b["unmatched_total"]),
            want_open.values().sum::<i64>()
        );
    }

    async fn check_ledger(&self) {
        let v = self
            .app
            .get("/api/v1/ledger/verification", Some(&self.treasurer))
            .await;
        let v = v.ok(200);
        assert_eq!(v["clean"], true, "ledger verify: {v}");
        let t = self
            .app
            .get("/api/v1/ledger/trial-balance", Some(&self.treasurer))
            .await;
        let t = t.ok(200);
        assert_eq!(t["total_debit"], t["total_credit"], "{t}");
        let mut want: BTreeMap<String, i64> = BTreeMap::new();
        for (code, (d, c)) in &self.m.accounts {
            let general = code.split('.').next().unwrap().to_string();
            *want.entry(general).or_default() += d - c;
        }
        for a in t["accounts"].as_array().unwrap() {
            let code = a["account"].as_str().unwrap();
            assert_eq!(
                cents(&a["balance"]),
                want.get(code).copied().unwrap_or(0),
                "trial balance of {code}: {a}"
            );
        }
    }

    /// At the end: each settlement's lines say paid or unpaid as the model does.
    async fn final_check(&self) {
        let mut by_settlement: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let r = self
            .app
            .get("/api/v1/settlements?limit=200", Some(&self.treasurer))
            .await;
        for s in r.ok(200)["items"].as_array().unwrap() {
            let id = s["id"].as_str().unwrap();
            let one = self
                .app
                .get(&format!("/api/v1/settlements/{id}"), Some(&self.treasurer))
                .await;
            for l in one.ok(200)["lines"].as_array().unwrap() {
                by_settlement.entry(id.into()).or_default().push((
                    l["end_to_end_id"].as_str().unwrap().into(),
                    l["status"].as_str().unwrap().into(),
                ));
            }
        }
        let got: BTreeMap<String, String> = by_settlement.into_values().flatten().collect();
        let want: BTreeMap<String, String> = self
            .m
            .lines
            .iter()
            .map(|l| {
                let status = if l.paid_by.is_some() {
                    "paid"
                } else {
                    "unpaid"
                };
                (l.e2e.clone(), status.to_string())
            })
            .collect();
        assert_eq!(got, want, "settlement lines' status: server, model");
    }

    fn report(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n=== model test failed at step {} on {:?} ===\nreplay: CAISSE_MODEL_SEED={} \
             CAISSE_MODEL_STEPS={} cargo test --test model -- money_paths::{}\n\nlast steps:",
            self.step,
            self.app.backend,
            self.seed,
            self.step + 1,
            format!("{:?}", self.app.backend).to_lowercase()
        );
        for l in &self.log {
            let _ = writeln!(s, "  {l}");
        }
        let _ = writeln!(s, "\nmodel state:");
        for (i, m) in self.m.members.iter().enumerate() {
            let _ = writeln!(
                s,
                "  member {i} {} {:?}: balance {}, called {}, paid {}",
                m.account_ref,
                m.status,
                eur(self.m.balance(i)),
                eur(self.m.called_total(i, None)),
                eur(self.m.paid(i))
            );
        }
        for (i, sh) in self.m.shops.iter().enumerate() {
            let _ = writeln!(
                s,
                "  shop {i} {} suspended {}: 401 {}, unsettled {:?}, unpaid lines {}",
                sh.id,
                sh.suspended,
                eur(-self.m.signed(&sh.a401())),
                self.m.unsettled(i),
                eur(self.m.unpaid_lines(i))
            );
        }
        let _ = writeln!(
            s,
            "  pot 6571 {}, bank 512 {}, 741 {}, 756 {}; {} entries, {} sales, {} lines",
            eur(self.m.signed("6571")),
            eur(self.m.signed("512")),
            eur(-self.m.signed("741")),
            eur(-self.m.signed("756")),
            self.m.entries.len(),
            self.m.sales.len(),
            self.m.lines.len()
        );
        s
    }
}
