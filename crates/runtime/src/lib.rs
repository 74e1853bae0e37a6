//! Erlang processes on tokio (Erlang reference manual, "Processes" and "Errors and Error
//! Handling"): cheap isolated processes with mailboxes and selective receive, links, monitors,
//! exit signals with Erlang's rules, `trap_exit`, registered names and timers.
//!
//! It sits on `rotp-etf` (pids, references and messages are its terms) and knows nothing of
//! distribution: `rotp-node` plugs connections in through [`Remote`], and `rotp-otp` builds
//! GenServer, Supervisor and the other behaviours on it. Most programs depend on
//! `rotp-erlang` (library `rotp`) instead, which re-exports it as `rotp::runtime`.
//!
//! Pids and references are `etf`'s wire values (node, number, serial, creation), so a local
//! pid can be handed to another node as it is. Messages are terms, or Rust values sent within
//! the node without serialising ([`Message::Local`]).
//!
//! ```
//! use rotp_runtime::{ExitReason, Message, Runtime};
//! use etf::Term;
//!
//! # #[tokio::main] async fn main() {
//! let rt = Runtime::default(); // nonode@nohost: processes on the current tokio runtime
//! let (done, finished) = tokio::sync::oneshot::channel();
//! rt.spawn(move |mut ctx| async move {
//!     // An echo process: `receive {From, Msg} -> From ! Msg end`.
//!     let echo = ctx.spawn(|mut ctx| async move {
//!         if let Some(Term::Tuple(t)) = ctx.recv().await.as_term() {
//!             if let [Term::Pid(from), msg] = &t[..] {
//!                 ctx.send(from, msg.clone());
//!             }
//!         }
//!         ExitReason::Normal
//!     });
//!     let watch = ctx.monitor(&echo);
//!     ctx.send(&echo, Term::tuple(vec![Term::Pid(ctx.pid().clone()), Term::atom("hello")]));
//!     let reply = ctx.receive(|m| m.as_term() == Some(&Term::atom("hello"))).await;
//!     assert!(reply.as_term().is_some());
//!     // {'DOWN', Ref, process, Echo, normal}
//!     let down = ctx.receive(|m| m.is_down_for(&watch)).await;
//!     assert_eq!(down.as_down(), Some((watch, echo, ExitReason::Normal)));
//!
//!     // A linked process that fails: trapping exits, its `{'EXIT', Pid, boom}` is a message.
//!     ctx.trap_exit(true);
//!     let failing = ctx.spawn_link(|_| async { ExitReason::atom("boom") });
//!     let exit = ctx.receive(|m| m.as_exit().is_some()).await;
//!     assert_eq!(exit.as_exit(), Some((failing, ExitReason::atom("boom"))));
//!     let _ = done.send(());
//!     ExitReason::Normal
//! });
//! finished.await.expect("the process got to its end");
//! # }
//! ```
//!
//! # A tour
//!
//! * [`Runtime`]: the node's process table — [`spawn`](Runtime::spawn),
//!   [`send`](Runtime::send), [`register`](Runtime::register)/[`whereis`](Runtime::whereis),
//!   [`exit`](Runtime::exit), [`process_info`](Runtime::process_info).
//! * [`Context`]: a process's own handle, given to its body — [`recv`](Context::recv),
//!   [`receive`](Context::receive) (selective) and [`receive_timeout`](Context::receive_timeout),
//!   [`link`](Context::link), [`monitor`](Context::monitor),
//!   [`trap_exit`](Context::trap_exit), [`spawn_link`](Context::spawn_link), and erlang's
//!   timers ([`send_after`](Context::send_after), [`start_timer`](Context::start_timer) with
//!   [`TimerFired`], [`cancel_timer`](Context::cancel_timer) with a [`TimerRef`]).
//! * [`Message`]: what a mailbox holds, with the runtime's notices read back
//!   ([`Message::as_exit`], [`Message::as_down`]).
//! * [`ExitReason`]: `normal`, `shutdown`, `killed`, `noproc`, … as terms.
//! * [`blocking`]: runs blocking code without stalling the process's scheduler thread.
//! * [`Remote`], [`Route`], [`SpawnReply`]: the hooks `rotp-node` uses for processes on other
//!   nodes.

#![forbid(unsafe_code)]

mod context;
mod exit;
pub mod logger;
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
