//! Corrections: reversing each kind of entry, and every table that mirrors it (sales, refunds,
//! settlements, allowance credits, dues, payments, payouts, bank lines) agreeing with the
//! ledger afterwards; refunds after a member left; a leave racing payments; `ledger verify`
//! catching a broken mirror. Each test on SQLite and PostgreSQL, against the running server.

mod common;

use caisse::domain::Role;
use common::TestApp;
use serde_json::{json, Value};

both_backends!(
    a_reversed_sale_is_neither_refunded_nor_paid,
    a_settled_sale_reversed_is_netted_by_the_next_settlement,
    a_sale_with_refunds_is_reversed_after_its_refunds,
    a_refund_reversed_after_settlement_is_paid_back_to_the_shop,
    a_spent_refund_cannot_be_reversed,
    an_allowance_credit_is_reversed_with_its_cap_return,
    dues_and_payments_reversed_stop_counting,
    a_reversed_payout_is_unpaid_again,
    what_cannot_be_reversed,
    a_refund_after_leaving_goes_back_to_the_pot,
    a_leave_racing_payments_hands_back_exactly_what_is_left,
    verify_catches_a_broken_mirror,
);

/// A treasurer, a member with November's allowance (150.00) and a printed card, an approved
/// shop with its till.
struct Setup {
    t: String,
    member: String,
    card: String,
    shop: String,
    till: String,
}

async fn setup(app: &TestApp) -> Setup {
    let t = app.login(Role::Treasurer).await;
    let member = app.new_member("Adhérente").await;
    app.issue(&t, "2026-11").await;
    let card = app.printed_card(&t, &member).await;
    let (shop, till) = app.terminal_login().await;
    Setup {
        t,
        member,
        card,
        shop,
        till,
    }
}

async fn sale_entry(app: &TestApp, redemption: &str) -> i64 {
    app.entry_of("redemptions", "id", redemption).await
}

async fn refund_entry(app: &TestApp, refund: &str) -> i64 {
    app.entry_of("refunds", "id", refund).await
}

/// The settlement's line for `shop`: (amount, reversals netted).
fn line(settlement: &Value, shop: &str) -> (String, i64) {
    let l = settlement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["shop_id"] == shop)
        .unwrap_or_else(|| panic!("no line for {shop}: {settlement}"));
    (
        l["amount"].as_str().unwrap().to_string(),
        l["reversals"].as_i64().unwrap(),
    )
}

async fn shop_balance(app: &TestApp, shop: &str) -> i64 {
    app.balance_of(&format!("401.{shop}")).await
}

async fn refunded(app: &TestApp, t: &str, redemption: &str) -> String {
    let list = app.get("/api/v1/redemptions?limit=100", Some(t)).await;
    list.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == redemption)
        .unwrap()["refunded"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Reversing a sale before any settlement: the member is credited back, the till cannot refund
/// it, and no settlement pays the shop for it, alone or beside another sale.
async fn a_reversed_sale_is_neither_refunded_nor_paid(app: TestApp) {
    let s = setup(&app).await;
    let sale = app.sale(&s.till, &s.card, "30.00").await;
    assert_eq!(app.allowance_balance(&s.member).await, 12_000);
    let entry = sale_entry(&app, &sale).await;
    let r = app.reverse(&s.t, entry, "Vente saisie par erreur").await;
    let reversal = r.ok(201)["entry_id"].as_i64().unwrap();
    assert_eq!(r.body["reversed_kind"], "redemption");
    assert_eq!(app.allowance_balance(&s.member).await, 15_000);
    assert_eq!(shop_balance(&app, &s.shop).await, 0);
    let list = app.get("/api/v1/redemptions", Some(&s.till)).await;
    assert_eq!(list.ok(200)["items"][0]["reversed"], true, "{}", list.body);

    // Not refundable, not reversible twice, and the reversal is not reversible.
    app.refund(&s.till, &sale, "5.00")
        .await
        .problem(409, "redemption_reversed");
    app.reverse(&s.t, entry, "Encore")
        .await
        .problem(409, "already_reversed");
    app.reverse(&s.t, reversal, "Annuler l'annulation")
        .await
        .problem(409, "reversal_not_reversible");
    assert_eq!(app.allowance_balance(&s.member).await, 15_000);

    // Alone, it is never paid; beside another sale it nets to nothing.
    app.settle_now(&s.t).await.problem(422, "nothing_to_settle");
    app.sale(&s.till, &s.card, "20.00").await;
    let settlement = app.settle_now(&s.t).await.ok(201).clone();
    assert_eq!(line(&settlement, &s.shop), ("20.00".into(), 1));
    assert_eq!(settlement["total"], "20.00");
    TestApp::assert_clean(&app.verify_problems().await);
}

/// A sale settled and paid, then reversed: the shop owes it back, and the next settlements net
/// it (a negative net is carried, never paid).
async fn a_settled_sale_reversed_is_netted_by_the_next_settlement(app: TestApp) {
    let s = setup(&app).await;
    let sale = app.sale(&s.till, &s.card, "30.00").await;
    let first = app.settle_now(&s.t).await.ok(201).clone();
    let e2e = first["lines"][0]["end_to_end_id"].as_str().unwrap();
    let csv =
        format!("date,amount,reference,counterparty\n2026-12-01,-30.00,Paiement {e2e},Épicerie\n");
    let r = upload_csv(&app, &s.t, csv).await;
    assert_eq!(r.ok(200)["matched"], 1, "{}", r.body);
    assert_eq!(shop_balance(&app, &s.shop).await, 0);

    app.reverse(&s.t, sale_entry(&app, &sale).await, "Vente contestée")
        .await
        .ok(201);
    // The shop was paid for a sale that no longer stands: it owes 30.00.
    assert_eq!(shop_balance(&app, &s.shop).await, -3_000);
    TestApp::assert_clean(&app.verify_problems().await);
    app.sale(&s.till, &s.card, "10.00").await;
    app.settle_now(&s.t).await.problem(422, "nothing_to_settle");
    app.sale(&s.till, &s.card, "25.00").await;
    let next = app.settle_now(&s.t).await.ok(201).clone();
    assert_eq!(line(&next, &s.shop), ("5.00".into(), 1));
    TestApp::assert_clean(&app.verify_problems().await);
}

async fn upload_csv(app: &TestApp, t: &str, csv: String) -> common::Reply {
    app.send(
        app.client
            .post(app.url("/api/v1/bank-statements"))
            .bearer_auth(t)
            .header("content-type", "text/csv")
            .body(csv),
    )
    .await
}

/// A sale with refunds is reversed only after its refunds; a reversed refund can be refunded
/// again; in the end the shop is owed nothing and the member has their allowance back.
async fn a_sale_with_refunds_is_reversed_after_its_refunds(app: TestApp) {
    let s = setup(&app).await;
    let sale = app.sale(&s.till, &s.card, "30.00").await;
    let refund = app.refund(&s.till, &sale, "10.00").await;
    let refund = refund.ok(201)["id"].as_str().unwrap().to_string();
    let entry = sale_entry(&app, &sale).await;
    app.reverse(&s.t, entry, "Vente annulée")
        .await
        .problem(409, "redemption_refunded");
    assert_eq!(app.allowance_balance(&s.member).await, 13_000);

    let r = app
        .reverse(
            &s.t,
            refund_entry(&app, &refund).await,
            "Remboursement en double",
        )
        .await;
    assert_eq!(r.ok(201)["reversed_kind"], "refund");
    assert_eq!(app.allowance_balance(&s.member).await, 12_000);
    assert_eq!(refunded(&app, &s.t, &sale).await, "0.00");
    // Refundable again in full.
    let again = app.refund(&s.till, &sale, "30.00").await;
    let again = again.ok(201)["id"].as_str().unwrap().to_string();
    app.reverse(&s.t, refund_entry(&app, &again).await, "Erreur")
        .await
        .ok(201);
    app.reverse(&s.t, entry, "Vente annulée").await.ok(201);
    assert_eq!(app.allowance_balance(&s.member).await, 15_000);
    assert_eq!(shop_balance(&app, &s.shop).await, 0);
    app.settle_now(&s.t).await.problem(422, "nothing_to_settle");
    TestApp::assert_clean(&app.verify_problems().await);
}

/// A refund settled (it lowered the payout), then reversed: the next settlement pays the shop
/// the refund back; the member is debited again.
async fn a_refund_reversed_after_settlement_is_paid_back_to_the_shop(app: TestApp) {
    let s = setup(&app).await;
    let sale = app.sale(&s.till, &s.card, "40.00").await;
    let refund = app.refund(&s.till, &sale, "10.00").await;
    let refund = refund.ok(201)["id"].as_str().unwrap().to_string();
    let first = app.settle_now(&s.t).await.ok(201).clone();
    assert_eq!(line(&first, &s.shop), ("30.00".into(), 0));
    app.reverse(
        &s.t,
        refund_entry(&app, &refund).await,
        "Remboursement injustifié",
    )
    .await
    .ok(201);
    assert_eq!(app.allowance_balance(&s.member).await, 11_000);
    assert_eq!(shop_balance(&app, &s.shop).await, 4_000);
    TestApp::assert_clean(&app.verify_problems().await);
    let next = app.settle_now(&s.t).await.ok(201).clone();
    assert_eq!(line(&next, &s.shop), ("10.00".into(), 1));
    TestApp::assert_clean(&app.verify_problems().await);
}

/// Reversing a refund the member has spent would take the balance below zero: 422, nothing
/// changes.
async fn a_spent_refund_cannot_be_reversed(app: TestApp) {
    let s = setup(&app).await;
    let sale = app.sale(&s.till, &s.card, "50.00").await;
    let refund = app.refund(&s.till, &sale, "50.00").await;
    let refund = refund.ok(201)["id"].as_str().unwrap().to_string();
    app.sale(&s.till, &s.card, "150.00").await;
    assert_eq!(app.allowance_balance(&s.member).await, 0);
    app.reverse(&s.t, refund_entry(&app, &refund).await, "Trop tard")
        .await
        .problem(422, "insufficient_balance");
    assert_eq!(refunded(&app, &s.t, &sale).await, "50.00");
    app.refund(&s.till, &sale, "0.01")
        .await
        .problem(422, "refund_exceeds_redemption");
    TestApp::assert_clean(&app.verify_problems().await);
}

/// Reversing a month's credit also undoes what the balance cap sent back that month: the
/// member is where they were before it. Issuing the month again credits nothing new. A credit
/// already spent cannot be reversed.
async fn an_allowance_credit_is_reversed_with_its_cap_return(app: TestApp) {
    let s = setup(&app).await;
    app.issue(&s.t, "2026-10").await;
    assert_eq!(app.allowance_balance(&s.member).await, 30_000);
    // The cap (300.00) sends September's credit straight back.
    let september = app.issue(&s.t, "2026-09").await;
    assert_eq!(september["returned_by_cap"], "150.00", "{september}");
    assert_eq!(app.allowance_balance(&s.member).await, 30_000);
    let credit = credit_entry(&app, &s.member, "2026-09").await;
    let r = app
        .reverse(&s.t, credit, "Allocation de septembre en trop")
        .await;
    assert_eq!(r.ok(201)["reversed_kind"], "allowance");
    assert_eq!(app.allowance_balance(&s.member).await, 30_000);
    let again = app.issue(&s.t, "2026-09").await;
    assert_eq!(again, september, "issuing again credits nothing new");
    assert_eq!(app.allowance_balance(&s.member).await, 30_000);
    app.reverse(&s.t, credit, "Encore")
        .await
        .problem(409, "already_reversed");

    // October's credit, without a cap return: 150.00 back to the pot.
    let october = credit_entry(&app, &s.member, "2026-10").await;
    app.reverse(&s.t, october, "Octobre en trop").await.ok(201);
    assert_eq!(app.allowance_balance(&s.member).await, 15_000);
    // November's, once spent, cannot be reversed.
    app.sale(&s.till, &s.card, "100.00").await;
    let november = credit_entry(&app, &s.member, "2026-11").await;
    app.reverse(&s.t, november, "Trop tard")
        .await
        .problem(422, "insufficient_balance");
    assert_eq!(app.allowance_balance(&s.member).await, 5_000);
    TestApp::assert_clean(&app.verify_problems().await);
}

async fn credit_entry(app: &TestApp, member: &str, period: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(
        "SELECT entry_id FROM allowance_credits WHERE fund_id = $1 AND member_id = $2 \
         AND period = $3",
    )
    .bind(&app.fund_id)
    .bind(member)
    .bind(period)
    .fetch_one(app.db.pool())
    .await
    .unwrap()
    .try_get("entry_id")
    .unwrap()
}

async fn account(app: &TestApp, t: &str, member: &str) -> Value {
    app.get(&format!("/api/v1/members/{member}/account"), Some(t))
        .await
        .ok(200)
        .clone()
}

/// A reversed payment is owed again and its bank line is unmatched again; a reversed due stops
/// counting (what was paid for it becomes a credit).
async fn dues_and_payments_reversed_stop_counting(app: TestApp) {
    let s = setup(&app).await;
    app.post(
        "/api/v1/contributions/calls",
        Some(&s.t),
        json!({"period": "2026-11"}),
    )
    .await
    .ok(200);
    let due = account(&app, &s.t, &s.member).await["contributions_due"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(due, "0.00");
    let reference = app
        .get(&format!("/api/v1/members/{}", s.member), Some(&s.t))
        .await;
    let reference = reference.ok(200)["payment_reference"]
        .as_str()
        .unwrap()
        .to_string();
    let csv = format!(
        "date,amount,reference,counterparty\n2026-11-20,{due},Cotisation {reference},Adhérente\n"
    );
    assert_eq!(upload_csv(&app, &s.t, csv).await.ok(200)["matched"], 1);
    assert_eq!(
        account(&app, &s.t, &s.member).await["contributions_due"],
        "0.00"
    );

    let payment = app
        .entry_of("contribution_payments", "member_id", &s.member)
        .await;
    let r = app
        .reverse(&s.t, payment, "Virement d'une autre personne")
        .await;
    assert_eq!(r.ok(201)["reversed_kind"], "contribution_payment");
    assert_eq!(
        account(&app, &s.t, &s.member).await["contributions_due"],
        due
    );
    let rec = app.get("/api/v1/reconciliation", Some(&s.t)).await;
    let lines = rec.ok(200)["unmatched_bank_lines"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(lines.len(), 1, "{}", rec.body);
    TestApp::assert_clean(&app.verify_problems().await);

    // The bank line can be matched by hand again.
    let line = lines[0]["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/bank-lines/{line}/match"),
        Some(&s.t),
        json!({"member_id": s.member}),
    )
    .await
    .ok(200);
    assert_eq!(
        account(&app, &s.t, &s.member).await["contributions_due"],
        "0.00"
    );

    // The due reversed: nothing is owed, what was paid is a credit for the next dues.
    let call = app
        .entry_of("contribution_calls", "member_id", &s.member)
        .await;
    let r = app.reverse(&s.t, call, "Appel en trop").await;
    assert_eq!(r.ok(201)["reversed_kind"], "contribution_call");
    let after = account(&app, &s.t, &s.member).await;
    assert_eq!(after["contributions_due"], "0.00", "{after}");
    assert_eq!(after["credit"], due, "{after}");
    assert_eq!(after["arrears"], "0.00", "{after}");
    TestApp::assert_clean(&app.verify_problems().await);
}

/// A payout reversed (the bank returned the transfer): the settlement line is unpaid again,
/// the bank line unmatched, the shop owed again; a later match pays it.
async fn a_reversed_payout_is_unpaid_again(app: TestApp) {
    let s = setup(&app).await;
    app.sale(&s.till, &s.card, "12.00").await;
    let settlement = app.settle_now(&s.t).await.ok(201).clone();
    let id = settlement["id"].as_str().unwrap();
    let e2e = settlement["lines"][0]["end_to_end_id"].as_str().unwrap();
    let csv =
        format!("date,amount,reference,counterparty\n2026-12-01,-12.00,Paiement {e2e},Épicerie\n");
    assert_eq!(upload_csv(&app, &s.t, csv).await.ok(200)["matched"], 1);
    let payout = {
        use sqlx::Row;
        sqlx::query("SELECT paid_entry_id FROM settlement_lines WHERE end_to_end_id = $1")
            .bind(e2e)
            .fetch_one(app.db.pool())
            .await
            .unwrap()
            .try_get::<i64, _>("paid_entry_id")
            .unwrap()
    };
    let r = app
        .reverse(&s.t, payout, "Virement rejeté par la banque")
        .await;
    assert_eq!(r.ok(201)["reversed_kind"], "shop_payout");
    assert_eq!(shop_balance(&app, &s.shop).await, 1_200);
    let got = app
        .get(&format!("/api/v1/settlements/{id}"), Some(&s.t))
        .await;
    assert_eq!(got.ok(200)["lines"][0]["status"], "unpaid");
    let rec = app
        .get("/api/v1/reconciliation", Some(&s.t))
        .await
        .ok(200)
        .clone();
    assert_eq!(rec["unpaid_settlement_lines"].as_array().unwrap().len(), 1);
    let lines = rec["unmatched_bank_lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{rec}");
    TestApp::assert_clean(&app.verify_problems().await);

    let bank_line = lines[0]["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/bank-lines/{bank_line}/match"),
        Some(&s.t),
        json!({"end_to_end_id": e2e}),
    )
    .await
    .ok(200);
    assert_eq!(shop_balance(&app, &s.shop).await, 0);
    TestApp::assert_clean(&app.verify_problems().await);
}

/// A subsidy is simply reversed; a leave's hand-back, a departed member's allowance and a cap
/// return alone are not; an unknown entry is 404.
async fn what_cannot_be_reversed(app: TestApp) {
    let s = setup(&app).await;
    let sub = app
        .post_idem(
            "/api/v1/subsidies",
            &s.t,
            "sub-1",
            json!({"amount": "500.00", "received_on": "2026-11-02", "label": "Métropole"}),
        )
        .await;
    let sub = sub.ok(201)["entry_id"].as_i64().unwrap();
    let r = app.reverse(&s.t, sub, "Subvention saisie deux fois").await;
    assert_eq!(r.ok(201)["reversed_kind"], "subsidy");
    app.reverse(&s.t, 999_999, "x")
        .await
        .problem(404, "not_found");
    // The rules the service checks before anything is written: an id that is no number names
    // no entry, a reason is 1 to 200 characters, and so is a subsidy's label.
    app.post(
        "/api/v1/ledger/entries/abc/reversal",
        Some(&s.t),
        json!({"reason": "x"}),
    )
    .await
    .problem(404, "not_found");
    for reason in ["  ".to_string(), "é".repeat(201)] {
        let r = app.reverse(&s.t, sub, &reason).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.fields(), vec!["reason"]);
    }
    let r = app
        .post_idem(
            "/api/v1/subsidies",
            &s.t,
            "sub-2",
            json!({"amount": "5.00", "received_on": "2026-11-02", "label": " "}),
        )
        .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.fields(), vec!["label"]);

    // The cap return alone (a member over the cap).
    app.issue(&s.t, "2026-10").await;
    app.issue(&s.t, "2026-09").await;
    let cap = {
        use sqlx::Row;
        sqlx::query(
            "SELECT id FROM journal_entries WHERE fund_id = $1 AND kind = 'allowance_cap_return'",
        )
        .bind(&app.fund_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
        .try_get::<i64, _>("id")
        .unwrap()
    };
    app.reverse(&s.t, cap, "x")
        .await
        .problem(409, "entry_not_reversible");

    // The member leaves: the hand-back and their credits stay.
    app.post(
        &format!("/api/v1/members/{}/leave", s.member),
        Some(&s.t),
        json!({}),
    )
    .await
    .ok(200);
    let hand_back = {
        use sqlx::Row;
        sqlx::query(
            "SELECT id FROM journal_entries WHERE fund_id = $1 AND kind = 'allowance_return'",
        )
        .bind(&app.fund_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
        .try_get::<i64, _>("id")
        .unwrap()
    };
    app.reverse(&s.t, hand_back, "Départ par erreur")
        .await
        .problem(409, "member_left");
    let credit = credit_entry(&app, &s.member, "2026-11").await;
    app.reverse(&s.t, credit, "x")
        .await
        .problem(409, "member_left");
    assert_eq!(app.allowance_balance(&s.member).await, 0);
    TestApp::assert_clean(&app.verify_problems().await);
}

/// After a member left, a refund, a sale reversal and a refund reversal all go to the common
/// pot (6571): the departed member's 467 stays at zero, the shop's 401 moves as for anyone.
async fn a_refund_after_leaving_goes_back_to_the_pot(app: TestApp) {
    let s = setup(&app).await;
    let a = app.sale(&s.till, &s.card, "30.00").await;
    let b = app.sale(&s.till, &s.card, "20.00").await;
    let before_leave = app.refund(&s.till, &b, "5.00").await;
    let before_leave = before_leave.ok(201)["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/members/{}/leave", s.member),
        Some(&s.t),
        json!({}),
    )
    .await
    .ok(200);
    assert_eq!(app.allowance_balance(&s.member).await, 0);
    let pot = app.balance_of("6571").await;

    app.refund(&s.till, &a, "10.00").await.ok(201);
    assert_eq!(app.allowance_balance(&s.member).await, 0);
    assert_eq!(app.balance_of("6571").await, pot - 1_000);
    assert_eq!(shop_balance(&app, &s.shop).await, 3_500);

    // The refund made before the leave, reversed: taken from the pot, where it went.
    app.reverse(&s.t, refund_entry(&app, &before_leave).await, "x")
        .await
        .ok(201);
    assert_eq!(app.allowance_balance(&s.member).await, 0);
    assert_eq!(app.balance_of("6571").await, pot - 500);
    // Sale b (now without refunds) reversed: credited to the pot.
    app.reverse(&s.t, sale_entry(&app, &b).await, "x")
        .await
        .ok(201);
    assert_eq!(app.allowance_balance(&s.member).await, 0);
    assert_eq!(app.balance_of("6571").await, pot - 2_500);
    assert_eq!(shop_balance(&app, &s.shop).await, 2_000);
    TestApp::assert_clean(&app.verify_problems().await);
}

/// Fifty payments from one member at once (fifty app cards, so that nothing but the member
/// serialises them) and a leave among them, three times: the leave succeeds, every payment is
/// approved or `member_inactive` (never `insufficient_balance`), and what is handed back to the
/// pot is exactly what was left.
async fn a_leave_racing_payments_hands_back_exactly_what_is_left(app: TestApp) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let app = Arc::new(app);
    let t = app.login(Role::Treasurer).await;
    let (_, till) = app.terminal_login().await;
    let mut refused_in_all = 0;
    for round in 0..3 {
        let member = app.new_member(&format!("Adhérente {round}")).await;
        app.issue(&t, &format!("2026-{:02}", 9 + round)).await;
        let mut cards = Vec::new();
        for _ in 0..50 {
            cards.push(app.app_card(&t, &member).await);
        }
        let start = app.allowance_balance(&member).await;
        assert_eq!(start, 15_000);
        let done = Arc::new(AtomicUsize::new(0));
        let pay = |card: &(String, Vec<u8>)| {
            let token = common::app_token(&card.0, &card.1);
            let (a, till, done) = (app.clone(), till.clone(), done.clone());
            tokio::spawn(async move {
                let r = a.redeem_printed(&till, &token, "1.00").await;
                done.fetch_add(1, Ordering::SeqCst);
                (r.status.as_u16(), r.body["code"].as_str().map(String::from))
            })
        };
        // Thirty payments; once a few are through (the others in flight), the leave, then
        // twenty more payments.
        let mut tasks: Vec<_> = cards[..30].iter().map(pay).collect();
        while done.load(Ordering::SeqCst) < 5 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let leave = {
            let (a, t, member) = (app.clone(), t.clone(), member.clone());
            tokio::spawn(async move {
                a.post(
                    &format!("/api/v1/members/{member}/leave"),
                    Some(&t),
                    json!({}),
                )
                .await
            })
        };
        // (A moment for the leave to reach the server: some payments come after it.)
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        tasks.extend(cards[30..].iter().map(pay));
        let mut approved = 0;
        for task in tasks {
            match task.await.unwrap() {
                (201, _) => approved += 1,
                (422, Some(code)) if code == "member_inactive" => refused_in_all += 1,
                other => panic!("round {round}: unexpected answer {other:?}"),
            }
        }
        let left = leave.await.unwrap();
        assert_eq!(left.ok(200)["status"], "left", "round {round}");
        let r = app.account_ref(&member).await;
        let handed_back: i64 = {
            use sqlx::Row;
            sqlx::query(
                "SELECT CAST(COALESCE(SUM(p.debit), 0) AS BIGINT) AS d FROM postings p \
                 JOIN journal_entries e ON e.id = p.entry_id \
                 WHERE p.fund_id = $1 AND e.kind = 'allowance_return' AND p.account = $2",
            )
            .bind(&app.fund_id)
            .bind(format!("467.{r}"))
            .fetch_one(app.db.pool())
            .await
            .unwrap()
            .try_get("d")
            .unwrap()
        };
        assert_eq!(app.allowance_balance(&member).await, 0, "round {round}");
        assert_eq!(
            handed_back + approved * 100,
            start,
            "round {round}: {approved} approved, {handed_back} handed back"
        );
    }
    // The leave came in the middle (it waits for the first payments).
    assert!(refused_in_all > 0, "no payment came after a leave");
    TestApp::assert_clean(&app.verify_problems().await);
}

/// `ledger verify` notices each mirror that disagrees with the ledger, as an attacker or a bad
/// script writing SQL behind the service would leave it.
async fn verify_catches_a_broken_mirror(app: TestApp) {
    let s = setup(&app).await;
    let sale = app.sale(&s.till, &s.card, "30.00").await;
    let refund = app.refund(&s.till, &sale, "10.00").await;
    let refund = refund.ok(201)["id"].as_str().unwrap().to_string();
    let other = app.sale(&s.till, &s.card, "7.00").await;
    app.reverse(&s.t, sale_entry(&app, &other).await, "x")
        .await
        .ok(201);
    app.post(
        "/api/v1/contributions/calls",
        Some(&s.t),
        json!({"period": "2026-11"}),
    )
    .await
    .ok(200);
    TestApp::assert_clean(&app.verify_problems().await);

    let cases: [(&str, &str, &str); 6] = [
        (
            "UPDATE redemptions SET refunded = 0 WHERE fund_id = $1 AND refunded > 0",
            "UPDATE redemptions SET refunded = 1000 WHERE fund_id = $1 AND amount = 3000",
            "refunded",
        ),
        (
            "UPDATE redemptions SET reversed_entry_id = NULL, reversed_at = NULL \
             WHERE fund_id = $1 AND amount = 700",
            "UPDATE redemptions SET reversed_at = created_at, reversed_entry_id = \
             (SELECT r.id FROM journal_entries r WHERE r.reverses_id = redemptions.entry_id) \
             WHERE fund_id = $1 AND amount = 700",
            "does not say so",
        ),
        (
            "UPDATE refunds SET settlement_id = 'stl_forged' WHERE fund_id = $1",
            "UPDATE refunds SET settlement_id = NULL WHERE fund_id = $1",
            "401 balance",
        ),
        (
            "UPDATE refunds SET reversed_entry_id = 1 WHERE fund_id = $1",
            "UPDATE refunds SET reversed_entry_id = NULL WHERE fund_id = $1",
            "is not reversed but the row says it is",
        ),
        (
            "UPDATE contribution_calls SET amount = amount + 1 WHERE fund_id = $1",
            "UPDATE contribution_calls SET amount = amount - 1 WHERE fund_id = $1",
            "411 balance",
        ),
        (
            "UPDATE members SET status = 'left' WHERE fund_id = $1",
            "UPDATE members SET status = 'active' WHERE fund_id = $1",
            "has left but their 467 holds",
        ),
    ];
    for (break_it, mend, expected) in cases {
        app.sql(break_it).await;
        let problems = app.verify_problems().await;
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "after `{break_it}`, expected a problem with `{expected}`: {problems:#?}"
        );
        app.sql(mend).await;
        TestApp::assert_clean(&app.verify_problems().await);
    }
    assert!(!refund.is_empty());
}

both_backends!(
    entries_reversed_before_the_migration_are_mirrored_by_it,
    a_refund_racing_the_reversal_of_its_sale_credits_once,
);

/// Reversals made before migration 0012 changed only the journal; the migration marks their
/// rows, so that verify is clean and a reversed sale is neither refunded nor paid. (Run here on
/// rows reversed the old way: the store's bare reversal, then the migration's backfill part.)
async fn entries_reversed_before_the_migration_are_mirrored_by_it(app: TestApp) {
    let s = setup(&app).await;
    let sale = app.sale(&s.till, &s.card, "30.00").await;
    let other = app.sale(&s.till, &s.card, "20.00").await;
    let refund = app.refund(&s.till, &other, "5.00").await;
    let refund = refund.ok(201)["id"].as_str().unwrap().to_string();
    let bare = |entry: i64| {
        let db = app.db.clone();
        let fund = app.fund_id.clone();
        async move {
            let mut tx = db.begin().await.unwrap();
            let day = caisse::domain::today();
            caisse::store::ledger::reverse(&mut tx, &fund, entry, day, "Annulation ancienne")
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    };
    bare(sale_entry(&app, &sale).await).await;
    bare(refund_entry(&app, &refund).await).await;
    assert!(
        !app.verify_problems().await.is_empty(),
        "the old way leaves mirrors behind"
    );

    let file = match app.backend {
        caisse::store::Backend::Sqlite => include_str!("../migrations/sqlite/0012_corrections.sql"),
        caisse::store::Backend::Postgres => {
            include_str!("../migrations/postgres/0012_corrections.sql")
        }
    };
    let backfill = &file[file
        .find("-- Entries reversed before this migration")
        .unwrap()..];
    sqlx::raw_sql(backfill)
        .execute(app.db.pool())
        .await
        .unwrap();
    TestApp::assert_clean(&app.verify_problems().await);
    app.refund(&s.till, &sale, "1.00")
        .await
        .problem(409, "redemption_reversed");
    assert_eq!(refunded(&app, &s.t, &other).await, "0.00");
    // 20.00 sold, the 30.00 sale and the refund reversed: the shop is owed 20.00.
    let settlement = app.settle_now(&s.t).await.ok(201).clone();
    assert_eq!(line(&settlement, &s.shop), ("20.00".into(), 2));
}

/// A till refunding a sale while the treasurer reverses it, ten times: exactly one of the two
/// goes through, and the member is credited back once.
async fn a_refund_racing_the_reversal_of_its_sale_credits_once(app: TestApp) {
    let s = setup(&app).await;
    let app = std::sync::Arc::new(app);
    for round in 0..10 {
        let sale = app.sale(&s.till, &s.card, "3.00").await;
        let entry = sale_entry(&app, &sale).await;
        let (a, till, id) = (app.clone(), s.till.clone(), sale.clone());
        let refund = tokio::spawn(async move { a.refund(&till, &id, "3.00").await });
        let (a, t) = (app.clone(), s.t.clone());
        let reversal = tokio::spawn(async move { a.reverse(&t, entry, "Annulée").await });
        let (refund, reversal) = (refund.await.unwrap(), reversal.await.unwrap());
        match (refund.status.as_u16(), reversal.status.as_u16()) {
            (201, 409) => assert_eq!(reversal.body["code"], "redemption_refunded"),
            (409, 201) => assert_eq!(refund.body["code"], "redemption_reversed"),
            other => panic!("round {round}: {other:?} {} {}", refund.body, reversal.body),
        }
        assert_eq!(
            app.allowance_balance(&s.member).await,
            15_000,
            "round {round}"
        );
    }
    assert_eq!(shop_balance(&app, &s.shop).await, 0);
    TestApp::assert_clean(&app.verify_problems().await);
}
