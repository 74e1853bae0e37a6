//! Distribution against the BEAM's, in one run over loopback: erl↔erl, rotp→erl, erl→rotp and
//! rotp↔rotp, for small-message throughput from one sender, 1 KB and 64 KB message
//! throughput, ping-pong round trips, and connect time (EPMD lookup + TCP + handshake).
//! `accept` times the acceptor's side alone: one bare client (rotp's sans-IO handshake on a
//! socket, no node behind it) against the erl receiver (in the erl→erl column) and the rotp
//! receiver (in the erl→rotp column).
//!
//! `cargo run --release -p rotp-bench --bin dist-vs-erl [SCENARIO...] [--pair PAIR...]`
//!
//! `erpc`, `erpc1m` and `cast` have an erl client call into an erl node and a rotp node (the
//! erl→erl and erl→rotp columns): `erpc:call(T, erlang, node, [])` back to back, `erpc:call`
//! with a 1 MB binary argument, and `rpc:cast`.
//!
//! Scenarios: `small 1k 64k rtt erpc erpc1m cast connect accept tls` (default all). `--pair` (`erl-erl`, `rotp-erl`,
//! `erl-rotp`, `rotp-rotp`) runs only those columns, for profiling one of them.
//!
//! Each pair prints its figure and its ratio to erl↔erl (for round trips and connect times,
//! erl's time over ours: above 1 means rotp is faster).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use dist::Cookie;
use etf::{Atom, Pid, Term};
use harness::{free_port, otp_epmd, short_host, start_epmd, Guard};
use node::name::NameKind;
use node::{Node, NodeConfig};
use runtime::{Context, Message};

const COOKIE: &str = "bench";

/// `ROTP_BENCH_SCALE` (default 1): how many times the usual count of messages and calls to
/// run, for longer runs while profiling.
fn scale() -> u64 {
    std::env::var("ROTP_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// Messages per throughput run, by payload size (times [`scale`]).
fn count(size: usize) -> u64 {
    scale()
        * match size {
            0 => 1_000_000,
            1024 => 200_000,
            _ => 10_000,
        }
}
const ROUND_TRIPS: u64 = 20_000;
/// erl client calls per run: `erpc:call` with no argument, with a 1 MB one, and `rpc:cast`.
const ERPC_CALLS: u64 = 20_000;
const ERPC_BIG_CALLS: u64 = 1_000;
const CASTS: u64 = 100_000;
const CONNECTS: u64 = 50;

const ERLANG: &str = r#"
-module(rotp_dist_bench).
-export([serve/0, sink_loop/0, pong_loop/0, throughput/3, ping/2, connect/2,
         size/1, erpc_calls/3, casts/2]).

%% The receiving side: `sink` counts messages, `pong` answers pings.
serve() ->
    register(sink, spawn(fun sink_loop/0)),
    register(pong, spawn(fun pong_loop/0)),
    receive stop -> halt() end.

sink_loop() ->
    receive {start, From, N} -> From ! {ready, self()}, count(N), From ! done, sink_loop() end.

count(0) -> ok;
count(N) -> receive {msg, _} -> count(N - 1) end.

pong_loop() ->
    receive {ping, From} -> From ! pong, pong_loop() end.

payload(0) -> small;
payload(Size) -> binary:copy(<<7>>, Size).

%% Messages/s from this node to `sink` on Node.
throughput(Node, N, Size) ->
    true = net_kernel:connect_node(Node),
    {sink, Node} ! {start, self(), N},
    Sink = receive {ready, P} -> P end,
    Msg = {msg, payload(Size)},
    T0 = erlang:monotonic_time(microsecond),
    send_n(Sink, Msg, N),
    receive done -> ok end,
    T1 = erlang:monotonic_time(microsecond),
    io:format("~p~n", [N / ((T1 - T0) / 1000000)]).

send_n(_, _, 0) -> ok;
send_n(P, M, N) -> P ! M, send_n(P, M, N - 1).

%% Microseconds per round trip to `pong` on Node.
ping(Node, N) ->
    true = net_kernel:connect_node(Node),
    Pong = rpc:call(Node, erlang, whereis, [pong]),
    ping_n(Pong, 1000),
    T0 = erlang:monotonic_time(microsecond),
    ping_n(Pong, N),
    T1 = erlang:monotonic_time(microsecond),
    io:format("~p~n", [(T1 - T0) / N]).

ping_n(_, 0) -> ok;
ping_n(P, N) -> P ! {ping, self()}, receive pong -> ping_n(P, N - 1) end.

%% Microseconds per connect (EPMD lookup, TCP, handshake), disconnecting in between.
connect(Node, N) ->
    Ts = [begin
              settle(Node),
              T0 = erlang:monotonic_time(microsecond),
              true = net_kernel:connect_node(Node),
              T1 = erlang:monotonic_time(microsecond),
              erlang:disconnect_node(Node),
              T1 - T0
          end || _ <- lists:seq(1, N)],
    io:format("~p~n", [lists:sum(Ts) / N]).

%% Until the last connection is gone and stays gone for 20 ms: a reply still in flight (the
%% peer's rex answering our features_request) reconnects at once, and connect_node/1 would
%% then return true without a handshake.
settle(Node) ->
    case gone(Node) andalso (timer:sleep(20) =:= ok) andalso gone(Node) of
        true -> ok;
        false -> erlang:disconnect_node(Node), timer:sleep(5), settle(Node)
    end.

gone(Node) -> not lists:member(Node, nodes(connected)).

%% What the erl client calls with a large argument, on both kinds of node.
size(B) -> byte_size(B).

%% Calls/s of erpc:call(Node, ...) back to back from this one process: erlang:node/0 with no
%% argument (Size 0), or size/1 with a binary of Size bytes.
erpc_calls(Node, N, Size) ->
    true = net_kernel:connect_node(Node),
    Call = case Size of
               0 -> fun() -> erpc:call(Node, erlang, node, []) end;
               _ -> Bin = binary:copy(<<7>>, Size),
                    fun() -> Size = erpc:call(Node, rotp_dist_bench, size, [Bin]) end
           end,
    calls(Call, 100),
    T0 = erlang:monotonic_time(microsecond),
    calls(Call, N),
    T1 = erlang:monotonic_time(microsecond),
    io:format("~p~n", [N / ((T1 - T0) / 1000000)]).

calls(_, 0) -> ok;
calls(F, N) -> F(), calls(F, N - 1).

%% Casts/s: N rpc:cast(Node, erlang, node, []), a call behind each thousand (without it the
%% client's own backlog of spawn replies, not the target, sets the pace: its rate falls
%% tenfold between 100 000 and 500 000 casts in a row, whatever the target).
casts(Node, N) ->
    true = net_kernel:connect_node(Node),
    T0 = erlang:monotonic_time(microsecond),
    cast_batches(Node, N div 1000),
    T1 = erlang:monotonic_time(microsecond),
    io:format("~p~n", [N / ((T1 - T0) / 1000000)]).

cast_batches(_, 0) -> ok;
cast_batches(Node, B) ->
    cast_n(Node, 1000),
    Node = rpc:call(Node, erlang, node, []),
    cast_batches(Node, B - 1).

cast_n(_, 0) -> ok;
cast_n(Node, N) -> true = rpc:cast(Node, erlang, node, []), cast_n(Node, N - 1).
"#;

struct Env {
    epmd_port: u16,
    dir: std::path::PathBuf,
    host: String,
    /// Extra `erl` arguments (`-proto_dist inet_tls -ssl_dist_optfile F` for TLS runs).
    erl_args: Vec<String>,
}

impl Env {
    fn erl(&self, name: &str, eval: &str) -> Command {
        let mut cmd = Command::new("erl");
        cmd.current_dir(&self.dir)
            .args(["-sname", name, "-setcookie", COOKIE, "-noshell", "-pa", "."])
            .args(&self.erl_args)
            .args(["-eval", eval])
            .env("ERL_EPMD_PORT", self.epmd_port.to_string());
        cmd
    }

    /// Runs an erl node to the end and returns the number it printed.
    fn erl_figure(&self, name: &str, eval: &str) -> Result<f64> {
        let out = self.erl(name, eval).stdin(Stdio::null()).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| {
                format!(
                    "erl {name} printed {text:?} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    }

    fn node_name(&self, name: &str) -> String {
        format!("{name}@{}", self.host)
    }
}

async fn rotp_node(env: &Env, name: &str) -> Result<Node> {
    rotp_node_tls(env.epmd_port, name, None).await
}

async fn rotp_node_tls(epmd_port: u16, name: &str, tls: Option<&std::path::Path>) -> Result<Node> {
    let mut config = NodeConfig::new(name, NameKind::Short, Cookie::new(COOKIE));
    config.epmd_port = epmd_port;
    if let Some(optfile) = tls {
        config.tls = Some(net::dist::DistTls::from_optfile(optfile)?);
    }
    Ok(Node::start(config).await?)
}

/// The receiving side on a rotp node: `sink` and `pong`, as the Erlang module's, and
/// `rotp_dist_bench:size/1` for the erl client's calls.
fn serve(node: &Node) {
    node.register_function(
        "rotp_dist_bench",
        "size",
        1,
        std::sync::Arc::new(|_, args| {
            Box::pin(async move {
                match args.as_slice() {
                    [Term::Binary(b)] => Ok(Term::Integer(b.len() as i64)),
                    _ => Err(node::Exception::Error(Term::atom("badarg"))),
                }
            })
        }),
    );
    let rt = node.runtime();
    let sink = rt.spawn(|mut ctx| async move {
        loop {
            let m = ctx.recv().await;
            let Some(Term::Tuple(v)) = m.as_term() else {
                continue;
            };
            let [tag, Term::Pid(from), Term::Integer(n)] = v.as_slice() else {
                continue;
            };
            if tag.as_atom() != Some("start") {
                continue;
            }
            let from = from.clone();
            ctx.send(
                &from,
                Message::Term(Term::Tuple(vec![
                    Term::atom("ready"),
                    Term::Pid(ctx.pid().clone()),
                ])),
            );
            for _ in 0..*n {
                ctx.recv().await;
            }
            ctx.send(&from, Message::Term(Term::atom("done")));
        }
    });
    let _ = rt.register(Atom::from("sink"), &sink);
    let pong = rt.spawn(|mut ctx| async move {
        loop {
            let m = ctx.recv().await;
            if let Some(Term::Tuple(v)) = m.as_term() {
                if let [_, Term::Pid(from)] = v.as_slice() {
                    ctx.send(from, Message::Term(Term::atom("pong")));
                }
            }
        }
    });
    let _ = rt.register(Atom::from("pong"), &pong);
}

fn payload(size: usize) -> Term {
    if size == 0 {
        Term::atom("small")
    } else {
        Term::Binary(vec![7; size].into())
    }
}

/// Messages/s from a rotp process to `sink` on `target`.
async fn rotp_throughput(node: &Node, target: &Atom, n: u64, size: usize) -> Result<f64> {
    anyhow::ensure!(node.connect(target).await, "connect to {target}");
    let target = target.clone();
    node.in_process(move |mut ctx: Context| async move {
        let start = Term::Tuple(vec![
            Term::atom("start"),
            Term::Pid(ctx.pid().clone()),
            Term::Integer(n as i64),
        ]);
        ctx.send_to_name(&Atom::from("sink"), &target, Message::Term(start))
            .ok()?;
        let ready = ctx
            .receive_timeout(Duration::from_secs(30), |_| true)
            .await?;
        let sink: Pid = match ready.as_term() {
            Some(Term::Tuple(v)) => match v.get(1) {
                Some(Term::Pid(p)) => p.clone(),
                _ => return None,
            },
            _ => return None,
        };
        let msg = Term::Tuple(vec![Term::atom("msg"), payload(size)]);
        let t0 = Instant::now();
        for _ in 0..n {
            ctx.send(&sink, Message::Term(msg.clone()));
            ctx.wait_if_busy().await;
        }
        ctx.receive_timeout(Duration::from_secs(300), |m| {
            m.as_term().and_then(Term::as_atom) == Some("done")
        })
        .await?;
        Some(n as f64 / t0.elapsed().as_secs_f64())
    })
    .await
    .flatten()
    .context("rotp throughput run")
}

/// Microseconds per round trip from a rotp process to `pong` on `target`.
async fn rotp_ping(node: &Node, target: &Atom, n: u64) -> Result<f64> {
    anyhow::ensure!(node.connect(target).await, "connect to {target}");
    let Term::Pid(pong) = node
        .rpc(
            target,
            "erlang",
            "whereis",
            vec![Term::atom("pong")],
            Duration::from_secs(5),
        )
        .await
    else {
        bail!("no pong on {target}");
    };
    node.in_process(move |mut ctx: Context| async move {
        let ping = Term::Tuple(vec![Term::atom("ping"), Term::Pid(ctx.pid().clone())]);
        let once = |ctx: &mut Context| {
            ctx.send(&pong, Message::Term(ping.clone()));
        };
        for _ in 0..1000 {
            once(&mut ctx);
            ctx.recv().await;
        }
        let t0 = Instant::now();
        for _ in 0..n {
            once(&mut ctx);
            ctx.recv().await;
        }
        t0.elapsed().as_secs_f64() * 1e6 / n as f64
    })
    .await
    .context("rotp ping run")
}

/// Microseconds per connect from `node` to `target`.
async fn rotp_connect(node: &Node, target: &Atom, n: u64) -> Result<f64> {
    let mut total = Duration::ZERO;
    for _ in 0..n {
        // Wait until the last connection is gone and stays gone: a reply still in flight
        // (rex answering the peer's features_request, say) reconnects, as with erl.
        // (Another node may connect to us meanwhile — erl's services reply to the node that
        // just left — so only the target's connection is waited for.)
        let gone = |node: &Node| !node.nodes(true).contains(target);
        loop {
            if gone(node) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if gone(node) {
                    break;
                }
            }
            node.disconnect(target);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let t0 = Instant::now();
        anyhow::ensure!(node.connect(target).await, "connect to {target}");
        total += t0.elapsed();
        node.disconnect(target);
    }
    Ok(total.as_secs_f64() * 1e6 / n as f64)
}

/// Microseconds per handshake with `target`'s acceptor from a bare client: TCP connect and the
/// handshake (as a hidden node, a fresh name each time), nothing else. Neither side's node
/// layer is in it on the client's side, so the same client measures erl's acceptor and ours.
async fn accept_probe(env: &Env, target: &Atom, n: u64) -> Result<f64> {
    let short = target.as_str().split('@').next().unwrap_or_default();
    let epmd = net::epmd::Client::localhost(env.epmd_port);
    let port = epmd
        .port_please(short)
        .await?
        .with_context(|| format!("{target} is not registered"))?
        .port;
    let mut total = Duration::ZERO;
    for i in 0..n {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let config = dist::HandshakeConfig {
            name: Atom::from(env.node_name(&format!("probe{i}")).as_str()),
            creation: i as u32 + 1,
            flags: dist::DistFlags::DEFAULT,
            hidden: true,
            required: dist::DistFlags::REQUIRED,
            cookie: Cookie::new(COOKIE),
            challenge: 0x5eed_0000 + i as u32,
        };
        let t0 = Instant::now();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let mut stream = net::dist::DistStream::from(tcp);
        let hs = dist::Handshake::initiate(config, target.clone())?;
        let mut ok = |_: &Atom, _: u32| dist::Status::Ok;
        net::dist::handshake(&mut stream, hs, &mut ok, net::dist::SETUP_TIME).await?;
        total += t0.elapsed();
    }
    Ok(total.as_secs_f64() * 1e6 / n as f64)
}

/// Waits until each receiving node answers and has registered `sink` and `pong` (an erl
/// node is reachable before its `-eval` has run).
async fn wait_serving(tx: &Node, targets: &[&Atom]) -> Result<()> {
    for target in targets {
        let mut serving = false;
        for _ in 0..200 {
            if tx.ping(target).await {
                let mut registered = true;
                for name in ["sink", "pong"] {
                    let at = tx
                        .rpc(
                            target,
                            "erlang",
                            "whereis",
                            vec![Term::atom(name)],
                            Duration::from_secs(5),
                        )
                        .await;
                    registered &= matches!(at, Term::Pid(_));
                }
                if registered {
                    serving = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::ensure!(serving, "{target} never started serving");
    }
    Ok(())
}

type Row = (String, [Option<f64>; 4]);

/// Messages/s of `size` bytes from each kind of sender to each kind of receiver (`erl_rx`,
/// `rotp_rx`): erl→erl, rotp→erl, erl→rotp, rotp→rotp. `tag` keeps the erl senders' names apart.
async fn throughputs(
    sel: &Selection,
    env: &Env,
    tx: &Node,
    [erl_rx, rotp_rx]: [&Atom; 2],
    n: u64,
    size: usize,
    tag: &str,
) -> Result<[Option<f64>; 4]> {
    let erl_sender = |name: String, target: &Atom| {
        let eval = format!("rotp_dist_bench:throughput('{target}', {n}, {size}), halt().");
        async move { env.erl_figure(&name, &eval) }
    };
    let erl_erl = measure(sel, "erl-erl", || {
        erl_sender(format!("erl_tx{tag}"), erl_rx)
    })
    .await?;
    let rotp_erl = measure(sel, "rotp-erl", || rotp_throughput(tx, erl_rx, n, size)).await?;
    let erl_rotp = measure(sel, "erl-rotp", || {
        erl_sender(format!("erl_tx2{tag}"), rotp_rx)
    })
    .await?;
    let rotp_rotp = measure(sel, "rotp-rotp", || rotp_throughput(tx, rotp_rx, n, size)).await?;
    Ok([erl_erl, rotp_erl, erl_rotp, rotp_rotp])
}

/// Which scenarios and which sender→receiver pairs a run measures.
struct Selection {
    scenarios: Vec<String>,
    pairs: Vec<String>,
}

impl Selection {
    fn scenario(&self, s: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|o| o == s)
    }

    fn pair(&self, p: &str) -> bool {
        self.pairs.is_empty() || self.pairs.iter().any(|o| o == p)
    }
}

/// Runs `f` when `pair` is selected.
async fn measure<F: std::future::Future<Output = Result<f64>>>(
    sel: &Selection,
    pair: &str,
    f: impl FnOnce() -> F,
) -> Result<Option<f64>> {
    if sel.pair(pair) {
        f().await.map(Some)
    } else {
        Ok(None)
    }
}

async fn run(sel: &Selection) -> Result<Vec<Row>> {
    let want = |s: &str| sel.scenario(s);
    let dir = std::env::temp_dir().join(format!("rotp-dist-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("rotp_dist_bench.erl"), ERLANG)?;
    let status = Command::new("erlc")
        .current_dir(&dir)
        .arg("rotp_dist_bench.erl")
        .status()?;
    anyhow::ensure!(status.success(), "erlc failed");
    let epmd_port = free_port();
    let _epmd = start_epmd(&otp_epmd(), epmd_port, &[]);
    let env = Env {
        epmd_port,
        dir: dir.clone(),
        host: short_host(),
        erl_args: Vec::new(),
    };
    // Receivers: an erl node and a rotp node serving sink and pong; a second rotp node sends.
    let _erl_rx = Guard(
        env.erl("erl_rx", "rotp_dist_bench:serve()")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?,
    );
    // The rotp receiver runs in its own OS process, as the erl one does.
    let _rotp_rx = Guard(
        Command::new(std::env::current_exe()?)
            .args(["--serve", "rotp_rx", &epmd_port.to_string()])
            .stdin(Stdio::null())
            .spawn()?,
    );
    let tx = rotp_node(&env, "rotp_tx").await?;
    let erl_rx = Atom::from(env.node_name("erl_rx").as_str());
    let rotp_rx = Atom::from(env.node_name("rotp_rx").as_str());
    eprintln!("waiting for the receiving nodes");
    wait_serving(&tx, &[&erl_rx, &rotp_rx]).await?;
    let mut rows = Vec::new();
    for (label, size) in [
        ("small msgs/s", 0usize),
        ("1 KB msgs/s", 1024),
        ("64 KB msgs/s", 65536),
    ] {
        let key = match size {
            0 => "small",
            1024 => "1k",
            _ => "64k",
        };
        if !want(key) {
            continue;
        }
        let n = count(size);
        eprintln!("{label}");
        let figures = throughputs(sel, &env, &tx, [&erl_rx, &rotp_rx], n, size, "").await?;
        rows.push((label.to_owned(), figures));
    }
    if want("rtt") {
        eprintln!("round trips");
        let erl_erl = measure(sel, "erl-erl", || async {
            env.erl_figure(
                "erl_tx3",
                &format!("rotp_dist_bench:ping('{erl_rx}', {ROUND_TRIPS}), halt()."),
            )
        })
        .await?;
        let rotp_erl = measure(sel, "rotp-erl", || rotp_ping(&tx, &erl_rx, ROUND_TRIPS)).await?;
        let erl_rotp = measure(sel, "erl-rotp", || async {
            env.erl_figure(
                "erl_tx4",
                &format!("rotp_dist_bench:ping('{rotp_rx}', {ROUND_TRIPS}), halt()."),
            )
        })
        .await?;
        let rotp_rotp = measure(sel, "rotp-rotp", || rotp_ping(&tx, &rotp_rx, ROUND_TRIPS)).await?;
        rows.push((
            "round trip µs".to_owned(),
            [erl_erl, rotp_erl, erl_rotp, rotp_rotp],
        ));
    }
    if want("erpc") || want("erpc1m") || want("cast") {
        eprintln!("an erl client calling into an erl node and a rotp node");
        let scenarios = [
            (
                "erpc",
                "erpc calls/s",
                format!("erpc_calls(~, {}, 0)", ERPC_CALLS * scale()),
            ),
            (
                "erpc1m",
                "erpc 1 MB arg/s",
                format!("erpc_calls(~, {}, {})", ERPC_BIG_CALLS * scale(), 1 << 20),
            ),
            (
                "cast",
                "rpc:cast/s",
                format!("casts(~, {})", CASTS * scale()),
            ),
        ];
        for (i, (scenario, label, call)) in scenarios.into_iter().enumerate() {
            if !want(scenario) {
                continue;
            }
            let eval = |target: &Atom| {
                format!(
                    "rotp_dist_bench:{}, halt().",
                    call.replace('~', &format!("'{target}'"))
                )
            };
            let erl_erl = measure(sel, "erl-erl", || async {
                env.erl_figure(&format!("erl_client{i}a"), &eval(&erl_rx))
            })
            .await?;
            let erl_rotp = measure(sel, "erl-rotp", || async {
                env.erl_figure(&format!("erl_client{i}b"), &eval(&rotp_rx))
            })
            .await?;
            rows.push((label.to_owned(), [erl_erl, None, erl_rotp, None]));
        }
    }
    if want("connect") {
        eprintln!("connect times");
        let erl_erl = measure(sel, "erl-erl", || async {
            env.erl_figure(
                "erl_tx5",
                &format!("rotp_dist_bench:connect('{erl_rx}', {CONNECTS}), halt()."),
            )
        })
        .await?;
        let fresh = rotp_node(&env, "rotp_conn").await?;
        let rotp_erl = measure(sel, "rotp-erl", || rotp_connect(&fresh, &erl_rx, CONNECTS)).await?;
        let erl_rotp = measure(sel, "erl-rotp", || async {
            env.erl_figure(
                "erl_tx6",
                &format!("rotp_dist_bench:connect('{rotp_rx}', {CONNECTS}), halt()."),
            )
        })
        .await?;
        let rotp_rotp = measure(sel, "rotp-rotp", || {
            rotp_connect(&fresh, &rotp_rx, CONNECTS)
        })
        .await?;
        rows.push((
            "connect µs".to_owned(),
            [erl_erl, rotp_erl, erl_rotp, rotp_rotp],
        ));
    }
    if want("accept") {
        eprintln!("acceptor's handshake times");
        let erl = measure(sel, "erl-erl", || accept_probe(&env, &erl_rx, CONNECTS)).await?;
        let rotp = measure(sel, "erl-rotp", || accept_probe(&env, &rotp_rx, CONNECTS)).await?;
        rows.push(("accept µs".to_owned(), [erl, None, rotp, None]));
    }
    if want("tls") {
        eprintln!("TLS 1 MB msgs/s");
        rows.push((
            "TLS 1 MB msgs/s".to_owned(),
            tls_throughput(sel, &dir, epmd_port).await?,
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// 1 MB messages over TLS distribution, every pair: TLS receivers of both kinds, a TLS rotp
/// sender in this process, and TLS erl senders.
async fn tls_throughput(
    sel: &Selection,
    dir: &std::path::Path,
    epmd_port: u16,
) -> Result<[Option<f64>; 4]> {
    let pki = harness::pki::TestPki::new("bench");
    let optfile = pki.optfile("node");
    let env = Env {
        epmd_port,
        dir: dir.to_owned(),
        host: short_host(),
        erl_args: vec![
            "-proto_dist".into(),
            "inet_tls".into(),
            "-ssl_dist_optfile".into(),
            optfile.display().to_string(),
        ],
    };
    let _erl_rx = Guard(
        env.erl("erl_rx_tls", "rotp_dist_bench:serve()")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?,
    );
    let _rotp_rx = Guard(
        Command::new(std::env::current_exe()?)
            .args([
                "--serve",
                "rotp_rx_tls",
                &epmd_port.to_string(),
                &optfile.display().to_string(),
            ])
            .stdin(Stdio::null())
            .spawn()?,
    );
    let tx = rotp_node_tls(epmd_port, "rotp_tx_tls", Some(&optfile)).await?;
    let erl_rx = Atom::from(env.node_name("erl_rx_tls").as_str());
    let rotp_rx = Atom::from(env.node_name("rotp_rx_tls").as_str());
    wait_serving(&tx, &[&erl_rx, &rotp_rx]).await?;
    let (n, size) = (500u64, 1usize << 20);
    throughputs(sel, &env, &tx, [&erl_rx, &rotp_rx], n, size, "_tls").await
}

fn main() -> Result<()> {
    // Allocate as the `rotp` binary does (node::malloc), in the receiving node too.
    node::malloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("--serve") && (3..=4).contains(&args.len()) {
        let (name, port) = (&args[1], &args[2]);
        let tls = args.get(3).map(std::path::PathBuf::from);
        {
            // The receiving rotp node, in a process of its own (started by the run below).
            return tokio.block_on(async {
                let node = rotp_node_tls(port.parse()?, name, tls.as_deref()).await?;
                serve(&node);
                std::future::pending::<()>().await;
                Ok(())
            });
        }
    }
    println!("{}", rotp_bench::machine());
    let mut sel = Selection {
        scenarios: Vec::new(),
        pairs: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        if a == "--pair" {
            sel.pairs.push(args.next().context("--pair needs a value")?);
        } else {
            sel.scenarios.push(a);
        }
    }
    let rows = tokio.block_on(run(&sel))?;
    println!("distribution over loopback, one run: figure (ratio to erl↔erl; > 1 means faster)");
    println!(
        "{:<16} {:>12} {:>20} {:>20} {:>20}",
        "scenario", "erl→erl", "rotp→erl", "erl→rotp", "rotp→rotp"
    );
    for (label, [base, a, b, c]) in rows {
        let base = base.unwrap_or(0.0);
        let lower_is_better = label.contains("µs");
        let cell = |v: Option<f64>| match v {
            Some(v) if base > 0.0 && v > 0.0 => {
                let r = if lower_is_better {
                    rotp_bench::ratio(base, v)
                } else {
                    rotp_bench::ratio(v, base)
                };
                format!("{v:.1} ({r})")
            }
            Some(v) => format!("{v:.1}"),
            None => "-".to_owned(),
        };
        println!(
            "{:<16} {:>12.1} {:>20} {:>20} {:>20}",
            label,
            base,
            cell(a),
            cell(b),
            cell(c)
        );
    }
    Ok(())
}
