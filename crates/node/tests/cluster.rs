//! A rotp node in a cluster of three erl nodes (full mesh, `global` running with OTP 25's
//! defaults and every node registering a global name), with a short `net_ticktime` so ticks and their timeouts are exercised many
//! times: everybody stays connected, and no erl logs an error or warning while they run.
//! The full bar — 10 minutes with OTP 25's default tick time — is the ignored test
//! below: `cargo test -p rotp-node --test cluster -- --ignored` (its last result is in
//! BENCHMARKS.md, "Soak").

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotp_node_stays_in_an_erl_cluster_quietly() {
    stays_in_an_erl_cluster(Some(4), Duration::from_secs(20)).await;
}

/// The bar: three erl nodes with OTP 25's defaults (`net_ticktime` 60 s), 10 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs for 10 minutes"]
async fn a_rotp_node_stays_in_an_erl_cluster_for_ten_minutes() {
    stays_in_an_erl_cluster(None, Duration::from_secs(600)).await;
}

/// Three erl nodes and a rotp node in a full mesh for `run`, `net_ticktime` `ticktime`
/// seconds (OTP's default when `None`) on every node.
async fn stays_in_an_erl_cluster(ticktime: Option<u64>, run: Duration) {
    let (_epmd, port) = epmd();
    let node = rotp_node_with("rotp_mesh", "mesh", port, |c| {
        if let Some(t) = ticktime {
            c.ticktime = Duration::from_secs(t);
        }
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
            "timer:sleep(1000), [net_adm:ping(N) || N <- [{}]], \
             yes = global:register_name({{mesh, node()}}, self()), timer:sleep({}), \
             io:format(\"~p~n\", [lists:sort(nodes())]), timer:sleep(5000), halt().",
            all.join(", "),
            run.as_millis()
        );
        let tick: Vec<String> = ticktime
            .map(|t| vec!["-kernel".into(), "net_ticktime".into(), t.to_string()])
            .unwrap_or_default();
        let child = Command::new("erl")
            .args(["-sname", name, "-setcookie", "mesh", "-noshell"])
            .args(&tick)
            .args(["-eval", &eval])
            .env("ERL_EPMD_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        erls.push(child);
    }
    // Through the run, over several tick periods: connected to all three.
    let checks = 4;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // global answers: the erl nodes' names reach rotp, and rotp's reach them.
    let own = node.runtime().spawn(|mut ctx| async move {
        loop {
            let _ = ctx.recv().await;
        }
    });
    let key = etf::Term::Tuple(vec![
        etf::Term::atom("mesh"),
        etf::Term::Atom(node.name().clone()),
    ]);
    assert!(node.global().register_name(key, &own).await);
    for _ in 0..checks {
        tokio::time::sleep(run / (checks + 1)).await;
        assert_eq!(node.nodes(false).len(), 3, "{:?}", node.nodes(true));
        assert_eq!(node.global().registered_names().len(), 4);
    }
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
