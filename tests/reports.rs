//! Reports and accounting exports (summary, monthly series, FEC, journal CSV): each test on
//! SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;

use caisse::domain::card::{app_payload, secret_from_base32, step_at, totp};
use caisse::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use caisse::domain::{FundId, Role};
use caisse::store::ledger;
use chrono::NaiveDate;
use common::TestApp;
use serde_json::{json, Value};

both_backends!(
    summary_after_known_operations,
    fec_export,
    journal_csv_parses_back,
    reports_refuse_bad_input,
    large_export_pages_and_snapshot,
);

// Names no export may ever contain.
const NAME_A: &str = "Zéphyrine Quatremaire";
const NAME_B: &str = "Barnabé Vandermolen";

async fn member(
    app: &TestApp,
    t: &str,
    name: &str,
    adults: i64,
    children: i64,
    income: &str,
) -> Value {
    app.post(
        "/api/v1/members",
        Some(t),
        json!({"full_name": name, "household": {"adults": adults, "children": children},
               "monthly_income": income}),
    )
    .await
    .ok(201)
    .clone()
}

async fn pay_contribution(
    app: &TestApp,
    t: &str,
    key: &str,
    member: &str,
    amount: &str,
    on: &str,
) -> i64 {
    app.post_idem(
        "/api/v1/contributions/payments",
        t,
        key,
        json!({"member_id": member, "amount": amount, "method": "transfer", "paid_on": on}),
    )
    .await
    .ok(201)["entry_id"]
        .as_i64()
        .unwrap()
}

async fn app_card(app: &TestApp, token: &str, member: &str) -> (String, Vec<u8>) {
    let r = app
        .post(
            &format!("/api/v1/members/{member}/cards"),
            Some(token),
            json!({"kind": "app"}),
        )
        .await;
    let b = r.ok(201);
    (
        b["card_id"].as_str().unwrap().to_string(),
        secret_from_base32(b["secret"].as_str().unwrap()).unwrap(),
    )
}

/// Pays at the till with the card's current code; returns the redemption id.
async fn redeem(
    app: &TestApp,
    till: &str,
    key: &str,
    card: &(String, Vec<u8>),
    amount: &str,
) -> String {
    let token = app_payload(
        &card.0,
        &totp(&card.1, step_at(chrono::Utc::now().timestamp())),
    );
    app.post_idem(
        "/api/v1/redemptions",
        till,
        key,
        json!({"token": token, "amount": amount}),
    )
    .await
    .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A payout to a shop as the bank import posts it (401 shop debit, 512 credit).
async fn post_shop_payout(app: &TestApp, shop: &str, amount: &str, on: NaiveDate) {
    let entry = EntryBuilder::new(Journal::Bank, "shop_payout", on, "Virement au commerce")
        .reference("E2E-TEST-1")
        .debit(
            AccountCode::auxiliary(General::Shops, shop),
            amount.parse().unwrap(),
        )
        .credit(AccountCode::general(General::Bank), amount.parse().unwrap())
        .build()
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    ledger::post(&mut tx, &app.fund_id, &entry).await.unwrap();
    tx.commit().await.unwrap();
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

/// Cents from "12.50" or "-3.00".
fn cents(v: &str) -> i64 {
    let neg = v.starts_with('-');
    let (i, f) = v.trim_start_matches('-').split_once('.').unwrap();
    let c = i.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap();
    if neg {
        -c
    } else {
        c
    }
}

async fn summary_after_known_operations(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    // A: one adult, 700.00 a month → 10.00 due, 150.00 allowance.
    // B: two adults and a child (1.8 units), 2000.00 → 1111.11 per unit → 40.00 due,
    //    150 + 75 + 45 = 270.00 allowance.
    let a = member(&app, &t, NAME_A, 1, 0, "700.00").await;
    let b = member(&app, &t, NAME_B, 2, 1, "2000.00").await;
    assert_eq!(
        (s(&a, "contribution"), s(&a, "monthly_allowance")),
        ("10.00".into(), "150.00".into())
    );
    assert_eq!(
        (s(&b, "contribution"), s(&b, "monthly_allowance")),
        ("40.00".into(), "270.00".into())
    );
    let (a, b) = (s(&a, "id"), s(&b, "id"));

    // Calls for October and November: 50.00 each, dated the 1st.
    for period in ["2026-10", "2026-11"] {
        let r = app
            .post(
                "/api/v1/contributions/calls",
                Some(&t),
                json!({"period": period}),
            )
            .await;
        assert_eq!(r.ok(200)["total"], "50.00", "{period}");
    }
    // Payments: A 10.00 on 10-15, B 40.00 on 11-03 (reversed on 11-10), A 10.00 on 11-05.
    pay_contribution(&app, &t, "p1", &a, "10.00", "2026-10-15").await;
    let b_payment = pay_contribution(&app, &t, "p2", &b, "40.00", "2026-11-03").await;
    pay_contribution(&app, &t, "p3", &a, "10.00", "2026-11-05").await;
    app.post(
        &format!("/api/v1/ledger/entries/{b_payment}/reversal"),
        Some(&t),
        json!({"reason": "Virement rejeté par la banque", "date": "2026-11-10"}),
    )
    .await
    .ok(201);
    // A subsidy of 1000.00 on 10-20.
    app.post_idem(
        "/api/v1/subsidies",
        &t,
        "sub-1",
        json!({"amount": "1000.00", "received_on": "2026-10-20", "label": "Subvention Métropole"}),
    )
    .await
    .ok(201);
    // Allowances: October 150 + 270 = 420; November 420 again, but B's balance would reach
    // 540 over the 300.00 cap, so 240.00 goes back: 180.00 net. Issued in all: 600.00.
    for (period, returned) in [("2026-10", "0.00"), ("2026-11", "240.00")] {
        let r = app
            .post(
                "/api/v1/allowances/issuances",
                Some(&t),
                json!({"period": period}),
            )
            .await;
        let r = r.ok(200);
        assert_eq!(
            (r["total"].as_str(), r["returned_by_cap"].as_str()),
            (Some("420.00"), Some(returned))
        );
    }

    // At the till (dated today): A 12.50 and B 100.00 at one shop; 2.50 of A's refunded.
    let (shop, till) = app.terminal_login().await;
    let card_a = app_card(&app, &t, &a).await;
    let card_b = app_card(&app, &t, &b).await;
    let sale = redeem(&app, &till, "r1", &card_a, "12.50").await;
    redeem(&app, &till, "r2", &card_b, "100.00").await;
    app.post_idem(
        &format!("/api/v1/redemptions/{sale}/refunds"),
        &till,
        "rf1",
        json!({"amount": "2.50"}),
    )
    .await
    .ok(201);
    // The bank shows 50.00 paid to the shop, today.
    let today = caisse::domain::today();
    post_shop_payout(&app, &shop, "50.00", today).await;

    let r = app
        .get("/api/v1/reports/summary?from=2026-10-01", Some(&t))
        .await;
    let all = r.ok(200).clone();
    let expected = [
        ("from", "2026-10-01"),
        ("contributions_called", "100.00"),
        // 10 + 40 + 10, minus the reversed 40.
        ("contributions_received", "20.00"),
        ("allowances_issued", "600.00"),
        ("allowances_returned", "0.00"),
        ("redeemed", "112.50"),
        ("refunded", "2.50"),
        ("paid_to_shops", "50.00"),
        ("subsidies_received", "1000.00"),
        // 401: 112.50 - 2.50 - 50.00.
        ("owed_to_shops", "60.00"),
        // 467: 600.00 - 112.50 + 2.50.
        ("outstanding_allowance_balances", "490.00"),
        // 512: 20.00 + 1000.00 - 50.00.
        ("bank_balance", "970.00"),
        // 20 / 600.
        ("coverage_ratio", "0.0333"),
    ];
    for (k, v) in expected {
        assert_eq!(all[k], v, "{k} in {all}");
    }
    assert_eq!(all["to"], today.to_string());

    // October alone: balances at the end of October.
    let r = app
        .get(
            "/api/v1/reports/summary?from=2026-10-01&to=2026-10-31",
            Some(&t),
        )
        .await;
    let oct = r.ok(200).clone();
    for (k, v) in [
        ("contributions_called", "50.00"),
        ("contributions_received", "10.00"),
        ("allowances_issued", "420.00"),
        ("redeemed", "0.00"),
        ("subsidies_received", "1000.00"),
        ("owed_to_shops", "0.00"),
        ("outstanding_allowance_balances", "420.00"),
        ("bank_balance", "1010.00"),
        // 10 / 420 = 0.0238095...
        ("coverage_ratio", "0.0238"),
    ] {
        assert_eq!(oct[k], v, "{k} in {oct}");
    }
    // The day of the reversal alone: it counts against contributions received.
    let r = app
        .get(
            "/api/v1/reports/summary?from=2026-11-10&to=2026-11-10",
            Some(&t),
        )
        .await;
    let day = r.ok(200).clone();
    assert_eq!(day["contributions_received"], "-40.00", "{day}");
    assert_eq!(day["allowances_issued"], "0.00");
    assert_eq!(day["coverage_ratio"], Value::Null);

    // The monthly series: October exactly, and every month up to today adds up to the summary.
    let this_month = today.format("%Y-%m").to_string();
    let r = app
        .get(
            &format!("/api/v1/reports/monthly?from=2026-09&to={this_month}"),
            Some(&t),
        )
        .await;
    let months = r.ok(200)["months"].as_array().unwrap().clone();
    assert_eq!(months[0]["month"], "2026-09");
    assert_eq!(months[0]["bank_balance"], "0.00");
    assert_eq!(months[0]["coverage_ratio"], Value::Null);
    let october = &months[1];
    assert_eq!(october["month"], "2026-10");
    for (k, v) in [
        ("contributions_called", "50.00"),
        ("contributions_received", "10.00"),
        ("allowances_issued", "420.00"),
        ("bank_balance", "1010.00"),
        ("outstanding_allowance_balances", "420.00"),
    ] {
        assert_eq!(october[k], v, "{k} in {october}");
    }
    assert_eq!(months[2]["month"], "2026-11");
    assert_eq!(months[2]["allowances_issued"], "180.00");
    assert_eq!(months.last().unwrap()["month"], this_month.as_str());
    for k in [
        "contributions_called",
        "contributions_received",
        "allowances_issued",
        "redeemed",
        "refunded",
        "paid_to_shops",
        "subsidies_received",
    ] {
        let sum: i64 = months.iter().map(|m| cents(m[k].as_str().unwrap())).sum();
        assert_eq!(sum, cents(all[k].as_str().unwrap()), "{k}");
    }
    let last = months.last().unwrap();
    for k in [
        "bank_balance",
        "owed_to_shops",
        "outstanding_allowance_balances",
    ] {
        assert_eq!(last[k], all[k], "{k}");
    }

    // The balances agree with the trial balance.
    let tb = app.get("/api/v1/ledger/trial-balance", Some(&t)).await;
    let tb = tb.ok(200).clone();
    let balance_of = |code: &str| {
        tb["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["account"] == code)
            .map(|l| cents(l["balance"].as_str().unwrap()))
            .unwrap()
    };
    assert_eq!(balance_of("512"), 97_000);
    assert_eq!(balance_of("401"), -6_000);
    assert_eq!(balance_of("467"), -49_000);
}

/// One FEC line, split into its 18 fields.
struct FecLine(Vec<String>);

impl FecLine {
    fn get(&self, name: &str) -> &str {
        let i = HEADER.iter().position(|h| *h == name).unwrap();
        &self.0[i]
    }
}

const HEADER: [&str; 18] = [
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
];

fn fec_cents(v: &str) -> i64 {
    let (i, f) = v.split_once(',').unwrap_or_else(|| panic!("amount {v:?}"));
    assert!(
        !i.is_empty()
            && i.bytes().all(|b| b.is_ascii_digit())
            && f.len() == 2
            && f.bytes().all(|b| b.is_ascii_digit()),
        "amount {v:?}"
    );
    i.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
}

fn is_date(v: &str, year: &str) -> bool {
    v.len() == 8
        && v.bytes().all(|b| b.is_ascii_digit())
        && v.starts_with(year)
        && NaiveDate::parse_from_str(v, "%Y%m%d").is_ok()
}

/// Fetches a FEC and checks every rule that holds for any FEC; returns its lines.
async fn fetch_fec(
    app: &TestApp,
    t: &str,
    year: &str,
) -> (reqwest::header::HeaderMap, Vec<FecLine>) {
    let r = app
        .get(&format!("/api/v1/exports/fec?year={year}"), Some(t))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
    let text = r.body.as_str().unwrap().to_string();
    assert!(text.ends_with('\n'));
    for name in [
        NAME_A,
        NAME_B,
        "Zéphyrine",
        "Quatremaire",
        "Barnabé",
        "Vandermolen",
    ] {
        assert!(!text.contains(name), "the FEC names a member: {name}");
    }
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), HEADER.join("\t"));
    let lines: Vec<FecLine> = lines
        .map(|l| {
            let f: Vec<String> = l.split('\t').map(String::from).collect();
            assert_eq!(f.len(), 18, "{l:?}");
            FecLine(f)
        })
        .collect();
    // EcritureNum: 1, 2, 3... without gaps, each entry balanced.
    let mut totals: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let mut previous = 0;
    for l in &lines {
        let n: i64 = l.get("EcritureNum").parse().unwrap();
        assert!(
            n == previous || n == previous + 1,
            "EcritureNum {n} after {previous}"
        );
        previous = n;
        let (d, c) = (fec_cents(l.get("Debit")), fec_cents(l.get("Credit")));
        assert!((d == 0) != (c == 0), "one side per line");
        let t = totals.entry(n).or_default();
        t.0 += d;
        t.1 += c;
        assert!(
            is_date(l.get("EcritureDate"), year),
            "{}",
            l.get("EcritureDate")
        );
        assert!(is_date(l.get("PieceDate"), year));
        assert!(is_date(l.get("ValidDate"), ""));
        assert!(!l.get("PieceRef").is_empty() && !l.get("EcritureLib").is_empty());
        assert!(!l.get("JournalLib").is_empty() && !l.get("CompteLib").is_empty());
        for empty in ["EcritureLet", "DateLet", "Montantdevise", "Idevise"] {
            assert_eq!(l.get(empty), "");
        }
        match l.get("CompteNum") {
            "411" | "467" => {
                let aux = l.get("CompAuxNum");
                assert!(aux.len() == 7 && aux.starts_with('M'), "{aux}");
                assert_eq!(l.get("CompAuxLib"), aux);
            }
            "401" => assert!(!l.get("CompAuxNum").is_empty() && !l.get("CompAuxLib").is_empty()),
            "512" | "6571" | "741" | "756" | "110" => {
                assert_eq!((l.get("CompAuxNum"), l.get("CompAuxLib")), ("", ""))
            }
            other => panic!("unexpected account {other}"),
        }
    }
    assert_eq!(
        totals.keys().copied().collect::<Vec<_>>(),
        (1..=totals.len() as i64).collect::<Vec<_>>()
    );
    for (n, (d, c)) in &totals {
        assert_eq!(d, c, "entry {n} does not balance");
    }
    (r.headers, lines)
}

async fn fec_export(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let a = s(&member(&app, &t, NAME_A, 1, 0, "700.00").await, "id");
    member(&app, &t, NAME_B, 2, 1, "2000.00").await;
    // 2025: the December call (2 entries). 2026: the January call and allowances (4), a
    // payment (1), a sale at a shop and its payout (2), a reversal (1).
    for period in ["2025-12", "2026-01"] {
        app.post(
            "/api/v1/contributions/calls",
            Some(&t),
            json!({"period": period}),
        )
        .await
        .ok(200);
    }
    app.post(
        "/api/v1/allowances/issuances",
        Some(&t),
        json!({"period": "2026-01"}),
    )
    .await
    .ok(200);
    let payment = pay_contribution(&app, &t, "p1", &a, "10.00", "2026-01-12").await;
    let (shop, _till) = app.terminal_login().await;
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let members: Vec<String> =
        sqlx::query_scalar("SELECT account_ref FROM members WHERE fund_id = $1 ORDER BY number")
            .bind(&app.fund_id)
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    let sale = EntryBuilder::new(
        Journal::Purchases,
        "redemption",
        d("2026-02-03"),
        "Achat au commerce",
    )
    .debit(
        AccountCode::auxiliary(General::AllowanceBalances, &members[1]),
        "30.00".parse().unwrap(),
    )
    .credit(
        AccountCode::auxiliary(General::Shops, &shop),
        "30.00".parse().unwrap(),
    )
    .build()
    .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    ledger::post(&mut tx, &app.fund_id, &sale).await.unwrap();
    tx.commit().await.unwrap();
    post_shop_payout(&app, &shop, "30.00", d("2026-02-20")).await;
    app.post(
        &format!("/api/v1/ledger/entries/{payment}/reversal"),
        Some(&t),
        json!({"reason": "Saisie en double", "date": "2026-01-13"}),
    )
    .await
    .ok(201);

    let (headers, y2025) = fetch_fec(&app, &t, "2025").await;
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"{}FEC20251231.txt\"", app.fund_id).as_str()
    );
    assert_eq!(y2025.len(), 4);
    assert!(y2025
        .iter()
        .all(|l| l.get("JournalCode") == "CO" && l.get("EcritureDate") == "20251201"));
    assert_eq!(y2025.last().unwrap().get("EcritureNum"), "2");

    let (_, y2026) = fetch_fec(&app, &t, "2026").await;
    // Entry 1 carries 2025's balances (à-nouveaux): the December dues still owed, against the
    // result of 2025 on 110.
    let (opening, y2026): (Vec<FecLine>, Vec<FecLine>) = y2026
        .into_iter()
        .partition(|l| l.get("JournalCode") == "AN");
    let carried: Vec<(&str, &str, &str, &str)> = opening
        .iter()
        .map(|l| {
            assert_eq!(
                (
                    l.get("EcritureNum"),
                    l.get("EcritureDate"),
                    l.get("PieceRef")
                ),
                ("1", "20260101", "AN2026")
            );
            (
                l.get("CompteNum"),
                l.get("CompAuxNum"),
                l.get("Debit"),
                l.get("Credit"),
            )
        })
        .collect();
    assert_eq!(
        carried,
        [
            ("411", members[0].as_str(), "10,00", "0,00"),
            ("411", members[1].as_str(), "40,00", "0,00"),
            ("110", "", "0,00", "50,00")
        ]
    );
    // Then the year's 8 entries, numbered on: 2 calls + 2 allowances + payment + sale + payout
    // + reversal, 16 lines.
    assert_eq!(y2026.first().unwrap().get("EcritureNum"), "2");
    assert_eq!(y2026.last().unwrap().get("EcritureNum"), "9");
    assert_eq!(y2026.len(), 16);
    // The member accounts carry the pseudonymous reference; the shop's, its id and name.
    let refs: Vec<&str> = y2026
        .iter()
        .filter(|l| l.get("CompteNum") == "467")
        .map(|l| l.get("CompAuxNum"))
        .collect();
    assert!(refs.contains(&members[0].as_str()) && refs.contains(&members[1].as_str()));
    let shop_line = y2026.iter().find(|l| l.get("CompteNum") == "401").unwrap();
    assert_eq!(shop_line.get("CompAuxNum"), shop);
    assert!(shop_line.get("CompAuxLib").starts_with("Épicerie "));
    // Amounts with a decimal comma; the reversal is in the miscellaneous journal.
    let payout = y2026
        .iter()
        .find(|l| l.get("PieceRef") == "E2E-TEST-1" && l.get("CompteNum") == "512")
        .unwrap();
    assert_eq!(
        (payout.get("Debit"), payout.get("Credit")),
        ("0,00", "30,00")
    );
    assert_eq!(payout.get("EcritureDate"), "20260220");
    assert_eq!(payout.get("JournalCode"), "BQ");
    assert!(y2026
        .iter()
        .any(|l| l.get("JournalCode") == "OD" && l.get("EcritureLib") == "Saisie en double"));
    let today = caisse::domain::today().format("%Y%m%d").to_string();
    assert!(y2026.iter().all(|l| l.get("ValidDate") == today));

    // A year without entries: the header alone. With a SIREN, the file is named by it.
    let admin = app.login(Role::Admin).await;
    let mut settings = app
        .get("/api/v1/settings", Some(&admin))
        .await
        .ok(200)
        .clone();
    settings["siren"] = json!("123456789");
    app.put("/api/v1/settings", Some(&admin), settings)
        .await
        .ok(200);
    let (headers, empty) = fetch_fec(&app, &admin, "2031").await;
    assert!(empty.is_empty());
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"123456789FEC20311231.txt\""
    );

    // Every posting of the journal is in exactly one year's FEC.
    let postings: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM postings WHERE fund_id = $1")
            .bind(&app.fund_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(postings, (y2025.len() + y2026.len()) as i64);
}

/// RFC 4180 records (quoted fields may hold commas, quotes and line breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => assert_eq!(chars.next(), Some('\n'), "CRLF line ends"),
            (false, '\n') => panic!("bare LF"),
            (false, c) => field.push(c),
        }
        if !quoted && (c == '\r') {
            record.push(std::mem::take(&mut field));
            records.push(std::mem::take(&mut record));
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record ends with CRLF"
    );
    records
}

async fn journal_csv_parses_back(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    member(&app, &t, NAME_A, 1, 0, "700.00").await;
    member(&app, &t, NAME_B, 2, 1, "2000.00").await;
    app.post(
        "/api/v1/contributions/calls",
        Some(&t),
        json!({"period": "2026-03"}),
    )
    .await
    .ok(200);
    app.post(
        "/api/v1/allowances/issuances",
        Some(&t),
        json!({"period": "2026-04"}),
    )
    .await
    .ok(200);
    let tricky = "Subvention \"Métropole\", appel à projets\nalimentation";
    app.post_idem(
        "/api/v1/subsidies",
        &t,
        "s1",
        json!({"amount": "1234.56", "received_on": "2026-04-15", "label": tricky}),
    )
    .await
    .ok(201);
    app.post_idem(
        "/api/v1/subsidies",
        &t,
        "s2",
        json!({"amount": "1.00", "received_on": "2026-05-02", "label": "=HYPERLINK(\"x\")"}),
    )
    .await
    .ok(201);

    let r = app.get("/api/v1/exports/journal.csv", Some(&t)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(
        r.headers["content-type"],
        "text/csv; charset=utf-8; header=present"
    );
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=\"journal.csv\""
    );
    let text = r.body.as_str().unwrap().to_string();
    for name in [NAME_A, NAME_B, "Quatremaire", "Vandermolen"] {
        assert!(!text.contains(name), "the CSV names a member: {name}");
    }
    let records = parse_csv(&text);
    assert_eq!(
        records[0],
        [
            "entry_number",
            "entry_id",
            "date",
            "journal",
            "kind",
            "label",
            "reference",
            "account",
            "debit",
            "credit"
        ]
    );
    let rows = &records[1..];
    // 2 calls + 2 allowances + 2 subsidies = 6 entries, 12 postings.
    assert_eq!(rows.len(), 12);
    let mut per_entry: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for row in rows {
        assert_eq!(row.len(), 10, "{row:?}");
        let n: i64 = row[0].parse().unwrap();
        let e = per_entry.entry(n).or_default();
        e.0 += cents(&row[8]);
        e.1 += cents(&row[9]);
        assert!(row[8].contains('.') && row[9].contains('.'));
        assert!(!row[7].is_empty());
    }
    assert_eq!(
        per_entry.keys().copied().collect::<Vec<_>>(),
        (1..=6).collect::<Vec<_>>()
    );
    assert!(per_entry.values().all(|(d, c)| d == c));
    let subsidy: Vec<&Vec<String>> = rows.iter().filter(|r| r[4] == "subsidy").collect();
    assert_eq!(subsidy[0][5], tricky);
    assert_eq!(
        (subsidy[0][7].as_str(), subsidy[0][8].as_str()),
        ("512", "1234.56")
    );
    assert_eq!(subsidy[0][2], "2026-04-15");
    assert_eq!(subsidy[2][5], "'=HYPERLINK(\"x\")");
    assert!(rows
        .iter()
        .filter(|r| r[4] == "allowance")
        .all(|r| r[7] == "6571" || r[7].starts_with("467.M")));

    // A date range keeps the entries dated within it, still in journal order.
    let r = app
        .get(
            "/api/v1/exports/journal.csv?from=2026-04-01&to=2026-04-30",
            Some(&t),
        )
        .await;
    let records = parse_csv(r.ok(200).as_str().unwrap());
    let kinds: Vec<&str> = records[1..].iter().map(|r| r[4].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "allowance",
            "allowance",
            "allowance",
            "allowance",
            "subsidy",
            "subsidy"
        ]
    );
    assert!(records[1..].iter().all(|r| r[2].starts_with("2026-04-")));
}

async fn reports_refuse_bad_input(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    for (path, field) in [
        ("/api/v1/exports/fec?year=abcd", "year"),
        ("/api/v1/exports/fec?year=26", "year"),
        ("/api/v1/exports/fec", "year"),
        ("/api/v1/exports/fec?year=2026&format=xml", "format"),
        ("/api/v1/exports/journal.csv?from=2026-13-01", "from"),
        (
            "/api/v1/exports/journal.csv?from=2026-05-01&to=2026-04-01",
            "to",
        ),
        ("/api/v1/reports/summary?from=yesterday", "from"),
        (
            "/api/v1/reports/summary?from=2026-05-01&to=2026-04-01",
            "to",
        ),
        ("/api/v1/reports/monthly?from=2026-13", "from"),
        ("/api/v1/reports/monthly?from=2026-05&to=2026-04", "to"),
        ("/api/v1/reports/monthly?from=2010-01&to=2026-04", "from"),
    ] {
        let r = app.get(path, Some(&t)).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.fields(), vec![field], "{path}");
    }
    // Treasurer and admin only.
    let member = app.login(Role::Member).await;
    let committee = app.login(Role::Committee).await;
    for path in [
        "/api/v1/reports/summary",
        "/api/v1/reports/monthly",
        "/api/v1/exports/fec?year=2026",
        "/api/v1/exports/journal.csv",
    ] {
        app.get(path, Some(&member)).await.problem(403, "forbidden");
        app.get(path, Some(&committee))
            .await
            .problem(403, "forbidden");
        app.get(path, None).await.problem(401, "unauthenticated");
    }
    // An empty fund: zeros, no ratio, twelve months by default, and the routes are documented.
    let r = app.get("/api/v1/reports/summary", Some(&t)).await;
    let empty = r.ok(200);
    assert_eq!(empty["bank_balance"], "0.00");
    assert_eq!(empty["coverage_ratio"], Value::Null);
    let r = app.get("/api/v1/reports/monthly", Some(&t)).await;
    assert_eq!(r.ok(200)["months"].as_array().unwrap().len(), 12);
    let doc = app.get("/api/openapi.json", None).await;
    for path in [
        "/api/v1/reports/summary",
        "/api/v1/reports/monthly",
        "/api/v1/exports/fec",
        "/api/v1/exports/journal.csv",
    ] {
        assert!(
            doc.ok(200)["paths"][path].is_object(),
            "{path} in the OpenAPI document"
        );
    }
}

/// More entries than one page (5,000), written by the bulk writer: the FEC pages through them
/// without a gap, and an export covers the journal as it was when it started.
async fn large_export_pages_and_snapshot(app: TestApp) {
    use caisse::domain::member::account_ref;
    use caisse::store::ledger::Bulk;
    use futures_util::TryStreamExt;

    let t = app.login(Role::Treasurer).await;
    let members: Vec<AccountCode> = (0..50)
        .map(|i| AccountCode::auxiliary(General::AllowanceBalances, &account_ref(9_000 + i)))
        .collect();
    let shop = AccountCode::auxiliary(General::Shops, "shop_bulk");
    let mut tx = app.db.begin().await.unwrap();
    ledger::open_accounts(&mut tx, &app.fund_id, &members, "Adhérent")
        .await
        .unwrap();
    ledger::open_account(&mut tx, &app.fund_id, &shop, "Primeur du marché")
        .await
        .unwrap();
    let mut bulk = Bulk::begin(&mut tx, &app.fund_id).await.unwrap();
    let date = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let mut entries = Vec::new();
    for m in &members {
        entries.push(
            EntryBuilder::new(Journal::Allowances, "allowance", date, "Allocation")
                .debit(
                    AccountCode::general(General::AllowancesGranted),
                    "1000.00".parse().unwrap(),
                )
                .credit(m.clone(), "1000.00".parse().unwrap())
                .build()
                .unwrap(),
        );
    }
    for i in 0..12_000 {
        entries.push(
            EntryBuilder::new(Journal::Purchases, "redemption", date, "Achat")
                .debit(members[i % 50].clone(), "0.50".parse().unwrap())
                .credit(shop.clone(), "0.50".parse().unwrap())
                .build()
                .unwrap(),
        );
    }
    for chunk in entries.chunks(4_000) {
        bulk.add(&mut tx, chunk).await.unwrap();
    }
    bulk.finish(&mut tx).await.unwrap();
    tx.commit().await.unwrap();

    // The export starts (it reads the journal head), then an entry is posted: not in it.
    let (_, chunks) =
        caisse::service::exports::fec(&app.db, &FundId::new(app.fund_id.clone()), 2026)
            .await
            .unwrap();
    let late = EntryBuilder::new(
        Journal::Bank,
        "subsidy",
        date,
        "Subvention arrivée pendant l'export",
    )
    .debit(AccountCode::general(General::Bank), "5.00".parse().unwrap())
    .credit(
        AccountCode::general(General::Subsidies),
        "5.00".parse().unwrap(),
    )
    .build()
    .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    ledger::post(&mut tx, &app.fund_id, &late).await.unwrap();
    tx.commit().await.unwrap();
    let parts: Vec<String> = chunks.try_collect().await.unwrap();
    assert!(
        parts.len() >= 4,
        "the body came in pages: {} chunks",
        parts.len()
    );
    let text = parts.concat();
    assert_eq!(text.lines().count(), 1 + 2 * 12_050);
    assert!(!text.contains("pendant l'export"));
    let csv: Vec<String> = caisse::service::exports::journal_csv(
        &app.db,
        &FundId::new(app.fund_id.clone()),
        None,
        None,
    )
    .await
    .unwrap()
    .try_collect()
    .await
    .unwrap();
    assert_eq!(csv.concat().lines().count(), 1 + 2 * 12_051);

    // Over HTTP afterwards: every entry, numbered 1 to 12,051 without a gap, each balanced.
    let (_, lines) = fetch_fec(&app, &t, "2026").await;
    assert_eq!(lines.len(), 2 * 12_051);
    assert_eq!(lines.last().unwrap().get("EcritureNum"), "12051");
    let shop_lines = lines.iter().filter(|l| l.get("CompteNum") == "401").count();
    assert_eq!(shop_lines, 12_000);
    assert!(lines
        .iter()
        .filter(|l| l.get("CompteNum") == "401")
        .all(|l| l.get("CompAuxLib") == "Primeur du marché"));
}
