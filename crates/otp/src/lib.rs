//! OTP behaviours on top of the `rotp-runtime` crate, after Erlang's `gen_server`,
//! `supervisor` and Elixir's `GenServer`, `Supervisor`, `Task`, `Agent`, `Registry` and
//! `GenStage` (Elixir's naming where the two differ).
//!
//! It sits on `rotp-runtime` (processes, links, monitors) and `rotp-etf` (terms), and knows
//! nothing of distribution: the same servers answer calls from `erl` and `iex` once
//! `rotp-node` runs them on a distributed node. Most programs depend on `rotp-erlang`
//! (library `rotp`) instead, whose `prelude` brings these behaviours and whose `Application`
//! runs a tree from `main`.
//!
//! The book's first program: a counter GenServer under a supervisor, crashed with `boom` and
//! restarted from its initial state.
//!
//! ```
//! use std::time::Duration;
//! use rotp_otp::gen_server::{self, CallReply, GenServer, Init};
//! use rotp_otp::supervisor::{self, ChildSpec, Flags, Strategy};
//! use runtime::{Context, ExitReason, Runtime};
//!
//! #[derive(Clone)]
//! struct Counter;
//!
//! enum Request { Inc, Boom }
//!
//! impl GenServer for Counter {
//!     type Args = i64;
//!     type State = i64;
//!     type Call = Request;
//!     type Reply = i64;
//!     type Cast = ();
//!
//!     async fn init(&self, start: i64, _: &mut Context) -> Init<i64> {
//!         Init::Ok(start)
//!     }
//!
//!     async fn handle_call(&self, request: Request, _: &rotp_otp::From, n: &mut i64, _: &mut Context) -> CallReply<i64> {
//!         match request {
//!             Request::Inc => {
//!                 *n += 1;
//!                 CallReply::Reply(*n)
//!             }
//!             Request::Boom => CallReply::Stop(ExitReason::atom("boom")),
//!         }
//!     }
//! }
//!
//! # #[tokio::main] async fn main() {
//! let (done, finished) = tokio::sync::oneshot::channel();
//! Runtime::default().spawn(move |mut ctx| async move {
//!     // Supervisor.start_link([{Counter, 0}], strategy: :one_for_one), the child named `counter`.
//!     let counter = ChildSpec::gen_server_named("counter", Counter, 0, Some("counter".into()));
//!     let sup = supervisor::start_link(&mut ctx, Flags::new(Strategy::OneForOne), vec![counter], None)
//!         .await
//!         .expect("the tree starts")
//!         .expect("not ignored");
//!     let t = Duration::from_secs(5);
//!     assert_eq!(gen_server::call::<_, i64>(&mut ctx, "counter", Request::Inc, t).await, 1);
//!     assert_eq!(gen_server::call::<_, i64>(&mut ctx, "counter", Request::Inc, t).await, 2);
//!
//!     // `boom`: the call fails with the server's exit reason, and the supervisor restarts it.
//!     let crashed = gen_server::try_call::<_, i64>(&mut ctx, "counter", Request::Boom, t).await;
//!     assert!(crashed.is_err());
//!     let supervisor::Response::Children(children) =
//!         supervisor::request(&mut ctx, &sup, supervisor::Request::WhichChildren).await
//!     else { panic!("which_children answers with children") };
//!     assert!(children[0].pid.is_some());
//!     assert_eq!(gen_server::call::<_, i64>(&mut ctx, "counter", Request::Inc, t).await, 1);
//!     let _ = done.send(());
//!     ExitReason::Normal
//! });
//! finished.await.expect("the example ran to its end");
//! # }
//! ```
//!
//! # A tour
//!
//! * [`gen_server`]: [`GenServer`] (`init`, `handle_call`, `handle_cast`, `handle_info`,
//!   `handle_continue`, `terminate`), [`gen_server::start_link`], [`gen_server::call`],
//!   [`gen_server::cast`], [`gen_server::call_typed`] for `serde` types to and from any node;
//!   servers are named by a [`Name`] and reached through a [`ServerRef`].
//! * [`supervisor`]: [`supervisor::ChildSpec`]s started in order, restarted by
//!   [`supervisor::Strategy`] within a restart intensity ([`supervisor::Flags`]).
//! * [`dynamic_supervisor`]: children started on demand.
//! * [`application`]: a root tree run from `main` until SIGTERM, as a release runs.
//! * [`task`]: `Task.async`/`await`, `async_stream` and `Task.Supervisor`.
//! * [`agent`]: state behind a process, read and changed with functions.
//! * [`registry`]: Elixir's [`Registry`], and [`via`] names ([`Via`]) for any registry.
//! * [`gen_stage`]: producers and consumers exchanging events as fast as consumers ask,
//!   speaking Elixir's gen_stage protocol, with dispatchers, `ConsumerSupervisor` and a typed
//!   `Pipeline` builder.
//! * [`serde_messages!`] and [`serde_events!`]: one line that makes a server's messages, or a
//!   stage's events, `serde` types on the wire.

#![forbid(unsafe_code)]

pub mod agent;
pub mod application;
pub mod dynamic_supervisor;
pub mod gen_server;
pub mod gen_stage;
pub mod registry;
pub mod supervisor;
pub mod task;
pub mod via;

pub use gen_server::{CallError, CallReply, From, GenServer, Init, Name, NoReply, ServerRef};
pub use registry::Registry;
pub use via::Via;
