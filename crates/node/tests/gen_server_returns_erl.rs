//! A GenServer's returns as an erl caller sees them: a reply with a timeout reaches erl and
//! the server then gets `timeout` in `handle_info`, unless a message (erl's cast) cancels it;
//! a `{continue, _}` after a reply; a reply sent by a worker process the server handed erl's
//! `From` to; and a server without `handle_call` exiting erl's call with Elixir's error.

mod support;

use std::time::Duration;

use etf::Term;
use otp::gen_server::{self, CallReply, GenServer, NoReply};
use runtime::{Context, ExitReason, Message};
use support::*;

/// Takes any term; tells the last caller when it sees `timeout`.
struct Idle;

#[derive(Default)]
struct State {
    caller: Option<etf::Pid>,
    continued: bool,
}

impl GenServer for Idle {
    type Args = ();
    type State = State;
    type Call = Term;
    type Reply = Term;
    type Cast = Term;

    async fn init(&self, _: (), _: &mut Context) -> otp::Init<State> {
        otp::Init::Ok(State::default())
    }

    async fn handle_call(
        &self,
        request: Term,
        from: &otp::From,
        state: &mut State,
        ctx: &mut Context,
    ) -> CallReply<Term> {
        state.caller = Some(from.pid().clone());
        match request {
            // {reply_after, Ms}: ok, then `timeout` after Ms without a message.
            Term::Tuple(v) if v.first() == Some(&Term::atom("reply_after")) => {
                let ms = match v.get(1) {
                    Some(Term::Integer(ms)) => *ms as u64,
                    _ => 0,
                };
                CallReply::Reply(Term::atom("ok")).timeout(Duration::from_millis(ms))
            }
            Term::Atom(a) if a.as_str() == "continue" => {
                CallReply::Reply(Term::atom("ok")).continue_with(Term::atom("go"))
            }
            Term::Atom(a) if a.as_str() == "continued" => {
                CallReply::Reply(Term::atom(if state.continued { "yes" } else { "no" }))
            }
            // A worker replies: {deferred, Worker, Server}.
            Term::Atom(a) if a.as_str() == "defer" => {
                let (from, server) = (from.clone(), ctx.pid().clone());
                ctx.spawn(move |ctx| async move {
                    let me = Term::Pid(ctx.pid().clone());
                    let reply = Term::Tuple(vec![Term::atom("deferred"), me, Term::Pid(server)]);
                    from.reply_term(&ctx, reply);
                    ExitReason::Normal
                });
                CallReply::NoReply
            }
            _ => CallReply::Reply(Term::atom("unknown")),
        }
    }

    /// Any cast: a `marker` to the caller 600 ms later.
    async fn handle_cast(&self, _: Term, state: &mut State, ctx: &mut Context) -> NoReply {
        if let Some(caller) = &state.caller {
            ctx.send_after(Duration::from_millis(600), caller, Term::atom("marker"));
        }
        NoReply::Continue
    }

    async fn handle_info(&self, message: Message, state: &mut State, ctx: &mut Context) -> NoReply {
        if message.as_term() == Some(&Term::atom("timeout")) {
            if let Some(caller) = &state.caller {
                ctx.send(caller, Term::atom("timeout_seen"));
            }
        }
        NoReply::Continue
    }

    async fn handle_continue(&self, _: Term, state: &mut State, _: &mut Context) -> NoReply {
        state.continued = true;
        NoReply::Continue
    }
}

/// Writes no `handle_call`.
struct NoCalls;

impl GenServer for NoCalls {
    type Args = ();
    type State = ();
    type Call = Term;
    type Reply = Term;
    type Cast = ();
}

async fn servers_node(name: &str, cookie: &str, port: u16) -> rotp_node::Node {
    let node = rotp_node(name, cookie, port).await;
    let started = node
        .in_process(|mut ctx| async move {
            let idle = gen_server::start(&mut ctx, Idle, (), Some("idle".into())).await;
            let none = gen_server::start(&mut ctx, NoCalls, (), Some("nocalls".into())).await;
            matches!((idle, none), (Ok(Some(_)), Ok(Some(_))))
        })
        .await;
    assert_eq!(started, Some(true));
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_sees_replies_timeouts_continues_and_deferred_replies() {
    let (_epmd, port) = epmd();
    let node = servers_node("rotp_gsr", "gsreturns", port).await;
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_gsr",
        "gsreturns",
        port,
        &format!(
            "S = {{idle, '{target}'}}, \
             Next = fun() -> receive M -> M after 10000 -> nothing end end, \
             io:format(\"~p~n\", [gen_server:call(S, {{reply_after, 50}})]), \
             io:format(\"~p~n\", [Next()]), \
             io:format(\"~p~n\", [gen_server:call(S, {{reply_after, 300}})]), \
             gen_server:cast(S, poke), \
             io:format(\"~p~n\", [Next()]), \
             io:format(\"~p~n\", [gen_server:call(S, continue)]), \
             io:format(\"~p~n\", [gen_server:call(S, continued)]), \
             {{deferred, W, P}} = gen_server:call(S, defer), \
             io:format(\"~p~n\", [{{W =/= P, node(W) =:= node(P)}}]), \
             {{'EXIT', {{Why, _}}}} = (catch gen_server:call({{nocalls, '{target}'}}, hello)), \
             io:format(\"~p~n\", [Why]), \
             halt()."
        ),
    )
    .await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            // The reply, then the server's `timeout` 50 ms later.
            "ok",
            "timeout_seen",
            // The cast cancelled the 300 ms timeout: the marker it set for 600 ms comes first.
            "ok",
            "marker",
            // handle_continue ran before the next call.
            "ok",
            "yes",
            // A worker on the server's node, not the server, replied.
            "{true,true}",
            "{panic,<<\"attempted to call GenServer nocalls but no handle_call/3 clause was provided\">>}",
        ],
        "{out}"
    );
    drop(node);
}
