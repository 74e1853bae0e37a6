//! OTP's epmd against ours under the same load, in one run: several client threads, each
//! request on a fresh TCP connection as real nodes make them, nine `PORT_PLEASE2_REQ` to one
//! `NAMES_REQ`, against ten registered names. Prints requests/s, p50 and p99 for both, and the
//! ratios. Rounds alternate between the daemons so drift in the machine's load hits both.
//!
//! `cargo build --release -p rotp-cli --bin epmd && cargo run --release -p rotp-bench --bin epmd-load`

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use epmd::msg::{NodeInfo, Request};
use harness::Guard;

#[derive(Parser)]
struct Args {
    /// Client threads.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Seconds of load per round per daemon.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Rounds (each runs both daemons once).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Our epmd binary (default: `epmd` beside this program, i.e. target/release/epmd).
    #[arg(long)]
    ours: Option<PathBuf>,
}

/// CPU time (user + system) the process has used, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the state field.
    let ticks = fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// Starts a daemon with ten registered nodes, held open for the whole run.
fn start(binary: &Path, port: u16) -> Result<(Guard, Vec<TcpStream>)> {
    let daemon = harness::start_epmd(binary, port, &[]);
    let mut nodes = Vec::new();
    for n in 0..10 {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.write_all(&Request::Alive2(NodeInfo::new(&format!("node{n}"), 20000 + n)).encode()?)?;
        let mut reply = [0u8; 6];
        s.read_exact(&mut reply)?;
        nodes.push(s);
    }
    Ok((daemon, nodes))
}

/// One request on a fresh connection from `source`; its latency.
fn one(port: u16, source: Ipv4Addr, request: &[u8]) -> std::io::Result<Duration> {
    let started = Instant::now();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source.into(), 0).into())?;
    socket.connect(&SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port).into())?;
    let mut stream: TcpStream = socket.into();
    stream.write_all(request)?;
    let mut reply = Vec::with_capacity(512);
    stream.read_to_end(&mut reply)?;
    if reply.is_empty() {
        return Err(std::io::Error::other("empty reply"));
    }
    Ok(started.elapsed())
}

struct Round {
    cpu: Duration,
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn load(port: u16, threads: usize, seconds: u64) -> Round {
    let requests: Vec<Vec<u8>> = (0..10)
        .map(|i| match i {
            9 => Request::Names.encode(),
            n => Request::Port2(format!("node{n}").into_bytes()).encode(),
        })
        .collect::<Result<_, _>>()
        .expect("short names fit EPMD's lengths");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let requests = &requests;
                scope.spawn(move || {
                    // Spread clients over loopback source addresses so TIME_WAIT pairs do not pile up.
                    let source = Ipv4Addr::new(127, 0, 1, 1 + t as u8);
                    let (mut lat, mut errors, mut i) = (Vec::new(), 0, 0usize);
                    while Instant::now() < deadline {
                        match one(port, source, &requests[i % 10]) {
                            Ok(d) => lat.push(d),
                            Err(_) => errors += 1,
                        }
                        i += 1;
                    }
                    (lat, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = results
        .iter()
        .flat_map(|(l, _)| l.iter().copied())
        .collect();
    latencies.sort();
    Round {
        cpu: Duration::ZERO,
        requests: latencies.len(),
        errors: results.iter().map(|(_, e)| e).sum(),
        elapsed,
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<()> {
    let args = Args::parse();
    println!("{}", rotp_bench::machine());
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let ours = match args.ours {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("epmd"),
    };
    if !ours.exists() {
        bail!(
            "{} not found: cargo build --release -p rotp-cli --bin epmd",
            ours.display()
        );
    }
    let theirs = rotp_bench::otp_epmd();
    let mut totals = [
        (0usize, 0usize, Duration::ZERO, Vec::new()),
        (0, 0, Duration::ZERO, Vec::new()),
    ];
    let mut cpu = [Duration::ZERO; 2];
    for _ in 0..args.rounds {
        for (side, binary) in [(0, &theirs), (1, &ours)] {
            let port = harness::free_port();
            let (daemon, _nodes) = start(binary, port)?;
            let before = cpu_time(daemon.0.id());
            let mut r = load(port, args.threads, args.seconds);
            r.cpu = cpu_time(daemon.0.id()) - before;
            let t = &mut totals[side];
            t.0 += r.requests;
            t.1 += r.errors;
            t.2 += r.elapsed;
            t.3.extend(r.latencies);
            cpu[side] += r.cpu;
        }
    }
    println!(
        "epmd: {} client threads, fresh connection per request, 9 PORT_PLEASE2 : 1 NAMES, {} rounds x {} s per daemon",
        args.threads, args.rounds, args.seconds
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>8} {:>14}",
        "", "req/s", "p50 us", "p99 us", "errors", "daemon CPU us/req"
    );
    let mut rates = [0.0; 2];
    let mut p99s = [Duration::ZERO; 2];
    for (side, name) in [(0, "OTP epmd"), (1, "rotp epmd")] {
        let t = &mut totals[side];
        t.3.sort();
        rates[side] = t.0 as f64 / t.2.as_secs_f64();
        p99s[side] = percentile(&t.3, 0.99);
        println!(
            "{:<10} {:>10.0} {:>10} {:>10} {:>8} {:>14.1}",
            name,
            rates[side],
            percentile(&t.3, 0.50).as_micros(),
            p99s[side].as_micros(),
            t.1,
            cpu[side].as_secs_f64() * 1e6 / t.0.max(1) as f64
        );
    }
    println!(
        "ratio (rotp / OTP): requests/s {}, p99 {}",
        rotp_bench::ratio(rates[1], rates[0]),
        rotp_bench::ratio(p99s[1].as_secs_f64(), p99s[0].as_secs_f64())
    );
    Ok(())
}
