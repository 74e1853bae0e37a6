//! GenServer, checked against the rules of Elixir's GenServer docs and `gen_server`: init
//! (with continue, stop, ignore), call and reply, deferred reply, cast, info, call timeouts
//! and dead servers making the caller exit, terminate on a parent's shutdown when trapping,
//! names, stop.

use std::time::Duration;

use etf::{Atom, Term};
use rotp_otp::gen_server::{self, call, cast, start_link, try_call};
use rotp_otp::{CallError, CallReply, From, GenServer, Init, NoReply};
use runtime::{Context, ExitReason, Message, Runtime};
use tokio::sync::mpsc;

/// A counter; `Hold` replies later, from `Release`.
struct Counter {
    events: mpsc::UnboundedSender<String>,
}

enum Req {
    Get,
    Add(i64),
    Hold,
    Sleep(u64),
    Crash,
}

struct State {
    n: i64,
    held: Option<From>,
}

impl GenServer for Counter {
    type Args = i64;
    type State = State;
    type Call = Req;
    type Reply = i64;
    type Cast = i64;

    async fn init(&self, start: i64, ctx: &mut Context) -> Init<State> {
        ctx.trap_exit(true);
        match start {
            -1 => Init::Stop(ExitReason::atom("bad_start")),
            -2 => Init::Ignore,
            _ => Init::Continue(
                State {
                    n: start,
                    held: None,
                },
                Term::atom("warm_up"),
            ),
        }
    }

    async fn handle_continue(&self, cont: Term, state: &mut State, _ctx: &mut Context) -> NoReply {
        let _ = self.events.send(format!("continue {cont} at {}", state.n));
        NoReply::Continue
    }

    async fn handle_call(
        &self,
        req: Req,
        from: &From,
        state: &mut State,
        _ctx: &mut Context,
    ) -> CallReply<i64> {
        match req {
            Req::Get => CallReply::Reply(state.n),
            Req::Add(k) => {
                state.n += k;
                CallReply::Reply(state.n)
            }
            Req::Hold => {
                state.held = Some(from.clone());
                CallReply::NoReply
            }
            Req::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                CallReply::Reply(state.n)
            }
            Req::Crash => CallReply::Stop(ExitReason::atom("crashed")),
        }
    }

    async fn handle_cast(&self, k: i64, state: &mut State, ctx: &mut Context) -> NoReply {
        state.n += k;
        if let Some(from) = state.held.take() {
            from.reply(ctx, state.n);
        }
        NoReply::Continue
    }

    async fn handle_info(
        &self,
        message: Message,
        _state: &mut State,
        _ctx: &mut Context,
    ) -> NoReply {
        let _ = self.events.send(format!("info {message:?}"));
        NoReply::Continue
    }

    async fn terminate(&self, reason: &ExitReason, state: &mut State, _ctx: &mut Context) {
        let _ = self
            .events
            .send(format!("terminate {} at {}", reason.to_term(), state.n));
    }
}

fn counter() -> (Counter, mpsc::UnboundedReceiver<String>) {
    let (events, rx) = mpsc::unbounded_channel();
    (Counter { events }, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_continue_call_cast_and_info() {
    let rt = Runtime::default();
    let (server, mut events) = counter();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let pid = start_link(&mut ctx, server, 40, None)
            .await
            .unwrap()
            .unwrap();
        let a: i64 = call(&mut ctx, &pid, Req::Add(1), gen_server::DEFAULT_TIMEOUT).await;
        cast(&ctx, &pid, 1i64);
        let b: i64 = call(&mut ctx, &pid, Req::Get, gen_server::DEFAULT_TIMEOUT).await;
        ctx.send(&pid, Term::atom("hello"));
        let _ = tx.send((a, b));
        ExitReason::Normal
    });
    assert_eq!(rx.recv().await, Some((41, 42)));
    assert_eq!(
        events.recv().await.as_deref(),
        Some("continue warm_up at 40")
    );
    assert_eq!(events.recv().await.as_deref(), Some("info hello"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_can_come_later_from_elsewhere() {
    let rt = Runtime::default();
    let (server, _events) = counter();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let pid = start_link(&mut ctx, server, 0, None)
            .await
            .unwrap()
            .unwrap();
        let p = pid.clone();
        // Another process releases the held call with a cast.
        ctx.spawn(move |mut c| async move {
            c.receive_timeout(Duration::from_millis(50), |_| false)
                .await;
            cast(&c, &p, 5i64);
            ExitReason::Normal
        });
        let held: i64 = call(&mut ctx, &pid, Req::Hold, gen_server::DEFAULT_TIMEOUT).await;
        let _ = tx.send(held);
        ExitReason::Normal
    });
    assert_eq!(rx.recv().await, Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_stop_and_ignore_are_what_start_returns() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true); // a stopping init's exit signal comes to the linked caller
        let (s1, _e1) = counter();
        let stopped = start_link(&mut ctx, s1, -1, None).await;
        let (s2, _e2) = counter();
        let ignored = start_link(&mut ctx, s2, -2, None).await;
        let _ = tx.send((stopped.err(), ignored.ok()));
        ExitReason::Normal
    });
    let (stopped, ignored) = rx.recv().await.unwrap();
    assert_eq!(stopped, Some(ExitReason::atom("bad_start")));
    assert_eq!(ignored, Some(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_times_out_makes_the_caller_exit() {
    let rt = Runtime::default();
    let (server, _events) = counter();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let pid = start(&mut ctx, server).await;
        let caller = ctx.spawn_link(move |mut c| async move {
            let _: i64 = call(&mut c, &pid, Req::Sleep(500), Duration::from_millis(50)).await;
            ExitReason::atom("not reached")
        });
        let exit = ctx
            .receive(|m| m.as_exit().is_some_and(|(p, _)| p == caller))
            .await;
        let _ = tx.send(exit.as_exit().map(|(_, r)| r.to_term().to_string()));
        ExitReason::Normal
    });
    let reason = rx.recv().await.unwrap().unwrap();
    assert!(
        reason.starts_with("{timeout,{gen_server,call,["),
        "{reason}"
    );
}

async fn start(ctx: &mut Context, server: Counter) -> etf::Pid {
    gen_server::start(ctx, server, 0, None)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_a_dead_or_unknown_server_fails_with_noproc() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        // Wait for its 'DOWN', so the call below cannot catch it dying.
        let (dead, _) = ctx.spawn_monitor(|_| async { ExitReason::Normal });
        ctx.receive_timeout(Duration::from_secs(5), |m| {
            matches!(m.as_term(), Some(Term::Tuple(t)) if t.first() == Some(&Term::atom("DOWN")))
        })
        .await;
        let a: Result<i64, _> = try_call(&mut ctx, &dead, Req::Get, Duration::from_secs(1)).await;
        let b: Result<i64, _> = try_call(
            &mut ctx,
            Atom::from("nobody"),
            Req::Get,
            Duration::from_secs(1),
        )
        .await;
        let _ = tx.send((a, b));
        ExitReason::Normal
    });
    let (a, b) = rx.recv().await.unwrap();
    assert_eq!(a, Err(CallError::NoProc));
    assert_eq!(b, Err(CallError::NoProc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_during_a_call_ends_the_call_with_its_reason() {
    let rt = Runtime::default();
    let (server, mut events) = counter();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let pid = start(&mut ctx, server).await;
        let r: Result<i64, _> = try_call(&mut ctx, &pid, Req::Crash, Duration::from_secs(1)).await;
        let _ = tx.send(r);
        ExitReason::Normal
    });
    assert_eq!(
        rx.recv().await.unwrap(),
        Err(CallError::Exited(ExitReason::atom("crashed")))
    );
    assert_eq!(
        events.recv().await.as_deref(),
        Some("continue warm_up at 0")
    );
    assert_eq!(
        events.recv().await.as_deref(),
        Some("terminate crashed at 0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapping_server_runs_terminate_when_its_parent_shuts_it_down() {
    let rt = Runtime::default();
    let (server, mut events) = counter();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let parent = rt.spawn(move |mut ctx| async move {
        let pid = start_link(&mut ctx, server, 7, None)
            .await
            .unwrap()
            .unwrap();
        let _ = tx.send(pid);
        ctx.receive(|_| false).await;
        ExitReason::Normal
    });
    let _server = rx.recv().await.unwrap();
    rt.exit(&parent, ExitReason::Shutdown);
    assert_eq!(
        events.recv().await.as_deref(),
        Some("continue warm_up at 7")
    );
    assert_eq!(
        events.recv().await.as_deref(),
        Some("terminate shutdown at 7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_stop_and_already_started() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let name = Atom::from("counter");
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let (s1, _e1) = counter();
        let pid = gen_server::start(&mut ctx, s1, 3, Some(name.clone().into()))
            .await
            .unwrap()
            .unwrap();
        let by_name: i64 = call(
            &mut ctx,
            name.clone(),
            Req::Get,
            gen_server::DEFAULT_TIMEOUT,
        )
        .await;
        let (s2, _e2) = counter();
        let twice = gen_server::start(&mut ctx, s2, 3, Some(name.clone().into())).await;
        let stopped = gen_server::stop(
            &mut ctx,
            name.clone(),
            ExitReason::Normal,
            Duration::from_secs(1),
        )
        .await;
        let gone = ctx.runtime().whereis(&name);
        let expected = ExitReason::Other(Term::Tuple(vec![
            Term::atom("already_started"),
            Term::Pid(pid.clone()),
        ]));
        let _ = tx.send((
            by_name,
            twice.err() == Some(expected),
            stopped,
            gone,
            ctx.runtime().is_alive(&pid),
        ));
        ExitReason::Normal
    });
    let (by_name, twice, stopped, gone, alive) = rx.recv().await.unwrap();
    assert_eq!(by_name, 3);
    assert!(
        twice,
        "a second start under the name fails with {{already_started, Pid}}"
    );
    assert_eq!(stopped, Ok(()));
    assert_eq!(gone, None);
    assert!(!alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_of_the_wrong_type_fails_at_once() {
    let rt = Runtime::default();
    let (server, _events) = counter();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let pid = start(&mut ctx, server).await;
        let r: Result<i64, _> =
            try_call(&mut ctx, &pid, "not a Req", Duration::from_secs(30)).await;
        let _ = tx.send(r);
        ExitReason::Normal
    });
    let r = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, Err(CallError::BadReply));
}
