//! `bench redeem`: payments at many tills, app cards and printed cards with their PINs, measured
//! as a till sees them.

use super::monthly::load_members;
use super::*;

/// What one phase of the redemption benchmark measured.
pub struct TillRun {
    pub count: u64,
    pub declined: u64,
    pub elapsed: Duration,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// SQLite: payments per commit of the group-commit writer during the phase.
    pub per_commit: Option<f64>,
    /// A till had no unused code left before the end: the phase was cut short.
    pub ran_out: bool,
}

/// One till's cards: (card id, secret) and which code of each it used last. A PIN till's
/// cards are printed ones, all with the PIN `pin`, paid with in turn.
#[derive(Default)]
pub(super) struct TillCards {
    key: String,
    cards: Vec<(String, Vec<u8>)>,
    pin: Option<String>,
    next: usize,
    used: std::collections::HashSet<(usize, i64)>,
}

/// The PIN of the benchmark's printed cards.
pub(super) const BENCH_PIN: &str = "2468";

impl TillCards {
    /// A code not used yet: the current step of the next card, else the previous step.
    fn next_token(&mut self) -> Option<String> {
        use crate::domain::card::{app_payload, printed_payload, step_at, totp};
        if self.pin.is_some() {
            let (card, _) = self.cards.get(self.next % self.cards.len().max(1))?;
            self.next += 1;
            return Some(printed_payload(card));
        }
        let now = step_at(chrono::Utc::now().timestamp());
        for _ in 0..self.cards.len() * 2 {
            let i = self.next % self.cards.len();
            self.next += 1;
            for step in [now, now - 1] {
                if self.used.insert((i, step)) {
                    let (card, secret) = &self.cards[i];
                    return Some(app_payload(card, &totp(secret, step)));
                }
            }
        }
        None
    }
}

pub(super) async fn redeem_bench(
    scratch: &Scratch,
    terminals: usize,
    duration: Duration,
    cards_per_terminal: usize,
) -> anyhow::Result<(TillRun, TillRun)> {
    let (db, fund, base, mut tills) = till_setup(scratch, terminals, 0, cards_per_terminal).await?;
    let per_commit = |before: Option<(u64, u64)>, after: Option<(u64, u64)>| match (before, after) {
        (Some((c0, j0)), Some((c1, j1))) if c1 > c0 => Some((j1 - j0) as f64 / (c1 - c0) as f64),
        _ => None,
    };
    let before = db.group_commit_stats();
    let mut peak = till_phase(&base, &mut tills, duration, None).await?;
    let middle = db.group_commit_stats();
    peak.per_commit = per_commit(before, middle);
    let pace = if peak.per_second > 0.0 {
        Some(Duration::from_secs_f64(
            terminals as f64 / (peak.per_second / 2.0),
        ))
    } else {
        None
    };
    let mut half = till_phase(&base, &mut tills, duration, pace).await?;
    half.per_commit = per_commit(middle, db.group_commit_stats());
    let report = ledger::verify(&db, &fund).await?;
    anyhow::ensure!(report.is_clean(), "ledger not clean: {:?}", report.problems);
    db.close().await;
    Ok((peak, half))
}

/// What the mixed run measured: the app-card tills alone, then beside the PIN tills.
pub(super) struct PinMix {
    alone: TillRun,
    mixed_app: TillRun,
    mixed_pin: TillRun,
    /// Peak resident memory of this process (server and load driver) over the two phases,
    /// and what was resident when they began (what the seeding left).
    peak_rss_mib: Option<f64>,
    start_rss_mib: Option<f64>,
}

impl PinMix {
    pub(super) fn print(&self, terminals: usize, pin_tills: usize, backend: Backend) {
        let app_tills = terminals - pin_tills;
        let line = |what: &str, r: &TillRun| {
            if r.ran_out {
                println!(
                    "{what}: not measured, the tills ran out of unused codes; give more \
                     --cards-per-terminal"
                );
                return;
            }
            println!(
                "{what}: {:.0} payments/s ({} approved, {} declined in {:.1} s), latency p50 \
                 {:.2} ms, p99 {:.2} ms",
                r.per_second,
                r.count,
                r.declined,
                r.elapsed.as_secs_f64(),
                r.p50_ms,
                r.p99_ms
            );
        };
        println!(
            "caisse redeem, {app_tills} app-card tills and {pin_tills} PIN tills over HTTP ({})",
            backend.name()
        );
        line(&format!("app cards alone ({app_tills} tills)"), &self.alone);
        line(
            &format!("app cards beside {pin_tills} PIN tills"),
            &self.mixed_app,
        );
        line(
            &format!("printed cards + PIN ({pin_tills} tills)"),
            &self.mixed_pin,
        );
        if self.alone.per_second > 0.0 && !self.alone.ran_out && !self.mixed_app.ran_out {
            println!(
                "ratio app cards with PIN tills / alone: {:.2}",
                self.mixed_app.per_second / self.alone.per_second
            );
        }
        match self.peak_rss_mib {
            Some(mib) => println!(
                "peak resident memory over both phases: {mib:.0} MiB (this process: the server \
                 and its load driver; {:.0} MiB resident when they began, after the seeding)",
                self.start_rss_mib.unwrap_or(0.0)
            ),
            None => println!("peak resident memory: not measured (no /proc on this system)"),
        }
    }
}

/// `terminals` tills of which `pin_tills` pay with printed cards and a PIN: the app-card
/// tills alone for `duration`, then all of them together for `duration`.
pub(super) async fn pin_mix_bench(
    scratch: &Scratch,
    terminals: usize,
    pin_tills: usize,
    duration: Duration,
    cards_per_terminal: usize,
) -> anyhow::Result<PinMix> {
    let (db, fund, base, mut tills) =
        till_setup(scratch, terminals, pin_tills, cards_per_terminal).await?;
    let (app, pin) = tills.split_at_mut(terminals - pin_tills);
    // The seeding's memory is not the payments': start the peak afresh (Linux).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let start_rss_mib = proc_status_mib("VmRSS:");
    let alone = till_phase(&base, app, duration, None).await?;
    let (mixed_app, mixed_pin) = tokio::try_join!(
        till_phase(&base, app, duration, None),
        till_phase(&base, pin, duration, None)
    )?;
    let peak_rss_mib = if reset { peak_rss_mib() } else { None };
    let report = ledger::verify(&db, &fund).await?;
    anyhow::ensure!(report.is_clean(), "ledger not clean: {:?}", report.problems);
    db.close().await;
    Ok(PinMix {
        alone,
        mixed_app,
        mixed_pin,
        peak_rss_mib,
        start_rss_mib,
    })
}

/// The server in this process over a scratch fund: `terminals` shops with a till each, every
/// till with `cards_per_terminal` members' cards (app cards, printed cards with
/// [`BENCH_PIN`] for the last `pin_tills`). Answers the database, fund, base URL and tills.
pub(super) async fn till_setup(
    scratch: &Scratch,
    terminals: usize,
    pin_tills: usize,
    cards_per_terminal: usize,
) -> anyhow::Result<(Db, String, String, Vec<TillCards>)> {
    use crate::domain::card::{secret_base32, CardKind};
    use crate::store::cards::{self as card_store, NewCard};
    use std::sync::Arc;

    let (db, fund, _) = load_members(scratch, terminals * cards_per_terminal).await?;
    crate::service::allowances::issue(
        &db,
        &crate::domain::FundId::new(fund.as_str()),
        "2026-11".parse().expect("period"),
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
    let key_path = std::env::temp_dir().join(format!("caisse-bench-{}.key", std::process::id()));
    let key = Arc::new(crate::card_key::CardKey::load_or_create(&key_path)?);
    let _ = std::fs::remove_file(&key_path);

    // The server, in this process, on a port of its own, without a till rate limit.
    let config = Config {
        database_url: scratch.url.clone(),
        till_rate_per_second: 0,
        ..Config::default()
    };
    let state = crate::api::AppState::new(db.clone(), config, fund.clone(), key.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, crate::app::app(state)).await;
    });

    // Shops with one till each, through the API.
    let admin = crate::service::users::create(
        &db,
        &crate::domain::FundId::new(fund.as_str()),
        "bench-admin@caisse.invalid",
        "bench-admin-password",
        crate::domain::Role::Admin,
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
    let client = reqwest::Client::new();
    let session: serde_json::Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&serde_json::json!({"email": admin.email, "password": "bench-admin-password"}))
        .send()
        .await?
        .json()
        .await?;
    let admin_token = session["token"].as_str().unwrap_or_default().to_string();
    let mut till_keys = Vec::new();
    for t in 0..terminals {
        let shop: serde_json::Value = client
            .post(format!("{base}/api/v1/shops"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({
                "name": format!("Commerce {t}"), "legal_name": format!("Commerce {t} SARL"),
                "iban": "FR7630006000011234567890189", "address": "1 rue du Banc, 69008 Lyon",
                "categories": ["epicerie"]}))
            .send()
            .await?
            .json()
            .await?;
        let shop_id = shop["id"].as_str().unwrap_or_default().to_string();
        client
            .post(format!("{base}/api/v1/shops/{shop_id}/decision"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({"decision": "approved"}))
            .send()
            .await?
            .error_for_status()?;
        let till: serde_json::Value = client
            .post(format!("{base}/api/v1/shops/{shop_id}/terminals"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({"label": "Caisse"}))
            .send()
            .await?
            .json()
            .await?;
        till_keys.push(till["api_key"].as_str().unwrap_or_default().to_string());
    }

    // A card for every member, all in one transaction: app cards for the first tills,
    // printed ones (their PIN in the MAC form new cards get) for the PIN tills.
    let printed_from = (terminals - pin_tills) * cards_per_terminal.max(1);
    let members: Vec<String> =
        sqlx::query_scalar("SELECT id FROM members WHERE fund_id = $1 ORDER BY id")
            .bind(&fund)
            .fetch_all(db.pool())
            .await?;
    let mut all_cards = Vec::with_capacity(members.len());
    let mut tx = db.begin().await?;
    let now = crate::domain::now_micros();
    for (i, member) in members.iter().enumerate() {
        let id = crate::domain::new_id("card");
        if i >= printed_from {
            let pin = crate::service::pins::stored_form(&key, &fund, &id, BENCH_PIN);
            card_store::insert(
                &mut tx,
                &fund,
                &NewCard {
                    id: &id,
                    member_id: member,
                    kind: CardKind::Printed,
                    secret_enc: None,
                    pin_hash: Some(&pin),
                    created_by: &admin.id,
                    created_at: now,
                },
            )
            .await?;
            all_cards.push((id, Vec::new()));
            continue;
        }
        let mut secret = [0u8; crate::domain::card::SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let sealed = key.seal(&secret, &crate::service::cards::seal_context(&fund, &id));
        card_store::insert(
            &mut tx,
            &fund,
            &NewCard {
                id: &id,
                member_id: member,
                kind: CardKind::App,
                secret_enc: Some(&sealed),
                pin_hash: None,
                created_by: &admin.id,
                created_at: now,
            },
        )
        .await?;
        debug_assert!(!secret_base32(&secret).is_empty());
        all_cards.push((id, secret.to_vec()));
    }
    tx.commit().await?;

    let tills: Vec<TillCards> = till_keys
        .into_iter()
        .zip(all_cards.chunks(cards_per_terminal.max(1)))
        .enumerate()
        .map(|(t, (key, cards))| TillCards {
            key,
            cards: cards.to_vec(),
            pin: (t >= terminals - pin_tills).then(|| BENCH_PIN.to_string()),
            ..Default::default()
        })
        .collect();
    Ok((db, fund, base, tills))
}

/// Every till pays 1.00 again and again (each at `pace` if given) until `duration` is over.
pub(super) async fn till_phase(
    base: &str,
    tills: &mut [TillCards],
    duration: Duration,
    pace: Option<Duration>,
) -> anyhow::Result<TillRun> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for till in tills.iter_mut() {
        let mut till = std::mem::take(till);
        let base = base.to_string();
        handles.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut latencies, mut declined, mut ran_out) = (Vec::new(), 0u64, false);
            while started.elapsed() < duration {
                let Some(token) = till.next_token() else {
                    ran_out = true;
                    break;
                };
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/redemptions"))
                    .bearer_auth(&till.key)
                    // Unique across phases: a till pays again in the next phase.
                    .header("Idempotency-Key", crate::domain::new_id("bench"))
                    .json(&match &till.pin {
                        Some(pin) => {
                            serde_json::json!({"token": token, "amount": "1.00", "pin": pin})
                        }
                        None => serde_json::json!({"token": token, "amount": "1.00"}),
                    })
                    .send()
                    .await?;
                let ok = r.status().as_u16() == 201;
                let _ = r.bytes().await?;
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    declined += 1;
                }
                if let Some(p) = pace {
                    if let Some(rest) = p.checked_sub(t.elapsed()) {
                        tokio::time::sleep(rest).await;
                    }
                }
            }
            anyhow::Ok((till, latencies, declined, ran_out))
        }));
    }
    let (mut all, mut declined, mut ran_out) = (Vec::new(), 0, false);
    for (slot, h) in tills.iter_mut().zip(handles) {
        let (till, latencies, d, out) = h.await??;
        *slot = till;
        all.extend(latencies);
        declined += d;
        ran_out |= out;
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(TillRun {
        count: all.len() as u64,
        declined,
        elapsed,
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        per_commit: None,
        ran_out,
    })
}
