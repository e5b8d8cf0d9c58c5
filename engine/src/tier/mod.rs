//! Tiering: deciding what stays in RAM. So far the TinyLFU admission sketch and a
//! trace-driven simulation of it against Redis's eviction; the RocksDB cold tier it will
//! guard comes next (see docs/tiering-plan.md).

pub mod simulate;
pub mod sketch;
