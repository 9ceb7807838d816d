//! A member leaves while paying at the till (issue 13 point 3): the leave and a burst of
//! payments race, and whatever the order, the money adds up.

use super::*;

/// Payments sent at once with the leave.
const BURST: usize = 6;

impl Sim {
    /// An active member pays `BURST` times at once, with a card each, and leaves meanwhile.
    /// The leave succeeds; each payment is approved (it came first), `member_inactive` (it came
    /// after) or `insufficient_balance` (what came first left too little); the leave hands
    /// back exactly what the approved payments left.
    pub(crate) async fn leave_while_paying(&mut self) {
        let m = self.member_with(Status::Active, 1.0);
        let shop_pick: usize = self.rng.gen();
        let amounts: Vec<i64> = (0..BURST).map(|_| self.rng.gen_range(1..8_000)).collect();
        let at = self.rng.gen_range(0..=BURST);
        let open: Vec<usize> = (0..self.m.shops.len())
            .filter(|s| !self.m.shops[*s].suspended)
            .collect();
        if self.m.members[m].status != Status::Active || open.is_empty() {
            return self.nothing_posted().await;
        }
        let shop = open[shop_pick % open.len()];
        // One card per payment, its code reserved until the answer says whether it was spent.
        let mut codes = Vec::with_capacity(BURST);
        for _ in 0..BURST {
            let c = self
                .card_for(m)
                .await
                .expect("an active member gets a card");
            let step = step_at(chrono::Utc::now().timestamp());
            let card = &mut self.m.members[m].app[c];
            card.used.insert(step);
            codes.push((c, step, app_payload(&card.id, &totp(&card.secret, step))));
        }
        let before = self.m.balance(m);
        let (client, base) = (self.app.client.clone(), self.app.base.clone());
        let till = self.m.shops[shop].till.clone();
        let mut payments = Vec::with_capacity(BURST);
        let mut leave = None;
        for (i, ((_, _, token), amount)) in codes.iter().zip(&amounts).enumerate() {
            if i == at {
                leave = Some(self.spawn_leave(m));
            }
            let key = self.key();
            let (client, base, till) = (client.clone(), base.clone(), till.clone());
            let body = json!({"token": token, "amount": eur(*amount)});
            payments.push(tokio::spawn(async move {
                let r = client
                    .post(format!("{base}/api/v1/redemptions"))
                    .bearer_auth(till)
                    .header("Idempotency-Key", key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }));
        }
        let leave = match leave {
            Some(l) => l,
            None => self.spawn_leave(m),
        };
        let mut answers = Vec::with_capacity(BURST);
        for p in payments {
            answers.push(p.await.unwrap());
        }
        let (status, body) = leave.await.unwrap();
        assert_eq!((status, &body["status"]), (200, &json!("left")), "{body}");
        self.m.members[m].status = Status::Left;
        self.touched.push(m);
        let approved: i64 = amounts
            .iter()
            .zip(&answers)
            .filter(|(_, a)| a.0 == 201)
            .map(|(amount, _)| amount)
            .sum();
        assert!(
            approved <= before,
            "paid {approved} from a balance of {before}"
        );
        let mut expected = Vec::new();
        for (((c, step, _), amount), (status, b)) in codes.iter().zip(&amounts).zip(&answers) {
            match (status, b["code"].as_str()) {
                (201, _) => {
                    let id = b["id"].as_str().unwrap().to_string();
                    assert!(cents(&b["remaining_balance"]) >= before - approved, "{b}");
                    let s = self.m.sales.len();
                    self.m.sales.push(Sale {
                        id: id.clone(),
                        shop,
                        member: m,
                        amount: *amount,
                        refunded: 0,
                        claimed: false,
                        reversed: None,
                    });
                    expected.push(Expect {
                        kind: "redemption",
                        reference: Some(id),
                        reverses: None,
                        postings: dc(
                            &self.m.members[m].a467(),
                            &self.m.shops[shop].a401(),
                            *amount,
                        ),
                        origin: Origin::Sale(s),
                    });
                }
                (422, Some("insufficient_balance")) => {
                    // Whatever came first, the balance was never lower than what is left.
                    assert!(*amount > before - approved, "{amount} declined, {b}");
                    self.m.members[m].app[*c].used.remove(step);
                }
                (422, Some("member_inactive")) => {
                    self.m.members[m].app[*c].used.remove(step);
                }
                other => panic!("a payment racing the leave answered {other:?}"),
            }
        }
        let left = before - approved;
        let mix: BTreeSet<&str> = answers
            .iter()
            .map(|a| a.1["code"].as_str().unwrap_or("approved"))
            .collect();
        *self
            .outcomes
            .entry(format!("leave while paying: {mix:?}"))
            .or_default() += 1;
        self.note(format!(
            "member {m} leaves during {BURST} payments: {:?}, {} paid, {} handed back",
            answers.iter().map(|a| a.0).collect::<Vec<_>>(),
            eur(approved),
            eur(left)
        ));
        if left > 0 {
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

    fn spawn_leave(&self, m: usize) -> tokio::task::JoinHandle<(u16, Value)> {
        let url = self
            .app
            .url(&format!("/api/v1/members/{}/leave", self.m.members[m].id));
        let (client, token) = (self.app.client.clone(), self.treasurer.clone());
        tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    }
}
