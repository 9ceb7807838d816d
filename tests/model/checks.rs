//! The checks against the server: members' accounts, arrears, sales, reconciliation, ledger.

use super::*;

impl Sim {
    pub(crate) async fn check_member(&self, m: usize) {
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

    pub(crate) async fn full_check(&mut self) {
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
        self.check_summary().await;
    }

    pub(crate) async fn check_arrears(&self) {
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

    pub(crate) async fn check_sales(&self) {
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
                        i["reversed"] == true,
                    ),
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let want: BTreeMap<String, (String, i64, i64, bool)> = self
            .m
            .sales
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    (
                        self.m.shops[s.shop].id.clone(),
                        s.amount,
                        s.refunded,
                        s.reversed.is_some(),
                    ),
                )
            })
            .collect();
        assert_eq!(
            got, want,
            "sales (shop, amount, refunded, reversed): the server's, then the model's"
        );
    }

    pub(crate) async fn check_reconciliation(&self) {
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

    pub(crate) async fn check_ledger(&self) {
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
    /// The treasurer's summary over every entry: flows by kind, net of reversals (a reversal
    /// counts under the kind it cancels), and the balances of 401, 467 and 512.
    pub(crate) async fn check_summary(&self) {
        let r = self
            .app
            .get(
                "/api/v1/reports/summary?to=2099-12-31",
                Some(&self.treasurer),
            )
            .await;
        let b = r.ok(200);
        let mut flows: BTreeMap<&str, i64> = BTreeMap::new();
        for e in self.m.entries.values() {
            let amount: i64 = e.postings.iter().map(|p| p.1).sum();
            let (kind, amount) = match &e.origin {
                Origin::Reversal(of) => (self.m.entries[of].kind.as_str(), -amount),
                _ => (e.kind.as_str(), amount),
            };
            let (field, amount) = match kind {
                "contribution_call" => ("contributions_called", amount),
                "contribution_payment" => ("contributions_received", amount),
                "allowance" => ("allowances_issued", amount),
                "allowance_cap_return" => ("allowances_issued", -amount),
                "allowance_return" => ("allowances_returned", amount),
                "redemption" => ("redeemed", amount),
                "refund" => ("refunded", amount),
                "shop_payout" => ("paid_to_shops", amount),
                "subsidy" => ("subsidies_received", amount),
                other => panic!("an entry of kind {other}"),
            };
            *flows.entry(field).or_default() += amount;
        }
        let total = |prefix: &str| -> i64 {
            self.m
                .accounts
                .iter()
                .filter(|(code, _)| code.starts_with(prefix))
                .map(|(_, (d, c))| c - d)
                .sum()
        };
        flows.insert("owed_to_shops", total("401."));
        flows.insert("outstanding_allowance_balances", total("467."));
        flows.insert("bank_balance", self.m.signed("512"));
        for (field, want) in flows {
            assert_eq!(cents(&b[field]), want, "summary {field}: {b}");
        }
    }

    /// A member's history (allowance and contribution movements) adds up to the accounts.
    pub(crate) async fn check_history(&self, m: usize) {
        let mm = &self.m.members[m];
        let (mut allowance, mut dues) = (0, 0);
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/api/v1/members/{}/transactions?limit=200", mm.id),
                Some(c) => format!(
                    "/api/v1/members/{}/transactions?limit=200&cursor={c}",
                    mm.id
                ),
            };
            let r = self.app.get(&path, Some(&self.treasurer)).await;
            let page = r.ok(200);
            for i in page["items"].as_array().unwrap() {
                match i["account"].as_str() {
                    Some("allowance") => allowance += cents(&i["amount"]),
                    Some("contribution") => dues += cents(&i["amount"]),
                    other => panic!("a movement on {other:?}: {i}"),
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(
            (allowance, dues),
            (self.m.balance(m), self.m.signed(&mm.a411())),
            "member {m}'s history (allowance, dues): the server's, then the model's"
        );
    }

    pub(crate) async fn final_check(&self) {
        for m in 0..self.m.members.len() {
            self.check_history(m).await;
        }
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

    pub(crate) fn report(&self) -> String {
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
