//! The same programs written with rotp and with its Rust peers, ractor and kameo, for the
//! `peers` bench and `docs/comparison.md`: (1) a supervised counter that crashes and is
//! restarted, (2) a three-stage pipeline with bounded demand, (3) a server an erl node calls
//! (rotp only: neither peer speaks Erlang distribution).
//!
//! Each program is written as its framework's own docs and examples write one; the bench
//! drives them through the small `start` functions they export and counts their lines with
//! [`code_lines`].

pub mod kameo;
pub mod ractor;
pub mod rotp;

use std::io::Read;
use std::time::Duration;

use anyhow::{Context as _, Result};
use dist::Cookie;
use harness::{free_port, otp_epmd, start_epmd, start_erl};
use node::name::NameKind;
use node::NodeConfig;

/// The program files, as `(framework, program, path from the bench crate's root)`.
pub const PROGRAMS: &[(&str, &str, &str)] = &[
    ("rotp", "counter", "src/peers/rotp/counter.rs"),
    ("ractor", "counter", "src/peers/ractor/counter.rs"),
    ("kameo", "counter", "src/peers/kameo/counter.rs"),
    ("rotp", "pipeline", "src/peers/rotp/pipeline.rs"),
    ("ractor", "pipeline", "src/peers/ractor/pipeline.rs"),
    ("kameo", "pipeline", "src/peers/kameo/pipeline.rs"),
    ("rotp", "server", "src/peers/rotp/server.rs"),
];

/// Lines of code in Rust `source`: neither blank nor only a comment (`//`, `///`, `//!`, and
/// the lines of `/* … */` blocks).
pub fn code_lines(source: &str) -> usize {
    let mut in_block = false;
    source
        .lines()
        .map(str::trim)
        .filter(|line| {
            if in_block {
                in_block = !line.contains("*/");
                return false;
            }
            if line.starts_with("/*") {
                in_block = !line.contains("*/");
                return false;
            }
            !line.is_empty() && !line.starts_with("//")
        })
        .count()
}

/// Program 3 against a real erl: an EPMD on a free port, [`rotp::server`]'s application on a
/// rotp node, and an `erl -sname` node evaluating `eval` with `S` bound to the
/// counter (`{counter, RotpNode}`). Returns what erl printed, once it halted (bounded: 120 s).
pub async fn erl_calls_the_server(eval: &str) -> Result<String> {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    harness::wait_listening(port);
    let mut config = NodeConfig::new("rotp_peers", NameKind::Short, Cookie::new("peers"));
    config.epmd_port = port;
    let node_name = format!("rotp_peers@{}", harness::short_host());
    let app = tokio::spawn(rotp::server::application().node(config).run_async());
    let out = erl_client(port, &node_name, eval).await;
    if app.is_finished() {
        anyhow::bail!("the application ended: {:?}", app.await);
    }
    app.abort();
    out
}
/// The same counter in Erlang — a `gen_server` under a `one_for_one` supervisor allowing 3
/// restarts in 5 s, as Elixir's and rotp's default does (OTP's is 1) — for the
/// reference figure: erl calling erl as [`erl_calls_the_server`] has erl call rotp.
const ERL_COUNTER: &str = r#"
-module(peers_counter).
-export([start/0, init/1, handle_call/3, handle_cast/2]).
start() -> supervisor:start_link({local, counter_sup}, ?MODULE, sup).
init(sup) ->
    Child = #{id => counter, start => {gen_server, start_link, [{local, counter}, ?MODULE, server, []]}},
    {ok, {#{strategy => one_for_one, intensity => 3, period => 5}, [Child]}};
init(server) -> {ok, 0}.
handle_call({inc, K}, _, N) -> {reply, N + K, N + K};
handle_call(get, _, N) -> {reply, N, N};
handle_call(boom, _, N) -> {stop, boom, N}.
handle_cast(_, N) -> {noreply, N}.
"#;

/// [`erl_calls_the_server`] with the counter on a second erl node instead of a rotp node. Its
/// logger is off, as rotp's is without a tracing subscriber: erl's crash and supervisor reports
/// would otherwise be formatted on every crash (about 4 ms of each restart here).
pub async fn erl_calls_an_erl_server(eval: &str) -> Result<String> {
    let dir = std::env::temp_dir().join(format!("rotp-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("peers_counter.erl"), ERL_COUNTER)?;
    let status = std::process::Command::new("erlc")
        .current_dir(&dir)
        .arg("peers_counter.erl")
        .status()
        .context("erlc")?;
    anyhow::ensure!(status.success(), "erlc failed");
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    harness::wait_listening(port);
    let serve = format!(
        "logger:set_primary_config(level, none), code:add_patha(\"{}\"), \
         {{ok, _}} = peers_counter:start(), receive never -> ok end.",
        dir.display()
    );
    let _server = start_erl("erl_peers_server", "peers", port, &serve);
    let node_name = format!("erl_peers_server@{}", harness::short_host());
    let out = erl_client(port, &node_name, eval).await;
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// Runs `eval` on an `erl -sname erl_peers` node with `S` bound to `{counter, node_name}`,
/// once that counter answers (bounded: 10 s); what erl printed by the time it halted.
async fn erl_client(port: u16, node_name: &str, eval: &str) -> Result<String> {
    // erl waits (bounded) for the node and its counter, then runs `eval`.
    let eval = format!(
        "S = {{counter, '{node_name}'}}, \
         Up = fun W(0) -> halt(3); W(K) -> case catch gen_server:call(S, get) of \
         0 -> ok; _ -> timer:sleep(50), W(K - 1) end end, Up(200), {eval}"
    );
    let mut erl = start_erl("erl_peers", "peers", port, &eval);
    let mut stdout = erl.0.stdout.take().context("erl's output")?;
    let read = tokio::task::spawn_blocking(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let out = tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .context("erl did not halt within 120 s")??;
    drop(erl);
    Ok(out?)
}

#[cfg(test)]
mod tests {
    use super::code_lines;

    #[test]
    fn comments_and_blank_lines_do_not_count() {
        let source =
            "//! doc\n\n/// item\nfn f() {}\n  // note\n/* a\n b */\nlet x = 1; // trailing\n";
        assert_eq!(code_lines(source), 2);
    }
}
