//! Reversals of every kind of entry, and what each does to the tables that mirror it.

use super::*;

impl Sim {
    pub(crate) async fn reverse(&mut self) {
        let pick: usize = self.rng.gen();
        let variant = self.rng.gen_range(0..100);
        let kind_pick: usize = self.rng.gen();
        // A kind first, then one of its entries: each kind is tried as often as the others.
        let mut by_kind: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for id in &self.m.order {
            let e = &self.m.entries[id];
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
        if (4..7).contains(&variant) && !candidates.is_empty() {
            // No reason given: refused before anything is looked at.
            let id = candidates[pick % candidates.len()];
            let r = self
                .app
                .post(&path(id), Some(&self.treasurer), json!({"reason": "  "}))
                .await;
            r.problem(422, "validation_failed");
            assert_eq!(r.fields(), ["reason"]);
            return self.nothing_posted().await;
        }
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
        assert_eq!(b["reversed_kind"], e.kind.as_str(), "{b}");
        self.reversed(&e.origin);
    }

    /// What reversing entry `id` answers, and the entries it posts.
    pub(crate) fn reversal_of(
        &self,
        id: i64,
        e: &Entry,
    ) -> (Option<(u16, &'static str)>, Vec<Expect>) {
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
    pub(crate) fn reversed(&mut self, origin: &Origin) {
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
}
