//! Who is calling, as the API's bearer token and the pages' cookie session both find it: a
//! person with a role, or one shop's till. Services take a `&Caller` and decide from it; how it
//! was found (a header, a cookie) stays in `api/` and `web/`.

use crate::domain::{FundId, MemberId, Role, ShopId, TerminalId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Someone logged in: admin, treasurer, committee member, or a member (with their member
    /// id).
    User {
        fund: FundId,
        user: UserId,
        role: Role,
        member: Option<MemberId>,
    },
    /// A shop's till, by its terminal key: it acts for its shop only.
    Till {
        fund: FundId,
        terminal: TerminalId,
        shop: ShopId,
    },
}

/// The caller lacks the role: answered 403 `forbidden`.
#[derive(Debug, thiserror::Error)]
#[error("this route is not open to this caller's role")]
pub struct Forbidden;

impl Caller {
    pub fn fund(&self) -> &FundId {
        match self {
            Caller::User { fund, .. } | Caller::Till { fund, .. } => fund,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Caller::User { role, .. } => *role,
            Caller::Till { .. } => Role::Terminal,
        }
    }

    /// The user's or the terminal's id: whose idempotency keys, whose audit line.
    pub fn actor(&self) -> &str {
        match self {
            Caller::User { user, .. } => user,
            Caller::Till { terminal, .. } => terminal,
        }
    }

    /// The member a member's login is for.
    pub fn member(&self) -> Option<&MemberId> {
        match self {
            Caller::User { member, .. } => member.as_ref(),
            Caller::Till { .. } => None,
        }
    }

    /// The shop a till belongs to.
    pub fn shop(&self) -> Option<&ShopId> {
        match self {
            Caller::Till { shop, .. } => Some(shop),
            Caller::User { .. } => None,
        }
    }

    /// The user id of a person (not a till).
    pub fn user(&self) -> Option<&UserId> {
        match self {
            Caller::User { user, .. } => Some(user),
            Caller::Till { .. } => None,
        }
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), Forbidden> {
        if roles.contains(&self.role()) {
            Ok(())
        } else {
            Err(Forbidden)
        }
    }
}

/// A set of roles allowed on a route or a page, checked before the body is read, so a caller
/// without the right role is refused whatever they sent.
pub trait Roles: Send + Sync + 'static {
    const ALLOWED: &'static [Role];
}

macro_rules! roles {
    ($($name:ident => [$($role:ident),+];)+) => {$(
        pub struct $name;
        impl Roles for $name {
            const ALLOWED: &'static [Role] = &[$(Role::$role),+];
        }
    )+};
}

roles! {
    AdminOnly => [Admin];
    AdminTreasurer => [Admin, Treasurer];
    AdminCommittee => [Admin, Committee];
    AdminTreasurerMember => [Admin, Treasurer, Member];
    CommitteeOnly => [Committee];
    TerminalOnly => [Terminal];
}

/// The caller, known to hold one of the roles of `R`.
pub struct Authorized<R: Roles>(pub Caller, std::marker::PhantomData<R>);

impl<R: Roles> std::ops::Deref for Authorized<R> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<R: Roles> Authorized<R> {
    pub fn check(caller: Caller) -> Result<Self, Forbidden> {
        caller.require(R::ALLOWED)?;
        Ok(Authorized(caller, std::marker::PhantomData))
    }
}
