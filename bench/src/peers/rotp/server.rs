//! Program 3 in rotp: the counter, on a node, called by erl as any `gen_server` is —
//! `gen_server:call({counter, Node}, {inc, 1})`, `get`, `boom` — its messages serde types.

use etf::{Atom, Pid};
use otp::gen_server::{CallReply, GenServer, Init, Name};
use otp::supervisor::{self, ChildSpec, Flags, Strategy};
use runtime::{Context, ExitReason};
use serde::Deserialize;

/// The counter.
#[derive(Clone)]
pub struct Counter;

/// What erl asks: `{inc, N}`, `get`, `boom`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Add `N`; answers the new count.
    Inc(i64),
    /// The count.
    Get,
    /// Crash.
    Boom,
}

impl GenServer for Counter {
    type Args = ();
    type State = i64;
    type Call = Request;
    type Reply = i64;
    type Cast = ();

    otp::serde_messages!();

    async fn init(&self, _: (), _: &mut Context) -> Init<i64> {
        Init::Ok(0)
    }

    async fn handle_call(&self, request: Request, _: &otp::From, n: &mut i64, _: &mut Context) -> CallReply<i64> {
        match request {
            Request::Inc(k) => *n += k,
            Request::Get => {}
            Request::Boom => return CallReply::Stop(ExitReason::atom("boom")),
        }
        CallReply::Reply(*n)
    }
}

/// Starts the supervisor (linked to the calling process) and the counter under it.
pub async fn start(ctx: &mut Context) -> Result<Option<Pid>, ExitReason> {
    let name = Name::Local(Atom::from("counter"));
    let counter = ChildSpec::gen_server_named("counter", Counter, (), Some(name));
    supervisor::start_link(ctx, Flags::new(Strategy::OneForOne), vec![counter], None).await
}
