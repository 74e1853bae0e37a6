//! A rotp node in a cluster of three erl nodes (full mesh, `global` running with OTP 25's
//! defaults), with a short `net_ticktime` so ticks and their timeouts are exercised many
//! times: everybody stays connected, and no erl logs an error or warning while they run.
//! (The 10-minute run with default tick times is in BENCHMARKS.md's notes.)

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotp_node_stays_in_an_erl_cluster_quietly() {
    let (_epmd, port) = epmd();
    let node = rotp_node_with("rotp_mesh", "mesh", port, |c| {
        c.ticktime = Duration::from_secs(4)
    })
    .await;
    let names = ["erl_m_a", "erl_m_b", "erl_m_c"];
    let all: Vec<String> = names
        .iter()
        .map(|n| format!("'{}'", node_name(n)))
        .chain([format!("'{}'", node.name())])
        .collect();
    let mut erls = Vec::new();
    for name in names {
        let eval = format!(
            "timer:sleep(1000), [net_adm:ping(N) || N <- [{}]], timer:sleep(20000), \
             io:format(\"~p~n\", [lists:sort(nodes())]), timer:sleep(5000), halt().",
            all.join(", ")
        );
        let child = Command::new("erl")
            .args([
                "-sname",
                name,
                "-setcookie",
                "mesh",
                "-noshell",
                "-kernel",
                "net_ticktime",
                "4",
            ])
            .args(["-eval", &eval])
            .env("ERL_EPMD_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        erls.push(child);
    }
    // Mid-run, over several tick periods: connected to all three.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(node.nodes(false).len(), 3, "{:?}", node.nodes(true));
    let outputs = tokio::task::spawn_blocking(move || {
        erls.into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (name, out) in names.iter().zip(outputs) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let others: Vec<String> = all.iter().filter(|n| !n.contains(name)).cloned().collect();
        let mut expected: Vec<String> = others
            .iter()
            .map(|n| n.trim_matches('\'').to_owned())
            .collect();
        expected.sort();
        // The first line is the nodes list: nothing was logged before it. (After it the nodes
        // halt one by one, and global's partition prevention may warn then, as it does in a
        // cluster of erl nodes alone.)
        assert_eq!(
            stdout.lines().next(),
            Some(format!("[{}]", expected.join(",")).as_str()),
            "{name}: {stdout} {stderr}"
        );
        assert!(stderr.trim().is_empty(), "{name} logged: {stderr}");
    }
}
