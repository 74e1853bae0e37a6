//! GenServers reached with terms (as erl, iex and other nodes reach them), typed handles, and
//! one-line child specs. The wire itself is tested with real erl and iex nodes in
//! `crates/node/tests/gen_server_wire.rs`.

use std::time::Duration;

use etf::{Atom, Term};
use rotp_otp::gen_server::{self, call_term, cast_term, try_call_term, Handle, ServerRef};
use rotp_otp::supervisor::{self, ChildSpec, Flags, Strategy};
use rotp_otp::{CallError, CallReply, From, GenServer, Init, NoReply};
use runtime::{Context, ExitReason, Message, Runtime};
use tokio::sync::mpsc;

/// Takes terms: `{echo, X}` answers X, `hold` answers later (on `release`), casts and other
/// messages are reported.
#[derive(Clone)]
struct Echo {
    seen: mpsc::UnboundedSender<String>,
}

impl GenServer for Echo {
    type Args = ();
    type State = Option<From>;
    type Call = Term;
    type Reply = Term;
    type Cast = Term;

    async fn init(&self, _: (), _: &mut Context) -> Init<Option<From>> {
        Init::Ok(None)
    }

    async fn handle_call(
        &self,
        request: Term,
        from: &From,
        held: &mut Option<From>,
        _: &mut Context,
    ) -> CallReply<Term> {
        if request == Term::atom("hold") {
            *held = Some(from.clone());
            return CallReply::NoReply;
        }
        match request {
            Term::Tuple(mut v) if v.len() == 2 && v[0] == Term::atom("echo") => {
                CallReply::Reply(v.pop().unwrap_or(Term::NIL))
            }
            other => CallReply::Reply(Term::Tuple(vec![Term::atom("unknown"), other])),
        }
    }

    async fn handle_cast(
        &self,
        request: Term,
        held: &mut Option<From>,
        ctx: &mut Context,
    ) -> NoReply {
        if request == Term::atom("release") {
            if let Some(from) = held.take() {
                from.reply(ctx, Term::atom("released"));
            }
        }
        let _ = self
            .seen
            .send(format!("cast {}", etf::text::write(&request)));
        NoReply::Continue
    }

    async fn handle_info(
        &self,
        message: Message,
        _: &mut Option<From>,
        _: &mut Context,
    ) -> NoReply {
        if let Some(t) = message.as_term() {
            let _ = self.seen.send(format!("info {}", etf::text::write(t)));
        }
        NoReply::Continue
    }
}

/// Typed requests and no term path: a term request is just a message to it.
#[derive(Clone)]
struct Typed {
    seen: mpsc::UnboundedSender<String>,
}

struct Bump;

impl GenServer for Typed {
    type Args = u32;
    type State = u32;
    type Call = Bump;
    type Reply = u32;
    type Cast = ();

    async fn init(&self, start: u32, _: &mut Context) -> Init<u32> {
        Init::Ok(start)
    }

    async fn handle_call(&self, _: Bump, _: &From, n: &mut u32, _: &mut Context) -> CallReply<u32> {
        *n += 1;
        if *n == 3 {
            return CallReply::StopReply(ExitReason::atom("three"), *n);
        }
        CallReply::Reply(*n)
    }

    async fn handle_info(&self, message: Message, _: &mut u32, _: &mut Context) -> NoReply {
        if let Some(t) = message.as_term() {
            let _ = self.seen.send(format!("info {}", etf::text::write(t)));
        }
        NoReply::Continue
    }
}

fn parse(text: &str) -> Term {
    etf::text::parse(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_takes_terms_answers_term_calls_and_casts() {
    let rt = Runtime::default();
    let (seen, mut events) = mpsc::unbounded_channel();
    let (tx, rx) = tokio::sync::oneshot::channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let name = Some(rotp_otp::Name::Local(Atom::from("echo")));
        gen_server::start_link(&mut ctx, Echo { seen }, (), name)
            .await
            .unwrap();
        let echo = ServerRef::Name(Atom::from("echo"));
        let t = Duration::from_secs(5);
        let one = call_term(&mut ctx, echo.clone(), parse("{echo, [1, two]}"), t).await;
        cast_term(&ctx, echo.clone(), parse("{note, 1}"));
        // A reply that comes later, from a cast, reaches the term caller as a term.
        let releaser = echo.clone();
        ctx.runtime().spawn(move |c| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cast_term(&c, releaser, Term::atom("release"));
            ExitReason::Normal
        });
        let held = call_term(&mut ctx, echo.clone(), Term::atom("hold"), t).await;
        // Other messages still go to handle_info.
        ctx.send_named(
            &Atom::from("echo"),
            Message::Term(parse("{'$gen_call', not_a_from, x}")),
        )
        .unwrap();
        let unknown = try_call_term(
            &mut ctx,
            ServerRef::Name(Atom::from("nobody")),
            Term::NIL,
            t,
        )
        .await;
        let _ = tx.send((one, held, unknown));
        ExitReason::Normal
    });
    let (one, held, unknown) = rx.await.unwrap();
    assert_eq!(one, parse("[1, two]"));
    assert_eq!(held, Term::atom("released"));
    assert_eq!(unknown, Err(CallError::NoProc));
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(
            tokio::time::timeout(Duration::from_secs(5), events.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(
        got,
        [
            "cast {note,1}",
            "cast release",
            "info {'$gen_call',not_a_from,x}"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_server_leaves_term_requests_to_handle_info_and_its_handle_is_typed() {
    let rt = Runtime::default();
    let (seen, mut events) = mpsc::unbounded_channel();
    let (tx, rx) = tokio::sync::oneshot::channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let handle: Handle<Typed> = Handle::start_link(&mut ctx, Typed { seen }, 0, None)
            .await
            .unwrap()
            .unwrap();
        let t = Duration::from_millis(300);
        let one: u32 = handle.call(&mut ctx, Bump, t).await;
        // A term request is no call for it: the caller times out, the server sees a message.
        let term = try_call_term(&mut ctx, handle.pid().clone(), Term::atom("bump"), t).await;
        let two = handle.try_call(&mut ctx, Bump, t).await;
        // The third stops it, replying first.
        let three = handle.try_call(&mut ctx, Bump, t).await;
        // It replies before it exits: wait for its exit (we are linked and trap exits), or the
        // next call could monitor it while it dies and see its reason rather than `noproc`.
        let exited = ctx
            .receive_timeout(Duration::from_secs(5), |m| {
                matches!(m.as_term(), Some(Term::Tuple(t)) if t.first() == Some(&Term::atom("EXIT")))
            })
            .await;
        assert!(exited.is_some(), "the server did not exit after its third call");
        let after = handle.try_call(&mut ctx, Bump, t).await;
        let _ = tx.send((one, term, two, three, after));
        ExitReason::Normal
    });
    let (one, term, two, three, after) = rx.await.unwrap();
    assert_eq!((one, two, three), (1, Ok(2), Ok(3)));
    assert_eq!(term, Err(CallError::Timeout));
    assert_eq!(after, Err(CallError::NoProc));
    let info = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(info.starts_with("info {'$gen_call',{<"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_line_child_spec_starts_and_restarts_a_gen_server() {
    let rt = Runtime::default();
    let (seen, _events) = mpsc::unbounded_channel();
    let (tx, rx) = tokio::sync::oneshot::channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let child = ChildSpec::gen_server_named(
            "typed",
            Typed { seen },
            1,
            Some(rotp_otp::Name::Local(Atom::from("typed"))),
        );
        let inner =
            ChildSpec::supervisor_of("inner", Flags::new(Strategy::OneForOne), vec![child], None);
        supervisor::start_link(&mut ctx, Flags::new(Strategy::OneForOne), vec![inner], None)
            .await
            .unwrap();
        let t = Duration::from_secs(5);
        let typed = ServerRef::Name(Atom::from("typed"));
        let first = ctx.runtime().whereis(&Atom::from("typed"));
        // 1 → 2, then 3 stops it (`three`); the supervisor starts it again from 1.
        let two: u32 = gen_server::call(&mut ctx, typed.clone(), Bump, t).await;
        let three: u32 = gen_server::call(&mut ctx, typed.clone(), Bump, t).await;
        let mut again = None;
        for _ in 0..100 {
            again = ctx.runtime().whereis(&Atom::from("typed"));
            if again.is_some() && again != first {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let fresh: u32 = gen_server::call(&mut ctx, typed, Bump, t).await;
        let _ = tx.send((two, three, first != again, fresh));
        ExitReason::Normal
    });
    assert_eq!(rx.await.unwrap(), (2, 3, true, 2));
}
