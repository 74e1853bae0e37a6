//! Processes against the BEAM's, in one run: each scenario runs in rotp and in `erl` (the
//! same scenario written in Erlang, compiled) and prints both and the ratio.
//!
//! `cargo run --release -p rotp-bench --bin runtime-vs-erl [SCENARIO...]`
//!
//! Scenarios: messages/s one sender → one receiver; messages/s from 8 senders; ping-pong
//! round trips/s; spawn + exit/s; GenServer calls/s; bytes per idle process; hops/s around a
//! 10 000-process ring.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use etf::Term;
use otp::{CallReply, From, GenServer, Init};
use runtime::{Context, ExitReason, Message, Runtime};
use tokio::sync::oneshot;

const MESSAGES: u64 = 1_000_000;
const SENDERS: u64 = 8;
const ROUND_TRIPS: u64 = 200_000;
const SPAWNS: u64 = 200_000;
const CALLS: u64 = 200_000;
const IDLE: u64 = 100_000;
const RING: u64 = 10_000;
const LAPS: u64 = 100;

const ERLANG: &str = r#"
-module(rotp_bench).
-export([main/0, main/1]).

main() -> main([]).

main(Only) ->
    All = [{one_to_one, fun one_to_one/0}, {many_to_one, fun many_to_one/0},
           {ping_pong, fun ping_pong/0}, {spawn_exit, fun spawn_exit/0},
           {gen_server_calls, fun calls/0}, {idle_bytes, fun idle/0}, {ring, fun ring/0}],
    [io:format("~p ~p~n", [K, F()]) || {K, F} <- All, Only =:= [] orelse lists:member(K, Only)],
    halt().

rate(N, Fun) -> {Us, _} = timer:tc(Fun), N / (Us / 1000000).

sink(0, Parent) -> Parent ! done;
sink(N, Parent) -> receive _ -> sink(N - 1, Parent) end.

send_n(_, 0) -> ok;
send_n(P, N) -> P ! N, send_n(P, N - 1).

one_to_one() ->
    Self = self(),
    rate(1000000, fun() ->
        S = spawn(fun() -> sink(1000000, Self) end),
        send_n(S, 1000000),
        receive done -> ok end
    end).

many_to_one() ->
    Self = self(),
    rate(1000000, fun() ->
        S = spawn(fun() -> sink(1000000, Self) end),
        [spawn(fun() -> send_n(S, 125000) end) || _ <- lists:seq(1, 8)],
        receive done -> ok end
    end).

pong() -> receive {P, ping} -> P ! pong, pong(); stop -> ok end.
ping(_, 0) -> ok;
ping(P, N) -> P ! {self(), ping}, receive pong -> ping(P, N - 1) end.

ping_pong() ->
    P = spawn(fun pong/0),
    R = rate(200000, fun() -> ping(P, 200000) end),
    P ! stop,
    R.

spawn_exit() ->
    Self = self(),
    rate(200000, fun() ->
        [spawn(fun() -> Self ! x end) || _ <- lists:seq(1, 200000)],
        [receive x -> ok end || _ <- lists:seq(1, 200000)]
    end).

calls() ->
    {ok, S} = gen_server:start(rotp_bench_server, [], []),
    R = rate(200000, fun() -> call_n(S, 200000) end),
    gen_server:stop(S),
    R.

call_n(_, 0) -> ok;
call_n(S, N) -> N = gen_server:call(S, N), call_n(S, N - 1).

idle() ->
    erlang:garbage_collect(),
    Before = erlang:memory(processes),
    Ps = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 100000)],
    After = erlang:memory(processes),
    [P ! stop || P <- Ps],
    (After - Before) / 100000.

ring_node(Next) -> receive {0, Parent} -> Parent ! done; {N, Parent} -> Next ! {N - 1, Parent}, ring_node(Next) end.

ring() ->
    Self = self(),
    First = lists:foldl(fun(_, Next) -> spawn(fun() -> ring_node(Next) end) end, Self, lists:seq(1, 9999)),
    Hops = 10000 * 100,
    R = rate(Hops, fun() -> First ! {Hops, Self}, wait_ring(First) end),
    R.

wait_ring(First) ->
    receive {0, _} -> ok; done -> ok; {N, P} -> First ! {N - 1, P}, wait_ring(First) end.
"#;

const ERLANG_SERVER: &str = r#"
-module(rotp_bench_server).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2]).
init([]) -> {ok, nostate}.
handle_call(N, _From, S) -> {reply, N, S}.
handle_cast(_, S) -> {noreply, S}.
"#;

fn erlang_side(only: &[String]) -> Result<Vec<(String, f64)>> {
    let dir = std::env::temp_dir().join(format!("rotp-runtime-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("rotp_bench.erl"), ERLANG)?;
    std::fs::write(dir.join("rotp_bench_server.erl"), ERLANG_SERVER)?;
    let status = std::process::Command::new("erlc")
        .current_dir(&dir)
        .args(["rotp_bench.erl", "rotp_bench_server.erl"])
        .status()
        .context("erlc")?;
    anyhow::ensure!(status.success(), "erlc failed");
    let out = std::process::Command::new("erl")
        .current_dir(&dir)
        .args(["-noshell", "-pa", ".", "-s", "rotp_bench", "main"])
        .args(only)
        .output()
        .context("erl")?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect())
}

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

/// Runs `scenario` as a process and returns what it reports.
async fn in_process<T: Send + 'static, F, Fut>(rt: &Runtime, scenario: F) -> T
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    rt.spawn(move |ctx| async move {
        let _ = tx.send(scenario(ctx).await);
        ExitReason::Normal
    });
    rx.await.expect("scenario finished")
}

fn sink(
    n: u64,
    parent: etf::Pid,
) -> impl FnOnce(Context) -> std::pin::Pin<Box<dyn std::future::Future<Output = ExitReason> + Send>>
{
    move |mut ctx: Context| {
        Box::pin(async move {
            for _ in 0..n {
                ctx.recv().await;
            }
            ctx.send(&parent, Term::atom("done"));
            ExitReason::Normal
        })
    }
}

struct Echo;

impl GenServer for Echo {
    type Args = ();
    type State = ();
    type Call = u64;
    type Reply = u64;
    type Cast = ();

    async fn init(&self, _: (), _ctx: &mut Context) -> Init<()> {
        Init::Ok(())
    }

    async fn handle_call(
        &self,
        n: u64,
        _from: &From,
        _s: &mut (),
        _ctx: &mut Context,
    ) -> CallReply<u64> {
        CallReply::Reply(n)
    }
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

async fn rust_side(only: &[String]) -> Vec<(String, f64)> {
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let rt = Runtime::default();
    let mut out = Vec::new();

    if want("one_to_one") {
        let r = in_process(&rt, |mut ctx| async move {
            let me = ctx.pid().clone();
            let started = Instant::now();
            let s = ctx.spawn(sink(MESSAGES, me));
            for i in 0..MESSAGES {
                ctx.send(&s, Term::Integer(i as i64));
            }
            ctx.recv().await;
            rate(MESSAGES, started.elapsed())
        })
        .await;
        out.push(("one_to_one".to_owned(), r));
    }

    if want("many_to_one") {
        let r = in_process(&rt, |mut ctx| async move {
            let me = ctx.pid().clone();
            let started = Instant::now();
            let s = ctx.spawn(sink(MESSAGES, me));
            for _ in 0..SENDERS {
                let s = s.clone();
                ctx.spawn(move |c| async move {
                    for i in 0..MESSAGES / SENDERS {
                        c.send(&s, Term::Integer(i as i64));
                    }
                    ExitReason::Normal
                });
            }
            ctx.recv().await;
            rate(MESSAGES, started.elapsed())
        })
        .await;
        out.push(("many_to_one".to_owned(), r));
    }

    if want("ping_pong") {
        let r = in_process(&rt, |mut ctx| async move {
            let pong = ctx.spawn(|mut c| async move {
                loop {
                    let m = c.recv().await;
                    match m.as_term() {
                        Some(Term::Pid(p)) => {
                            let p = p.clone();
                            c.send(&p, Term::atom("pong"));
                        }
                        _ => return ExitReason::Normal,
                    }
                }
            });
            let started = Instant::now();
            for _ in 0..ROUND_TRIPS {
                ctx.send(&pong, Term::Pid(ctx.pid().clone()));
                ctx.recv().await;
            }
            let r = rate(ROUND_TRIPS, started.elapsed());
            ctx.send(&pong, Term::atom("stop"));
            r
        })
        .await;
        out.push(("ping_pong".to_owned(), r));
    }

    if want("spawn_exit") {
        let r = in_process(&rt, |mut ctx| async move {
            let me = ctx.pid().clone();
            let started = Instant::now();
            for _ in 0..SPAWNS {
                let me = me.clone();
                ctx.spawn(move |c| async move {
                    c.send(&me, Term::atom("x"));
                    ExitReason::Normal
                });
            }
            for _ in 0..SPAWNS {
                ctx.recv().await;
            }
            rate(SPAWNS, started.elapsed())
        })
        .await;
        out.push(("spawn_exit".to_owned(), r));
    }

    if want("gen_server_calls") {
        let r = in_process(&rt, |mut ctx| async move {
            let server = otp::gen_server::start(&mut ctx, Echo, (), None)
                .await
                .ok()
                .flatten()
                .expect("server");
            let started = Instant::now();
            for n in 0..CALLS {
                let got: u64 =
                    otp::gen_server::call(&mut ctx, &server, n, Duration::from_secs(5)).await;
                debug_assert_eq!(got, n);
            }
            rate(CALLS, started.elapsed())
        })
        .await;
        out.push(("gen_server_calls".to_owned(), r));
    }

    if want("idle_bytes") {
        let before = resident_bytes();
        let mut idle = Vec::with_capacity(IDLE as usize);
        for _ in 0..IDLE {
            idle.push(rt.spawn(|mut ctx| async move {
                ctx.recv().await;
                ExitReason::Normal
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let per_process = resident_bytes().saturating_sub(before) as f64 / IDLE as f64;
        for pid in &idle {
            rt.send(pid, Message::Term(Term::atom("stop")));
        }
        out.push(("idle_bytes".to_owned(), per_process));
    }

    if want("ring") {
        let r = in_process(&rt, |mut ctx| async move {
            let me = ctx.pid().clone();
            let mut next = me.clone();
            for _ in 1..RING {
                let to = next.clone();
                next = ctx.spawn(move |mut c| async move {
                    loop {
                        let m = c.recv().await;
                        let Some(Term::Integer(n)) = m.as_term().cloned() else {
                            return ExitReason::Normal;
                        };
                        c.send(&to, Term::Integer(n - 1));
                        if n <= 0 {
                            return ExitReason::Normal;
                        }
                    }
                });
            }
            let first = next;
            let hops = (RING * LAPS) as i64;
            let started = Instant::now();
            ctx.send(&first, Term::Integer(hops));
            loop {
                let m = ctx.recv().await;
                match m.as_term() {
                    Some(Term::Integer(n)) if *n > 0 => ctx.send(&first, Term::Integer(n - 1)),
                    _ => break,
                }
            }
            rate(RING * LAPS, started.elapsed())
        })
        .await;
        out.push(("ring".to_owned(), r));
    }
    out
}

fn main() -> Result<()> {
    // Allocate as the `rotp` binary does (node::malloc).
    node::malloc::keep_freed_memory();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("{}", rotp_bench::machine());
    // Scenario names on the command line run only those.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let ours = tokio.block_on(rust_side(&only));
    let theirs = erlang_side(&only)?;
    println!(
        "processes: rotp (tokio, {} workers) and erl, same scenarios, one run",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<18} {:>14} {:>14} {:>8}",
        "scenario", "rotp", "erl", "ratio"
    );
    for (name, r) in &ours {
        let e = theirs
            .iter()
            .find(|(k, _)| k == name)
            .map_or(0.0, |(_, v)| *v);
        // For bytes per idle process lower is better: show erl / rotp so > 1 means rotp wins.
        let ratio = if name == "idle_bytes" {
            rotp_bench::ratio(e, *r)
        } else {
            rotp_bench::ratio(*r, e)
        };
        println!("{:<18} {:>14.0} {:>14.0} {:>8}", name, r, e, ratio);
    }
    Ok(())
}
