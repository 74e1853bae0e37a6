//! Shared pieces of rotp's benchmarks: the term corpus, finding OTP's programs, timing.
//!
//! Every benchmark runs the Rust side and the Erlang side of the same scenario in one run and
//! prints both and their ratio: this machine is noisy, so only ratios taken together mean much.

#![forbid(unsafe_code)]

use std::process::Command;

pub mod peers;

use anyhow::{bail, Context, Result};
use etf::Term;

/// The mixed term set the codec benchmarks use, as Erlang text: small integers, big integers,
/// floats, atoms, binaries, strings, nested tuples, lists and maps, pids and references — the
/// shapes distribution messages carry.
pub const MIXED_TERMS: &[&str] = &[
    "{ok, 42}",
    "{error, {badarg, [{lists, map, 2, [{file, \"lists.erl\"}, {line, 1325}]}]}}",
    "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100000, -5, 1234567890123]",
    "#{name => <<\"rotp\">>, version => {0, 1, 0}, tags => [fast, safe, erlang], score => 9.75}",
    "{'$gen_call', {<0.80.0>, #Ref<0.1.2.3>}, {get, <<\"key-0001\">>}}",
    "\"a charlist that is sent as STRING_EXT by term_to_binary\"",
    "[{user, 1, <<\"alice\">>, 3.5}, {user, 2, <<\"bob\">>, 4.25}, {user, 3, <<\"carol\">>, 1.0e-3}]",
    "{1.5, -2.25, 3.141592653589793, 2.718281828459045, 6.02214076e23}",
    "<<0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31>>",
    "[a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t, u, v, w, x, y, z]",
    "#{1 => {a, [1, 2]}, 2 => {b, [3, 4]}, 3 => {c, #{nested => true}}, 4 => {d, []}}",
    "{deep, {deeper, {deepest, [{x, 1}, {y, 2}, {z, [<<\"leaf\">>]}]}}}",
    "123456789012345678901234567890",
];

/// Each corpus term, parsed, repeated so the set is big enough to time.
pub fn mixed_terms(copies: usize) -> Result<Vec<Term>> {
    let one: Vec<Term> = MIXED_TERMS
        .iter()
        .map(|t| etf::text::parse(t).with_context(|| format!("corpus term {t}")))
        .collect::<Result<_>>()?;
    Ok((0..copies).flat_map(|_| one.iter().cloned()).collect())
}

pub use harness::{otp_epmd, otp_root};

/// Runs an Erlang expression with `erl -noshell` and returns what it printed.
pub fn erl_eval(expr: &str) -> Result<String> {
    let out = Command::new("erl")
        .args(["-noshell", "-eval", expr])
        .output()
        .context("running erl")?;
    if !out.status.success() {
        bail!("erl failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `a / b` as a ratio string.
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "n/a".to_owned()
    } else {
        format!("{:.2}x", a / b)
    }
}

/// The machine a benchmark runs on, in one line: CPU model, cores, kernel, OTP. Figures from
/// different machines are not to be compared, so every benchmark prints this first.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
    let otp = erl_eval(
        "io:format(\"~s (erts ~s)\", [erlang:system_info(otp_release), erlang:system_info(version)]), halt().",
    )
    .unwrap_or_else(|_| "no erl".to_owned());
    format!("machine: {model}, {cores} cores, Linux {kernel}, OTP {otp}")
}

/// The integers 0..n, as a GenStage producer makes them when asked: the first stage of the
/// GenStage benches (`stage-vs-erl`, `stage-node-vs-erl`). To another node they go as integers.
pub struct Numbers(pub i64);

impl otp::gen_stage::GenStage for Numbers {
    type Args = ();
    type State = i64;
    type In = ();
    type Out = i64;

    fn event_to_term(event: i64) -> Option<Term> {
        Some(Term::Integer(event))
    }

    async fn init(&self, _: (), _: &mut runtime::Context) -> otp::gen_stage::Init<i64, i64> {
        otp::gen_stage::Init::Producer(0, otp::gen_stage::ProducerOptions::default())
    }

    async fn handle_demand(
        &self,
        demand: usize,
        next: &mut i64,
        _: &mut runtime::Context,
    ) -> otp::gen_stage::Return<i64> {
        let k = (demand as i64).min(self.0 - *next);
        let events = (*next..*next + k).collect();
        *next += k;
        otp::gen_stage::Return::NoReply(events)
    }
}

/// How a two-node benchmark lays its nodes on the CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cores {
    /// Node A on CPU 0, node B on CPU 1, each alone there, as on two machines: neither node's
    /// schedulers (or spinning readers) take the other's core. Both the BEAM pair and the rotp
    /// pair run so; a BEAM node on one CPU starts one scheduler, a rotp node one worker.
    OnePerNode,
    /// Both nodes on every CPU, left to the OS scheduler.
    Shared,
}

impl Cores {
    /// [`Cores::OnePerNode`] unless `shared` is asked or it cannot be had (fewer than two CPUs,
    /// or no `taskset(1)`), saying why on stderr.
    pub fn choose(shared: bool) -> Cores {
        if shared {
            return Cores::Shared;
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let taskset = Command::new("taskset")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if cpus >= 2 && taskset {
            Cores::OnePerNode
        } else {
            eprintln!("one CPU per node needs two CPUs and taskset(1): the nodes share the CPUs");
            Cores::Shared
        }
    }

    /// Puts this process (every thread it has, and every thread and child it starts later) on
    /// node A's CPU. Call it before the async runtime is built, so that it sizes itself to it.
    pub fn pin_node_a(self) -> Result<()> {
        if self == Cores::Shared {
            return Ok(());
        }
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .context("running taskset")?;
        anyhow::ensure!(
            status.success(),
            "taskset could not pin this process to CPU 0"
        );
        Ok(())
    }

    /// A command for node B's program: on CPU 1 alone, or as it is.
    pub fn node_b(self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match self {
            Cores::Shared => Command::new(program),
            Cores::OnePerNode => {
                let mut c = Command::new("taskset");
                c.args(["-c", "1"]).arg(program);
                c
            }
        }
    }

    /// The layout in words, for the benchmark's output.
    pub fn describe(self) -> &'static str {
        match self {
            Cores::OnePerNode => "node A on CPU 0, node B on CPU 1 (one CPU per node)",
            Cores::Shared => "both nodes on every CPU (shared)",
        }
    }
}
