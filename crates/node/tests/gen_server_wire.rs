//! GenServers over the wire: erl's `gen_server:call/cast` and iex's `GenServer.call/cast`
//! reach a rotp server whose requests come from terms, and a rotp process calls a BEAM
//! gen_server, exiting as `gen_server:call/3` makes an erl caller exit.

mod support;

use std::time::Duration;

use etf::{Atom, Term};
use otp::gen_server::{self, CallReply, GenServer, Init, NoReply, ServerRef};
use runtime::{Context, ExitReason};
use support::global::erl_node;
use support::*;

/// A counter with typed requests, which erl and iex reach as `get`, `{add, N}` and `reset`.
struct Counter;

enum CounterCall {
    Get,
    Add(i64),
}

struct Reset;

impl GenServer for Counter {
    type Args = ();
    type State = i64;
    type Call = CounterCall;
    type Reply = i64;
    type Cast = Reset;

    fn call_from_term(request: &Term) -> Option<CounterCall> {
        match request {
            Term::Atom(a) if a.as_str() == "get" => Some(CounterCall::Get),
            Term::Tuple(v) => match v.as_slice() {
                [Term::Atom(a), Term::Integer(n)] if a.as_str() == "add" => {
                    Some(CounterCall::Add(*n))
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn reply_to_term(reply: i64) -> Option<Term> {
        Some(Term::Integer(reply))
    }

    fn cast_from_term(request: &Term) -> Option<Reset> {
        (request.as_atom() == Some("reset")).then_some(Reset)
    }

    async fn init(&self, _: (), _: &mut Context) -> Init<i64> {
        Init::Ok(0)
    }

    async fn handle_call(
        &self,
        request: CounterCall,
        _: &otp::From,
        n: &mut i64,
        _: &mut Context,
    ) -> CallReply<i64> {
        match request {
            CounterCall::Get => {}
            CounterCall::Add(k) => *n += k,
        }
        CallReply::Reply(*n)
    }

    async fn handle_cast(&self, _: Reset, n: &mut i64, _: &mut Context) -> NoReply {
        *n = 0;
        NoReply::Continue
    }
}

async fn counter_node(name: &str, cookie: &str, port: u16) -> rotp_node::Node {
    let node = rotp_node(name, cookie, port).await;
    let started = node
        .in_process(|mut ctx| async move {
            let name = Some(otp::Name::Local(Atom::from("counter")));
            let pid = gen_server::start_link(&mut ctx, Counter, (), name).await;
            let ok = matches!(pid, Ok(Some(_)));
            if ok {
                // Keep the server's parent alive.
                ctx.trap_exit(true);
                tokio::spawn(async move {
                    loop {
                        let _ = ctx.recv().await;
                    }
                });
            }
            ok
        })
        .await;
    assert_eq!(started, Some(true));
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_and_iex_call_and_cast_a_rotp_gen_server() {
    let (_epmd, port) = epmd();
    let node = counter_node("rotp_gsw", "gswire", port).await;
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_gsw",
        "gswire",
        port,
        &format!(
            "S = {{counter, '{target}'}}, \
             io:format(\"~p~n\", [gen_server:call(S, {{add, 5}})]), \
             io:format(\"~p~n\", [gen_server:call(S, get)]), \
             ok = gen_server:cast(S, reset), \
             io:format(\"~p~n\", [gen_server:call(S, get)]), \
             {{'EXIT', {{timeout, _}}}} = (catch gen_server:call(S, unknown_request, 300)), \
             io:format(\"~p~n\", [gen_server:call(S, {{add, 1}})]), halt()."
        ),
    )
    .await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["5", "5", "0", "1"],
        "{out}"
    );
    let script = format!(
        "s = {{:counter, :\"{target}\"}}; \
         IO.inspect(GenServer.call(s, {{:add, 41}})); \
         GenServer.cast(s, :reset); \
         IO.inspect(GenServer.call(s, :get)); \
         System.halt()"
    );
    let out = std::process::Command::new("elixir")
        .args(["--sname", "iex_gsw", "--cookie", "gswire", "-e", &script])
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("elixir");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["42", "0"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// How a rotp caller of `request` on `server` ended: its reply, or its exit reason, as text.
async fn call_outcome(
    node: &rotp_node::Node,
    server: ServerRef,
    request: &str,
    timeout: Duration,
) -> String {
    let request = etf::text::parse(request).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    node.runtime().spawn(move |mut ctx| async move {
        let (watcher, _) = {
            let r = request.clone();
            let s = server.clone();
            ctx.spawn_monitor(move |mut c| async move {
                let reply = gen_server::call_term(&mut c, s, r, timeout).await;
                ExitReason::Other(Term::Tuple(vec![Term::atom("replied"), reply]))
            })
        };
        let down = ctx
            .receive(|m| m.as_down().is_some_and(|(_, p, _)| p == watcher))
            .await;
        let (_, _, reason) = down.as_down().unwrap();
        let _ = tx.send(etf::text::write(&reason.to_term()));
        ExitReason::Normal
    });
    rx.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotp_process_calls_a_beam_gen_server_and_fails_as_an_erl_caller_does() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsc", "gscall", port).await;
    let (_ga, a) = erl_node("erl_gsc", "gscall", port).await;
    assert!(node.ping(&a).await);
    let rex = ServerRef::Remote(Atom::from("rex"), a.clone());
    // A reply from erl's rex, through the generic call too.
    let reply = node
        .in_process({
            let rex = rex.clone();
            move |mut ctx| async move {
                let request = etf::text::parse("{call, erlang, node, [], user}").unwrap();
                gen_server::try_call::<Term, Term>(&mut ctx, rex, request, Duration::from_secs(5))
                    .await
            }
        })
        .await
        .unwrap();
    assert_eq!(reply, Ok(Term::Atom(a.clone())));
    // What erl's own callers exit with, for the same calls.
    let erl_says = |code: String| {
        let node = node.clone();
        let a = a.clone();
        async move {
            match erl_run(&node, &a, &code).await {
                Term::Tuple(v) if v.len() == 2 && v[0].as_atom() == Some("EXIT") => {
                    etf::text::write(&v[1])
                }
                other => panic!("{other:?}"),
            }
        }
    };
    let noproc = call_outcome(
        &node,
        ServerRef::Remote(Atom::from("no_such"), a.clone()),
        "x",
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(
        noproc,
        erl_says(format!(
            "catch gen_server:call({{no_such, '{a}'}}, x, 1000)."
        ))
        .await
    );
    let slow = "{call, timer, sleep, [1000], user}";
    let timeout = call_outcome(&node, rex.clone(), slow, Duration::from_millis(100)).await;
    assert_eq!(
        timeout,
        erl_says(format!(
            "catch gen_server:call({{rex, '{a}'}}, {slow}, 100)."
        ))
        .await
    );
    // The server's node goes away mid-call: {nodedown, Node}.
    let halt = "{call, erlang, halt, [], user}";
    let nodedown = call_outcome(&node, rex.clone(), halt, Duration::from_secs(5)).await;
    assert_eq!(
        nodedown,
        format!("{{{{nodedown,{a}}},{{gen_server,call,[{{rex,{a}}},{{call,erlang,halt,[],user}},5000]}}}}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_to_a_node_that_goes_away_returns_nodedown_at_once() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsr", "gsrpc", port).await;
    let (_ga, a) = erl_node("erl_gsr", "gsrpc", port).await;
    assert!(node.ping(&a).await);
    // A call that waited out its timeout would say `{badrpc,timeout}`.
    let reply = node
        .rpc(&a, "erlang", "halt", vec![], Duration::from_secs(120))
        .await;
    assert_eq!(etf::text::write(&reply), "{badrpc,nodedown}");
}
