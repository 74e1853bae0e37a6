//! A window to your nodes: what an operator sees of a running BEAM or rotp node, read over the
//! distribution only, through the calls observer_cli's collectors make (`erlang:memory/0`,
//! `erlang:system_info/1`, `erlang:processes/0`, `erlang:process_info/2`), so nothing is
//! installed on the target.
//!
//! It sits on `rotp-node` (a node to read from) and below `rotp-dashboard` (the web pages) and
//! `rotp-cli`'s `rotp top`, `rotp remsh` and `/metrics`. Most programs depend on
//! `rotp-erlang` (library `rotp`, feature `dashboard`) instead.
//!
//! ```
//! use std::time::Duration;
//! use rotp_window::{collect, select, Order};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..Default::default() })?;
//! # let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! # tokio::spawn(epmd.run());
//! # let start = |name: &str| {
//! #     let mut config = node::NodeConfig::new(name, node::name::NameKind::Long, dist::Cookie::new("secret"));
//! #     config.epmd_port = epmd_port;
//! #     node::Node::start(config)
//! # };
//! // `me` reads `target`, a node started as `erl -name target@127.0.0.1` would be (a rotp one here).
//! let (me, target) = (start("me@127.0.0.1").await?, start("target@127.0.0.1").await?);
//! // What `rotp top --once` shows of it.
//! let snapshot = collect(&me, target.name(), Duration::from_secs(5)).await?;
//! assert_eq!(snapshot.node, "target@127.0.0.1");
//! assert!(snapshot.process_count > 0 && snapshot.memory["total"] > 0);
//! assert!(snapshot.registered.contains(&"net_kernel".to_owned()));
//! // Its processes, biggest mailbox first, filtered as top's `/` filters them.
//! let kernel = select(&snapshot.processes, "net_kernel", Order::Mailbox);
//! assert_eq!(kernel[0].registered_name.as_deref(), Some("net_kernel"));
//! # Ok(()) }
//! ```
//!
//! # A tour
//!
//! * [`snapshot`]: [`collect`] takes a [`Snapshot`] (versions, limits, memory by kind, a
//!   [`Summary`] of load and traffic per [`Peer`], every [`Process`]); [`select`] filters and
//!   orders its processes ([`Order`]); [`detail`] is one process's `process_info`.
//! * [`mod@stages`]: a node's GenStage stages and their levels ([`Stage`]), rotp's and Elixir's.
//! * [`os`]: its host and OS process, from `/proc` on the target.
//! * [`tree`]: its supervision trees, as observer's Applications tab.
//! * [`metrics`]: a snapshot in Prometheus's format, under the names the BEAM's exporter uses.
//! * [`remsh`]: the remote shell's side of the Erlang I/O protocol, as `erl -remsh`.

#![forbid(unsafe_code)]

pub mod metrics;
pub mod os;
pub mod remsh;
pub mod snapshot;
pub mod stages;
pub mod tree;

pub use snapshot::{
    collect, detail, rotp_figures_of, select, uptime_text, Discovery, Order, Peer, Process,
    RotpFigures, Snapshot, SnapshotError, Summary,
};
pub use stages::{stages, Stage};
