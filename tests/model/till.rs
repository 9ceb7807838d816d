//! The till: payments by app code and printed card, replays, refunds; shops and cards.

use super::*;

impl Sim {
    /// How much to try to pay: usually what the balance affords, sometimes more.
    pub(crate) fn till_amount(&self, m: usize, raw: u64, too_much: bool) -> i64 {
        let balance = self.m.balance(m);
        if too_much || balance == 0 {
            balance + 1 + (raw % 3_000) as i64
        } else {
            1 + (raw % balance.min(6_000) as u64) as i64
        }
    }

    pub(crate) async fn card_for(&mut self, m: usize) -> Option<usize> {
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
    pub(crate) fn decide(&self, m: usize, shop: usize, amount: i64) -> Result<(), &'static str> {
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

    pub(crate) async fn redeem(&mut self, shop: usize, body: Value) -> (String, Reply) {
        let key = self.key();
        let till = self.m.shops[shop].till.clone();
        let r = self
            .app
            .post_idem("/api/v1/redemptions", &till, &key, body)
            .await;
        (key, r)
    }

    /// Books an approved sale in the model.
    pub(crate) async fn approved(
        &mut self,
        m: usize,
        shop: usize,
        amount: i64,
        r: &Reply,
    ) -> String {
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

    pub(crate) async fn pay_app(&mut self) {
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

    pub(crate) async fn pay_printed(&mut self) {
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

    /// The last sale or refund again under its key: the same body replays the first answer
    /// and moves nothing, another body is refused.
    pub(crate) async fn replay_sale(&mut self) {
        let other = self.rng.gen_bool(0.3);
        let refund = self.rng.gen_bool(0.4);
        let last = match (refund, &self.last_refund, &self.last_sale) {
            (true, Some(r), _) => Some(r.clone()),
            (_, _, Some((till, key, body, answer))) => Some((
                till.clone(),
                "/api/v1/redemptions".to_string(),
                key.clone(),
                body.clone(),
                answer.clone(),
            )),
            _ => None,
        };
        let Some((till, path, key, body, answer)) = last else {
            return self.nothing_posted().await;
        };
        if other {
            let mut changed = body.clone();
            changed["amount"] = json!(eur(cents(&body["amount"]) + 1));
            self.app
                .post_idem(&path, &till, &key, changed)
                .await
                .problem(409, "idempotency_key_reused");
        } else {
            let r = self.app.post_idem(&path, &till, &key, body).await;
            assert_eq!(r.ok(201), &answer);
            assert_eq!(r.headers["idempotent-replayed"], "true");
        }
        self.nothing_posted().await;
    }

    pub(crate) async fn refund(&mut self) {
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
        self.last_refund = Some((
            till,
            format!("/api/v1/redemptions/{sale_id}/refunds"),
            key,
            json!({"amount": eur(amount)}),
            b.clone(),
        ));
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

    pub(crate) async fn shop_toggle(&mut self) {
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

    pub(crate) async fn revoke_card(&mut self) {
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

    pub(crate) async fn unlock_card(&mut self) {
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
}
