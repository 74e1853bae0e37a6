//! `top --once`'s snapshot of a node with 100 000 processes, a BEAM node against a rotp node in
//! one run: the time `window::collect` takes and the bytes it moves over the distribution.
//!
//! `cargo run --release -p rotp-bench --bin top-vs-erl [PROCESSES [ROUNDS]]` (default 100 000
//! processes, 3 rounds).
//!
//! The BEAM node is `erl` with that many idle processes; the rotp node is this binary again
//! (`--serve NAME EPMD_PORT N`) with as many. Both register with one OTP epmd on a free port.
//! A hidden rotp client node takes each node's snapshot in turn, round after round, as
//! `rotp top NODE --once` does: versions, counts, memory, registered names, the summary, and
//! every process's name, memory, queue and reductions. Each snapshot is checked to hold the
//! processes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use dist::Cookie;
use etf::Atom;
use harness::{free_port, otp_epmd, short_host, start_epmd, start_erl, Guard};
use node::name::NameKind;
use node::{Node, NodeConfig};

const COOKIE: &str = "topbench";

async fn start_node(name: &str, epmd_port: u16, hidden: bool) -> Result<Node> {
    let mut config = NodeConfig::new(name, NameKind::Short, Cookie::new(COOKIE));
    config.epmd_port = epmd_port;
    config.hidden = hidden;
    Ok(Node::start(config).await?)
}

/// The rotp target: `n` idle processes, then wait to be killed.
async fn serve(name: &str, epmd_port: u16, n: usize) -> Result<()> {
    let node = start_node(name, epmd_port, false).await?;
    for _ in 0..n {
        node.runtime().spawn(|mut ctx| async move {
            ctx.recv().await;
            runtime::ExitReason::Normal
        });
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// Waits until `target` answers and runs at least `n` processes.
async fn ready(client: &Node, target: &Atom, n: usize) -> Result<()> {
    for _ in 0..600 {
        if client.connect(target).await {
            let count = client
                .rpc(
                    target,
                    "erlang",
                    "system_info",
                    vec![etf::Term::atom("process_count")],
                    Duration::from_secs(10),
                )
                .await;
            if matches!(count, etf::Term::Integer(c) if c as usize >= n) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{target} never came up with {n} processes")
}

/// One snapshot: seconds, bytes in, bytes out.
async fn snapshot(client: &Node, target: &Atom, n: usize) -> Result<(f64, u64, u64)> {
    let (in0, out0) = client.io_bytes();
    let t0 = Instant::now();
    let s = window::collect(client, target, Duration::from_secs(60)).await?;
    let secs = t0.elapsed().as_secs_f64();
    let (in1, out1) = client.io_bytes();
    ensure!(
        s.processes.len() >= n,
        "{target}: {} processes in the snapshot, {n} expected",
        s.processes.len()
    );
    Ok((secs, in1 - in0, out1 - out0))
}

fn main() -> Result<()> {
    node::malloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let [flag, name, port, n] = args.as_slice() {
        if flag == "--serve" {
            return tokio.block_on(serve(name, port.parse()?, n.parse()?));
        }
    }
    let n: usize = args.first().map_or(Ok(100_000), |a| a.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(3), |a| a.parse())?;
    println!("{}", rotp_bench::machine());
    let epmd_port = free_port();
    let _epmd = start_epmd(&otp_epmd(), epmd_port, &[]);
    let host = short_host();
    let _beam = start_erl(
        "top_bench_erl",
        COOKIE,
        epmd_port,
        &format!(
            "[spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, {n})], \
             timer:sleep(infinity)."
        ),
    );
    let _rotp = Guard(
        Command::new(std::env::current_exe()?)
            .args([
                "--serve",
                "top_bench_rotp",
                &epmd_port.to_string(),
                &n.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?,
    );
    let beam = Atom::from(format!("top_bench_erl@{host}").as_str());
    let ours = Atom::from(format!("top_bench_rotp@{host}").as_str());
    let rows = tokio.block_on(async {
        let client = start_node("top_bench_client", epmd_port, true).await?;
        ready(&client, &beam, n).await?;
        ready(&client, &ours, n).await?;
        let mut rows = Vec::new();
        for round in 1..=rounds {
            let b = snapshot(&client, &beam, n).await?;
            let r = snapshot(&client, &ours, n).await?;
            rows.push((round, b, r));
        }
        anyhow::Ok(rows)
    })?;
    println!(
        "`top --once` snapshot of a node with {n} processes over the distribution on loopback; \
         seconds and bytes moved (in / out at the client); rotp's ratio to the BEAM's time \
         (< 1 means faster)"
    );
    println!(
        "{:<6} {:>10} {:>22} {:>10} {:>22} {:>8}",
        "round", "BEAM s", "BEAM bytes in / out", "rotp s", "rotp bytes in / out", "ratio"
    );
    for (round, (bs, bi, bo), (rs, ri, ro)) in rows {
        println!(
            "{round:<6} {bs:>10.3} {:>22} {rs:>10.3} {:>22} {:>8}",
            format!("{bi} / {bo}"),
            format!("{ri} / {ro}"),
            rotp_bench::ratio(rs, bs)
        );
    }
    Ok(())
}
