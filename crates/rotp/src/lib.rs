//! Erlang/OTP in Rust: processes, `GenServer`, `Supervisor`, `Task`, `Agent`, `Registry` and
//! `GenStage`, on nodes that real `erl` and `iex` nodes join — the same wire, the same
//! behaviours, the same names.
//!
//! # A tour
//!
//! A counter that an Elixir node calls, supervised, on a node named `counter@host` — what
//! `rotp new counter_app --node` (`cargo install rotp-cli`) generates:
//!
//! ```no_run
//! use rotp::prelude::*;
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(crate = "rotp::serde", rename_all = "snake_case")]
//! enum Request {
//!     Inc,
//!     Get,
//!     Boom,
//! }
//!
//! #[derive(Clone)]
//! struct Counter;
//!
//! impl GenServer for Counter {
//!     type Args = i64; // init's default: the state is the argument
//!     type State = i64;
//!     type Call = Request;
//!     type Reply = i64;
//!     type Cast = ();
//!     serde_messages!();
//!
//!     async fn handle_call(
//!         &self,
//!         request: Request,
//!         _: &gen_server::From,
//!         n: &mut i64,
//!         _: &mut Context,
//!     ) -> CallReply<i64> {
//!         match request {
//!             Request::Inc => *n += 1,
//!             Request::Get => {}
//!             Request::Boom => panic!("boom"),
//!         }
//!         CallReply::Reply(*n)
//!     }
//! }
//!
//! fn main() -> Result<(), rotp::Error> {
//!     Application::new("counter_app")
//!         .sname("counter")
//!         .child(ChildSpec::gen_server_named("counter", Counter, 0, Some("counter".into())))
//!         .run()
//! }
//! ```
//!
//! ```text
//! $ iex --sname iex
//! iex> GenServer.call({:counter, :"counter@host"}, :inc)
//! 1
//! iex> GenServer.call({:counter, :"counter@host"}, :boom)   # the counter crashes: its
//! ** (exit) ...                                              # supervisor starts it again
//! iex> GenServer.call({:counter, :"counter@host"}, :get)
//! 0
//! ```
//!
//! What each piece is, in OTP's words:
//!
//! * [`runtime`]: processes ([`Runtime::spawn`](runtime::Runtime::spawn), a [`Context`](runtime::Context)
//!   each), mailboxes with selective receive, links, monitors, exit signals and `trap_exit`,
//!   registered names, timers (`send_after`, `start_timer`).
//! * [`gen_server`], [`supervisor`], [`dynamic_supervisor`], [`task`], [`agent`],
//!   [`registry`], [`gen_stage`]: OTP's and Elixir's behaviours on those processes.
//!   [`application`] runs a tree until SIGTERM, as a release does; [`Application`] does it
//!   from `main`.
//! * [`etf`]: terms ([`Term`](etf::Term), the [`atom!`], [`tuple!`], [`list!`], [`map!`]
//!   macros), the external term format, and [`etf::serde`]: any `serde` type to and from a
//!   term with the mapping Elixir code expects (`{:ok, value}`, atom-keyed maps, `nil`).
//! * `node` (feature `dist`, on by default): a node that `erl -sname` nodes connect to —
//!   EPMD, the handshake, `rpc`/`erpc`, `global`, `pg`, monitors and links across nodes, TLS.
//!   `dist`, `epmd` and `net` are its sans-IO protocols and tokio drivers.
//! * `dashboard` and `window` (feature `dashboard`): the web dashboard and `/metrics` of a
//!   node, and the figures `rotp top` shows.
//!
//! # Features
//!
//! * `dist` (default): distribution, TLS included. `default-features = false` leaves local
//!   processes and OTP's behaviours only: no socket code, no TLS, no EPMD.
//! * `dashboard`: the dashboard's HTTP server (axum) and the window's figures.
//!
//! # tokio
//!
//! rotp runs on tokio's multi-thread runtime. [`Application::run`] builds one; a program
//! that builds its own, or uses `#[tokio::main]`, needs tokio's `rt-multi-thread`, `time`
//! and `macros` features (`net` too with `dist`), or can use [`tokio`] as rotp re-exports it.
//!
//! # Versions
//!
//! rotp follows semantic versioning, as Cargo reads it: before 1.0, a minor version (0.1 →
//! 0.2) may break the API, a patch version (0.1.0 → 0.1.1) does not. The wire — the term
//! format, EPMD, the distribution protocol — follows OTP and does not change with rotp's
//! versions: a node of any rotp version talks to OTP 25 and later. The crates `rotp-*` that
//! this one re-exports move in lockstep with it; depend on `rotp-erlang`. The CHANGELOG lists every
//! release.

#![forbid(unsafe_code)]

mod app;
pub mod prelude;

pub use app::{Application, Error, Running};

/// Terms and the external term format (the `rotp-etf` crate).
pub use rotp_etf as etf;
/// Processes on tokio (the `rotp-runtime` crate).
pub use rotp_runtime as runtime;

pub use rotp_etf::{atom, list, map, tuple};
pub use rotp_otp::{
    agent, application, dynamic_supervisor, gen_server, gen_stage, registry, serde_events,
    serde_messages, supervisor, task, via,
};

/// Erlang's distribution protocol, sans I/O (the `rotp-dist` crate).
#[cfg(feature = "dist")]
pub use rotp_dist as dist;
/// The EPMD protocol, sans I/O (the `rotp-epmd` crate).
#[cfg(feature = "dist")]
pub use rotp_epmd as epmd;
/// tokio drivers for EPMD and distribution connections (the `rotp-net` crate).
#[cfg(feature = "dist")]
pub use rotp_net as net;
/// Distribution: a node that erl and iex nodes join (the `rotp-node` crate).
#[cfg(feature = "dist")]
pub use rotp_node as node;

/// The web dashboard and `/metrics` of a node (the `rotp-dashboard` crate).
#[cfg(feature = "dashboard")]
pub use rotp_dashboard as dashboard;
/// A node's figures, read over distribution (the `rotp-window` crate).
#[cfg(feature = "dashboard")]
pub use rotp_window as window;

/// `serde`, as rotp uses it: `#[serde(crate = "rotp::serde")]` lets a program derive
/// `Serialize` and `Deserialize` without depending on `serde` itself.
pub use serde;
/// tokio, as rotp runs on it.
pub use tokio;
