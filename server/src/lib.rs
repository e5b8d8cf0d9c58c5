//! Strata's client-facing side: RESP, the command table and families, connections,
//! configuration and INFO. `main.rs` wires them to a listener; tests and fuzz harnesses use the
//! modules directly.

pub mod alloc;
pub mod blocking;
pub mod client;
pub mod command;
pub mod config;
pub mod conn;
pub mod durability;
pub mod info;
pub mod pubsub;
pub mod resp;
pub mod scripting;
pub mod server;

pub const STRATA_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version whose behaviour Strata matches (reported as `redis_version`).
pub const REDIS_VERSION: &str = "7.2.4";
