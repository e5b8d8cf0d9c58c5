//! RESP: the request parser and the reply writer.

pub mod parse;
pub mod write;

pub use parse::{parse_command, Limits};
pub use write::{write_reply, Proto};
