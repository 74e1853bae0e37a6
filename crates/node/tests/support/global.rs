//! Helpers for the `global` tests: erl nodes driven by rpc, and what they see.

use std::time::Duration;

use etf::{Pid, Term};

use super::*;

/// A process that lives until killed.
pub fn sleeper(node: &rotp_node::Node) -> Pid {
    node.runtime().spawn(|mut ctx| async move {
        loop {
            let _ = ctx.recv().await;
        }
    })
}

pub fn name(text: &str) -> Term {
    etf::text::parse(text).expect("term")
}

/// Starts an erl node that waits to be driven by rpc, and waits until EPMD knows it.
pub async fn erl_node(name: &str, cookie: &str, port: u16) -> (Guard, etf::Atom) {
    let guard = start_erl(name, cookie, port, "timer:sleep(infinity).");
    wait_registered(port, name).await;
    (guard, node_name(name))
}

/// `global:whereis_name(Name)` as `on` sees it (by rpc from `via`).
pub async fn whereis_on(via: &rotp_node::Node, on: &etf::Atom, name: &Term) -> Term {
    via.rpc(
        on,
        "global",
        "whereis_name",
        vec![name.clone()],
        Duration::from_secs(30),
    )
    .await
}

/// Waits (bounded) until `check` holds for what `on` answers.
pub async fn until_on(
    via: &rotp_node::Node,
    on: &etf::Atom,
    name: &Term,
    check: impl Fn(&Term) -> bool,
) -> Term {
    let mut last = Term::NIL;
    for _ in 0..200 {
        last = whereis_on(via, on, name).await;
        if check(&last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

/// A rotp node and an erl node on a fresh EPMD, connected, with global in sync on both.
pub struct Pair {
    pub x: rotp_node::Node,
    pub a: etf::Atom,
    pub port: u16,
    _erl: Guard,
    _epmd: Guard,
}

pub async fn synced_pair(rotp: &str, erl: &str, cookie: &str) -> Pair {
    let (epmd, port) = epmd();
    let x = rotp_node(rotp, cookie, port).await;
    let (guard, a) = erl_node(erl, cookie, port).await;
    assert!(x.ping(&a).await);
    sync_all(&x, std::slice::from_ref(&a)).await;
    Pair {
        x,
        a,
        port,
        _erl: guard,
        _epmd: epmd,
    }
}

/// `global:sync()` on each erl node of `erls` (by rpc from `x`) and on `x`.
pub async fn sync_all(x: &rotp_node::Node, erls: &[etf::Atom]) {
    for n in erls {
        assert_eq!(
            erl_run(x, n, "global:sync().").await.as_atom(),
            Some("ok"),
            "{n} synced"
        );
    }
    x.global().sync().await;
}
