//! The tokio side of rotp's protocols: sockets, timers and tasks around the sans-IO state
//! machines of `rotp-epmd` and `rotp-dist`.
//!
//! Below it, those two crates decide what to say; here it is said over TCP (or TLS). Above
//! it, `rotp-node` uses [`epmd::Client`] to register and find nodes and [`dist`] to run its
//! connections, and `rotp-cli`'s `epmd` binary is [`epmd::Daemon`]. Most programs never use
//! it directly: they depend on `rotp-erlang` (library `rotp`), whose nodes do all this when
//! they start.
//!
//! A node registering with an EPMD on loopback, and another finding it, as `erl -sname drip`
//! and `net_adm:ping('drip@localhost')` do:
//!
//! ```
//! use rotp_net::epmd::{Client, Daemon, DaemonConfig};
//! use epmd::msg::NodeInfo;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An EPMD of our own on a free loopback port (a node uses the host's, on 4369).
//! let daemon = Daemon::bind(DaemonConfig {
//!     port: 0,
//!     addresses: Some("127.0.0.1".into()),
//!     ..DaemonConfig::default()
//! })?;
//! let addr = daemon.local_addrs().into_iter().find(|a| a.is_ipv4()).expect("127.0.0.1");
//! tokio::spawn(daemon.run());
//!
//! let epmd = Client::new(addr);
//! let registration = epmd.register(NodeInfo::new("drip", 45_000)).await?;
//! assert!(registration.creation > 0); // the creation goes into the node's pids
//! let found = epmd.port_please("drip").await?.expect("drip is registered");
//! assert_eq!(found.port, 45_000);
//! // EPMD keeps the name while `registration`, the node's connection to it, lives.
//! # Ok(()) }
//! ```
//!
//! # A tour
//!
//! * [`epmd`]: the EPMD [`Daemon`](epmd::Daemon) (`epmd`'s flags in
//!   [`DaemonConfig`](epmd::DaemonConfig)) and an async [`Client`](epmd::Client)
//!   (`ALIVE2_REQ`, `PORT_PLEASE2_REQ`, `NAMES_REQ`; a [`Registration`](epmd::Registration)
//!   lasts as long as its connection).
//! * [`dist`]: a distribution connection — [`handshake`](dist::handshake) drives a
//!   `rotp_dist::Handshake` over a [`DistStream`](dist::DistStream) within `net_setuptime`,
//!   then [`run`](dist::run) reads, writes what senders queue in its
//!   [`Outbox`](dist::Outbox), and ticks (`net_ticktime`).
//! * [`dist::tls`]: the same over TLS, as `-proto_dist inet_tls` with an `ssl_dist_optfile`.

#![forbid(unsafe_code)]

pub mod dist;
pub mod epmd;
