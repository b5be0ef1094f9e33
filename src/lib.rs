//! hotline: telephony core for citizen-service hotline call centers.
//!
//! ```text
//!   sip::transport (tokio)  --bytes-->  b2bua::Engine (sans-IO)  --records-->  store (sqlx)
//!                                        |  sip: transactions, registrar, digest auth
//!                                        |  acd: queues, seats, agent states
//!   api (axum) <--snapshots/commands---  +
//! ```
//! `server` wires the IO edges to the engine; `config` loads and validates
//! the TOML file; `model` holds the domain types they share; `media`
//! negotiates SDP and converts G.711 audio; `tickets` pushes call events
//! from the store's outbox to the ticket system; `reports` computes answer
//! rates and the other figures of docs/metrics.md from the store;
//! `reload` reads the config file again on SIGHUP or `POST /api/reload`
//! and puts the changes in force without dropping a call.
//! `provision` writes the desk phones' configuration files.
#![forbid(unsafe_code)]

pub mod acd;
pub mod api;
pub mod b2bua;
pub mod config;
pub mod doctor;
pub mod journald;
pub mod media;
pub mod model;
pub mod provision;
pub mod reload;
pub mod reports;
pub mod retention;
pub mod server;
pub mod simulate;
pub mod sip;
pub mod store;
pub mod tickets;
pub mod timers;

#[cfg(test)]
mod testutil;
