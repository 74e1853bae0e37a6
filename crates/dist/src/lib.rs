//! Erlang's distribution protocol, sans I/O (erl_dist_protocol; OTP's `dist_util.erl`): the
//! version 6 handshake as a state machine over bytes ([`handshake`]), distribution flags
//! ([`DistFlags`]), the cookie digest ([`Cookie`]), packets with distribution headers, the atom
//! cache and fragments ([`packet`]), and control messages ([`ControlMessage`]).
//!
//! Nothing here touches a socket: drivers (`net::dist`) feed bytes in and write bytes out,
//! so every state can be tested — and fuzzed — without a network.

#![forbid(unsafe_code)]

pub mod control;
mod cookie;
mod flags;
pub mod handshake;
pub mod header;
pub mod packet;

pub use control::{ControlError, ControlMessage, ProcessRef};
pub use cookie::Cookie;
pub use flags::DistFlags;
pub use handshake::{Established, Event, Handshake, HandshakeConfig, HandshakeError, Status};
pub use header::{MessageAtoms, OutputCache};
pub use packet::{DistMessage, Encoded, Incoming, Reader, Writer};

use thiserror::Error;

/// Why a distribution packet could not be read or written.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum DistError {
    /// The packet's structure is wrong.
    #[error("malformed distribution packet: {0}")]
    Malformed(&'static str),
    /// A packet or reassembled message larger than allowed.
    #[error("distribution message of {size} bytes is larger than the {max} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A term in it does not decode.
    #[error(transparent)]
    Decode(#[from] etf::DecodeError),
    /// A term cannot be encoded.
    #[error(transparent)]
    Encode(#[from] etf::EncodeError),
    /// The control message is not one we know.
    #[error(transparent)]
    Control(#[from] ControlError),
}
