//! `Agent`: state behind a process, read and changed with functions (Elixir's `Agent`).
//!
//! ```
//! use rotp_otp::agent;
//!
//! # #[tokio::main] async fn main() {
//! # let (done, finished) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! // In a process, `ctx` being its `runtime::Context`:
//! // {:ok, bucket} = Agent.start_link(fn -> [] end)
//! let bucket = agent::start_link(&mut ctx, Vec::<String>::new, None).await.unwrap().unwrap();
//! agent::update(&mut ctx, &bucket, |list: &mut Vec<String>| list.push("milk".into())).await;
//! agent::cast(&ctx, &bucket, |list: &mut Vec<String>| list.push("eggs".into()));
//! let items = agent::get(&mut ctx, &bucket, |list: &Vec<String>| list.clone()).await;
//! assert_eq!(items, ["milk", "eggs"]);
//! // Agent.get_and_update(bucket, fn [first | rest] -> {first, rest} end)
//! let timeout = rotp_otp::gen_server::DEFAULT_TIMEOUT;
//! let first = agent::get_and_update(&mut ctx, &bucket, |list: &mut Vec<String>| list.remove(0), timeout).await;
//! assert_eq!(first, "milk");
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```

use std::any::Any;
use std::time::Duration;

use etf::Pid;
use runtime::{Context, ExitReason};

use crate::gen_server::{self, CallReply, From, GenServer, Init, Name, NoReply, ServerRef};

type Op<S> = Box<dyn FnOnce(&mut S) -> Box<dyn Any + Send> + Send>;
type Update<S> = Box<dyn FnOnce(&mut S) + Send>;

struct AgentServer<S>(std::marker::PhantomData<fn() -> S>);

impl<S: Send + 'static> GenServer for AgentServer<S> {
    type Args = Box<dyn FnOnce() -> S + Send>;
    type State = S;
    type Call = Op<S>;
    type Reply = Box<dyn Any + Send>;
    type Cast = Update<S>;

    async fn init(&self, start: Self::Args, _ctx: &mut Context) -> Init<S> {
        Init::Ok(start())
    }

    async fn handle_call(
        &self,
        op: Op<S>,
        _from: &From,
        state: &mut S,
        _ctx: &mut Context,
    ) -> CallReply<Box<dyn Any + Send>> {
        CallReply::Reply(op(state))
    }

    async fn handle_cast(&self, update: Update<S>, state: &mut S, _ctx: &mut Context) -> NoReply {
        update(state);
        NoReply::Continue
    }
}

/// `Agent.start_link/2`: an agent whose state `start` makes.
pub async fn start_link<S: Send + 'static>(
    ctx: &mut Context,
    start: impl FnOnce() -> S + Send + 'static,
    name: Option<Name>,
) -> Result<Option<Pid>, ExitReason> {
    gen_server::start_link(
        ctx,
        AgentServer::<S>(std::marker::PhantomData),
        Box::new(start),
        name,
    )
    .await
}

/// `Agent.get_and_update/3`: runs `f` in the agent on its state; returns what `f` returns.
pub async fn get_and_update<S: Send + 'static, T: Send + 'static>(
    ctx: &mut Context,
    agent: impl Into<ServerRef>,
    f: impl FnOnce(&mut S) -> T + Send + 'static,
    timeout: Duration,
) -> T {
    let op: Op<S> = Box::new(move |s| Box::new(f(s)));
    let reply: Box<dyn Any + Send> = gen_server::call(ctx, agent, op, timeout).await;
    match reply.downcast::<T>() {
        Ok(value) => *value,
        Err(_) => unreachable!("the agent ran our own closure"),
    }
}

/// `Agent.get/3`: what `f` makes of the state.
pub async fn get<S: Send + 'static, T: Send + 'static>(
    ctx: &mut Context,
    agent: impl Into<ServerRef>,
    f: impl FnOnce(&S) -> T + Send + 'static,
) -> T {
    get_and_update(
        ctx,
        agent,
        move |s: &mut S| f(s),
        gen_server::DEFAULT_TIMEOUT,
    )
    .await
}

/// `Agent.update/3`: changes the state and waits until it has.
pub async fn update<S: Send + 'static>(
    ctx: &mut Context,
    agent: impl Into<ServerRef>,
    f: impl FnOnce(&mut S) + Send + 'static,
) {
    get_and_update(ctx, agent, f, gen_server::DEFAULT_TIMEOUT).await
}

/// `Agent.cast/2`: changes the state without waiting.
pub fn cast<S: Send + 'static>(
    ctx: &Context,
    agent: impl Into<ServerRef>,
    f: impl FnOnce(&mut S) + Send + 'static,
) {
    let update: Update<S> = Box::new(f);
    gen_server::cast(ctx, agent, update);
}
