//! Members, allowances, contribution calls and payments by hand.

use super::*;

impl Sim {
    pub(crate) async fn join(&mut self) {
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

    pub(crate) async fn patch(&mut self) {
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

    pub(crate) async fn status_change(&mut self, change: &str) {
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

    pub(crate) fn period_for(&mut self, next: usize, done: usize) -> (usize, bool) {
        let again = done > 0 && (self.rng.gen_bool(0.25) || next == self.periods.len());
        let any = self.rng.gen_range(0..done.max(1));
        if again {
            (any, false)
        } else {
            (next, true)
        }
    }

    pub(crate) async fn issue(&mut self) {
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

    pub(crate) async fn call(&mut self) {
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

    pub(crate) async fn pay_by_hand(&mut self) {
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
        if roll < 19 {
            // Paid next week: not yet.
            let later = caisse::domain::today() + chrono::Days::new(7);
            body["paid_on"] = json!(later.to_string());
            let r = self.app.post_idem(path, &self.treasurer, &key, body).await;
            r.problem(422, "validation_failed");
            assert_eq!(r.fields(), ["paid_on"]);
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
}
