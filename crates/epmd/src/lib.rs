//! The Erlang Port Mapper Daemon's protocol (`erl_dist_protocol.xml`, "EPMD Protocol"), with no
//! I/O: bytes in, bytes and decisions out.
//!
//! Every Erlang node registers its name and distribution port with the EPMD of its host
//! (`ALIVE2_REQ`), and a node that wants to connect to `name@host` first asks that host's EPMD
//! where `name` listens (`PORT_PLEASE2_REQ`). This crate is both sides of that conversation,
//! as pure functions and state machines; `rotp-net` runs them over tokio sockets (its
//! `epmd::Client` and the `epmd::Daemon` that `rotp-cli`'s `epmd` binary serves), and
//! `rotp-node` registers through it. It depends only on `thiserror`. Most programs never use it
//! directly: they depend on `rotp-erlang` (library `rotp`), whose nodes register themselves.
//!
//! A node registering and another asking for its port, client and daemon both in memory:
//!
//! ```
//! use rotp_epmd::msg::{parse_port2_reply, Alive2Reply, NodeInfo, Request};
//! use rotp_epmd::server::{Config, Connection, Framed, Server};
//!
//! let mut epmd = Server::new(Config { port: rotp_epmd::DEFAULT_PORT, relaxed_command_check: false, debug: 0 });
//!
//! // `erl -sname drip` registers: ALIVE2_REQ on a connection it keeps open.
//! let mut node_conn = Connection::new(7, true);
//! let request = Request::Alive2(NodeInfo::new("drip", 45_000)).encode()?;
//! let Framed::Packet(packet) = node_conn.handle_data(&request) else { panic!("one whole request") };
//! let reply = epmd.handle_request(&mut node_conn, &packet, 0);
//! assert!(reply.keep);
//! let (alive, _) = Alive2Reply::parse(&reply.bytes)?.expect("a whole reply");
//! assert_eq!(alive.result, 0); // registered; `alive.creation` goes into its pids
//!
//! // Another node asks where `drip` listens.
//! let mut asker = Connection::new(8, true);
//! let Framed::Packet(packet) = asker.handle_data(&Request::Port2(b"drip".to_vec()).encode()?) else {
//!     panic!("one whole request")
//! };
//! let reply = epmd.handle_request(&mut asker, &packet, 0);
//! let info = parse_port2_reply(&reply.bytes)?.expect("drip is registered");
//! assert_eq!((info.name.as_slice(), info.port), (&b"drip"[..], 45_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A tour
//!
//! * [`msg`]: the requests ([`msg::Request`]: `ALIVE2_REQ`, `PORT_PLEASE2_REQ`, `NAMES_REQ`,
//!   `DUMP_REQ`, `KILL_REQ`, `STOP_REQ`) and replies ([`msg::Alive2Reply`],
//!   [`msg::parse_port2_reply`], [`msg::parse_names_reply`]), encoded and decoded, for clients.
//! * [`server`]: what OTP's `erts/epmd/src/epmd_srv.c` does with them: packet framing per
//!   connection ([`server::Connection`]) and the table of registered names with its creation
//!   numbers ([`server::Server`]), each request answered with a [`server::Reply`] that says
//!   what to write, keep, close and log.
//! * [`DEFAULT_PORT`] (4369) and [`MAX_SYMLEN`].

#![forbid(unsafe_code)]

pub mod msg;
pub mod server;
mod utf8;

/// The port EPMD listens on unless `ERL_EPMD_PORT` or `-port` say otherwise.
pub const DEFAULT_PORT: u16 = 4369;

/// The longest node name in bytes: 255 characters of up to 4 UTF-8 bytes (`MAXSYMLEN`).
pub const MAX_SYMLEN: usize = 255 * 4;
