//! A window to your nodes: what an operator sees of a running BEAM or rotp node, read over the
//! distribution only, through the calls observer_cli's collectors make (`erlang:memory/0`,
//! `erlang:system_info/1`, `erlang:processes/0`, `erlang:process_info/2`), so nothing is
//! installed on the target. [`snapshot`] is `rotp top --once`'s data; [`remsh`] is the remote
//! shell's side of the Erlang I/O protocol. The interactive top, the dashboard and the metrics
//! come on top of them (issue 14).

#![forbid(unsafe_code)]

pub mod metrics;
pub mod remsh;
pub mod snapshot;
pub mod tree;

pub use snapshot::{
    collect, detail, select, uptime_text, Order, Peer, Process, Snapshot, SnapshotError, Summary,
};
