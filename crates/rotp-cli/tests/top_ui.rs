//! The interactive `rotp top` under a pseudo-terminal (rexpect, sized with stty) against a real
//! erl node on a real EPMD: the screen lists the node's processes, the filter finds one, and
//! `x` then `y` kills it on the node.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::pty::Pty;
use support::*;

const COOKIE: &str = "topuicookie";

fn rotp(port: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rotp"));
    c.env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE");
    c
}

/// `erlang:whereis(Name)` on `node`, as `rotp rpc` prints it.
fn whereis(port: u16, node: &str, name: &str) -> String {
    let out = rotp(port)
        .args([
            "rpc",
            node,
            "erlang",
            "whereis",
            &format!("[{name}]"),
            "--cookie",
            COOKIE,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("rotp rpc runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn top_lists_filters_and_kills_an_erl_nodes_process() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let _erl = start_erl(
        "topui_erl",
        COOKIE,
        port,
        "register(top_victim, spawn(fun() -> receive after infinity -> ok end end)), \
         timer:sleep(infinity).",
    );
    let target = format!("topui_erl@{}", short_host());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !whereis(port, &target, "top_victim").starts_with('<') {
        assert!(Instant::now() < deadline, "the erl node never came up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut p = Pty::spawn(
        env!("CARGO_BIN_EXE_rotp"),
        &["top", &target, "--cookie", COOKIE, "--interval", "500"],
        &[("ERL_EPMD_PORT", port.to_string())],
        50,
        160,
    );
    p.expect("uptime", "the summary");
    p.expect("code_server", "the process table");
    p.keys("/top_victim\r");
    p.expect("1 processes matching", "the filter applied");
    p.keys("x");
    p.expect("y to confirm", "the confirmation");
    p.keys("y");
    p.expect("killed", "the kill reported");
    assert_eq!(whereis(port, &target, "top_victim"), "undefined");
    // The supervision trees: kernel's top supervisor and its children.
    p.keys("t");
    p.expect("supervision trees", "the trees' popup");
    p.expect("net_kernel", "kernel_sup's tree");
    p.keys(" ");
    p.keys("q");
    assert!(p.wait().success(), "rotp top exits 0 on q");
}

#[test]
fn top_ends_in_one_sentence_and_non_zero_when_its_node_goes_down() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let erl = start_erl("topui_drop", COOKIE, port, "timer:sleep(infinity).");
    let target = format!("topui_drop@{}", short_host());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !whereis(port, &target, "code_server").starts_with('<') {
        assert!(Instant::now() < deadline, "the erl node never came up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut p = Pty::spawn(
        env!("CARGO_BIN_EXE_rotp"),
        &["top", &target, "--cookie", COOKIE, "--interval", "300"],
        &[("ERL_EPMD_PORT", port.to_string())],
        50,
        160,
    );
    p.expect("code_server", "the process table");
    // The node goes away mid-session.
    drop(erl);
    p.expect(
        &format!("lost the connection to {target}"),
        "the one sentence",
    );
    assert_eq!(
        p.wait().code(),
        Some(2),
        "rotp top exits non-zero, as for its other errors"
    );
}
