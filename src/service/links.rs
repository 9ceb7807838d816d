//! Logins for people who are not developers: an admin invites a member, a treasurer or a
//! committee member, who chooses their own password from a link; someone who forgot theirs asks
//! for a new-password link. A link is 256 random bits (only its hash is stored), works once,
//! and expires: an invitation after 7 days, a new-password link after 2 hours. Sent by email
//! when the deployment has a mail server; otherwise the admin's page shows it to hand over.

use crate::auth;
use crate::caller::{AdminOnly, Caller, Roles};
use crate::domain::{ErrorCode, FieldError, FundId, Instant, MemberId, Role, UserId};
use crate::mail::{Mail, MailError, Mailer};
use crate::service::error::ServiceError;
use crate::store::login_links::{self, Purpose};
use crate::store::users::{self, User};
use crate::store::Db;

pub const INVITATION_HOURS: i64 = 7 * 24;
pub const RESET_HOURS: i64 = 2;

/// Where a link's token goes in the address: `/mot-de-passe/TOKEN`.
pub const LINK_PATH: &str = "/mot-de-passe/";

/// A link just made: its address is known only now (only its hash is kept).
#[derive(Clone, Debug)]
pub struct IssuedLink {
    pub user: User,
    pub purpose: Purpose,
    /// The token to put after [`LINK_PATH`].
    pub token: String,
    pub expires_at: Instant,
}

impl IssuedLink {
    pub fn url(&self, public_url: &str) -> String {
        format!(
            "{}{LINK_PATH}{}",
            public_url.trim_end_matches('/'),
            self.token
        )
    }
}

/// Why a link cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Unknown, already used, replaced by a newer one, or expired: the person asks again.
    #[error("this link is unknown, was already used or has expired")]
    Invalid,
    #[error(transparent)]
    Refused(#[from] ServiceError),
}

impl From<LinkError> for ServiceError {
    fn from(e: LinkError) -> Self {
        match e {
            e @ LinkError::Invalid => ServiceError::refused(ErrorCode::LinkInvalid, e.to_string()),
            LinkError::Refused(s) => s,
        }
    }
}

impl From<crate::store::StoreError> for LinkError {
    fn from(e: crate::store::StoreError) -> Self {
        LinkError::Refused(e.into())
    }
}

async fn issue(
    db: &Db,
    user: User,
    purpose: Purpose,
    by: Option<&UserId>,
) -> Result<IssuedLink, ServiceError> {
    let token = auth::new_token("lien");
    let now = crate::domain::now_micros();
    let hours = match purpose {
        Purpose::Invitation => INVITATION_HOURS,
        Purpose::Reset => RESET_HOURS,
    };
    let expires_at = now + hours * 3600 * 1_000_000;
    login_links::create(
        db,
        &auth::token_hash(&token),
        &user.fund_id,
        &user.id,
        purpose,
        by.map(|u| u.as_str()),
        now,
        expires_at,
    )
    .await?;
    Ok(IssuedLink {
        user,
        purpose,
        token,
        expires_at: Instant::from_micros(expires_at),
    })
}

/// The admin's caller: who may invite and hand over links, and in which fund.
fn admin(caller: &Caller) -> Result<(&FundId, &UserId), ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let user = caller.user().ok_or(crate::caller::Forbidden)?;
    Ok((caller.fund(), user))
}

/// Invites a person (admins only): their login is created with a password nobody knows, and
/// the link lets them choose their own. A member's login names the member it is for, one who
/// has not left; a till is not a person.
pub async fn invite(
    db: &Db,
    caller: &Caller,
    email: &str,
    role: Role,
    member: Option<&MemberId>,
) -> Result<IssuedLink, ServiceError> {
    let (fund, by) = admin(caller)?;
    let errors = super::users::person_errors(db, fund, role, member).await?;
    if !errors.is_empty() {
        return Err(ServiceError::invalid(errors));
    }
    // Nobody knows this password: the person sets theirs with the link.
    let unknown = auth::new_token("nopass");
    let user = super::users::create(db, fund, email, &unknown, role, member).await?;
    issue(db, user, Purpose::Invitation, Some(by)).await
}

/// A new-password link for a person of the fund whose login is not disabled, made by an admin
/// (who hands it over when no mail server is set).
pub async fn reset_link(
    db: &Db,
    caller: &Caller,
    user: &UserId,
) -> Result<IssuedLink, ServiceError> {
    let (fund, by) = admin(caller)?;
    let found = users::find(db, fund, user)
        .await?
        .ok_or_else(|| ServiceError::not_found("user"))?;
    // Its link would not work: the admin enables the login first.
    if found.disabled_at.is_some() {
        return Err(ServiceError::refused(
            ErrorCode::InvalidStatusChange,
            "this login is disabled: enable it first",
        ));
    }
    issue(db, found.user, Purpose::Reset, Some(by)).await
}

/// "Mot de passe oublié": a new-password link for each login with this email (one person may
/// have logins in several funds of one deployment). The page answers the same words whether
/// the address is known or not, so nobody learns who is a member.
pub async fn forgotten(db: &Db, email: &str) -> Result<Vec<IssuedLink>, ServiceError> {
    let mut links = Vec::new();
    for found in users::find_by_email(db, email).await? {
        links.push(issue(db, found.user, Purpose::Reset, None).await?);
    }
    Ok(links)
}

/// What a link's page shows before the password is chosen.
#[derive(Clone, Debug)]
pub struct OpenLink {
    pub email: String,
    pub purpose: Purpose,
    pub expires_at: Instant,
}

/// The link behind a token, if it can still be used.
pub async fn open(db: &Db, token: &str) -> Result<OpenLink, LinkError> {
    let link = login_links::find(db, &auth::token_hash(token))
        .await?
        .ok_or(LinkError::Invalid)?;
    if link.used_at.is_some() || link.expires_at <= crate::domain::now_micros() {
        return Err(LinkError::Invalid);
    }
    Ok(OpenLink {
        email: link.user.email,
        purpose: link.purpose,
        expires_at: Instant::from_micros(link.expires_at),
    })
}

/// Sets the password chosen with a link, which then stops working; every session of the
/// person ends. The two fields must agree.
pub async fn choose_password(
    db: &Db,
    token: &str,
    password: &str,
    confirmation: &str,
) -> Result<User, LinkError> {
    open(db, token).await?;
    let mut errors = Vec::new();
    if password.chars().count() < auth::MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "password",
            format!("must be at least {} characters", auth::MIN_PASSWORD_CHARS),
        ));
    } else if password.len() > 1024 {
        errors.push(FieldError::new("password", "must be at most 1024 bytes"));
    } else if password != confirmation {
        errors.push(FieldError::new(
            "password_confirmation",
            "is not the same as the password",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::invalid(errors).into());
    }
    let owned = password.to_string();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&owned))
        .await
        .map_err(ServiceError::internal)?;
    let mut tx = db.begin().await.map_err(ServiceError::from)?;
    let user = login_links::take(
        &mut tx,
        &auth::token_hash(token),
        &hash,
        crate::domain::now_micros(),
    )
    .await?
    .ok_or(LinkError::Invalid)?;
    tx.commit().await.map_err(ServiceError::from)?;
    Ok(user)
}

/// The email that carries a link, French first.
pub fn mail(link: &IssuedLink, fund_name: &str, public_url: &str) -> Mail {
    let url = link.url(public_url);
    let until = link.expires_at.local_date().format("%d/%m/%Y");
    let clock = link.expires_at.local_clock();
    let (subject, fr, en) = match link.purpose {
        Purpose::Invitation => (
            format!("{fund_name} : choisissez votre mot de passe"),
            format!(
                "Bonjour,\n\nVous êtes invité·e à vous connecter à {fund_name}. Pour choisir \
                 votre mot de passe, ouvrez ce lien :\n\n{url}\n\nIl ne sert qu'une fois et \
                 marche jusqu'au {until} à {clock}. Votre identifiant est {email}.\n",
                email = link.user.email
            ),
            format!(
                "You are invited to sign in to {fund_name}. Choose your password with the \
                 link above; it works once, until {until} {clock}."
            ),
        ),
        Purpose::Reset => (
            format!("{fund_name} : nouveau mot de passe"),
            format!(
                "Bonjour,\n\nQuelqu'un a demandé un nouveau mot de passe pour {email} sur \
                 {fund_name}. Pour le choisir, ouvrez ce lien :\n\n{url}\n\nIl ne sert qu'une \
                 fois et marche jusqu'au {until} à {clock}. Si ce n'est pas vous, ignorez ce \
                 message : votre mot de passe ne change pas.\n",
                email = link.user.email
            ),
            format!(
                "Someone asked for a new password for this address. Choose it with the link \
                 above (once, until {until} {clock}); if it was not you, ignore this email."
            ),
        ),
    };
    Mail {
        to: link.user.email.clone(),
        subject,
        text: format!("{fr}\n--\n{en}\n"),
    }
}

/// Sends a link by email when a mail server is set: `Ok(true)` sent, `Ok(false)` no server
/// (the page shows the link instead).
pub async fn send(
    mailer: Option<&Mailer>,
    link: &IssuedLink,
    fund_name: &str,
    public_url: &str,
) -> Result<bool, MailError> {
    let Some(mailer) = mailer else {
        return Ok(false);
    };
    mailer.send(&mail(link, fund_name, public_url)).await?;
    Ok(true)
}
