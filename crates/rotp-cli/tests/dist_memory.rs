//! A peer that leaves in the middle of large fragmented messages, again and again, against a
//! `rotp node` in a child process (so that its allocator is tuned as in production, by
//! `node::malloc`): the memory the unfinished messages held goes back to the system once the
//! connection closes, and while it lives the connection's allowance for unfinished messages
//! holds. The security review of 2026-12-07 (M13) saw the node's resident memory climb by
//! 40 MB with every repetition and never come down.

mod support;

#[path = "../../node/tests/support/raw.rs"]
#[allow(unused_imports)]
mod raw;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use etf::Atom;
use raw::{first_fragment, later_fragment, RawPeer};
use support::*;

const COOKIE: &str = "memcookie";

/// `rotp node --sname NAME` on the EPMD at `port`: the process, its node name and its
/// distribution port.
fn rotp_node(port: u16, name: &str) -> (Guard, Atom, u16) {
    let child = Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(["node", "--sname", name, "--cookie", COOKIE])
        .env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rotp node");
    let mut node = Guard(child);
    let mut banner = String::new();
    BufReader::new(node.0.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    // "rotp node NAME is up (distribution port N); Ctrl-C stops it"
    let dist_port = banner
        .split("distribution port ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no distribution port in {banner:?}"));
    let target = Atom::from(format!("{name}@{}", short_host()).as_str());
    (node, target, dist_port)
}

/// The child's resident memory in KiB (`VmRSS` of `/proc/PID/status`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The review's attack: 1000 first fragments of 64 KiB, 200 of 1 MiB, and one message of 300
/// later fragments of 64 KiB, none of them finished; then the peer leaves.
async fn leave_mid_fragments(port: u16, target: &Atom, round: u32) {
    let name = format!("frag{round}@127.0.0.1");
    let mut peer = RawPeer::connect(port, target, raw::config(&name, COOKIE)).await;
    let mut sequence = 1u64;
    for _ in 0..1000 {
        peer.send_raw(&first_fragment(sequence, 1000, 64 << 10))
            .await;
        sequence += 1;
    }
    for _ in 0..200 {
        peer.send_raw(&first_fragment(sequence, 1000, 1 << 20))
            .await;
        sequence += 1;
    }
    peer.send_raw(&first_fragment(sequence, 10_000, 64 << 10))
        .await;
    for id in (9_700..10_000).rev() {
        peer.send_raw(&later_fragment(sequence, id, 64 << 10)).await;
    }
    // Everything above was read and held once rex answers (a connection's packets are
    // handled in order).
    assert!(
        peer.round_trip(Duration::from_secs(60)).await,
        "round {round}: the node did not answer with the fragments held"
    );
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_of_unfinished_fragments_goes_back_when_the_peer_leaves() {
    let epmd_port = free_port();
    let _epmd = start_epmd(&otp_epmd(), epmd_port, &[]);
    let (node, target, port) = rotp_node(epmd_port, "rotp_mem");
    let pid = node.0.id();
    // One ordinary peer first, so that what a connection costs once is in the baseline.
    let mut warm = RawPeer::connect(port, &target, raw::config("warm@127.0.0.1", COOKIE)).await;
    assert!(warm.round_trip(Duration::from_secs(20)).await);
    drop(warm);
    let start = rss_kib(pid);
    eprintln!("resident at the start: {start} KiB");
    for round in 1..=5 {
        leave_mid_fragments(port, &target, round).await;
        let peak = rss_kib(pid);
        assert!(
            peak > start + 100 * 1024,
            "round {round}: the fragments held only {peak} KiB (from {start} KiB)"
        );
        // Back within 8 MB of the start, once the node has seen the peer go.
        let settled = harness::wait_until_async(
            "the node's memory to come back",
            Duration::from_secs(30),
            || async {
                let now = rss_kib(pid);
                (now <= start + 8 * 1024).then_some(now)
            },
        )
        .await;
        eprintln!("round {round}: {peak} KiB with the fragments held, {settled} KiB after");
    }
    // And the node still answers a new peer.
    let mut after = RawPeer::connect(port, &target, raw::config("after@127.0.0.1", COOKIE)).await;
    assert!(after.round_trip(Duration::from_secs(20)).await);
}
