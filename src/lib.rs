//! caisse — the service of a *caisse citoyenne de l'alimentation* (citizen food fund).
//!
//! `domain` holds the fund's rules and knows nothing of HTTP or SQL; `store` is the database
//! (SQLite or PostgreSQL, one behaviour); `service` holds the use cases; `api` the HTTP edge.

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod caller;
pub mod card_key;
pub mod cli;
pub mod config;
pub mod domain;
pub mod mail;
pub mod service;
pub mod store;
pub mod web;
