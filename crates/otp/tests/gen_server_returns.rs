//! What a GenServer's returns and left-out callbacks do, after `gen_server.erl`'s loop and
//! Elixir's `use GenServer`: a return's timeout hands `handle_info` the atom `timeout` when
//! no message comes and is cancelled by any message; `{continue, _}` after a call's reply;
//! `hibernate` as a wait; a reply sent by another process; the default `init`,
//! `handle_call` and `handle_cast`; a panic running `terminate`.

use std::time::Duration;

use etf::{Atom, Term};
use rotp_otp::gen_server::{self, try_call, CallReply, GenServer, Init, NoReply};
use rotp_otp::{CallError, From};
use runtime::{Context, ExitReason, Message, Runtime};
use tokio::sync::mpsc;

/// Records what it sees.
struct Watcher {
    events: mpsc::UnboundedSender<String>,
}

enum Req {
    /// `{reply, n, S, Timeout}`.
    ReplyTimeout(u64),
    /// `{reply, n, S, {continue, again}}`.
    ReplyContinue,
    /// `{reply, n, S, hibernate}`.
    ReplyHibernate,
    /// `{noreply, S}`, a worker process replying.
    Defer,
    Get,
    Panic,
}

impl GenServer for Watcher {
    type Args = u64;
    type State = u64;
    type Call = Req;
    type Reply = u64;
    type Cast = ();

    async fn init(&self, timeout: u64, _: &mut Context) -> Init<u64> {
        Init::Ok(0).timeout(Duration::from_millis(timeout))
    }

    async fn handle_call(
        &self,
        request: Req,
        from: &From,
        n: &mut u64,
        ctx: &mut Context,
    ) -> CallReply<u64> {
        *n += 1;
        match request {
            Req::ReplyTimeout(ms) => CallReply::Reply(*n).timeout(Duration::from_millis(ms)),
            Req::ReplyContinue => {
                let _ = self.events.send("call continue".into());
                CallReply::Reply(*n).continue_with(Term::atom("again"))
            }
            Req::ReplyHibernate => CallReply::Reply(*n).hibernate(),
            Req::Defer => {
                let (from, answer) = (from.clone(), *n * 100);
                ctx.spawn(move |ctx| async move {
                    from.reply(&ctx, answer);
                    ExitReason::Normal
                });
                CallReply::NoReply
            }
            Req::Get => {
                let _ = self.events.send("call get".into());
                CallReply::Reply(*n)
            }
            Req::Panic => panic!("boom"),
        }
    }

    async fn handle_cast(&self, _: (), _: &mut u64, ctx: &mut Context) -> NoReply {
        let _ = self.events.send("cast".into());
        // A marker well after the timeout the cast cancelled would have fired.
        let me = ctx.pid().clone();
        ctx.send_after(Duration::from_millis(600), &me, Term::atom("marker"));
        NoReply::Continue
    }

    async fn handle_info(&self, message: Message, _: &mut u64, _: &mut Context) -> NoReply {
        let text = match message.as_term() {
            Some(term) => term.to_string(),
            None => "a Rust value".to_owned(),
        };
        let _ = self.events.send(text);
        NoReply::Continue
    }

    async fn handle_continue(&self, cont: Term, _: &mut u64, _: &mut Context) -> NoReply {
        let _ = self.events.send(format!("continue {cont}"));
        NoReply::Continue
    }

    async fn terminate(&self, reason: &ExitReason, _: &mut u64, _: &mut Context) {
        let _ = self.events.send(format!("terminate {reason:?}"));
    }
}

/// Runs `body` in a process that traps exits; gives what it returns.
async fn within<T: Send + 'static, Fut>(body: impl FnOnce(Context) -> Fut + Send + 'static) -> T
where
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    Runtime::default().spawn(move |ctx| async move {
        ctx.trap_exit(true);
        let _ = tx.send(body(ctx).await);
        ExitReason::Normal
    });
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the test process finished in time")
        .expect("the test process did not panic")
}

async fn next(events: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the server is alive")
}

const LONG: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_hands_handle_info_timeout_and_any_message_cancels_it() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = Watcher { events: tx };
    let (seen, replies) = within(move |mut ctx| async move {
        // init's timeout: no message comes, handle_info gets `timeout`.
        let pid = gen_server::start(&mut ctx, server, 50, None)
            .await
            .unwrap()
            .unwrap();
        let mut seen = vec![next(&mut events).await];
        // A reply's timeout: the reply comes, then `timeout`.
        let a: u64 = gen_server::call(&mut ctx, pid.clone(), Req::ReplyTimeout(50), LONG).await;
        seen.push(next(&mut events).await);
        // A long timeout, then a cast: the cast cancels it.
        let b: u64 = gen_server::call(&mut ctx, pid.clone(), Req::ReplyTimeout(300), LONG).await;
        gen_server::cast(&ctx, pid.clone(), ());
        seen.push(next(&mut events).await);
        seen.push(next(&mut events).await);
        (seen, (a, b))
    })
    .await;
    assert_eq!(replies, (1, 2));
    // Had the cast not cancelled the 300 ms timeout, `timeout` would come before the marker
    // the cast set for 600 ms.
    assert_eq!(seen, ["timeout", "timeout", "cast", "marker"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_after_a_reply_runs_before_the_next_message_and_hibernate_waits() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = Watcher { events: tx };
    let replies = within(move |mut ctx| async move {
        // No timeout after init (an hour): only what the calls do.
        let pid = gen_server::start(&mut ctx, server, 3_600_000, None)
            .await
            .unwrap()
            .unwrap();
        let a: u64 = gen_server::call(&mut ctx, pid.clone(), Req::ReplyContinue, LONG).await;
        let b: u64 = gen_server::call(&mut ctx, pid.clone(), Req::Get, LONG).await;
        let c: u64 = gen_server::call(&mut ctx, pid.clone(), Req::ReplyHibernate, LONG).await;
        let d: u64 = gen_server::call(&mut ctx, pid.clone(), Req::Get, LONG).await;
        (a, b, c, d)
    })
    .await;
    assert_eq!(replies, (1, 2, 3, 4));
    assert_eq!(next(&mut events).await, "call continue");
    assert_eq!(next(&mut events).await, "continue again");
    assert_eq!(next(&mut events).await, "call get");
    assert_eq!(next(&mut events).await, "call get");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_the_server_hands_its_from_to_replies() {
    let (tx, _events) = mpsc::unbounded_channel();
    let server = Watcher { events: tx };
    let reply = within(move |mut ctx| async move {
        let pid = gen_server::start(&mut ctx, server, 3_600_000, None)
            .await
            .unwrap()
            .unwrap();
        try_call::<_, u64>(&mut ctx, pid, Req::Defer, LONG).await
    })
    .await;
    assert_eq!(reply, Ok(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_callback_runs_terminate_and_is_the_exit_reason() {
    let (tx, mut events) = mpsc::unbounded_channel();
    let server = Watcher { events: tx };
    let reply = within(move |mut ctx| async move {
        let pid = gen_server::start(&mut ctx, server, 3_600_000, None)
            .await
            .unwrap()
            .unwrap();
        try_call::<_, u64>(&mut ctx, pid, Req::Panic, LONG).await
    })
    .await;
    assert_eq!(
        reply,
        Err(CallError::Exited(ExitReason::Panic("boom".into())))
    );
    assert_eq!(next(&mut events).await, "terminate Panic(\"boom\")");
}

/// A server that writes only its types: Elixir's defaults do the rest.
struct Bare;

impl GenServer for Bare {
    type Args = i64;
    type State = i64;
    type Call = ();
    type Reply = i64;
    type Cast = ();
}

/// Its `Args` are not its `State`, and it writes no `init`.
struct NoInit;

impl GenServer for NoInit {
    type Args = String;
    type State = i64;
    type Call = ();
    type Reply = ();
    type Cast = ();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn left_out_callbacks_do_what_elixirs_defaults_do() {
    let (call, cast, no_init) = within(|mut ctx| async move {
        // init defaults to `{ok, Args}`; a call to a server without handle_call stops it.
        let name = Atom::from("bare_server");
        let pid = gen_server::start(&mut ctx, Bare, 7, Some(name.clone().into()))
            .await
            .unwrap()
            .unwrap();
        let call = try_call::<_, i64>(&mut ctx, pid, (), LONG).await;
        // A cast to one without handle_cast stops it too.
        let pid = gen_server::start(&mut ctx, Bare, 7, None)
            .await
            .unwrap()
            .unwrap();
        let monitor = ctx.monitor(&pid);
        gen_server::cast(&ctx, pid.clone(), ());
        let down = ctx.receive(|m| m.is_down_for(&monitor)).await;
        let cast = down.as_down().map(|(_, _, reason)| (pid, reason));
        let no_init = gen_server::start(&mut ctx, NoInit, "x".into(), None).await;
        (call, cast, no_init)
    })
    .await;
    assert_eq!(
        call,
        Err(CallError::Exited(ExitReason::Panic(
            "attempted to call GenServer bare_server but no handle_call/3 clause was provided"
                .into()
        )))
    );
    let (pid, reason) = cast.expect("a 'DOWN'");
    assert_eq!(
        reason,
        ExitReason::Panic(format!(
            "attempted to cast GenServer {} but no handle_cast/2 clause was provided",
            Term::Pid(pid)
        ))
    );
    let Err(ExitReason::Other(Term::Tuple(v))) = no_init else {
        panic!("{no_init:?}");
    };
    assert_eq!(v[0], Term::atom("bad_init"));
    let Term::Binary(text) = &v[1] else {
        panic!("{v:?}")
    };
    let text = String::from_utf8_lossy(text);
    assert!(
        text.contains(
            "NoInit has no init: its Args (alloc::string::String) are not its State (i64)"
        ),
        "{text}"
    );
}
