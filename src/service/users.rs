use crate::auth;
use crate::domain::{FieldError, Role};
use crate::service::error::ServiceError;
use crate::store::users::{self, User};
use crate::store::Db;

/// Creates a user after checking the email and the password's length; hashes with Argon2id
/// off the async threads.
pub async fn create(
    db: &Db,
    fund_id: &str,
    email: &str,
    password: &str,
    role: Role,
    member_id: Option<&str>,
) -> Result<User, ServiceError> {
    let mut errors = Vec::new();
    let email = users::normalize_email(email);
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.contains(char::is_whitespace);
    if !plausible {
        errors.push(FieldError::new("email", "not a valid email address"));
    }
    if password.chars().count() < auth::MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "password",
            format!("must be at least {} characters", auth::MIN_PASSWORD_CHARS),
        ));
    }
    if password.len() > 1024 {
        errors.push(FieldError::new("password", "must be at most 1024 bytes"));
    }
    if !errors.is_empty() {
        return Err(ServiceError::invalid(errors));
    }
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(ServiceError::internal)?;
    let mut tx = db.begin().await?;
    let user = users::create(&mut tx, fund_id, &email, &hash, role, member_id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Checks an email and a password; the user when they match. An unknown email is checked
/// against a dummy hash so that both failures take the same time. `fund_id` narrows the
/// search when one deployment hosts several funds.
pub async fn authenticate(
    db: &Db,
    email: &str,
    password: &str,
    fund_id: Option<&str>,
) -> Result<Option<User>, ServiceError> {
    let candidates: Vec<_> = users::find_by_email(db, email)
        .await?
        .into_iter()
        .filter(|c| fund_id.is_none_or(|f| f == c.user.fund_id))
        .collect();
    // Argon2 is slow on purpose: off the async threads.
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        if candidates.is_empty() {
            auth::verify_password(&password, auth::dummy_hash());
            return None;
        }
        candidates
            .into_iter()
            .find(|c| auth::verify_password(&password, &c.password_hash))
            .map(|c| c.user)
    })
    .await
    .map_err(ServiceError::internal)
}
