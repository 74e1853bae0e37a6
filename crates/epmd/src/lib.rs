//! The Erlang Port Mapper Daemon's protocol (`erl_dist_protocol.xml`, "EPMD Protocol"), with no
//! I/O: bytes in, bytes and decisions out. The tokio daemon and client live in the `net` crate.
//!
//! * [`msg`]: the requests and replies, encoded and decoded, for clients.
//! * [`server`]: what OTP's `erts/epmd/src/epmd_srv.c` does with them: packet framing per
//!   connection ([`server::Connection`]) and the table of registered names with its creation
//!   numbers ([`server::Server`]).

#![forbid(unsafe_code)]

pub mod msg;
pub mod server;
mod utf8;

/// The port EPMD listens on unless `ERL_EPMD_PORT` or `-port` say otherwise.
pub const DEFAULT_PORT: u16 = 4369;

/// The longest node name in bytes: 255 characters of up to 4 UTF-8 bytes (`MAXSYMLEN`).
pub const MAX_SYMLEN: usize = 255 * 4;
