//! `caisse demo`: a fund with real-looking settings and logins, so a newcomer can try it.

mod month_end;
mod shops;

use chrono::{Datelike, NaiveDate};

use crate::domain::Role;
use crate::store::{users, Db};

pub const DEMO_PASSWORD: &str = "demo-caisse-2026";

/// PIN of the demo member's printed card.
pub const DEMO_PIN: &str = "2468";

pub const DEMO_LOGINS: [(&str, Role); 4] = [
    ("admin@demo.caisse.fr", Role::Admin),
    ("tresorerie@demo.caisse.fr", Role::Treasurer),
    ("comite@demo.caisse.fr", Role::Committee),
    ("adherente@demo.caisse.fr", Role::Member),
];

const FIRST_NAMES: [&str; 20] = [
    "Awa", "Lucas", "Fatima", "Jean", "Nadia", "Hugo", "Chantal", "Karim", "Sophie", "Mamadou",
    "Élise", "Yannick", "Inès", "Bernard", "Leïla", "Thomas", "Odile", "Samir", "Manon", "Gérard",
];
const LAST_NAMES: [&str; 20] = [
    "Diallo",
    "Martin",
    "Benali",
    "Dupont",
    "Haddad",
    "Moreau",
    "Lefèvre",
    "Mansouri",
    "Garcia",
    "Traoré",
    "Roux",
    "Le Gall",
    "Bouzid",
    "Fournier",
    "Nguyen",
    "Petit",
    "Chevalier",
    "Kaci",
    "Blanc",
    "Perrin",
];

/// Fills an empty fund (one without users) with demo logins and a first subsidy. A fund that
/// already has users is left alone.
pub async fn fill(
    db: &Db,
    fund_id: &str,
    bind: std::net::SocketAddr,
    card_key: &crate::card_key::CardKey,
) -> anyhow::Result<()> {
    let has_users = !users::find_by_email(db, DEMO_LOGINS[0].0).await?.is_empty()
        || sqlx::query("SELECT 1 AS one FROM users WHERE fund_id = $1 LIMIT 1")
            .bind(fund_id)
            .fetch_optional(db.pool())
            .await?
            .is_some();
    let mut till = None;
    let mut cards: Option<(String, String, String)> = None;
    let mut month_end = None;
    if !has_users {
        let members = demo_members(db, fund_id).await?;
        let mut ids = Vec::new();
        for (email, role) in DEMO_LOGINS {
            let member = (role == Role::Member).then(|| members[0].as_str());
            let user = super::users::create(db, fund_id, email, DEMO_PASSWORD, role, member)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e))?;
            ids.push(user.id);
        }
        // The fund starts with the subsidies that pay for most allowances (PRODUCT.md: members'
        // contributions cover 25 % to 50 %).
        let today = crate::domain::today();
        let start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
        let start = start - chrono::Months::new(3);
        let mut tx = db.begin().await?;
        super::ledger::record_subsidy(
            &mut tx,
            &crate::domain::FundId::new(fund_id),
            "12000.00".parse().expect("constant"),
            start,
            "Subvention Métropole — alimentation durable",
        )
        .await?;
        super::ledger::record_subsidy(
            &mut tx,
            &crate::domain::FundId::new(fund_id),
            "4500.00".parse().expect("constant"),
            start + chrono::Days::new(20),
            "Fondation — soutien à la caisse commune",
        )
        .await?;
        tx.commit().await?;
        demo_contributions(db, fund_id, &members).await?;
        // ids: admin, treasurer, committee, member (the order of DEMO_LOGINS).
        till = Some(shops::fill(db, fund_id, &ids[0], &ids[2], DEMO_PASSWORD).await?);
        // The demo member's cards: an app card (its secret is shown once, here) and a printed
        // card with its PIN, so a newcomer can pay at the demo till with curl.
        let app = super::cards::issue(
            db,
            card_key,
            &crate::domain::FundId::new(fund_id),
            &crate::domain::MemberId::new(&members[0]),
            crate::domain::card::CardKind::App,
            None,
            &crate::domain::UserId::new(&ids[0]),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e))?;
        let printed = super::cards::issue(
            db,
            card_key,
            &crate::domain::FundId::new(fund_id),
            &crate::domain::MemberId::new(&members[0]),
            crate::domain::card::CardKind::Printed,
            Some(DEMO_PIN.to_string()),
            &crate::domain::UserId::new(&ids[0]),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e))?;
        cards = Some((
            app.card.id.clone(),
            app.secret.unwrap_or_default(),
            printed.card.id,
        ));
        // The past months at the tills, settled, and one bank statement imported.
        month_end = Some(month_end::fill(db, fund_id, &members, &ids[1]).await?);
        println!(
            "Demo fund created: {} members with three months of contributions and allowances, 10 shops.",
            members.len()
        );
        if let Some(m) = &month_end {
            println!(
                "Month end: {} purchases in the past three months, {} settlements, one bank \
                 statement imported.",
                m.purchases, m.settlements
            );
        }
    } else {
        println!("The database already holds a fund with users: demo data not added.");
    }
    println!();
    println!("Demo logins (password for all: {DEMO_PASSWORD}):");
    for (email, role) in DEMO_LOGINS {
        println!("  {:<10} {email}", role.as_str());
    }
    println!();
    println!("Try:");
    println!(
        "  curl -s -X POST http://{bind}/api/v1/sessions -H 'content-type: application/json' \\"
    );
    println!(
        "       -d '{{\"email\":\"{}\",\"password\":\"{DEMO_PASSWORD}\"}}'",
        DEMO_LOGINS[1].0
    );
    if let Some(till) = till {
        println!();
        println!(
            "Till key of {} (shown this once; admins can issue others):",
            till.shop_name
        );
        println!("  {}", till.api_key);
        println!(
            "  curl -s http://{bind}/api/v1/terminals/current -H 'authorization: Bearer {}'",
            till.api_key
        );
        if let Some((app_card, secret, printed_card)) = &cards {
            println!();
            println!(
                "Cards of {} (TOTP: SHA-256, 8 digits, 30 s steps):",
                DEMO_LOGINS[3].0
            );
            println!("  app card secret (base32, shown once): {secret}");
            println!(
                "  otpauth://totp/caisse:adherente?secret={secret}&algorithm=SHA256&digits=8&period=30"
            );
            println!("  printed card: caisse1:{printed_card}  PIN {DEMO_PIN}");
            println!("Pay 12.50 at the till with the app card (oathtool computes the code):");
            println!("  CODE=$(oathtool --totp=sha256 --digits=8 --base32 {secret})");
            println!(
                "  curl -s -X POST http://{bind}/api/v1/redemptions -H 'authorization: Bearer {}' \\",
                till.api_key
            );
            println!(
                "       -H 'content-type: application/json' -H \"Idempotency-Key: $(date +%s%N)\" \\"
            );
            println!(
                "       -d \"{{\\\"token\\\":\\\"caisse1:{app_card}:$CODE\\\",\\\"amount\\\":\\\"12.50\\\"}}\""
            );
        }
    }
    if let Some(Some((e2e, shop))) = month_end.map(|m| m.unpaid) {
        println!();
        println!(
            "Reconciliation (as the treasurer): the transfer {e2e} to {shop} is not on the \
             bank statement yet:"
        );
        println!("  curl -s http://{bind}/api/v1/reconciliation -H 'authorization: Bearer TOKEN'");
    }
    Ok(())
}

/// A small deterministic generator, so every demo looks the same.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// About 40 households of every kind: single people, couples, large families, with incomes
/// from the minimum social benefits to comfortable salaries; two suspended, one who left.
async fn demo_members(db: &Db, fund_id: &str) -> anyhow::Result<Vec<String>> {
    use super::members::{change_status, create, MemberInput, StatusChange};
    let mut dice = Dice(2026);
    let mut ids = Vec::new();
    for i in 0..42u64 {
        let adults = 1 + dice.roll(3) as i64;
        let children = if dice.roll(3) == 0 {
            0
        } else {
            dice.roll(5) as i64
        };
        let income = 600 + dice.roll(40) * 100 + adults as u64 * 300;
        let first = FIRST_NAMES[(i % 20) as usize];
        let last = LAST_NAMES[((i * 7 + 3) % 20) as usize];
        let input = MemberInput {
            full_name: Some(format!("{first} {last}")),
            email: Some(Some(format!(
                "{}.{}@exemple.fr",
                first.to_lowercase(),
                last.to_lowercase().replace(' ', "-")
            ))),
            phone: Some((i % 3 != 0).then(|| {
                format!(
                    "06 {:02} {:02} {:02} {:02}",
                    10 + i,
                    20 + i,
                    30 + i % 50,
                    40 + i % 50
                )
            })),
            adults: Some(adults),
            children: Some(children),
            monthly_income: Some(Some(format!("{income}.00").parse()?)),
            chosen_contribution: None,
        };
        let m = create(db, &crate::domain::FundId::new(fund_id), &input)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e))?;
        ids.push(m.member.id);
    }
    for (i, change) in [
        (7, StatusChange::Suspend),
        (19, StatusChange::Suspend),
        (33, StatusChange::Leave),
    ] {
        let (fund, member) = (
            crate::domain::FundId::new(fund_id),
            crate::domain::MemberId::new(ids[i].as_str()),
        );
        change_status(db, &fund, &member, change)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e))?;
    }
    Ok(ids)
}

/// Calls and allowances for the three months before this one; most members pay by transfer or
/// direct debit early in the month, some by cash or cheque, a few are late, one pays ahead.
async fn demo_contributions(db: &Db, fund_id: &str, members: &[String]) -> anyhow::Result<()> {
    use crate::domain::member::Period;
    let mut dice = Dice(11);
    let current = Period::of(crate::domain::today());
    let periods = [
        current.previous().previous().previous(),
        current.previous().previous(),
        current.previous(),
    ];
    for (month, period) in periods.into_iter().enumerate() {
        super::contributions::call(db, &crate::domain::FundId::new(fund_id), period)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e))?;
        super::allowances::issue(db, &crate::domain::FundId::new(fund_id), period, None)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e))?;
        let mut tx = db.begin().await?;
        for (i, id) in members.iter().enumerate() {
            let called = sqlx::query(
                "SELECT amount FROM contribution_calls WHERE fund_id = $1 AND period = $2 AND member_id = $3",
            )
            .bind(fund_id)
            .bind(period.to_string())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(called) = called else { continue };
            let amount: i64 = sqlx::Row::try_get(&called, "amount")?;
            // Members 3, 11 and 26 fall behind; member 14 pays the last month late (not yet).
            let late = matches!(i, 3 | 11 | 26) && month > 0 || (i == 14 && month == 2);
            if amount == 0 || late {
                continue;
            }
            let amount = if i == 5 && month == 2 {
                amount * 3
            } else {
                amount
            };
            let method =
                ["transfer", "direct_debit", "transfer", "cash", "cheque"][dice.roll(5) as usize];
            let day = 2 + dice.roll(10);
            super::contributions::record_payment(
                &mut tx,
                fund_id,
                id,
                crate::domain::Cents::from_cents(amount)?,
                method,
                period.first_day() + chrono::Days::new(day),
                None,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e))?;
        }
        tx.commit().await?;
    }
    Ok(())
}
