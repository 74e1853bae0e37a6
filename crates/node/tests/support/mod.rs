//! A real EPMD on a free port, rotp nodes and `erl` nodes registered with it.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::Duration;

use dist::Cookie;
use etf::Atom;
// Not every test file uses every piece.
#[allow(unused_imports)]
pub use harness::{free_port, otp_epmd, short_host, start_epmd, start_erl, Guard};
use rotp_node::name::NameKind;
pub mod global;
pub mod raw;

use rotp_node::{Node, NodeConfig};

/// OTP's epmd on a free port.
pub fn epmd() -> (Guard, u16) {
    let port = free_port();
    (start_epmd(&otp_epmd(), port, &[]), port)
}

/// Logs to the test's output when `RUST_LOG` asks for it.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A rotp node with a short name on the EPMD at `epmd_port`.
pub async fn rotp_node(name: &str, cookie: &str, epmd_port: u16) -> Node {
    rotp_node_with(name, cookie, epmd_port, |_| {}).await
}

/// [`rotp_node`] with its configuration changed by `tweak` first (hidden, ticks, TLS…).
pub async fn rotp_node_with(
    name: &str,
    cookie: &str,
    epmd_port: u16,
    tweak: impl FnOnce(&mut NodeConfig),
) -> Node {
    init_logging();
    let mut config = NodeConfig::new(name, NameKind::Short, Cookie::new(cookie));
    config.epmd_port = epmd_port;
    tweak(&mut config);
    Node::start(config).await.expect("rotp node starts")
}

/// `name@thishost`.
pub fn node_name(name: &str) -> Atom {
    Atom::from(format!("{name}@{}", short_host()).as_str())
}

/// Runs `erl -sname NAME -setcookie COOKIE -noshell -eval EVAL` to the end and returns its
/// standard output (bounded: killed after 60 s).
pub async fn erl_eval(name: &str, cookie: &str, epmd_port: u16, eval: &str) -> String {
    erl_eval_args(name, cookie, epmd_port, eval, &[]).await
}

/// [`erl_eval`] with extra `erl` arguments.
pub async fn erl_eval_args(
    name: &str,
    cookie: &str,
    epmd_port: u16,
    eval: &str,
    extra: &[&str],
) -> String {
    let mut cmd = Command::new("erl");
    cmd.args(["-sname", name, "-setcookie", cookie, "-noshell"])
        .args(extra)
        .args(["-eval", eval])
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("erl");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("erl finishes within 60 s")
    .expect("join")
    .expect("erl output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !stderr.trim().is_empty() {
        eprintln!("erl {name} stderr: {stderr}");
    }
    stdout
}

/// Waits (bounded) until EPMD at `port` knows `name`.
pub async fn wait_registered(port: u16, name: &str) {
    let client = net::epmd::Client::localhost(port);
    for _ in 0..400 {
        if let Ok(Some(_)) = client.port_please(name).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never registered with EPMD");
}

/// Polls `check` every 50 ms until it holds or `within` has passed: whether it held.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Evaluates Erlang expressions on the erl node `on`, through `via`'s rpc (`erl_scan`,
/// `erl_parse`, `erl_eval` there): the value of the last one, or the `{badrpc, _}`.
pub async fn erl_run(via: &Node, on: &Atom, code: &str) -> etf::Term {
    use etf::Term;
    let long = Duration::from_secs(60);
    let chars = Term::List(code.chars().map(|c| Term::Integer(c as i64)).collect());
    let scanned = via.rpc(on, "erl_scan", "string", vec![chars], long).await;
    let Term::Tuple(s) = &scanned else {
        return scanned;
    };
    let parsed = via
        .rpc(on, "erl_parse", "parse_exprs", vec![s[1].clone()], long)
        .await;
    let Term::Tuple(p) = &parsed else {
        return parsed;
    };
    if p[0].as_atom() != Some("ok") {
        return parsed;
    }
    let value = via
        .rpc(on, "erl_eval", "exprs", vec![p[1].clone(), Term::NIL], long)
        .await;
    match value {
        Term::Tuple(v) if v.len() == 3 && v[0].as_atom() == Some("value") => v[1].clone(),
        other => other,
    }
}
