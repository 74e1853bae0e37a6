//! Program 3 in rotp: the counter, on a node, called by erl as any `gen_server` is —
//! `gen_server:call({counter, Node}, {inc, 1})`, `get`, `boom` — its messages serde types.

use rotp::prelude::*;

/// The counter.
#[derive(Clone)]
pub struct Counter;

/// What erl asks: `{inc, N}`, `get`, `boom`.
#[derive(Deserialize)]
#[serde(crate = "rotp::serde", rename_all = "snake_case")]
pub enum Request {
    /// Add `N`; answers the new count.
    Inc(i64),
    /// The count.
    Get,
    /// Crash.
    Boom,
}

impl GenServer for Counter {
    type Args = i64; // the default init: the state starts as the argument
    type State = i64;
    type Call = Request;
    type Reply = i64;
    type Cast = ();

    serde_messages!();

    async fn handle_call(
        &self,
        request: Request,
        _: &gen_server::From,
        n: &mut i64,
        _: &mut Context,
    ) -> CallReply<i64> {
        match request {
            Request::Inc(k) => *n += k,
            Request::Get => {}
            Request::Boom => return CallReply::Stop(ExitReason::atom("boom")),
        }
        CallReply::Reply(*n)
    }
}

/// The application: the counter under a one_for_one supervisor. A program runs it with
/// `application().sname("counter").run()` (its root supervisor registered as
/// `counter_sup`, as `Application` names it); the bench and the tests give it their own node.
pub fn application() -> Application {
    Application::new("counter").child(ChildSpec::gen_server_named(
        "counter",
        Counter,
        0,
        Some("counter".into()),
    ))
}
