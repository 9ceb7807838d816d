//! Use cases: each one a transaction over the store, called by a thin handler or the CLI.

pub mod allowances;
pub mod cards;
mod chunked;
pub mod contributions;
pub mod corrections;
pub mod demo;
pub mod error;
pub mod exports;
pub mod idempotent;
pub mod imports;
pub mod ledger;
pub mod links;
pub mod login;
pub mod members;
pub mod pins;
pub mod redemptions;
pub mod reports;
pub mod sessions;
pub mod settings;
pub mod settlements;
pub mod shops;
pub mod users;
