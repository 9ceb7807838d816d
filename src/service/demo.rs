//! `caisse demo`: a fund with real-looking settings and logins, so a newcomer can try it.

mod shops;

use chrono::{Datelike, NaiveDate};

use crate::domain::Role;
use crate::store::{users, Db};

pub const DEMO_PASSWORD: &str = "demo-caisse-2026";

pub const DEMO_LOGINS: [(&str, Role); 3] = [
    ("admin@demo.caisse.fr", Role::Admin),
    ("tresorerie@demo.caisse.fr", Role::Treasurer),
    ("comite@demo.caisse.fr", Role::Committee),
];

/// Fills an empty fund (one without users) with demo logins and a first subsidy. A fund that
/// already has users is left alone.
pub async fn fill(db: &Db, fund_id: &str, bind: std::net::SocketAddr) -> anyhow::Result<()> {
    let has_users = !users::find_by_email(db, DEMO_LOGINS[0].0).await?.is_empty()
        || sqlx::query("SELECT 1 AS one FROM users WHERE fund_id = $1 LIMIT 1")
            .bind(fund_id)
            .fetch_optional(db.pool())
            .await?
            .is_some();
    let mut till = None;
    if !has_users {
        let mut ids = Vec::new();
        for (email, role) in DEMO_LOGINS {
            let user = super::users::create(db, fund_id, email, DEMO_PASSWORD, role, None)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            ids.push(user.id);
        }
        // The fund starts with the subsidies that pay for most allowances (PRODUCT.md: members'
        // contributions cover 25 % to 50 %).
        let today = chrono::Utc::now().date_naive();
        let start = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
        let start = start - chrono::Months::new(3);
        let mut tx = db.begin().await?;
        super::ledger::record_subsidy(
            &mut tx,
            fund_id,
            "12000.00".parse().expect("constant"),
            start,
            "Subvention Métropole — alimentation durable",
        )
        .await?;
        super::ledger::record_subsidy(
            &mut tx,
            fund_id,
            "4500.00".parse().expect("constant"),
            start + chrono::Days::new(20),
            "Fondation — soutien à la caisse commune",
        )
        .await?;
        tx.commit().await?;
        till = Some(shops::fill(db, fund_id, &ids[0], &ids[2], DEMO_PASSWORD).await?);
        println!("Demo fund created.");
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
    }
    Ok(())
}
