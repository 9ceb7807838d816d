//! The fund's rules: read (admin and treasurer), replaced whole (admin). A change applies from
//! the next call or issuance; what was called or credited before never changes.

use super::error::ServiceError;
use crate::domain::bank::normalize_iban;
use crate::domain::settings::FundSettings;
use crate::domain::FundId;
use crate::store::{funds, Db};

pub async fn get(db: &Db, fund: &FundId) -> Result<FundSettings, ServiceError> {
    Ok(funds::settings(db, fund).await?)
}

/// Checks every field, then stores the settings in their normal form (the IBAN without spaces,
/// the name trimmed) and returns them as stored.
pub async fn put(
    db: &Db,
    fund: &FundId,
    mut settings: FundSettings,
) -> Result<FundSettings, ServiceError> {
    let errors = settings.validate();
    if !errors.is_empty() {
        return Err(ServiceError::invalid(errors));
    }
    settings.iban = normalize_iban(&settings.iban);
    settings.fund_name = settings.fund_name.trim().to_string();
    let mut tx = db.begin().await?;
    funds::put_settings(&mut tx, fund, &settings).await?;
    tx.commit().await?;
    Ok(settings)
}
