//! The journal as the model sees it: the entries a step posted, and every account's totals.

use super::*;

impl Sim {
    pub(crate) async fn max_entry(&self) -> i64 {
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
    pub(crate) async fn commit(&mut self, expected: Vec<Expect>) -> Vec<i64> {
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
            self.m.order.push(*id);
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
    pub(crate) async fn nothing_posted(&mut self) {
        self.commit(Vec::new()).await;
    }

    pub(crate) async fn check_accounts(&self) {
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
}
