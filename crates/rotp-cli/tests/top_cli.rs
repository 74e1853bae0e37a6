//! `rotp top --once` against a real erl node and a rotp node, on a real EPMD on a free port:
//! the JSON snapshot names the node's registered processes and its memory, as observer_cli's
//! collectors read them.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn epmd() -> (Guard, u16) {
    let port = free_port();
    (start_epmd(&otp_epmd(), port, &[]), port)
}

fn top(port: u16, node: &str, format: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args([
            "top",
            node,
            "--once",
            "--format",
            format,
            "--cookie",
            "topcookie",
        ])
        .env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE")
        .stdin(Stdio::null())
        .output()
        .expect("rotp runs")
}

/// The snapshot of `node`, retried (bounded) while the node is still starting.
fn snapshot(port: u16, node: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = top(port, node, "json");
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).expect("top prints JSON");
        }
        assert!(
            Instant::now() < deadline,
            "top never answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn registered(s: &serde_json::Value) -> Vec<String> {
    s["registered"]
        .as_array()
        .expect("registered is a list")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn top_once_lists_an_erl_nodes_registered_processes_and_memory() {
    let (_epmd, port) = epmd();
    let _erl = start_erl("top_erl", "topcookie", port, "timer:sleep(infinity).");
    let target = format!("top_erl@{}", short_host());
    let s = snapshot(port, &target);
    assert_eq!(s["node"], target.as_str());
    assert_eq!(s["otp_release"], "25");
    let names = registered(&s);
    for name in ["code_server", "kernel_sup", "rex", "global_name_server"] {
        assert!(names.contains(&name.to_string()), "{name} in {names:?}");
    }
    // Each registered name is on its process in the process list.
    let processes = s["processes"].as_array().expect("processes");
    assert!(processes.len() as i64 >= s["process_count"].as_i64().unwrap_or(0) - 5);
    assert!(processes
        .iter()
        .any(|p| p["registered_name"] == "code_server" && p["memory"].as_i64() > Some(0)));
    assert!(s["memory"]["total"].as_i64() > Some(1_000_000));
    // The table says the same for people.
    let table = top(port, &target, "table");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.status.success() && text.contains("code_server"),
        "{text}"
    );
}

#[test]
fn top_once_reads_a_rotp_node_and_fails_in_one_sentence_for_a_missing_one() {
    let (_epmd, port) = epmd();
    let mut node = Guard(
        Command::new(env!("CARGO_BIN_EXE_rotp"))
            .args(["node", "--sname", "top_rotp", "--cookie", "topcookie"])
            .env("ERL_EPMD_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("rotp node"),
    );
    let mut banner = String::new();
    BufReader::new(node.0.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let target = format!("top_rotp@{}", short_host());
    let s = snapshot(port, &target);
    let names = registered(&s);
    for name in ["rex", "net_kernel", "global_name_server"] {
        assert!(names.contains(&name.to_string()), "{name} in {names:?}");
    }
    assert!(s["system_version"]
        .as_str()
        .unwrap_or("")
        .starts_with("rotp"));
    // A node nobody runs: one clear sentence, non-zero.
    let missing = top(port, &format!("nobody@{}", short_host()), "json");
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.lines().count() <= 2 && !err.contains("panicked"),
        "{err}"
    );
}
