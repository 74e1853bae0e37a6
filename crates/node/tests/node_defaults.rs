//! A program that sets nothing up behaves as `erl -sname` does: the `counter` example (a node
//! from `NodeConfig::sname`, a supervised GenServer, no logging set up) starts `epmd -daemon`
//! on a port where none answers, an erl node calls it, and a crash prints erl's error, crash
//! and supervisor reports on standard error. A node told to serve its own EPMD
//! (`EpmdProgram::InProcess`) is joined by erl the same way.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::free_port;
use rotp_node::EpmdProgram;
use support::*;

/// Stops the EPMD daemon a node started on `0` (`epmd -kill`) when dropped.
struct KillEpmd(u16);

impl Drop for KillEpmd {
    fn drop(&mut self) {
        let _ = Command::new("epmd")
            .arg("-kill")
            .env("ERL_EPMD_PORT", self.0.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Kills the example when dropped.
struct Program(std::process::Child);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/<profile>/examples/counter`, which `cargo test` builds beside this test.
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("this test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test -p rotp-node` builds it (or `cargo build -p rotp-node --example {name}`)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_example_starts_epmd_and_prints_erls_reports() {
    let port = free_port();
    let _epmd = KillEpmd(port);
    let mut program = Program(
        Command::new(example("counter"))
            .env("ERL_EPMD_PORT", port.to_string())
            .env("RELEASE_COOKIE", "counterdefaults")
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example runs"),
    );
    // No EPMD answered on the port: the node started one and registered with it.
    wait_registered(port, "counter").await;
    let target = node_name("counter");
    let out = erl_eval(
        "erl_counter",
        "counterdefaults",
        port,
        &format!(
            "S = {{counter, '{target}'}}, \
             io:format(\"~p~n\", [gen_server:call(S, inc)]), \
             io:format(\"~p~n\", [gen_server:call(S, inc)]), \
             {{'EXIT', {{Reason, _}}}} = (catch gen_server:call(S, boom)), \
             io:format(\"~p~n\", [Reason]), \
             Get = fun G(0) -> never_restarted; \
                       G(K) -> case catch gen_server:call(S, get) of \
                                   N when is_integer(N) -> N; \
                                   _ -> timer:sleep(50), G(K - 1) end end, \
             io:format(\"~p~n\", [Get(100)]), halt()."
        ),
    )
    .await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["1", "2", "{panic,<<\"boom\">>}", "0"],
        "{out}"
    );
    // The reports are written when the crash happens, before the restart erl saw.
    let _ = program.0.kill();
    let _ = program.0.wait();
    let mut stderr = String::new();
    program
        .0
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("the example's standard error");
    for expected in [
        "=ERROR REPORT==== ",
        "** Generic server counter terminating",
        "** {panic,<<\"boom\">>}",
        "=CRASH REPORT==== ",
        "    registered_name: counter",
        "    exception exit: {panic,<<\"boom\">>}",
        "=SUPERVISOR REPORT==== ",
        "    supervisor: {local,counter_sup}",
        "    errorContext: child_terminated",
        "    reason: {panic,<<\"boom\">>}",
    ] {
        assert!(stderr.contains(expected), "no {expected:?} in:\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_joins_a_node_that_serves_its_own_epmd() {
    let port = free_port();
    let node = rotp_node_with("rotp_own_epmd", "ownepmd", port, |c| {
        c.epmd_program = Some(EpmdProgram::InProcess);
    })
    .await;
    let target = node.name().to_string();
    // erl finds the rotp node through the EPMD it serves, and registers there too.
    let out = erl_eval(
        "erl_own_epmd",
        "ownepmd",
        port,
        &format!("io:format(\"~p~n\", [net_adm:ping('{target}')]), halt()."),
    )
    .await;
    assert_eq!(out.trim(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_epmd_program_a_node_does_not_start_one() {
    let port = free_port();
    let mut config = rotp_node::NodeConfig::new(
        "rotp_no_epmd",
        rotp_node::name::NameKind::Short,
        dist::Cookie::new("noepmd"),
    );
    config.epmd_port = port;
    config.epmd_program = None;
    let started = tokio::time::timeout(Duration::from_secs(60), rotp_node::Node::start(config))
        .await
        .expect("the start ends");
    assert!(
        matches!(started, Err(rotp_node::StartError::NoEpmd { port: p, .. }) if p == port),
        "{:?}",
        started.err()
    );
}
