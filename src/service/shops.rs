//! Shop use cases: apply, vote, decide, suspend and reinstate, give and revoke till keys. Each is
//! one transaction.

use chrono::NaiveDate;

use crate::auth;
use crate::domain::ledger::{AccountCode, General};
use crate::domain::shop::{Decision, ShopApplication, StatusChange, VoteChoice};
use crate::service::error::ServiceError;
use crate::store::shops::{self, Shop, StatusRecord, VoteOutcome};
use crate::store::terminals::{self, Terminal};
use crate::store::{funds, ledger, Db};

/// Checks an application against the fund's categories and criteria and records it, `pending`.
pub async fn apply(
    db: &Db,
    fund_id: &str,
    application: &ShopApplication,
    created_by: &str,
) -> Result<Shop, ServiceError> {
    let settings = funds::settings(db, fund_id).await?;
    let valid = application
        .validate(&settings)
        .map_err(ServiceError::invalid)?;
    let mut tx = db.begin().await?;
    let shop = shops::create(&mut tx, fund_id, &valid, created_by).await?;
    tx.commit().await?;
    Ok(shop)
}

/// What an admin may change in a shop's record once it applied: each field given replaces
/// the current one; the whole record is checked again as an application would be.
#[derive(Clone, Debug, Default)]
pub struct DetailsChange {
    pub name: Option<String>,
    pub legal_name: Option<String>,
    pub siret: Option<String>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub address: Option<String>,
    pub categories: Option<Vec<String>>,
}

/// Changes a shop's details (a new bank account, a move...). Settlements already made keep
/// paying the account they were made for.
pub async fn update_details(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    change: DetailsChange,
) -> Result<Shop, ServiceError> {
    let mut settings = funds::settings(db, fund_id).await?;
    let mut tx = db.begin().await?;
    // Read and changed under one lock: two admins' changes do not undo each other's.
    let Some(shop) = shops::get_for_update(&mut tx, fund_id, shop_id).await? else {
        tx.rollback().await?;
        return Err(ServiceError::not_found("shop"));
    };
    if change.categories.is_none() {
        // Categories the fund has dropped since the shop applied stay valid until changed.
        settings.categories.extend(shop.categories.iter().cloned());
    }
    let merged = ShopApplication {
        name: change.name.unwrap_or(shop.name),
        legal_name: change.legal_name.unwrap_or(shop.legal_name),
        siret: change.siret.or(shop.siret),
        iban: change.iban.unwrap_or(shop.iban),
        bic: change.bic.or(shop.bic),
        address: change.address.unwrap_or(shop.address),
        categories: change.categories.unwrap_or(shop.categories),
        criteria: Default::default(),
    };
    let valid = match merged.validate(&settings) {
        Ok(valid) => valid,
        Err(errors) => {
            tx.rollback().await?;
            return Err(ServiceError::invalid(errors));
        }
    };
    if !shops::update_details(&mut tx, fund_id, shop_id, &valid).await? {
        tx.rollback().await?;
        return Err(ServiceError::not_found("shop"));
    }
    tx.commit().await?;
    tracing::info!(shop_id, "shop details changed");
    shops::get(db, fund_id, shop_id)
        .await?
        .ok_or_else(|| ServiceError::not_found("shop"))
}

pub async fn vote(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    voter_id: &str,
    choice: VoteChoice,
    comment: Option<&str>,
) -> Result<VoteOutcome, ServiceError> {
    let mut tx = db.begin().await?;
    let outcome = shops::vote(&mut tx, fund_id, shop_id, voter_id, choice, comment).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// An admin's decision. An approval opens the shop's payable account (401.SHOP) in the same
/// transaction, so an approved shop can always be owed money.
pub async fn decide(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    decision: Decision,
    note: Option<&str>,
    review_on: Option<NaiveDate>,
    decided_by: &str,
) -> Result<StatusRecord, ServiceError> {
    let mut tx = db.begin().await?;
    let record = shops::decide(
        &mut tx, fund_id, shop_id, decision, note, review_on, decided_by,
    )
    .await?;
    if decision == Decision::Approved {
        let name = shops::name(&mut tx, fund_id, shop_id).await?;
        ledger::open_account(
            &mut tx,
            fund_id,
            &AccountCode::auxiliary(General::Shops, shop_id),
            &name,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(record)
}

/// Suspension or reinstatement, effective at the next payment.
pub async fn change_status(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    change: StatusChange,
    note: Option<&str>,
    decided_by: &str,
) -> Result<StatusRecord, ServiceError> {
    let mut tx = db.begin().await?;
    let record = shops::change_status(&mut tx, fund_id, shop_id, change, note, decided_by).await?;
    tx.commit().await?;
    Ok(record)
}

/// A new till for the shop, with its API key: the only time the key exists outside the till.
pub async fn create_terminal(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    label: &str,
    created_by: &str,
) -> Result<(Terminal, String), ServiceError> {
    let key = auth::new_token("ct");
    let mut tx = db.begin().await?;
    let terminal = terminals::create(
        &mut tx,
        fund_id,
        shop_id,
        label,
        &auth::token_hash(&key),
        created_by,
    )
    .await?;
    tx.commit().await?;
    Ok((terminal, key))
}

pub async fn revoke_terminal(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    terminal_id: &str,
    revoked_by: &str,
) -> Result<Terminal, ServiceError> {
    let mut tx = db.begin().await?;
    let terminal = terminals::revoke(&mut tx, fund_id, shop_id, terminal_id, revoked_by)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ServiceError::not_found("terminal"),
            other => other.into(),
        })?;
    tx.commit().await?;
    Ok(terminal)
}
