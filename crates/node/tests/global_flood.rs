//! A peer flooding `global_name_server` (security review of 2026-12-07, L9), then proof that
//! global still works with an erl node:
//!
//! - twenty thousand `lost_connection` reports of unique node pairs: at most 16 384 are
//!   remembered, and one whose `XCreationA` is not an integer is not remembered at all;
//! - ten thousand `whereis` requests while global's lock is set: they wait in a list, not in a
//!   process each, and all are answered once the lock goes.

mod support;

use std::time::Duration;

use dist::ControlMessage;
use etf::{Atom, Term};
use rotp_node::global::{LockId, Retries};
use runtime::{ExitReason, Message};
use support::raw::{self, RawPeer};
use support::*;

const COOKIE: &str = "globalflood";
const WAIT: Duration = Duration::from_secs(30);

fn to_global(peer: &RawPeer) -> ControlMessage {
    ControlMessage::RegSend {
        from: peer.pid(1),
        to: Atom::from("global_name_server"),
        token: None,
    }
}

fn lost_connection(a: &str, xcreation: Term, b: &str) -> Term {
    Term::Tuple(vec![
        Term::atom("lost_connection"),
        Term::atom(a),
        xcreation,
        Term::Integer(1),
        Term::atom(b),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_global_messages_stays_bounded_and_global_still_works() {
    let (_epmd, epmd_port) = epmd();
    let node = rotp_node("rotp_gflood", COOKIE, epmd_port).await;
    let target = node.name().clone();
    let port = node.listen_port().unwrap();
    let global = node.global();
    let mut peer = RawPeer::connect(port, &target, raw::config("flood@127.0.0.1", COOKIE)).await;
    let send = to_global(&peer);

    // Reports whose XCreationA is not an integer are dropped; the integer one after them is
    // remembered (the peer's messages are handled in order).
    for i in 0..10 {
        let huge = Term::Binary(vec![0u8; 100_000].into());
        let report = lost_connection(&format!("odd{i}@h"), huge, "x@h");
        peer.send(&send, Some(&report)).await;
    }
    let report = lost_connection("even@h", Term::Integer(1 << 59), "x@h");
    peer.send(&send, Some(&report)).await;
    harness::wait_until_async("the integer report", WAIT, || async {
        global.lost_connections() > 0
    })
    .await;
    assert_eq!(global.lost_connections(), 1);

    // Twenty thousand unique pairs (from 300 names): at most 16 384 are kept.
    for a in 0..200 {
        for b in 0..100 {
            let report = lost_connection(&format!("a{a}@h"), Term::Integer(7), &format!("b{b}@h"));
            peer.send(&send, Some(&report)).await;
        }
    }
    harness::wait_until_async("the reports to fill the table", WAIT, || async {
        global.lost_connections() == 16_384
    })
    .await;

    // Global's own lock, held by a process of ours, while whereis requests arrive.
    let (locked_tx, locked) = tokio::sync::oneshot::channel();
    let holder = {
        let global = global.clone();
        node.runtime().spawn(move |mut ctx| async move {
            let me = ctx.runtime().node().clone();
            let id = LockId::new(Term::atom("global"), Term::Pid(ctx.pid().clone()));
            let set = global
                .set_lock(
                    &mut ctx,
                    &id,
                    Some(std::slice::from_ref(&me)),
                    Retries::Infinity,
                )
                .await;
            let _ = locked_tx.send(set);
            let _ = ctx.recv().await;
            global.del_lock(&mut ctx, &id, Some(&[me])).await;
            ExitReason::Normal
        })
    };
    assert!(locked.await.unwrap(), "global's lock");
    let processes = node.runtime().processes().len();
    let asker = peer.pid(3);
    for i in 0..10_000i64 {
        let from = Term::Tuple(vec![Term::Pid(asker.clone()), Term::Integer(i)]);
        let whereis = Term::Tuple(vec![Term::atom("whereis"), Term::atom("nobody"), from]);
        peer.send(&send, Some(&whereis)).await;
    }
    // Past the 4096 that may wait, the others are answered at once.
    let mut answered = 0;
    while answered < 10_000 - 4096 {
        let reply = peer
            .recv_matching(
                WAIT,
                |m| matches!(&m.control, ControlMessage::Send { to, .. } if *to == asker),
            )
            .await
            .expect("whereis answers");
        assert_eq!(
            reply.payload.as_ref().and_then(|t| match t {
                Term::Tuple(v) => v.get(1).cloned(),
                _ => None,
            }),
            Some(Term::atom("undefined"))
        );
        answered += 1;
    }
    let now = node.runtime().processes().len();
    assert!(
        now <= processes + 5,
        "{now} processes with 10 000 whereis waiting, {processes} before"
    );
    // The lock goes: the waiting ones are answered too.
    node.runtime()
        .send(&holder, Message::Term(Term::atom("release")));
    while answered < 10_000 {
        peer.recv_matching(
            WAIT,
            |m| matches!(&m.control, ControlMessage::Send { to, .. } if *to == asker),
        )
        .await
        .expect("the waiting whereis answers");
        answered += 1;
    }
    drop(peer);

    // Global still works, with an erl node: a name each way.
    let me = node.runtime().spawn(|mut ctx| async move {
        let _ = ctx.recv().await;
        ExitReason::Normal
    });
    assert!(
        global
            .register_name(Term::atom("rotp_after_flood"), &me)
            .await
    );
    let eval = format!(
        "pong = net_adm:ping('{target}'), global:sync(), \
             yes = global:register_name(erl_after_flood, self()), \
             io:format(\"~p~n\", [node(global:whereis_name(rotp_after_flood))]), \
             timer:sleep(5000), halt()."
    );
    let erl = tokio::spawn(async move { erl_eval("erl_gflood", COOKIE, epmd_port, &eval).await });
    let erl_name = Term::atom("erl_after_flood");
    harness::wait_until_async("erl's name here", WAIT, || async {
        global.whereis_name(&erl_name).is_some()
    })
    .await;
    let out = erl.await.unwrap();
    assert_eq!(out.trim(), target.as_str());
}
