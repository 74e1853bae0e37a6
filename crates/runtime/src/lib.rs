//! Erlang processes on tokio (Erlang reference manual, "Processes" and "Errors and Error
//! Handling"): cheap isolated processes with mailboxes and selective receive, links, monitors,
//! exit signals with Erlang's rules, `trap_exit`, and registered names.
//!
//! Pids and references are `etf`'s wire values (node, number, serial, creation), so a local
//! pid can be handed to another node as it is. Messages are terms, or Rust values sent within
//! the node without serialising ([`Message::Local`]).
//!
//! ```no_run
//! # async fn demo() {
//! use rotp_runtime::{ExitReason, Runtime};
//! let rt = Runtime::default();
//! let echo = rt.spawn(|mut ctx| async move {
//!     let msg = ctx.recv().await;
//!     println!("got {msg:?}");
//!     ExitReason::Normal
//! });
//! rt.send(&echo, etf::Term::atom("hello"));
//! # }
//! ```

#![forbid(unsafe_code)]

mod context;
mod exit;
mod message;
mod process;
mod remote;
mod runtime;
mod send_after;
mod spawn_request;
mod timer;

pub use context::{blocking, Context};
pub use exit::ExitReason;
pub use message::Message;
pub use remote::{Busy, Remote};
pub use runtime::{BadArg, ProcessCounts, ProcessInfo, Route, Runtime, Status, NONODE};
pub use send_after::{TimerFired, TimerRef};
pub use spawn_request::SpawnReply;
