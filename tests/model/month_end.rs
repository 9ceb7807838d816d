//! Month end: settlements, bank statements (CSV and camt.053), matches by hand, subsidies.

use super::*;

impl Sim {
    pub(crate) async fn settle(&mut self) {
        let variant = self.rng.gen_range(0..100);
        let now = chrono::Utc::now();
        let cutoff = match variant {
            0..=7 => now + chrono::Duration::hours(1),
            8..=14 => chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
                .unwrap()
                .to_utc(),
            _ => now,
        };
        // Sometimes with an Idempotency-Key, and then retried: the same settlement comes back.
        let body = json!({"cutoff": cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)});
        let key = (15..40).contains(&variant).then(|| self.key());
        let path = "/api/v1/settlements";
        let r = match &key {
            Some(k) => {
                self.app
                    .post_idem(path, &self.treasurer, k, body.clone())
                    .await
            }
            None => {
                self.app
                    .post(path, Some(&self.treasurer), body.clone())
                    .await
            }
        };
        if variant <= 7 {
            r.problem(422, "cutoff_in_future");
            return self.nothing_posted().await;
        }
        let owed: Vec<(usize, (i64, i64, i64, i64))> = (0..self.m.shops.len())
            .map(|i| (i, self.m.unsettled(i)))
            .filter(|(_, n)| variant > 14 && n.0 > 0)
            .collect();
        self.note(format!("settle: {owed:?}"));
        if owed.is_empty() {
            r.problem(422, "nothing_to_settle");
            return self.nothing_posted().await;
        }
        let b = r.ok(201).clone();
        if let Some(k) = &key {
            let again = self.app.post_idem(path, &self.treasurer, k, body).await;
            assert_eq!(again.ok(201), &b);
            assert_eq!(again.headers["idempotent-replayed"], "true");
        }
        let lines = b["lines"].as_array().unwrap();
        assert_eq!(lines.len(), owed.len(), "{b}");
        for (shop, (net, sales, refunds, reversals)) in owed {
            let l = lines
                .iter()
                .find(|l| l["shop_id"] == self.m.shops[shop].id)
                .unwrap_or_else(|| panic!("no line for shop {shop}: {b}"));
            assert_eq!(cents(&l["amount"]), net, "{l}");
            assert_eq!(l["redemptions"].as_i64(), Some(sales), "{l}");
            assert_eq!(l["refunds"].as_i64(), Some(refunds), "{l}");
            assert_eq!(l["reversals"].as_i64(), Some(reversals), "{l}");
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

    pub(crate) fn unpaid(&self) -> Vec<usize> {
        (0..self.m.lines.len())
            .filter(|l| self.m.lines[*l].paid_by.is_none())
            .collect()
    }

    pub(crate) fn payout(&self, l: usize) -> Expect {
        let line = &self.m.lines[l];
        Expect {
            kind: "shop_payout",
            reference: Some(line.e2e.clone()),
            reverses: None,
            postings: dc(&self.m.shops[line.shop].a401(), "512", line.amount),
            origin: Origin::Payout(l),
        }
    }

    pub(crate) async fn import_csv(&mut self) {
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
    pub(crate) async fn bank_line_ids(
        &self,
        statement: &str,
        by_bank_ref: bool,
    ) -> BTreeMap<String, String> {
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
    pub(crate) async fn booked(&mut self, rows: Vec<BankRow>) {
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

    pub(crate) async fn import_camt(&mut self) {
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

    pub(crate) async fn reimport(&mut self) {
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

    pub(crate) async fn match_by_hand(&mut self) {
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

    pub(crate) async fn subsidy(&mut self) {
        let amount = self.rng.gen_range(1..5_000) * 100;
        let zero = self.rng.gen_bool(0.05);
        let key = self.key();
        if zero {
            let body = json!({"amount": "0.00", "received_on": caisse::domain::today().to_string(),
                              "label": "Subvention nulle"});
            let r = self
                .app
                .post_idem("/api/v1/subsidies", &self.treasurer, &key, body)
                .await;
            r.problem(422, "amount_invalid");
            return self.nothing_posted().await;
        }
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
}
