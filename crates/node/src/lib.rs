//! A distributed rotp node: the runtime joined to distribution connections, with the services a
//! BEAM node expects, so that `erl`, `iex` and `erl_call` see a node like their own
//! (Erlang system documentation, "Distributed Erlang").
//!
//! It joins `rotp-runtime` (processes) and `rotp-otp` (behaviours) to `rotp-net`'s EPMD client
//! and distribution connections: pids, links, monitors, registered names, `rpc`/`erpc`,
//! `global`, `pg` and GenServer calls work across nodes, rotp's and BEAM's alike. Above it,
//! `rotp-window` and `rotp-dashboard` read nodes through it, and `rotp-cli`'s `rotp node`
//! runs one. Most programs depend on `rotp-erlang` (library `rotp`) instead, whose
//! `Application` starts a node from a name and a cookie.
//!
//! Two nodes on this host, as `erl -name a@127.0.0.1 -setcookie secret` and
//! `erl -name b@127.0.0.1 -setcookie secret` would be:
//!
//! ```
//! use std::time::Duration;
//! use rotp_node::{name::NameKind, Node, NodeConfig};
//! use etf::Term;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An EPMD on a free loopback port; a node uses the host's (4369) unless told otherwise.
//! let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig {
//!     port: 0,
//!     addresses: Some("127.0.0.1".into()),
//!     ..Default::default()
//! })?;
//! let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! tokio::spawn(epmd.run());
//!
//! let start = |name: &str| {
//!     let mut config = NodeConfig::new(name, NameKind::Long, dist::Cookie::new("secret"));
//!     config.epmd_port = epmd_port;
//!     Node::start(config)
//! };
//! let a = start("a@127.0.0.1").await?;
//! let b = start("b@127.0.0.1").await?;
//! assert!(a.ping(b.name()).await); // net_adm:ping('b@127.0.0.1') =:= pong
//! let there = a.rpc(b.name(), "erlang", "node", vec![], Duration::from_secs(5)).await;
//! assert_eq!(there, Term::Atom(b.name().clone())); // rpc:call(B, erlang, node, [])
//! assert_eq!(b.nodes(false), [a.name().clone()]); // nodes() on b
//! # Ok(()) }
//! ```
//!
//! # A tour
//!
//! * [`Node`]: a running node — [`Node::start`] from a [`NodeConfig`] (`-sname`/`-name`,
//!   cookie, EPMD port, `net_ticktime`, TLS), [`ping`](Node::ping),
//!   [`rpc`](Node::rpc)/[`erpc`](Node::erpc), [`send`](Node::send) to a name on another
//!   node, [`connect`](Node::connect) and [`connect_or_why`](Node::connect_or_why) (an
//!   [`Unreachable`] that says which step failed), [`monitor_nodes`](Node::monitor_nodes) and
//!   [`events`](Node::events) ([`NodeEvent`]), `pg` groups, and the node's
//!   [`runtime`](Node::runtime) for its processes.
//! * [`name`]: node names as `-sname` and `-name` make them; [`cookie`]: the cookie found as
//!   `erl` finds it.
//! * [`functions`]: Rust functions other nodes call with `rpc:call` ([`Function`]).
//! * [`global`]: `global`'s names and locks across a cluster, with erl and iex nodes.
//! * [`discovery`]: libcluster's strategies (EPMD lists, DNS, Kubernetes, gossip) finding the
//!   nodes to connect to.
//! * [`gen_call`]: a `gen_server:call` to a name on any node, as terms.
//! * [`malloc`]: glibc's malloc tuned for large messages.

// Two audited `unsafe` calls (`malloc.rs`: glibc's `mallopt`, measured in BENCHMARKS.md, and
// `malloc_trim`); the rest of the crate may not use it.
#![deny(unsafe_code)]

mod applications;
mod connections;
pub mod cookie;
pub mod discovery;
mod dispatch;
mod dist_stat;
mod epmd_program;
pub mod functions;
pub mod global;
mod hosts;
mod log;
pub mod malloc;
pub mod name;
#[allow(clippy::module_inception)]
mod node;
mod observer_backend;
mod os_calls;
mod pg;
mod remote_link;
mod services;
mod shell;
pub mod unreachable;

pub use epmd_program::EpmdProgram;
pub use functions::{CallResult, Exception, Function};
pub use node::{
    epmd_port_from_env, gen_call, ConnectionInfo, ErpcError, Node, NodeConfig, NodeEvent,
    StartError,
};
pub use unreachable::Unreachable;
