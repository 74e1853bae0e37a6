//! GenStage node to node against the same on the BEAM, in one run over loopback: a producer
//! of integers on node A → a consumer summing them on node B, over the distribution, at
//! `max_demand` 1000 (`min_demand` 500); and, beside it, the raw throughput of plain sends from
//! a process on A to one on B (the same integers, one a message and in lists of 1000), so that
//! the pipeline's figure over the raw one says what demand costs.
//!
//! `cargo run --release -p rotp-bench --bin stage-node-vs-erl [EVENTS [MAX_DEMAND]]
//! [--shared-cores]` (default 1 000 000 events at `max_demand` 1000; `min_demand` is half of it,
//! the raw lists stay at 1000).
//!
//! Node A runs on CPU 0 and node B on CPU 1, for the BEAM pair and the rotp pair alike, as two
//! machines would have them (a BEAM node on one CPU starts one scheduler, a rotp node one
//! worker): on a two-core box left to itself, both nodes' schedulers and spinning readers fight
//! over both cores, which no deployment of two nodes does. `--shared-cores` runs them so anyway.
//!
//! The BEAM side is two `erl` nodes with plain Erlang processes speaking gen_stage's own
//! messages (`'$gen_producer'`/`'$gen_consumer'`, Elixir's `lib/gen_stage.ex`) with its demand
//! rules, as stage-vs-erl's are; the consumer subscribes to `{numbers, NodeA}` and, as Elixir's
//! consumer does, sends its asks to the producer's pid once the first events have named it.
//! The rotp side is two rotp nodes, each in a process of its own as the erl nodes are (node B
//! is this binary again, `--serve NAME EPMD_PORT`), with rotp's GenStage. Both pairs register
//! with one OTP epmd on a free port, and do the same thing in the same order: node A connects to
//! B, starts the producer, times from asking B's `bench` process to start the consumer until
//! the consumer reports its sum, then times the raw sends to B's `sink`. Every sum is checked.
//!
//! Each figure is events/s; rotp's ratio is to the BEAM's (above 1 means faster).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use dist::Cookie;
use etf::{Atom, Pid, Term};
use harness::{free_port, otp_epmd, short_host, start_epmd, Guard};
use node::name::NameKind;
use node::{Node, NodeConfig};
use otp::gen_server::ServerRef;
use otp::gen_stage::{
    self, ConsumerOptions, GenStage, Init, Return, SubscribeOptions, Subscription,
};
use rotp_bench::{Cores, Numbers};
use runtime::{Context, ExitReason, Message};

const COOKIE: &str = "stnode";
/// Events per raw message in the batched raw run (the Erlang module's too): the default
/// `max_demand`, the most one message of the pipeline carries.
const BATCH: usize = 1000;

const ERLANG: &str = r#"
-module(rotp_stage_node_bench).
-export([serve/0, run/3]).

%% Node B. `bench`: on {run, From, NodeA, N, Max}, a consumer of {numbers, NodeA} that sends
%% From {sum, S} once it has N events. `sink`: on {start, From, N}, {ready, Sink}, then N
%% events (integers, or lists of them) taken and {done, Sum}.
serve() ->
    register(bench, spawn(fun bench/0)),
    register(sink, spawn(fun sink/0)),
    receive stop -> halt() end.

bench() ->
    receive {run, From, Node, N, Max} ->
        spawn(fun() -> consumer({numbers, Node}, Max, Max div 2, N, From) end),
        bench()
    end.

sink() ->
    receive {start, From, N} ->
        From ! {ready, self()},
        From ! {done, take(N, 0)},
        sink()
    end.

take(N, Sum) when N =< 0 -> Sum;
take(N, Sum) ->
    receive
        X when is_integer(X) -> take(N - 1, Sum + X);
        L when is_list(L) -> take(N - length(L), lists:foldl(fun(X, A) -> X + A end, Sum, L))
    end.

%% Node A: the pipeline's microseconds and sum, then the raw sends', one integer a message
%% and in lists of 1000, printed on one line.
run(B, N, Max) ->
    true = net_kernel:connect_node(B),
    serving(B, 200),
    register(numbers, spawn_link(fun() -> producer(0, N) end)),
    T0 = erlang:monotonic_time(microsecond),
    {bench, B} ! {run, self(), node(), N, Max},
    S = receive {sum, S0} -> S0 end,
    T1 = erlang:monotonic_time(microsecond),
    {U1, S1} = raw(B, N, 1),
    {Uk, Sk} = raw(B, N, 1000),
    io:format("~p ~p ~p ~p ~p ~p~n", [T1 - T0, S, U1, S1, Uk, Sk]).

serving(B, 0) -> exit({not_serving, B});
serving(B, K) ->
    case {rpc:call(B, erlang, whereis, [bench]), rpc:call(B, erlang, whereis, [sink])} of
        {P, Q} when is_pid(P), is_pid(Q) -> ok;
        _ -> timer:sleep(50), serving(B, K - 1)
    end.

raw(B, N, Batch) ->
    {sink, B} ! {start, self(), N},
    Sink = receive {ready, P} -> P end,
    T0 = erlang:monotonic_time(microsecond),
    send_n(Sink, 0, N, Batch),
    Sum = receive {done, S} -> S end,
    T1 = erlang:monotonic_time(microsecond),
    {T1 - T0, Sum}.

send_n(_, Next, N, _) when Next >= N -> ok;
send_n(P, Next, N, 1) -> P ! Next, send_n(P, Next + 1, N, 1);
send_n(P, Next, N, K) ->
    M = min(K, N - Next),
    P ! lists:seq(Next, Next + M - 1),
    send_n(P, Next + M, N, K).

producer(Next, Last) ->
    receive
        {'$gen_producer', _, {subscribe, _, _}} -> producer(Next, Last);
        {'$gen_producer', _, {cancel, _}} -> producer(Next, Last);
        {'$gen_producer', {C, Ref}, {ask, D}} ->
            K = min(D, Last - Next),
            C ! {'$gen_consumer', {self(), Ref}, lists:seq(Next, Next + K - 1)},
            producer(Next + K, Last)
    end.

%% A consumer's accounting: Pending events expected; once it falls to Min, ask up to Max.
reask(To, Ref, Pending, Min, Max) when Pending =< Min ->
    To ! {'$gen_producer', {self(), Ref}, {ask, Max - Pending}},
    Max;
reask(_, _, Pending, _, _) -> Pending.

consumer(Up, Max, Min, N, Report) ->
    Ref = monitor(process, Up),
    Up ! {'$gen_producer', {self(), Ref}, {subscribe, nil, [{max_demand, Max}, {min_demand, Min}]}},
    Up ! {'$gen_producer', {self(), Ref}, {ask, Max}},
    consumer_loop(Ref, Max, Min, N, Report, Max, 0).

%% Events come in batches of at most Max - Min, as Elixir's consumer hands them to
%% handle_events (GenStage's consumer_receive splits what it got).
consumer_loop(_, _, _, 0, Report, _, Sum) -> Report ! {sum, Sum};
consumer_loop(Ref, Max, Min, N, Report, Pending, Sum) ->
    receive
        {'$gen_consumer', {P, Ref}, Es} ->
            {Pending1, S} = batches(P, Ref, Max, Min, Pending, Sum, Es),
            consumer_loop(Ref, Max, Min, N - length(Es), Report, Pending1, S)
    end.

batches(_, _, _, _, Pending, Sum, []) -> {Pending, Sum};
batches(P, Ref, Max, Min, Pending, Sum, Es) ->
    {Now, Later} = split(Max - Min, Es),
    S = lists:foldl(fun(X, A) -> X + A end, Sum, Now),
    Pending1 = reask(P, Ref, Pending - length(Now), Min, Max),
    batches(P, Ref, Max, Min, Pending1, S, Later).

split(K, L) when K >= length(L) -> {L, []};
split(K, L) -> lists:split(K, L).
"#;

/// Node B's consumer: sums integers from `to` and sends `report` `{sum, S}` once it has `n`
/// of them, then stops.
struct Sum {
    to: ServerRef,
    n: usize,
    demand: SubscribeOptions,
    report: Pid,
}

impl GenStage for Sum {
    type Args = ();
    type State = (usize, i64);
    type In = i64;
    type Out = ();

    fn event_from_term(event: Term) -> Option<i64> {
        match event {
            Term::Integer(i) => Some(i),
            _ => None,
        }
    }

    async fn init(&self, _: (), _: &mut Context) -> Init<(usize, i64), Self::Out> {
        Init::Consumer(
            (0, 0),
            ConsumerOptions {
                subscribe_to: vec![(self.to.clone(), self.demand.clone())],
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<i64>,
        _: &Subscription,
        s: &mut (usize, i64),
        ctx: &mut Context,
    ) -> Return<()> {
        s.0 += events.len();
        s.1 += events.iter().sum::<i64>();
        if s.0 >= self.n {
            let sum = Term::Tuple(vec![Term::atom("sum"), Term::Integer(s.1)]);
            ctx.send(&self.report, Message::Term(sum));
            return Return::Stop(ExitReason::Normal);
        }
        Return::NoReply(Vec::new())
    }
}

fn tuple(m: &Message) -> &[Term] {
    match m.as_term() {
        Some(Term::Tuple(v)) => v,
        _ => &[],
    }
}

/// Node B on rotp, in this process: `bench` and `sink` as the Erlang module's `serve/0`.
async fn serve(name: &str, epmd_port: u16) -> Result<()> {
    let node = rotp_node(name, epmd_port).await?;
    let rt = node.runtime();
    let bench = rt.spawn(|mut ctx| async move {
        // The consumers' parent: their exits are messages here, and ignored.
        ctx.trap_exit(true);
        loop {
            let m = ctx.recv().await;
            let [tag, Term::Pid(from), Term::Atom(producer), Term::Integer(n), Term::Integer(max)] =
                tuple(&m)
            else {
                continue;
            };
            let (Ok(n), Ok(max)) = (usize::try_from(*n), usize::try_from(*max)) else {
                continue;
            };
            if tag.as_atom() != Some("run") {
                continue;
            }
            let sum = Sum {
                to: ServerRef::Remote(Atom::from("numbers"), producer.clone()),
                n,
                demand: SubscribeOptions::demand(max, max / 2),
                report: from.clone(),
            };
            if let Err(reason) = gen_stage::start_link(&mut ctx, sum, (), None).await {
                eprintln!(
                    "the consumer did not start: {}",
                    etf::text::write(&reason.to_term())
                );
            }
        }
    });
    rt.register(Atom::from("bench"), &bench)
        .map_err(|_| anyhow::anyhow!("bench is taken"))?;
    let sink = rt.spawn(|mut ctx| async move {
        loop {
            let m = ctx.recv().await;
            let [tag, Term::Pid(from), Term::Integer(n)] = tuple(&m) else {
                continue;
            };
            if tag.as_atom() != Some("start") {
                continue;
            }
            let (from, mut left) = (from.clone(), *n);
            let ready = Term::Tuple(vec![Term::atom("ready"), Term::Pid(ctx.pid().clone())]);
            ctx.send(&from, Message::Term(ready));
            let mut sum = 0i64;
            while left > 0 {
                match ctx.recv().await.as_term() {
                    Some(Term::Integer(x)) => {
                        left -= 1;
                        sum += x;
                    }
                    Some(Term::List(xs)) => {
                        left -= xs.len() as i64;
                        for x in xs {
                            if let Term::Integer(x) = x {
                                sum += x;
                            }
                        }
                    }
                    _ => {}
                }
            }
            let done = Term::Tuple(vec![Term::atom("done"), Term::Integer(sum)]);
            ctx.send(&from, Message::Term(done));
        }
    });
    rt.register(Atom::from("sink"), &sink)
        .map_err(|_| anyhow::anyhow!("sink is taken"))?;
    std::future::pending::<()>().await;
    Ok(())
}

async fn rotp_node(name: &str, epmd_port: u16) -> Result<Node> {
    let mut config = NodeConfig::new(name, NameKind::Short, Cookie::new(COOKIE));
    config.epmd_port = epmd_port;
    Ok(Node::start(config).await?)
}

/// Seconds and sum: of the pipeline, of raw sends one integer a message, of raw sends in
/// lists of [`BATCH`].
type Figures = [(f64, i64); 3];

/// Node A on rotp: the same steps as the Erlang module's `run/3`, against node `b`.
async fn rotp_run(a: &Node, b: &Atom, n: usize, max: usize) -> Result<Figures> {
    anyhow::ensure!(a.connect(b).await, "cannot connect to {b}");
    let mut serving = false;
    for _ in 0..200 {
        let mut both = true;
        for name in ["bench", "sink"] {
            let at = a
                .rpc(
                    b,
                    "erlang",
                    "whereis",
                    vec![Term::atom(name)],
                    Duration::from_secs(5),
                )
                .await;
            both &= matches!(at, Term::Pid(_));
        }
        if both {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::ensure!(serving, "{b} never started serving");
    let (us, b) = (a.name().clone(), b.clone());
    a.in_process(move |mut ctx| async move {
        ctx.trap_exit(true);
        let producer = Numbers(n as i64);
        match gen_stage::start_link(&mut ctx, producer, (), gen_stage::local("numbers")).await {
            Ok(Some(_)) => {}
            Ok(None) => bail!("the producer ignored its start"),
            Err(reason) => bail!(
                "the producer did not start: {}",
                etf::text::write(&reason.to_term())
            ),
        }
        let t0 = Instant::now();
        let run = Term::Tuple(vec![
            Term::atom("run"),
            Term::Pid(ctx.pid().clone()),
            Term::Atom(us),
            Term::Integer(n as i64),
            Term::Integer(max as i64),
        ]);
        ctx.send_to_name(&Atom::from("bench"), &b, Message::Term(run))
            .map_err(|_| anyhow::anyhow!("cannot send to bench"))?;
        let sum = reply(&mut ctx, "sum").await?;
        let pipeline = (t0.elapsed().as_secs_f64(), sum);
        let one = rotp_raw(&mut ctx, &b, n, 1).await?;
        let batched = rotp_raw(&mut ctx, &b, n, BATCH).await?;
        Ok([pipeline, one, batched])
    })
    .await
    .context("node A's process ended")?
}

/// The integer in the next `{Tag, Integer}` (within 5 minutes).
async fn reply(ctx: &mut Context, tag: &str) -> Result<i64> {
    let m = ctx
        .receive_timeout(
            Duration::from_secs(300),
            |m| matches!(tuple(m), [t, Term::Integer(_)] if t.as_atom() == Some(tag)),
        )
        .await
        .with_context(|| format!("no {tag} from node B"))?;
    match tuple(&m) {
        [_, Term::Integer(x)] => Ok(*x),
        _ => bail!("{tag}: not an integer"),
    }
}

/// Seconds for `n` integers sent to `sink` on `b`, `batch` a message, and the sink's sum.
async fn rotp_raw(ctx: &mut Context, b: &Atom, n: usize, batch: usize) -> Result<(f64, i64)> {
    let start = Term::Tuple(vec![
        Term::atom("start"),
        Term::Pid(ctx.pid().clone()),
        Term::Integer(n as i64),
    ]);
    ctx.send_to_name(&Atom::from("sink"), b, Message::Term(start))
        .map_err(|_| anyhow::anyhow!("cannot send to sink"))?;
    let ready = ctx
        .receive_timeout(
            Duration::from_secs(30),
            |m| matches!(tuple(m), [t, Term::Pid(_)] if t.as_atom() == Some("ready")),
        )
        .await
        .context("the sink never got ready")?;
    let [_, Term::Pid(sink)] = tuple(&ready) else {
        bail!("ready: not a pid");
    };
    let sink = sink.clone();
    let t0 = Instant::now();
    let mut next = 0i64;
    while next < n as i64 {
        let m = if batch == 1 {
            next += 1;
            Term::Integer(next - 1)
        } else {
            let k = (batch as i64).min(n as i64 - next);
            let events = (next..next + k).map(Term::Integer).collect();
            next += k;
            Term::List(events)
        };
        ctx.send(&sink, Message::Term(m));
        ctx.wait_if_busy().await;
    }
    let sum = reply(ctx, "done").await?;
    Ok((t0.elapsed().as_secs_f64(), sum))
}

/// Node A on the BEAM: `run/3` against `b`, its six numbers (microseconds and sums).
fn erl_run(
    dir: &std::path::Path,
    epmd_port: u16,
    b: &str,
    n: usize,
    max: usize,
) -> Result<Figures> {
    // Node A is this process's child: on its CPU, if it is pinned.
    let out = Command::new("erl")
        .current_dir(dir)
        .args([
            "-sname",
            "stn_erl_a",
            "-setcookie",
            COOKIE,
            "-noshell",
            "-pa",
            ".",
            "-eval",
            &format!("rotp_stage_node_bench:run('{b}', {n}, {max}), halt()."),
        ])
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<i64> = text
        .split_whitespace()
        .map(|w| w.parse())
        .collect::<Result<_, _>>()
        .ok()
        .filter(|w: &Vec<i64>| w.len() == 6)
        .with_context(|| {
            format!(
                "erl printed {text:?} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let pair = |i: usize| (words[i] as f64 / 1e6, words[i + 1]);
    Ok([pair(0), pair(2), pair(4)])
}

/// Waits until EPMD knows `name`.
async fn registered(port: u16, name: &str) -> Result<()> {
    let client = net::epmd::Client::localhost(port);
    for _ in 0..400 {
        if let Ok(Some(_)) = client.port_please(name).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("{name} never registered")
}

fn main() -> Result<()> {
    // Allocate as the `rotp` binary does (node::malloc), in node B too.
    node::malloc::keep_freed_memory();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let shared = args.iter().any(|a| a == "--shared-cores");
    args.retain(|a| a != "--shared-cores");
    let serving = matches!(args.first(), Some(flag) if flag == "--serve");
    // The machine as it is, before this process is pinned to one CPU of it.
    let machine = if serving {
        String::new()
    } else {
        rotp_bench::machine()
    };
    let cores = if serving {
        Cores::Shared
    } else {
        Cores::choose(shared)
    };
    cores.pin_node_a()?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let [flag, name, port] = args.as_slice() {
        if flag == "--serve" {
            return tokio.block_on(serve(name, port.parse()?));
        }
    }
    let n: usize = args.first().map_or(Ok(1_000_000), |a| a.parse())?;
    let max: usize = args.get(1).map_or(Ok(1000), |a| a.parse())?;
    anyhow::ensure!(max >= 2, "max_demand must be at least 2");
    let dir = std::env::temp_dir().join(format!("rotp-stage-node-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("rotp_stage_node_bench.erl"), ERLANG)?;
    anyhow::ensure!(
        Command::new("erlc")
            .current_dir(&dir)
            .arg("rotp_stage_node_bench.erl")
            .status()?
            .success(),
        "erlc failed"
    );
    println!("{machine}");
    println!("layout: {}", cores.describe());
    let epmd_port = free_port();
    let _epmd = start_epmd(&otp_epmd(), epmd_port, &[]);
    let host = short_host();

    let beam = {
        let eval = format!(
            "code:add_patha(\"{}\"), rotp_stage_node_bench:serve().",
            dir.display()
        );
        let _b =
            harness::start_erl_with(cores.node_b("erl"), "stn_erl_b", COOKIE, epmd_port, &eval);
        tokio.block_on(registered(epmd_port, "stn_erl_b"))?;
        erl_run(&dir, epmd_port, &format!("stn_erl_b@{host}"), n, max)?
    };
    let ours = {
        let _b = Guard(
            cores
                .node_b(std::env::current_exe()?)
                .args(["--serve", "stn_rotp_b", &epmd_port.to_string()])
                .stdin(Stdio::null())
                .spawn()?,
        );
        tokio.block_on(async {
            registered(epmd_port, "stn_rotp_b").await?;
            let a = rotp_node("stn_rotp_a", epmd_port).await?;
            let b = Atom::from(format!("stn_rotp_b@{host}").as_str());
            rotp_run(&a, &b, n, max).await
        })?
    };
    let expected: i64 = (0..n as i64).sum();
    for (what, figures) in [("erl", &beam), ("rotp", &ours)] {
        for (label, (_, sum)) in ["pipeline", "raw", "raw in lists"].iter().zip(figures) {
            anyhow::ensure!(
                *sum == expected,
                "{what} {label}: sum {sum}, expected {expected}"
            );
        }
    }
    let rate = |f: &Figures| f.map(|(secs, _)| n as f64 / secs);
    let (b, r) = (rate(&beam), rate(&ours));
    println!(
        "producer (node A) → consumer summing (node B) over the distribution on loopback, \
         {n} events, max_demand {max} (min_demand {}); events/s (rotp's ratio to the BEAM's; \
         > 1 means faster)",
        max / 2
    );
    println!("{:<40} {:>14} {:>22}", "", "BEAM", "rotp");
    let rows = [
        ("GenStage pipeline", 0),
        ("raw sends, 1 integer a message", 1),
        ("raw sends, lists of 1000", 2),
    ];
    for (label, i) in rows {
        println!(
            "{label:<40} {:>14.0} {:>22}",
            b[i],
            format!("{:.0} ({})", r[i], rotp_bench::ratio(r[i], b[i]))
        );
    }
    println!("pipeline over raw sends (the cost of demand: 1 would be free)");
    for (label, i) in [("to 1 integer a message", 1), ("to lists of 1000", 2)] {
        println!("{label:<40} {:>14.2} {:>22.2}", b[0] / b[i], r[0] / r[i]);
    }
    Ok(())
}
