//! `global` against OTP's, in one run over loopback: one process registering a name,
//! looking it up and unregistering it (`global:register_name/2`, `whereis_name/1`,
//! `unregister_name/1`), back to back, in a cluster of three erl nodes, then in a cluster of
//! two erl nodes and a rotp node: from an erl process (the rotp node answers its lockers'
//! and registrar's calls as an erl node would), and from a rotp process.
//!
//! `cargo run --release -p rotp-bench --bin global-vs-erl [ROUNDS]` (default 6 rounds;
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
    harness::start_erl(name, COOKIE, port, "timer:sleep(infinity).")
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

/// An erl client node that joins `members`, syncs global, and then, for each line it reads,
/// runs the cycles and prints its cycles per second.
struct ErlClient {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ErlClient {
    fn start(port: u16, name: &str, members: &[String]) -> Result<ErlClient> {
        let nodes: Vec<String> = members.iter().map(|m| format!("'{m}'")).collect();
        let eval = format!(
            "[pong = net_adm:ping(N) || N <- [{nodes}]], ok = global:sync(), \
             L = fun L(0) -> ok; L(K) -> yes = global:register_name(rotp_bench, self()), \
                 P = global:whereis_name(rotp_bench), P = self(), \
                 _ = global:unregister_name(rotp_bench), L(K - 1) end, \
             L(100), io:format(\"ready~n\"), \
             G = fun G() -> case io:get_line(\"\") of eof -> halt(); _ -> \
                 T0 = erlang:monotonic_time(microsecond), L({n}), \
                 T1 = erlang:monotonic_time(microsecond), \
                 io:format(\"~p~n\", [{n} / ((T1 - T0) / 1000000)]), G() end end, G().",
            nodes = nodes.join(", "),
            n = cycles()
        );
        let mut child = Command::new("erl")
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
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut client = ErlClient {
            child,
            stdin,
            stdout,
        };
        let ready = client.line()?;
        if ready.trim() != "ready" {
            bail!("erl {name} printed {ready:?}");
        }
        Ok(client)
    }

    fn line(&mut self) -> Result<String> {
        use std::io::BufRead;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line)
    }

    /// One figure.
    fn run(&mut self) -> Result<f64> {
        use std::io::Write;
        writeln!(self.stdin, "go")?;
        let line = self.line()?;
        line.trim()
            .parse()
            .with_context(|| format!("erl client printed {line:?}"))
    }
}

impl Drop for ErlClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same cycles from a process of `node`.
async fn rotp_client(node: &Node) -> Result<f64> {
    let global = node.global();
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

/// The clusters, side by side: three erl nodes (an erl client and two members), and two erl
/// nodes and a rotp node (an erl client, a member and the rotp node, whose processes are the
/// rotp client). Each has its own EPMD, so they never meet.
async fn clusters() -> Result<(Vec<Guard>, ErlClient, ErlClient, Node)> {
    let mut guards = Vec::new();
    let port = free_port();
    guards.push(start_epmd(&otp_epmd(), port, &[]));
    for m in ["geb", "gec"] {
        guards.push(erl_member(port, m));
        registered(port, m).await?;
    }
    let erl_only = ErlClient::start(port, "gea", &[node_name("geb"), node_name("gec")])?;
    let port = free_port();
    guards.push(start_epmd(&otp_epmd(), port, &[]));
    guards.push(erl_member(port, "grb"));
    registered(port, "grb").await?;
    let mut config = NodeConfig::new("grc", NameKind::Short, Cookie::new(COOKIE));
    config.epmd_port = port;
    let rotp = Node::start(config).await?;
    let with_rotp = ErlClient::start(port, "gra", &[node_name("grb"), rotp.name().to_string()])?;
    // The rotp client's cluster is the same one: the erl client's node and the member.
    for n in ["gra", "grb"] {
        if !rotp.ping(&Atom::from(node_name(n).as_str())).await {
            bail!("{n} does not answer");
        }
    }
    rotp.global().sync().await;
    Ok((guards, erl_only, with_rotp, rotp))
}

fn main() -> Result<()> {
    node::malloc::keep_freed_memory();
    let rounds: usize = std::env::args().nth(1).map_or(Ok(6), |r| r.parse())?;
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
    let (_guards, mut erl_only, mut with_rotp, rotp) = tokio.block_on(clusters())?;
    let mut ratios = (Vec::new(), Vec::new());
    for r in 0..rounds {
        // A round's three figures are taken one after the other, so that the machine's slow
        // and fast spells fall on all of them alike.
        let base = erl_only.run()?;
        let mixed = with_rotp.run()?;
        let from_rotp = tokio.block_on(rotp_client(&rotp))?;
        ratios.0.push(mixed / base);
        ratios.1.push(from_rotp / base);
        println!(
            "{:<6} {:>14.1} {:>26} {:>26}",
            r + 1,
            base,
            format!("{mixed:.1} ({})", rotp_bench::ratio(mixed, base)),
            format!("{from_rotp:.1} ({})", rotp_bench::ratio(from_rotp, base)),
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    println!(
        "median ratio: erl client {:.2}x, rotp client {:.2}x",
        median(&mut ratios.0),
        median(&mut ratios.1)
    );
    Ok(())
}
