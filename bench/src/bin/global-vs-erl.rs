//! `global` against OTP's, in one run over loopback: one process registering a name,
//! looking it up and unregistering it (`global:register_name/2`, `whereis_name/1`,
//! `unregister_name/1`), back to back, in a cluster of three erl nodes, then in a cluster of
//! two erl nodes and a rotp node: from an erl process (the rotp node answers its lockers'
//! and registrar's calls as an erl node would), and from a rotp process.
//!
//! `cargo run --release -p rotp-bench --bin global-vs-erl [ROUNDS]` (default 2 rounds;
//! `ROTP_BENCH_SCALE` multiplies the 1 000 cycles per figure).
//!
//! Each figure is cycles per second, with its ratio to the three-erl cluster's (above 1 means
//! faster).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use dist::Cookie;
use etf::{Atom, Term};
use harness::{free_port, otp_epmd, short_host, start_epmd, Guard};
use node::name::NameKind;
use node::{Node, NodeConfig};

const COOKIE: &str = "gbench";

fn cycles() -> u64 {
    1000 * std::env::var("ROTP_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn node_name(name: &str) -> String {
    format!("{name}@{}", short_host())
}

/// An erl node that waits to be called.
fn erl_member(port: u16, name: &str) -> Guard {
    let child = Command::new("erl")
        .args([
            "-sname",
            name,
            "-setcookie",
            COOKIE,
            "-noshell",
            "-eval",
            "timer:sleep(infinity).",
        ])
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("erl");
    Guard(child)
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

/// An erl client that joins `members`, syncs global, and prints its cycles per second.
fn erl_client(port: u16, name: &str, members: &[String]) -> Result<f64> {
    let nodes: Vec<String> = members.iter().map(|m| format!("'{m}'")).collect();
    let eval = format!(
        "[pong = net_adm:ping(N) || N <- [{nodes}]], ok = global:sync(), \
         L = fun L(0) -> ok; L(K) -> yes = global:register_name(rotp_bench, self()), \
             P = global:whereis_name(rotp_bench), P = self(), \
             _ = global:unregister_name(rotp_bench), L(K - 1) end, \
         L(100), \
         T0 = erlang:monotonic_time(microsecond), L({n}), \
         T1 = erlang:monotonic_time(microsecond), \
         io:format(\"~p~n\", [{n} / ((T1 - T0) / 1000000)]), halt().",
        nodes = nodes.join(", "),
        n = cycles()
    );
    let out = Command::new("erl")
        .args([
            "-sname",
            name,
            "-setcookie",
            COOKIE,
            "-noshell",
            "-eval",
            &eval,
        ])
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(Stdio::null())
        .output()?;
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

/// The same cycles from a process of `node`.
async fn rotp_client(node: &Node) -> Result<f64> {
    let global = node.global();
    global.sync().await;
    let n = cycles();
    let rate = node
        .in_process(move |ctx| async move {
            let me = ctx.pid().clone();
            let name = Term::atom("rotp_bench");
            let cycle = async || {
                assert!(global.register_name(name.clone(), &me).await);
                assert_eq!(global.whereis_name(&name).as_ref(), Some(&me));
                global.unregister_name(&name).await;
            };
            for _ in 0..100 {
                cycle().await;
            }
            let t0 = Instant::now();
            for _ in 0..n {
                cycle().await;
            }
            n as f64 / t0.elapsed().as_secs_f64()
        })
        .await
        .context("the rotp client ended")?;
    Ok(rate)
}

async fn round(round: usize) -> Result<(f64, f64, f64)> {
    // Three erl nodes.
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let (b, c) = (format!("ge{round}b"), format!("ge{round}c"));
    let _members = [erl_member(port, &b), erl_member(port, &c)];
    registered(port, &b).await?;
    registered(port, &c).await?;
    let erl_only = erl_client(
        port,
        &format!("ge{round}a"),
        &[node_name(&b), node_name(&c)],
    )?;
    // Two erl nodes and a rotp node.
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let (b, c) = (format!("gr{round}b"), format!("gr{round}c"));
    let _members = [erl_member(port, &b)];
    registered(port, &b).await?;
    let mut config = NodeConfig::new(&c, NameKind::Short, Cookie::new(COOKIE));
    config.epmd_port = port;
    let rotp = Node::start(config).await?;
    let with_rotp = erl_client(
        port,
        &format!("gr{round}a"),
        &[node_name(&b), rotp.name().to_string()],
    )?;
    // The rotp node as the client, with the two erl nodes.
    let a = format!("gr{round}d");
    let _more = [erl_member(port, &a)];
    registered(port, &a).await?;
    for n in [&a, &b] {
        if !rotp.ping(&Atom::from(node_name(n).as_str())).await {
            bail!("{n} does not answer");
        }
    }
    let from_rotp = rotp_client(&rotp).await?;
    Ok((erl_only, with_rotp, from_rotp))
}

fn main() -> Result<()> {
    node::malloc::keep_freed_memory();
    let rounds: usize = std::env::args().nth(1).map_or(Ok(2), |r| r.parse())?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("{}", rotp_bench::machine());
    println!(
        "global register_name + whereis_name + unregister_name from one process, cycles/s \
         ({} per figure; ratio to three erl nodes, > 1 means faster)",
        cycles()
    );
    println!(
        "{:<6} {:>14} {:>26} {:>26}",
        "round", "3 erl", "2 erl + rotp, erl client", "2 erl + rotp, rotp client"
    );
    for r in 0..rounds {
        let (erl_only, with_rotp, from_rotp) = tokio.block_on(round(r))?;
        println!(
            "{:<6} {:>14.1} {:>26} {:>26}",
            r + 1,
            erl_only,
            format!(
                "{with_rotp:.1} ({})",
                rotp_bench::ratio(with_rotp, erl_only)
            ),
            format!(
                "{from_rotp:.1} ({})",
                rotp_bench::ratio(from_rotp, erl_only)
            ),
        );
    }
    Ok(())
}
