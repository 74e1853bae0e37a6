//! Two rotp nodes: ping, rpc, messages, links and monitors across them, large messages, a wrong
//! cookie refused, and a disconnect seen as `noconnection`.

mod support;

use std::time::Duration;

use etf::{Atom, Term};
use runtime::{ExitReason, Message};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rotp_nodes_ping_call_message_link_and_monitor() {
    let (_epmd, port) = epmd();
    let a = rotp_node("rotp_a", "sesame", port).await;
    let b = rotp_node("rotp_b", "sesame", port).await;
    assert!(a.ping(b.name()).await);
    assert_eq!(b.nodes(false), std::slice::from_ref(a.name()));
    let got = a
        .rpc(b.name(), "erlang", "node", vec![], Duration::from_secs(5))
        .await;
    assert_eq!(got, Term::Atom(b.name().clone()));
    // A process on b that echoes, ends with what it is told, and is linked/monitored from a.
    let echo = b.runtime().spawn(|mut ctx| async move {
        loop {
            let m = ctx.recv().await;
            match m.as_term() {
                Some(Term::Tuple(v)) if v.len() == 2 => {
                    if let Term::Pid(from) = &v[0] {
                        ctx.send(from, Message::Term(v[1].clone()));
                    }
                }
                Some(reason) => return ExitReason::from_term(reason),
                None => {}
            }
        }
    });
    b.runtime().register(Atom::from("echo"), &echo).unwrap();
    let b_name = b.name().clone();
    let e = echo.clone();
    let seen = a
        .in_process(move |mut ctx| async move {
            ctx.trap_exit(true);
            let me = Term::Pid(ctx.pid().clone());
            // 1 MB and 100 MB, fragmented both ways.
            let mut echoed = true;
            for size in [1 << 20, 100 << 20] {
                let big = Term::Binary(vec![9; size].into());
                let msg = Term::Tuple(vec![me.clone(), big.clone()]);
                ctx.send_to_name(&Atom::from("echo"), &b_name, Message::Term(msg))
                    .unwrap();
                let back = ctx.receive_timeout(Duration::from_secs(60), |_| true).await;
                echoed &= back.and_then(|m| m.as_term().cloned()) == Some(big);
            }
            ctx.link(&e);
            let watch = ctx.monitor(&e);
            ctx.send(&e, Message::Term(Term::atom("boom")));
            let exit = ctx
                .receive_timeout(Duration::from_secs(5), |m| m.as_exit().is_some())
                .await;
            let down = ctx
                .receive_timeout(Duration::from_secs(5), |m| {
                    m.as_down().is_some_and(|(r, _, _)| r == watch)
                })
                .await;
            (
                echoed,
                exit.and_then(|m| m.as_exit()).map(|(_, r)| r),
                down.and_then(|m| m.as_down()).map(|(_, _, r)| r),
            )
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        (
            true,
            Some(ExitReason::atom("boom")),
            Some(ExitReason::atom("boom"))
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cookie_between_rotp_nodes_is_refused() {
    let (_epmd, port) = epmd();
    let a = rotp_node("rotp_ca", "one", port).await;
    let b = rotp_node("rotp_cb", "two", port).await;
    assert!(!a.ping(b.name()).await);
    assert!(a.nodes(true).is_empty() && b.nodes(true).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_is_noconnection_for_links_on_both_sides() {
    let (_epmd, port) = epmd();
    let a = rotp_node("rotp_da", "sesame", port).await;
    let b = rotp_node("rotp_db", "sesame", port).await;
    // A trapping process on b reports the exit message its link brings.
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let sleeper = b.runtime().spawn(|mut ctx| async move {
        ctx.trap_exit(true);
        let m = ctx.recv().await;
        let _ = seen_tx.send(m.as_exit().map(|(_, r)| r));
        ExitReason::Normal
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    let s = sleeper.clone();
    a.runtime().spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        ctx.link(&s);
        let _ = tx.send(());
        let exit = ctx
            .receive_timeout(Duration::from_secs(10), |m| m.as_exit().is_some())
            .await;
        ExitReason::Other(
            exit.and_then(|m| m.as_exit())
                .map_or(Term::atom("none"), |(_, r)| r.to_term()),
        )
    });
    rx.await.unwrap();
    assert!(a.ping(b.name()).await);
    let mut down_a = a.events();
    assert!(a.disconnect(b.name()));
    let ev = tokio::time::timeout(Duration::from_secs(10), down_a.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev, rotp_node::NodeEvent::Down(b.name().clone()));
    let seen = tokio::time::timeout(Duration::from_secs(10), seen_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, Some(ExitReason::NoConnection));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_rotp_node_is_hidden_from_another() {
    let (_epmd, port) = epmd();
    let a = rotp_node("rotp_ha", "sesame", port).await;
    let b = rotp_node_with("rotp_hb", "sesame", port, |c| c.hidden = true).await;
    assert!(b.ping(a.name()).await);
    assert!(a.nodes(false).is_empty());
    assert_eq!(a.hidden_nodes(), std::slice::from_ref(b.name()));
}

/// Both nodes connect to each other at once, many times: `net_kernel`'s rules (the greater
/// name's attempt wins, the other gets `nok`) leave exactly one working connection each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_connects_settle_on_one_connection() {
    let (_epmd, port) = epmd();
    let a = rotp_node("rotp_sa", "sesame", port).await;
    let b = rotp_node("rotp_sb", "sesame", port).await;
    for round in 0..20 {
        let (x, y) = tokio::join!(a.ping(b.name()), b.ping(a.name()));
        assert!(x && y, "round {round}: {x} {y}");
        assert_eq!(a.nodes(false), std::slice::from_ref(b.name()));
        assert_eq!(b.nodes(false), std::slice::from_ref(a.name()));
        let mut events = a.events();
        assert!(a.disconnect(b.name()));
        let down = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
        assert!(
            matches!(down, Ok(Ok(rotp_node::NodeEvent::Down(_)))),
            "round {round}: {down:?}"
        );
        for _ in 0..200 {
            if b.nodes(true).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Garbage, a peer that stops mid-handshake, and one that never speaks: each connection is
/// closed, nothing panics, and the node keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peers_are_dropped_without_disturbing_the_node() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_epmd, port) = epmd();
    let a = rotp_node("rotp_bad", "sesame", port).await;
    let b = rotp_node("rotp_good", "sesame", port).await;
    let listen = a.listen_port().unwrap();
    // Garbage: closed by the node.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", listen))
        .await
        .unwrap();
    s.write_all(b"\x00\x05hello, this is not erlang")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "garbage gets the connection closed");
    // Half a send_name, then gone.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", listen))
        .await
        .unwrap();
    s.write_all(&[0, 40, b'N', 0, 0, 0]).await.unwrap();
    drop(s);
    // A huge declared length that never comes.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", listen))
        .await
        .unwrap();
    s.write_all(&[0xff, 0xff, b'N']).await.unwrap();
    // Meanwhile a real node connects fine.
    assert!(b.ping(a.name()).await);
    assert_eq!(a.nodes(false), std::slice::from_ref(b.name()));
    drop(s);
}
