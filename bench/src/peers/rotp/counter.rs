//! Program 1 in rotp: a counter GenServer, registered as `counter` under a one_for_one
//! supervisor; `Boom` crashes it and the supervisor starts it again from 0.

use rotp::prelude::*;

/// The counter.
#[derive(Clone)]
pub struct Counter;

/// The call: the count.
pub struct Get;

/// The casts.
pub enum Cast {
    /// Add one.
    Inc,
    /// Crash.
    Boom,
}

impl GenServer for Counter {
    type Args = i64; // the default init: the state starts as the argument
    type State = i64;
    type Call = Get;
    type Reply = i64;
    type Cast = Cast;

    async fn handle_call(
        &self,
        _: Get,
        _: &gen_server::From,
        n: &mut i64,
        _: &mut Context,
    ) -> CallReply<i64> {
        CallReply::Reply(*n)
    }

    async fn handle_cast(&self, cast: Cast, n: &mut i64, _: &mut Context) -> NoReply {
        match cast {
            Cast::Inc => *n += 1,
            Cast::Boom => return NoReply::Stop(ExitReason::atom("boom")),
        }
        NoReply::Continue
    }
}

/// Starts the supervisor (linked to the calling process) and the counter under it.
pub async fn start(ctx: &mut Context) -> Result<Option<Pid>, ExitReason> {
    let counter = ChildSpec::gen_server_named("counter", Counter, 0, Some("counter".into()));
    // The bench crashes it a thousand times in a row; OTP's default allows 3 in 5 s.
    let flags = Flags {
        max_restarts: 100_000,
        ..Flags::new(Strategy::OneForOne)
    };
    supervisor::start_link(ctx, flags, vec![counter], None).await
}
