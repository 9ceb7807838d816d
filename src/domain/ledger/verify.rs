//! The pure checks of `caisse ledger verify`: given the journal as stored (entries in chain
//! order, with their postings) and the accounts' cached totals, say what does not hold. The
//! store streams the rows in (`store::ledger::verify`); nothing here reads the database.

use std::collections::BTreeMap;

use super::{chain_hash, EntryContent, Side, GENESIS_HASH};

/// An entry as read back from the journal, with its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub seq: i64,
    pub id: i64,
    pub fund_id: String,
    pub journal: String,
    pub kind: String,
    pub date: String,
    pub label: String,
    pub reference: Option<String>,
    pub reverses: Option<i64>,
    pub created_at: i64,
    pub content_hash: String,
    pub chain_hash: String,
    /// (account, debit cents, credit cents) in line order.
    pub lines: Vec<(String, i64, i64)>,
}

/// Why an entry's postings do not balance, if they do not: debits equal credits, and at least
/// two lines (what `EntryBuilder::build` guarantees when an entry is written).
pub fn balance_problem(lines: &[(String, i64, i64)]) -> Option<String> {
    let (d, k) = lines.iter().fold((0, 0), |(d, k), l| (d + l.1, k + l.2));
    (d != k || lines.len() < 2).then(|| {
        format!(
            "does not balance (debit {d}, credit {k}, {} postings)",
            lines.len()
        )
    })
}

/// Walks a fund's journal in chain order: numbers gapless from 1, every entry the fund's,
/// balanced, its content hash recomputed and its chain hash following the previous one.
pub struct ChainWalk<'a> {
    fund_id: &'a str,
    expected_seq: i64,
    previous_hash: String,
    entries: i64,
}

impl<'a> ChainWalk<'a> {
    pub fn new(fund_id: &'a str) -> ChainWalk<'a> {
        ChainWalk {
            fund_id,
            expected_seq: 1,
            previous_hash: GENESIS_HASH.to_string(),
            entries: 0,
        }
    }

    /// Entries walked so far.
    pub fn entries(&self) -> i64 {
        self.entries
    }

    /// The problems of the next entry in chain order.
    pub fn check(&mut self, e: StoredEntry) -> Vec<String> {
        let mut problems = Vec::new();
        let name = format!("entry #{} (id {})", e.seq, e.id);
        if e.seq != self.expected_seq {
            problems.push(format!("{name}: expected number {}", self.expected_seq));
        }
        if e.fund_id != self.fund_id {
            problems.push(format!("{name}: belongs to fund {}", e.fund_id));
        }
        // A gap is reported once, not again for every entry after it.
        self.expected_seq = e.seq + 1;
        if let Some(p) = balance_problem(&e.lines) {
            problems.push(format!("{name}: {p}"));
        }
        // Hashed as the verified fund's: an entry moved from another fund fails here too.
        let content = EntryContent {
            fund_id: self.fund_id,
            journal: &e.journal,
            kind: &e.kind,
            entry_date: &e.date,
            label: &e.label,
            reference: e.reference.as_deref(),
            reverses: e.reverses,
            created_at: e.created_at,
            postings: &e.lines,
        }
        .hash();
        if content != e.content_hash {
            problems.push(format!("{name}: content hash does not match"));
        }
        if chain_hash(&self.previous_hash, &e.content_hash) != e.chain_hash {
            problems.push(format!("{name}: chain hash does not match"));
        }
        // Chained on what is stored: a rewritten entry is reported there, not at every later one.
        self.previous_hash = e.chain_hash;
        self.entries += 1;
        problems
    }

    /// Whether the fund's journal head (its entry count and last chain hash, `None` when the
    /// fund has none) agrees with the journal walked.
    pub fn head_problem(&self, head: Option<(i64, &str)>) -> Option<String> {
        match head {
            Some((seq, last)) if seq != self.entries || last != self.previous_hash => {
                Some(format!(
                    "journal head says {seq} entries ending in {last}, the journal has {} \
                     ending in {}",
                    self.entries, self.previous_hash
                ))
            }
            Some(_) => None,
            None => Some("the fund has no journal head".into()),
        }
    }
}

/// An account row's cached figures.
pub struct CachedAccount<'a> {
    pub code: &'a str,
    pub side: Side,
    pub may_go_negative: bool,
    pub debit_total: i64,
    pub credit_total: i64,
    pub balance: i64,
}

/// Compares the accounts' cached totals with the totals recomputed from the postings: each
/// account's totals and balance, no posting to an account that does not exist, and the
/// trial balance (total debit = total credit over the cached totals).
#[derive(Default)]
pub struct AccountCheck {
    recomputed: BTreeMap<String, (i64, i64)>,
    cached_debit: i64,
    cached_credit: i64,
}

impl AccountCheck {
    pub fn posting(&mut self, account: &str, debit: i64, credit: i64) {
        // Most postings name an account already seen: look up before allocating a key.
        match self.recomputed.get_mut(account) {
            Some(t) => {
                t.0 += debit;
                t.1 += credit;
            }
            None => {
                self.recomputed.insert(account.to_string(), (debit, credit));
            }
        }
    }

    /// The problems of one account; each account is passed once.
    pub fn account(&mut self, a: &CachedAccount) -> Vec<String> {
        let mut problems = Vec::new();
        let code = a.code;
        let cached = (a.debit_total, a.credit_total);
        let recomputed = self.recomputed.remove(code).unwrap_or_default();
        self.cached_debit += cached.0;
        self.cached_credit += cached.1;
        if cached != recomputed {
            problems.push(format!(
                "account {code}: cached totals {cached:?} ≠ postings {recomputed:?}"
            ));
        }
        let expected = match a.side {
            Side::Debit => recomputed.0 - recomputed.1,
            Side::Credit => recomputed.1 - recomputed.0,
        };
        if a.balance != expected {
            problems.push(format!(
                "account {code}: cached balance {} ≠ {expected} from postings",
                a.balance
            ));
        }
        if !a.may_go_negative && a.balance < 0 {
            problems.push(format!("account {code}: negative balance {}", a.balance));
        }
        problems
    }

    /// After every account: postings left over name no account; then the trial balance.
    pub fn finish(self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .recomputed
            .keys()
            .map(|code| format!("postings name account {code}, which does not exist"))
            .collect();
        if self.cached_debit != self.cached_credit {
            problems.push(format!(
                "trial balance: total debit {} ≠ total credit {}",
                self.cached_debit, self.cached_credit
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(a: &str, d: i64, k: i64) -> (String, i64, i64) {
        (a.to_string(), d, k)
    }

    /// A well-formed journal of `n` entries for fund "f", each chained on the previous.
    fn journal(n: i64) -> Vec<StoredEntry> {
        let mut previous = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let lines = vec![line("512", 100 * seq, 0), line("756", 0, 100 * seq)];
                let content_hash = EntryContent {
                    fund_id: "f",
                    journal: "OD",
                    kind: "test",
                    entry_date: "2026-11-01",
                    label: "x",
                    reference: None,
                    reverses: None,
                    created_at: seq,
                    postings: &lines,
                }
                .hash();
                let chain = chain_hash(&previous, &content_hash);
                previous = chain.clone();
                StoredEntry {
                    seq,
                    id: seq + 40,
                    fund_id: "f".into(),
                    journal: "OD".into(),
                    kind: "test".into(),
                    date: "2026-11-01".into(),
                    label: "x".into(),
                    reference: None,
                    reverses: None,
                    created_at: seq,
                    content_hash,
                    chain_hash: chain,
                    lines,
                }
            })
            .collect()
    }

    fn walk(entries: Vec<StoredEntry>) -> (Vec<String>, ChainWalk<'static>) {
        let mut w = ChainWalk::new("f");
        let problems = entries.into_iter().flat_map(|e| w.check(e)).collect();
        (problems, w)
    }

    #[test]
    fn balance_needs_equal_sides_and_two_lines() {
        assert_eq!(
            balance_problem(&[line("512", 5, 0), line("756", 0, 5)]),
            None
        );
        assert_eq!(
            balance_problem(&[line("512", 5, 0), line("756", 0, 4)]).as_deref(),
            Some("does not balance (debit 5, credit 4, 2 postings)")
        );
        assert!(balance_problem(&[line("512", 0, 0)]).is_some());
        assert!(balance_problem(&[]).is_some());
    }

    #[test]
    fn a_sound_journal_has_no_problem_and_matches_its_head() {
        let entries = journal(3);
        let last = entries[2].chain_hash.clone();
        let (problems, w) = walk(entries);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(w.entries(), 3);
        assert_eq!(w.head_problem(Some((3, &last))), None);
        assert!(w.head_problem(Some((2, &last))).is_some());
        assert!(w.head_problem(Some((3, GENESIS_HASH))).is_some());
        assert_eq!(
            w.head_problem(None).as_deref(),
            Some("the fund has no journal head")
        );
    }

    #[test]
    fn an_empty_journal_matches_a_genesis_head() {
        let (problems, w) = walk(Vec::new());
        assert!(problems.is_empty());
        assert_eq!(w.head_problem(Some((0, GENESIS_HASH))), None);
    }

    #[test]
    fn a_rewritten_posting_breaks_balance_and_content_hash_only_there() {
        let mut entries = journal(3);
        entries[1].lines[0].1 += 1;
        let (problems, _) = walk(entries);
        assert_eq!(
            problems,
            vec![
                "entry #2 (id 42): does not balance (debit 201, credit 200, 2 postings)",
                "entry #2 (id 42): content hash does not match",
            ]
        );
    }

    #[test]
    fn a_rewritten_chain_hash_breaks_the_link_on_both_sides() {
        let mut entries = journal(3);
        entries[1].chain_hash = "0".repeat(64);
        let (problems, _) = walk(entries);
        // Entry 2's own hash is wrong; entry 3 chains on what is stored, which is also wrong.
        assert_eq!(
            problems,
            vec![
                "entry #2 (id 42): chain hash does not match",
                "entry #3 (id 43): chain hash does not match",
            ]
        );
    }

    #[test]
    fn a_missing_entry_shows_as_a_gap_and_a_broken_chain() {
        let mut entries = journal(3);
        entries.remove(1);
        let (problems, _) = walk(entries);
        assert_eq!(
            problems,
            vec![
                "entry #3 (id 43): expected number 2",
                "entry #3 (id 43): chain hash does not match",
            ]
        );
    }

    #[test]
    fn an_entry_of_another_fund_is_named() {
        let mut entries = journal(1);
        entries[0].fund_id = "g".into();
        let (problems, _) = walk(entries);
        assert_eq!(problems[0], "entry #1 (id 41): belongs to fund g");
    }

    fn account(code: &str, side: Side, d: i64, k: i64, balance: i64) -> CachedAccount<'_> {
        CachedAccount {
            code,
            side,
            may_go_negative: false,
            debit_total: d,
            credit_total: k,
            balance,
        }
    }

    #[test]
    fn cached_totals_that_agree_with_the_postings_pass() {
        let mut c = AccountCheck::default();
        c.posting("512", 300, 0);
        c.posting("756", 0, 100);
        c.posting("756", 0, 200);
        assert!(c
            .account(&account("512", Side::Debit, 300, 0, 300))
            .is_empty());
        assert!(c
            .account(&account("756", Side::Credit, 0, 300, 300))
            .is_empty());
        assert!(c.finish().is_empty());
    }

    #[test]
    fn cached_totals_and_balances_are_compared_with_the_postings() {
        let mut c = AccountCheck::default();
        c.posting("512", 300, 0);
        c.posting("756", 0, 300);
        c.posting("999", 1, 0);
        assert_eq!(
            c.account(&account("512", Side::Debit, 301, 0, 300)),
            vec!["account 512: cached totals (301, 0) ≠ postings (300, 0)"]
        );
        assert_eq!(
            c.account(&account("756", Side::Credit, 0, 300, 299)),
            vec!["account 756: cached balance 299 ≠ 300 from postings"]
        );
        assert_eq!(
            c.finish(),
            vec![
                "postings name account 999, which does not exist",
                "trial balance: total debit 301 ≠ total credit 300",
            ]
        );
    }

    #[test]
    fn only_accounts_that_may_go_negative_may() {
        let mut c = AccountCheck::default();
        c.posting("467.M1", 5, 0);
        let mut a = account("467.M1", Side::Credit, 5, 0, -5);
        assert_eq!(c.account(&a), vec!["account 467.M1: negative balance -5"]);
        let mut c = AccountCheck::default();
        c.posting("467.M1", 5, 0);
        a.may_go_negative = true;
        assert!(c.account(&a).is_empty());
    }
}
