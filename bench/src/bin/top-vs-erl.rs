//! `top --once`'s snapshot and the dashboard's processes page of a node with 100 000
//! processes, a BEAM node against a rotp node in one run: the time each takes and the bytes it
//! moves (over the distribution, and the page's HTML).
//!
//! `cargo run --release -p rotp-bench --bin top-vs-erl [PROCESSES [ROUNDS]]` (default 100 000
//! processes, 3 rounds).
//!
//! The BEAM node is `erl` with that many idle processes; the rotp node is this binary again
//! (`--serve NAME EPMD_PORT N`) with as many. Both register with one OTP epmd on a free port.
//! A hidden rotp client node takes each node's snapshot in turn, round after round, as
//! `rotp top NODE --once` does: versions, counts, memory, registered names, the summary, and
//! every process's name, memory, queue and reductions. Each snapshot is checked to hold the
//! processes. Then it fetches `/node/NODE/processes` (the first page of 100, by memory) from
//! the `dashboard` crate's server over that client, as a browser would, for each node.

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

/// The dashboard's processes page of `target` from the server on `port`: seconds, the page's
/// bytes, and the distribution's bytes in and out meanwhile.
async fn page(
    client: &Node,
    port: u16,
    token: &dashboard::Token,
    target: &Atom,
) -> Result<(f64, u64, u64, u64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (in0, out0) = client.io_bytes();
    let t0 = Instant::now();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(
        format!(
            "GET /node/{target}/processes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\n\r\n",
            token.secret()
        )
        .as_bytes(),
    )
    .await?;
    let mut body = Vec::new();
    s.read_to_end(&mut body).await?;
    let secs = t0.elapsed().as_secs_f64();
    let (in1, out1) = client.io_bytes();
    let text = String::from_utf8_lossy(&body);
    ensure!(
        text.starts_with("HTTP/1.1 200") && text.matches("data-pid").count() >= 100,
        "{target}: the processes page did not list 100 processes"
    );
    Ok((secs, body.len() as u64, in1 - in0, out1 - out0))
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
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let http = listener.local_addr()?.port();
        let token = dashboard::Token::generate();
        tokio::spawn(dashboard::serve(
            listener,
            client.clone(),
            dashboard::Config::new(
                vec![beam.clone(), ours.clone()],
                dashboard::Access::Token {
                    token: token.clone(),
                    hosts: dashboard::AllowedHosts::new(std::net::Ipv4Addr::LOCALHOST.into()),
                },
            ),
        ));
        let mut rows = Vec::new();
        let mut pages = Vec::new();
        for round in 1..=rounds {
            let b = snapshot(&client, &beam, n).await?;
            let r = snapshot(&client, &ours, n).await?;
            rows.push((round, b, r));
            let b = page(&client, http, &token, &beam).await?;
            let r = page(&client, http, &token, &ours).await?;
            pages.push((round, b, r));
        }
        anyhow::Ok((rows, pages))
    })?;
    let (rows, pages) = rows;
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
    println!(
        "the dashboard's processes page (first 100 by memory) of the same nodes; seconds, the \
         page's bytes, and the distribution's bytes in / out"
    );
    println!(
        "{:<6} {:>10} {:>8} {:>22} {:>10} {:>8} {:>22} {:>8}",
        "round",
        "BEAM s",
        "page",
        "BEAM dist in / out",
        "rotp s",
        "page",
        "rotp dist in / out",
        "ratio"
    );
    for (round, (bs, bp, bi, bo), (rs, rp, ri, ro)) in pages {
        println!(
            "{round:<6} {bs:>10.3} {bp:>8} {:>22} {rs:>10.3} {rp:>8} {:>22} {:>8}",
            format!("{bi} / {bo}"),
            format!("{ri} / {ro}"),
            rotp_bench::ratio(rs, bs)
        );
    }
    Ok(())
}
