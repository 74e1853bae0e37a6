//! Chapter 2 of the guide: a GenServer.
//!
//! `cargo run -p rotp-erlang --example gen_server`
//!
//! What to watch:
//! 1. `init` turns the arguments into the state: the stack starts as `["hello"]`.
//! 2. A cast (`push`) returns at once; a call (`pop`) waits for the reply. Messages are
//!    handled one at a time, in order, so the pop sees the push that was cast before it.
//! 3. `handle_info` gets every other message: here a `Tick` the server sends itself with
//!    `send_after`, as Elixir's `Process.send_after(self(), :tick, 100)`.
//! 4. `gen_server::stop` runs `terminate` with the reason, then the server is gone: a call
//!    to its name now fails with `noproc`.

use std::time::Duration;

use rotp::prelude::*;
use rotp::tokio::sync::oneshot;

// ANCHOR: server
/// The behaviour: a stack of strings.
#[derive(Clone)]
struct Stack;

/// `GenServer.call(stack, :pop)`.
enum Call {
    Pop,
}

/// `GenServer.cast(stack, {:push, item})`.
enum Cast {
    Push(String),
}

/// The message the server sends itself.
struct Tick;

const TICK: Duration = Duration::from_millis(100);

impl GenServer for Stack {
    type Args = Vec<String>;
    type State = Vec<String>;
    type Call = Call;
    type Reply = Option<String>;
    type Cast = Cast;

    async fn init(&self, items: Vec<String>, ctx: &mut Context) -> Init<Vec<String>> {
        let me = ctx.pid().clone();
        ctx.send_after(TICK, &me, Message::local(Tick));
        Init::Ok(items)
    }

    async fn handle_call(
        &self,
        Call::Pop: Call,
        _: &gen_server::From,
        items: &mut Vec<String>,
        _: &mut Context,
    ) -> CallReply<Option<String>> {
        CallReply::Reply(items.pop())
    }

    async fn handle_cast(
        &self,
        Cast::Push(item): Cast,
        items: &mut Vec<String>,
        _: &mut Context,
    ) -> NoReply {
        items.push(item);
        NoReply::Continue
    }

    async fn handle_info(
        &self,
        message: Message,
        items: &mut Vec<String>,
        ctx: &mut Context,
    ) -> NoReply {
        if message.downcast_ref::<Tick>().is_some() {
            println!("handle_info: tick, {} item(s) on the stack", items.len());
            let me = ctx.pid().clone();
            ctx.send_after(TICK, &me, Message::local(Tick));
        }
        NoReply::Continue
    }

    async fn terminate(&self, reason: &ExitReason, items: &mut Vec<String>, _: &mut Context) {
        println!("terminate: {} with {items:?} left", reason.to_term());
    }
}
// ANCHOR_END: server

#[rotp::tokio::main(crate = "rotp::tokio")]
async fn main() {
    let (done, finished) = oneshot::channel();
    Runtime::default().spawn(|mut ctx| async move {
        client(&mut ctx).await;
        let _ = done.send(());
        ExitReason::Normal
    });
    let _ = finished.await;
}

// ANCHOR: client
async fn client(ctx: &mut Context) {
    let timeout = gen_server::DEFAULT_TIMEOUT;
    // GenServer.start_link(Stack, ["hello"], name: :stack)
    let started =
        gen_server::start_link(ctx, Stack, vec!["hello".into()], Some("stack".into())).await;
    println!(
        "start_link: {:?}",
        started.map(|pid| pid.map(Term::from).map(|p| p.to_string()))
    );

    gen_server::cast(ctx, "stack", Cast::Push("world".into()));
    let top: Option<String> = gen_server::call(ctx, "stack", Call::Pop, timeout).await;
    println!("pop: {top:?}");

    // Let the server tick a few times while nobody calls it.
    let _ = ctx.receive_timeout(TICK * 3 + TICK / 2, |_| false).await;

    let stopped = gen_server::stop(ctx, "stack", ExitReason::Normal, timeout).await;
    println!("stop: {stopped:?}");
    let after = gen_server::try_call::<_, Option<String>>(ctx, "stack", Call::Pop, timeout).await;
    println!("pop after stop: {:?}", after.err());
}
// ANCHOR_END: client
