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

/// What a new demo fund hands a newcomer: the till's key and the demo member's cards (their
/// secrets are shown once, when the fund is made).
struct Made {
    till: shops::DemoTill,
    /// (app card id, its TOTP secret in base32, printed card id).
    cards: (String, String, String),
    month_end: month_end::MonthEnd,
}

/// Fills an empty fund (one without users) with demo logins, members, subsidies, shops, cards
/// and three months of history, then prints how to try it. A fund that already has users is
/// left alone.
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
    let made = if has_users {
        println!("The database already holds a fund with users: demo data not added.");
        None
    } else {
        Some(make(db, fund_id, card_key).await?)
    };
    print_logins(bind);
    if let Some(made) = made {
        print_till_and_cards(bind, &made.till, &made.cards);
        print_reconciliation(bind, &made.month_end);
    }
    Ok(())
}

async fn make(db: &Db, fund_id: &str, card_key: &crate::card_key::CardKey) -> anyhow::Result<Made> {
    let members = demo_members(db, fund_id).await?;
    let mut ids = Vec::new();
    for (email, role) in DEMO_LOGINS {
        let member = (role == Role::Member).then(|| crate::domain::MemberId::new(&members[0]));
        let fund = crate::domain::FundId::new(fund_id);
        let user = super::users::create(db, &fund, email, DEMO_PASSWORD, role, member.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("{}", e))?;
        ids.push(user.id);
    }
    demo_subsidies(db, fund_id).await?;
    demo_contributions(db, fund_id, &members).await?;
    // ids: admin, treasurer, committee, member (the order of DEMO_LOGINS).
    let till = shops::fill(db, fund_id, &ids[0], &ids[2], DEMO_PASSWORD).await?;
    let cards = demo_cards(db, fund_id, card_key, &members[0], &ids[0]).await?;
    // The past months at the tills, settled, and one bank statement imported.
    let month_end = month_end::fill(db, fund_id, &members, &ids[1]).await?;
    println!(
        "Demo fund created: {} members with three months of contributions and allowances, 10 shops.",
        members.len()
    );
    println!(
        "Month end: {} purchases in the past three months, {} settlements, one bank statement \
         imported.",
        month_end.purchases, month_end.settlements
    );
    Ok(Made {
        till,
        cards,
        month_end,
    })
}

/// The fund starts with the subsidies that pay for most allowances (PRODUCT.md: members'
/// contributions cover 25 % to 50 %), three months back.
async fn demo_subsidies(db: &Db, fund_id: &str) -> anyhow::Result<()> {
    let today = crate::domain::today();
    let start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    let start = start - chrono::Months::new(3);
    let fund = crate::domain::FundId::new(fund_id);
    let mut tx = db.begin().await?;
    for (amount, on, label) in [
        (
            "12000.00",
            start,
            "Subvention Métropole — alimentation durable",
        ),
        (
            "4500.00",
            start + chrono::Days::new(20),
            "Fondation — soutien à la caisse commune",
        ),
    ] {
        let amount = amount.parse().expect("constant");
        super::ledger::record_subsidy(&mut tx, &fund, amount, on, label).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The demo member's cards: an app card (its secret is shown once, here) and a printed card
/// with its PIN, so a newcomer can pay at the demo till with curl.
async fn demo_cards(
    db: &Db,
    fund_id: &str,
    card_key: &crate::card_key::CardKey,
    member: &str,
    admin: &str,
) -> anyhow::Result<(String, String, String)> {
    use crate::domain::card::CardKind;
    let (fund, member) = (
        crate::domain::FundId::new(fund_id),
        crate::domain::MemberId::new(member),
    );
    let admin = crate::domain::UserId::new(admin);
    let issue = |kind, pin: Option<String>| {
        super::cards::issue(db, card_key, &fund, &member, kind, pin, &admin)
    };
    let app = issue(CardKind::App, None)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e))?;
    let printed = issue(CardKind::Printed, Some(DEMO_PIN.to_string()))
        .await
        .map_err(|e| anyhow::anyhow!("{}", e))?;
    Ok((
        app.card.id.clone(),
        app.secret.unwrap_or_default(),
        printed.card.id,
    ))
}

fn print_logins(bind: std::net::SocketAddr) {
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
}

fn print_till_and_cards(
    bind: std::net::SocketAddr,
    till: &shops::DemoTill,
    (app_card, secret, printed_card): &(String, String, String),
) {
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
    println!("       -H 'content-type: application/json' -H \"Idempotency-Key: $(date +%s%N)\" \\");
    println!(
        "       -d \"{{\\\"token\\\":\\\"caisse1:{app_card}:$CODE\\\",\\\"amount\\\":\\\"12.50\\\"}}\""
    );
}

fn print_reconciliation(bind: std::net::SocketAddr, month_end: &month_end::MonthEnd) {
    if let Some((e2e, shop)) = &month_end.unpaid {
        println!();
        println!(
            "Reconciliation (as the treasurer): the transfer {e2e} to {shop} is not on the \
             bank statement yet:"
        );
        println!("  curl -s http://{bind}/api/v1/reconciliation -H 'authorization: Bearer TOKEN'");
    }
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
