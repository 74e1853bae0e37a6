//! A window to your nodes: what an operator sees of a running BEAM or rotp node, read over the
//! distribution only, through the calls observer_cli's collectors make (`erlang:memory/0`,
//! `erlang:system_info/1`, `erlang:processes/0`, `erlang:process_info/2`), so nothing is
//! installed on the target. [`snapshot`] is `rotp top --once`'s data (with traffic per peer);
//! [`mod@stages`] a node's GenStage stages and their levels; [`os`] its host and OS process; [`tree`] its supervision trees;
//! [`metrics`] a snapshot in Prometheus's format; [`remsh`] is the remote shell's side of the
//! Erlang I/O protocol. `rotp top` and the `dashboard` crate are built on them.

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
