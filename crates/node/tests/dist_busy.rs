//! A peer that stops reading: it may slow down only the processes that send to it (erts
//! suspends them on `busy_dist_port`), never the node's other connections or its services; it
//! is dropped once it has said nothing for `net_ticktime`, even while we are stuck writing to
//! it; and what can pile up for it is bounded.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use etf::{Atom, Term};
use runtime::ExitReason;
use support::raw::{self, RawPeer};
use support::*;

const COOKIE: &str = "busy";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_floods_and_never_reads_slows_only_itself() {
    let (_epmd, epmd_port) = epmd();
    let node = rotp_node_with("rotp_busy", COOKIE, epmd_port, |c| {
        c.ticktime = Duration::from_secs(8);
    })
    .await;
    // A call whose answer is a few hundred bytes: 200 000 of them are far more than the
    // sockets between us hold, and less than the connection's hard limit.
    node.register_function(
        "flood",
        "reply",
        0,
        Arc::new(|_, _| Box::pin(async { Ok(Term::Binary(vec![7; 256].into())) })),
    );
    let target = node.name().clone();
    let port = node.listen_port().unwrap();
    let processes = node.runtime().processes().len();
    let threads = raw::threads();

    let mut flooder =
        RawPeer::connect(port, &target, raw::config("flooder@127.0.0.1", COOKIE)).await;
    let from = flooder.pid(1);
    let mut burst = Vec::new();
    for tag in 0..200_000 {
        let (control, call) = flooder.rex_call(&from, tag, "flood", "reply");
        burst.extend_from_slice(&flooder.packets(&control, Some(&call)));
        if burst.len() > 1 << 20 {
            flooder.send_raw(&burst).await;
            burst.clear();
        }
    }
    flooder.send_raw(&burst).await;
    let flooded = Instant::now();

    // The replies pile up: their senders wait, and nothing else does.
    let busy = eventually(Duration::from_secs(10), || {
        node.connections()
            .iter()
            .any(|c| c.node.as_str() == "flooder@127.0.0.1" && c.backlog > net::dist::BUSY_LIMIT)
    })
    .await;
    assert!(busy, "the flooder's connection never got busy");
    let out = erl_eval(
        "erl_bystander",
        COOKIE,
        epmd_port,
        &format!(
            "N = '{target}', T0 = erlang:monotonic_time(millisecond), \
             R = {{net_adm:ping(N), rpc:call(N, erlang, node, [], 5000), \
                  erpc:call(N, erlang, node, [], 5000)}}, \
             io:format(\"~p ~p~n\", [R, erlang:monotonic_time(millisecond) - T0 < 5000]), halt()."
        ),
    )
    .await;
    assert_eq!(
        out.trim(),
        format!("{{pong,{target},{target}}} true"),
        "{out}"
    );
    assert!(
        raw::threads() <= threads + 4,
        "{} threads, {threads} before",
        raw::threads()
    );
    assert!(node.runtime().whereis(&Atom::from("rex")).is_some());

    // The flooder says nothing more: it is dropped after net_ticktime although we are stuck
    // writing to it, and every waiting sender goes on.
    let gone = |name: &'static str| {
        let node = node.clone();
        move || !node.nodes(true).iter().any(|n| n.as_str() == name)
    };
    let left = Duration::from_secs(30).saturating_sub(flooded.elapsed());
    assert!(
        eventually(left, gone("flooder@127.0.0.1")).await,
        "the silent flooder was never dropped"
    );
    assert!(
        eventually(Duration::from_secs(10), || node.runtime().processes().len()
            <= processes)
        .await,
        "{} processes, {processes} before",
        node.runtime().processes().len()
    );
    drop(flooder);

    // A process sending 16 MiB messages to a peer that never reads, without ever waiting:
    // past the hard limit the connection is dropped, and its memory is given back.
    let sink = RawPeer::connect(port, &target, raw::config("sink@127.0.0.1", COOKIE)).await;
    let to = sink.pid(1);
    let rss = raw::resident_kib();
    let sent = node
        .in_process(move |ctx| async move {
            for _ in 0..40 {
                ctx.send(&to, Term::Binary(vec![1; 16 << 20].into()));
            }
            ExitReason::Normal
        })
        .await;
    assert!(sent.is_some());
    assert!(
        eventually(Duration::from_secs(5), gone("sink@127.0.0.1")).await,
        "the connection outlived its hard limit"
    );
    let grown = raw::resident_kib().saturating_sub(rss);
    assert!(
        grown < 200 << 10,
        "{grown} KiB more resident after the abort"
    );
    drop(sink);

    let out = erl_eval(
        "erl_after",
        COOKIE,
        epmd_port,
        &format!("io:format(\"~p~n\", [net_adm:ping('{target}')]), halt()."),
    )
    .await;
    assert_eq!(out.trim(), "pong");
}
