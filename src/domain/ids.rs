//! The ids that travel furthest, each its own type, and the instant with its unit in the type.
//! A service that takes `(&FundId, &ShopId, &TerminalId)` cannot be called with two of them
//! swapped: it does not compile. Each id reads as a `&str` (`Deref`), so the store's queries
//! bind it as they bound the string, and the wire sees the same text (`serde(transparent)`).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> $name {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    )+};
}

ids! {
    /// A fund (one association); most deployments serve one.
    FundId;
    /// A member (adhérent): a household's account in the fund.
    MemberId;
    /// An approved shop or producer (conventionné).
    ShopId;
    /// A member's card: the app's live QR code or a printed card.
    CardId;
    /// One till of a shop, with its own API key.
    TerminalId;
    /// A person who logs in: admin, treasurer, committee member or member.
    UserId;
}

/// A moment, in microseconds since 1970-01-01 UTC: the unit is in the type, so a second or a
/// millisecond cannot be passed for it. On the wire it is RFC 3339 (`2026-12-01T09:30:00Z`), as
/// every instant of the API has always been.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instant(i64);

impl Instant {
    pub fn from_micros(micros: i64) -> Instant {
        Instant(micros)
    }

    pub fn now() -> Instant {
        Instant(super::now_micros())
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// RFC 3339 at the second, in UTC: the API's form.
    pub fn rfc3339(self) -> String {
        super::format_instant(self.0)
    }

    /// `HH:MM` in the fund's time zone: what a till or a member reads.
    pub fn local_clock(self) -> String {
        chrono::DateTime::from_timestamp_micros(self.0)
            .unwrap_or_default()
            .with_timezone(&super::timezone())
            .format("%H:%M")
            .to_string()
    }

    /// The day it falls on in the fund's time zone.
    pub fn local_date(self) -> chrono::NaiveDate {
        chrono::DateTime::from_timestamp_micros(self.0)
            .unwrap_or_default()
            .with_timezone(&super::timezone())
            .date_naive()
    }
}

impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
        let text = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| Instant(t.timestamp_micros()))
            .map_err(|_| serde::de::Error::custom("an RFC 3339 instant"))
    }
}

impl utoipa::PartialSchema for Instant {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Instant {}

macro_rules! id_schemas {
    ($($name:ident),+) => {$(
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <String as utoipa::PartialSchema>::schema()
            }
        }
        impl utoipa::ToSchema for $name {}
    )+};
}

id_schemas!(FundId, MemberId, ShopId, CardId, TerminalId, UserId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_text_on_the_wire() {
        let id = ShopId::new("shop_1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"shop_1\"");
        let back: ShopId = serde_json::from_str("\"shop_1\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(&*id, "shop_1");
    }

    #[test]
    fn an_instant_round_trips_through_rfc3339() {
        let t = Instant::from_micros(1_764_581_400_000_000);
        let wire = serde_json::to_string(&t).unwrap();
        assert_eq!(wire, "\"2025-12-01T09:30:00Z\"");
        let back: Instant = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, t);
        assert!(serde_json::from_str::<Instant>("\"hier\"").is_err());
    }
}
