//! OTP behaviours on top of the `runtime` crate, after Erlang's `gen_server` and Elixir's
//! `GenServer` (Elixir's naming where the two differ).

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
