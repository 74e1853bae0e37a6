//! A GenStage pipeline against the same pipeline on the BEAM, in one run: a producer of
//! integers → a producer_consumer doubling them → one adding 1 → a consumer summing, all on
//! one node, at `max_demand` 1000 and at 10 (`min_demand` half of it).
//!
//! `cargo run --release -p rotp-bench --bin stage-vs-erl [EVENTS]` (default 10 000 000 at
//! `max_demand` 1000, a tenth of it at 10).
//!
//! Beside it, the raw throughput of local sends from one process to another (EVENTS integers,
//! one a message and in lists of 1000, summed by the receiver), and the `max_demand` 1000
//! pipeline's figure over it: what demand and three hops cost against one plain send. rotp's
//! lists go as a local stage's batches do (a `Vec<i64>` in a `Message::local`, not a term).
//!
//! The BEAM side is plain Erlang processes speaking gen_stage's own messages
//! (`'$gen_producer'`/`'$gen_consumer'`) with its demand rules: a consumer asks `max_demand`,
//! then tops up to it whenever what it expects falls to `min_demand`; a producer_consumer
//! handles what it got from upstream only while downstream has asked for more. Elixir's
//! `gen_stage` library itself is not on a CI machine; with it, the same pipeline written with
//! `GenStage` would be the fairer comparison (BENCHMARKS.md says what was run).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, Result};
use etf::{Atom, Term};
use otp::gen_server::ServerRef;
use otp::gen_stage::{
    self, ConsumerOptions, GenStage, Init, ProducerOptions, Return, SubscribeOptions, Subscription,
};
use rotp_bench::Numbers;
use runtime::{Context, ExitReason, Message, Runtime};

const ERLANG: &str = r#"
-module(rotp_stage_bench).
-export([run/2, raw/2]).

%% Microseconds to push N events through the pipeline at Max demand, and their sum.
run(N, Max) ->
    Min = Max div 2,
    Me = self(),
    P = spawn_link(fun() -> producer(0, N) end),
    Pc1 = spawn_link(fun() -> pc(P, Max, Min, fun(X) -> X * 2 end) end),
    Pc2 = spawn_link(fun() -> pc(Pc1, Max, Min, fun(X) -> X + 1 end) end),
    T0 = erlang:monotonic_time(microsecond),
    spawn_link(fun() -> consumer(Pc2, Max, Min, N, Me) end),
    receive {sum, S} ->
        T1 = erlang:monotonic_time(microsecond),
        io:format("~p ~p~n", [T1 - T0, S])
    end.

%% Microseconds for N integers sent from one process to another, Batch a message (one, or in
%% lists), and the receiver's sum.
raw(N, Batch) ->
    Me = self(),
    Sink = spawn_link(fun() -> Me ! {done, take(N, 0)} end),
    T0 = erlang:monotonic_time(microsecond),
    send_n(Sink, 0, N, Batch),
    receive {done, S} ->
        T1 = erlang:monotonic_time(microsecond),
        io:format("~p ~p~n", [T1 - T0, S])
    end.

take(N, Sum) when N =< 0 -> Sum;
take(N, Sum) ->
    receive
        X when is_integer(X) -> take(N - 1, Sum + X);
        L when is_list(L) -> take(N - length(L), lists:foldl(fun(X, A) -> X + A end, Sum, L))
    end.

send_n(_, Next, N, _) when Next >= N -> ok;
send_n(P, Next, N, 1) -> P ! Next, send_n(P, Next + 1, N, 1);
send_n(P, Next, N, K) ->
    M = min(K, N - Next),
    P ! lists:seq(Next, Next + M - 1),
    send_n(P, Next + M, N, K).

subscribe(To, Max) ->
    Ref = monitor(process, To),
    To ! {'$gen_producer', {self(), Ref}, {subscribe, nil, [{max_demand, Max}]}},
    To ! {'$gen_producer', {self(), Ref}, {ask, Max}},
    Ref.

%% A consumer's accounting: Pending events expected; once it falls to Min, ask up to Max.
reask(To, Ref, Pending, Min, Max) when Pending =< Min ->
    To ! {'$gen_producer', {self(), Ref}, {ask, Max - Pending}},
    Max;
reask(_, _, Pending, _, _) -> Pending.

producer(Next, Last) ->
    receive
        {'$gen_producer', _, {subscribe, _, _}} -> producer(Next, Last);
        {'$gen_producer', {C, Ref}, {ask, D}} ->
            K = min(D, Last - Next),
            C ! {'$gen_consumer', {self(), Ref}, lists:seq(Next, Next + K - 1)},
            producer(Next + K, Last)
    end.

%% Upstream events wait in Queue until downstream has asked (Demand > 0).
pc(Up, Max, Min, F) ->
    Ref = subscribe(Up, Max),
    receive {'$gen_producer', {Down, DRef}, {subscribe, _, _}} -> ok end,
    pc_loop(Up, Ref, Max, Min, F, Down, DRef, Max, 0, []).

pc_loop(Up, Ref, Max, Min, F, Down, DRef, Pending, Demand, Queue) ->
    receive
        {'$gen_consumer', {_, Ref}, Es} ->
            pc_take(Up, Ref, Max, Min, F, Down, DRef, Pending, Demand, Queue ++ Es);
        {'$gen_producer', {_, DRef}, {ask, D}} ->
            pc_take(Up, Ref, Max, Min, F, Down, DRef, Pending, Demand + D, Queue)
    end.

pc_take(Up, Ref, Max, Min, F, Down, DRef, Pending, Demand, Queue) when Demand > 0, Queue =/= [] ->
    {Now, Later} = split(min(Demand, length(Queue)), Queue),
    Down ! {'$gen_consumer', {self(), DRef}, [F(X) || X <- Now]},
    Pending1 = reask(Up, Ref, Pending - length(Now), Min, Max),
    pc_take(Up, Ref, Max, Min, F, Down, DRef, Pending1, Demand - length(Now), Later);
pc_take(Up, Ref, Max, Min, F, Down, DRef, Pending, Demand, Queue) ->
    pc_loop(Up, Ref, Max, Min, F, Down, DRef, Pending, Demand, Queue).

split(K, L) when K >= length(L) -> {L, []};
split(K, L) -> lists:split(K, L).

consumer(Up, Max, Min, N, Report) ->
    Ref = subscribe(Up, Max),
    consumer_loop(Up, Ref, Max, Min, N, Report, Max, 0).

consumer_loop(_, _, _, _, 0, Report, _, Sum) -> Report ! {sum, Sum};
consumer_loop(Up, Ref, Max, Min, N, Report, Pending, Sum) ->
    receive
        {'$gen_consumer', {_, Ref}, Es} ->
            S = lists:foldl(fun(X, A) -> X + A end, Sum, Es),
            Pending1 = reask(Up, Ref, Pending - length(Es), Min, Max),
            consumer_loop(Up, Ref, Max, Min, N - length(Es), Report, Pending1, S)
    end.
"#;

/// A producer_consumer applying `f`.
struct Map {
    to: &'static str,
    f: fn(i64) -> i64,
    demand: SubscribeOptions,
}

impl GenStage for Map {
    type Args = ();
    type State = ();
    type In = i64;
    type Out = i64;

    async fn init(&self, _: (), _: &mut Context) -> Init<(), Self::Out> {
        let to = ServerRef::Name(Atom::from(self.to));
        Init::ProducerConsumer(
            (),
            ProducerOptions::unbounded(),
            ConsumerOptions {
                subscribe_to: vec![(to, self.demand.clone())],
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<i64>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<i64> {
        Return::NoReply(events.into_iter().map(self.f).collect())
    }
}

/// Sums what it gets; says so once it has `n` events.
struct Sum {
    n: usize,
    demand: SubscribeOptions,
    done: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<i64>>>,
}

impl GenStage for Sum {
    type Args = ();
    type State = (usize, i64);
    type In = i64;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<(usize, i64), Self::Out> {
        let to = ServerRef::Name(Atom::from("add"));
        Init::Consumer(
            (0, 0),
            ConsumerOptions {
                subscribe_to: vec![(to, self.demand.clone())],
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<i64>,
        _: &Subscription,
        s: &mut (usize, i64),
        _: &mut Context,
    ) -> Return<()> {
        s.0 += events.len();
        s.1 += events.iter().sum::<i64>();
        if s.0 >= self.n {
            if let Some(done) = self.done.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = done.send(s.1);
            }
        }
        Return::NoReply(Vec::new())
    }
}

/// Seconds for rotp's pipeline, and the sum.
async fn rotp(n: usize, max: usize) -> Result<(f64, i64)> {
    let rt = Runtime::default();
    let demand = SubscribeOptions::demand(max, max / 2);
    let (done, sum) = tokio::sync::oneshot::channel();
    let sink = Sum {
        n,
        demand: demand.clone(),
        done: std::sync::Mutex::new(Some(done)),
    };
    let (started, ready) = tokio::sync::oneshot::channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let stages = async {
            gen_stage::start_link(&mut ctx, Numbers(n as i64), (), gen_stage::local("numbers"))
                .await?;
            let double = Map {
                to: "numbers",
                f: |x| x * 2,
                demand: demand.clone(),
            };
            gen_stage::start_link(&mut ctx, double, (), gen_stage::local("double")).await?;
            let add = Map {
                to: "double",
                f: |x| x + 1,
                demand,
            };
            gen_stage::start_link(&mut ctx, add, (), gen_stage::local("add")).await?;
            let t0 = Instant::now();
            gen_stage::start_link(&mut ctx, sink, (), None).await?;
            Ok::<_, ExitReason>(t0)
        };
        let _ = started.send(stages.await.map_err(|e| etf::text::write(&e.to_term())));
        loop {
            let _ = ctx.recv().await;
        }
    });
    let t0 = ready
        .await?
        .map_err(|e| anyhow::anyhow!("the pipeline did not start: {e}"))?;
    let sum = sum.await?;
    Ok((t0.elapsed().as_secs_f64(), sum))
}

/// Seconds for `n` integers sent from one rotp process to another, `batch` a message (as
/// terms one by one; in lists as a local stage sends its batches), and the receiver's sum.
async fn rotp_raw(n: usize, batch: usize) -> Result<(f64, i64)> {
    let rt = Runtime::default();
    let (done, sum) = tokio::sync::oneshot::channel();
    let sink = rt.spawn(move |mut ctx| async move {
        let (mut left, mut s) = (n, 0i64);
        while left > 0 {
            match ctx.recv().await {
                Message::Term(Term::Integer(x)) => {
                    left -= 1;
                    s += x;
                }
                m => {
                    if let Ok(xs) = m.downcast::<Vec<i64>>() {
                        left = left.saturating_sub(xs.len());
                        s += xs.iter().sum::<i64>();
                    }
                }
            }
        }
        let _ = done.send(s);
        ExitReason::Normal
    });
    let t0 = Instant::now();
    rt.spawn(move |mut ctx| async move {
        let n = n as i64;
        let mut next = 0i64;
        while next < n {
            if batch == 1 {
                ctx.send(&sink, Message::Term(Term::Integer(next)));
                next += 1;
                if next % 1000 == 0 {
                    ctx.yield_now().await;
                }
            } else {
                let k = (batch as i64).min(n - next);
                ctx.send(
                    &sink,
                    Message::local((next..next + k).collect::<Vec<i64>>()),
                );
                next += k;
                ctx.yield_now().await;
            }
        }
        ExitReason::Normal
    });
    let sum = sum.await?;
    Ok((t0.elapsed().as_secs_f64(), sum))
}

/// Seconds for the BEAM's pipeline, and the sum.
fn erl(dir: &std::path::Path, n: usize, max: usize) -> Result<(f64, i64)> {
    erl_figure(dir, &format!("rotp_stage_bench:run({n}, {max}), halt()."))
}

/// Seconds for the BEAM's raw sends, and the sum.
fn erl_raw(dir: &std::path::Path, n: usize, batch: usize) -> Result<(f64, i64)> {
    erl_figure(dir, &format!("rotp_stage_bench:raw({n}, {batch}), halt()."))
}

/// Runs `eval` and reads the microseconds and sum it prints.
fn erl_figure(dir: &std::path::Path, eval: &str) -> Result<(f64, i64)> {
    let out = Command::new("erl")
        .current_dir(dir)
        .args(["-noshell", "-pa", ".", "-eval", eval])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let micros: f64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .with_context(|| format!("erl printed {text:?}"))?;
    let sum: i64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .context("erl's sum")?;
    Ok((micros / 1e6, sum))
}

fn main() -> Result<()> {
    node::malloc::keep_freed_memory();
    let n: usize = std::env::args()
        .nth(1)
        .map_or(Ok(10_000_000), |a| a.parse())?;
    let dir = std::env::temp_dir().join(format!("rotp-stage-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("rotp_stage_bench.erl"), ERLANG)?;
    anyhow::ensure!(
        Command::new("erlc")
            .current_dir(&dir)
            .arg("rotp_stage_bench.erl")
            .status()?
            .success(),
        "erlc failed"
    );
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("{}", rotp_bench::machine());
    println!("pipeline producer → ×2 → +1 → sum, events/s (ratio to the BEAM's; > 1 means faster)");
    println!(
        "{:<12} {:>12} {:>16} {:>22}",
        "max_demand", "events", "BEAM", "rotp"
    );
    let mut pipeline = None;
    for (max, events) in [(1000, n), (10, n / 10)] {
        let expected: i64 = (0..events as i64).map(|x| 2 * x + 1).sum();
        let (beam, beam_sum) = erl(&dir, events, max)?;
        let (ours, our_sum) = tokio.block_on(rotp(events, max))?;
        anyhow::ensure!(
            beam_sum == expected && our_sum == expected,
            "sums: erl {beam_sum}, rotp {our_sum}, expected {expected}"
        );
        let (b, r) = (events as f64 / beam, events as f64 / ours);
        pipeline.get_or_insert((b, r));
        println!(
            "{max:<12} {events:>12} {b:>16.0} {:>22}",
            format!("{r:.0} ({})", rotp_bench::ratio(r, b))
        );
    }
    let expected: i64 = (0..n as i64).sum();
    println!("raw local sends, one process to another, {n} integers, events/s");
    println!("{:<28} {:>16} {:>22}", "", "BEAM", "rotp");
    let mut raws = Vec::new();
    for (label, batch) in [("1 integer a message", 1), ("lists of 1000", 1000)] {
        let (beam, beam_sum) = erl_raw(&dir, n, batch)?;
        let (ours, our_sum) = tokio.block_on(rotp_raw(n, batch))?;
        anyhow::ensure!(
            beam_sum == expected && our_sum == expected,
            "raw sums ({label}): erl {beam_sum}, rotp {our_sum}, expected {expected}"
        );
        let (b, r) = (n as f64 / beam, n as f64 / ours);
        println!(
            "{label:<28} {b:>16.0} {:>22}",
            format!("{r:.0} ({})", rotp_bench::ratio(r, b))
        );
        raws.push((label, b, r));
    }
    if let Some((pb, pr)) = pipeline {
        println!("the max_demand 1000 pipeline over raw sends (the cost of demand and three hops)");
        for (label, b, r) in raws {
            println!(
                "{:<28} {:>16.2} {:>22.2}",
                format!("to {label}"),
                pb / b,
                pr / r
            );
        }
    }
    Ok(())
}
