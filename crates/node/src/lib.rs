//! A distributed rotp node: the runtime joined to distribution connections, with the services a
//! BEAM node expects, so that `erl`, `iex` and `erl_call` see a node like their own
//! (Erlang system documentation, "Distributed Erlang").
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rotp_node::{Node, NodeConfig, name::NameKind};
//! let cookie = rotp_node::cookie::find_cookie(Some("secret"))?;
//! let node = Node::start(NodeConfig::new("rotp", NameKind::Short, cookie)).await?;
//! let pong = node.ping(&etf::Atom::from("erl@localhost")).await;
//! # Ok(()) }
//! ```

// Two audited `unsafe` calls (`malloc.rs`: glibc's `mallopt`, measured in BENCHMARKS.md, and
// `malloc_trim`); the rest of the crate may not use it.
#![deny(unsafe_code)]

mod applications;
mod connections;
pub mod cookie;
pub mod discovery;
mod dispatch;
mod dist_stat;
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

pub use functions::{CallResult, Exception, Function};
pub use node::{
    epmd_port_from_env, gen_call, ConnectionInfo, EpmdProgram, ErpcError, Node, NodeConfig,
    NodeEvent, StartError,
};
pub use unreachable::Unreachable;
