//! Erlang's distribution protocol, sans I/O (erl_dist_protocol; OTP's `dist_util.erl`): what
//! two connected nodes say to each other, as bytes in and bytes and events out.
//!
//! It sits between `rotp-etf` (the terms messages carry) and `rotp-net`, whose tokio driver
//! feeds it a socket's bytes and writes what it returns; `rotp-node` runs a node on top.
//! Nothing here touches a socket or a clock, so every state can be tested — and fuzzed —
//! without a network. Most programs never use it directly: they depend on `rotp-erlang`
//! (library `rotp`), whose nodes connect to `erl` and `iex` by name.
//!
//! One message from a pid on `a@localhost` to the process registered as `counter` on
//! `b@localhost` (`{counter, 'b@localhost'} ! {inc, 1}`), framed as `a` writes it and read
//! as `b` reads it:
//!
//! ```
//! use rotp_dist::{ControlMessage, DistFlags, Incoming, OutputCache, Reader, Writer};
//! use etf::{Atom, Pid, Term};
//!
//! let from = Pid { node: Atom::from("a@localhost"), id: 80, serial: 0, creation: 1 };
//! let control = ControlMessage::RegSend { from, to: Atom::from("counter"), token: None };
//! let message = Term::tuple(vec![Term::atom("inc"), Term::from(1)]);
//!
//! // `a`'s side: the packet with its 4-byte length, distribution header and atom cache.
//! let writer = Writer::new(DistFlags::DEFAULT);
//! let mut bytes = Vec::new();
//! writer.write(&control, Some(&message), &mut OutputCache::default(), &mut bytes)?;
//!
//! // `b`'s side: split the stream into packets, read each.
//! let mut reader = Reader::new(1 << 20).for_flags(DistFlags::DEFAULT);
//! let (used, body) = rotp_dist::packet::split_packet(&bytes, 1 << 20)?.expect("a whole packet");
//! assert_eq!(used, bytes.len());
//! let Incoming::Message(got) = reader.packet(body)? else { panic!("a whole message") };
//! assert_eq!((got.control, got.payload), (control, Some(message)));
//! # Ok::<(), rotp_dist::DistError>(())
//! ```
//!
//! # A tour
//!
//! * [`handshake`]: the version 6 handshake as a state machine ([`Handshake`], configured by a
//!   [`HandshakeConfig`], answered by the node through [`Event`] and [`Status`], ending in
//!   [`Established`] or a [`HandshakeError`] named as `erl` logs it).
//! * [`DistFlags`]: the capability flags, under OTP's `DFLAG_` names without the prefix.
//! * [`Cookie`]: the magic cookie and the challenge digest (it never prints itself).
//! * [`packet`]: packets after the handshake — [`Writer`] encodes and frames messages (with
//!   fragments for large ones), [`Reader`] reads them back ([`Incoming`]: a tick, a fragment,
//!   or a [`DistMessage`]).
//! * [`header`]: the distribution header and its atom cache ([`OutputCache`] on the sending
//!   side).
//! * [`control`]: [`ControlMessage`], the tuple every message starts with (`SEND`,
//!   `REG_SEND`, `LINK`, `EXIT`, `MONITOR_P`, `SPAWN_REQUEST`, …).
//! * Errors: [`DistError`] for packets, [`HandshakeError`] for the handshake.

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
