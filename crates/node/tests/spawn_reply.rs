//! `SPAWN_REPLY` is applied only to a spawn request the process made, from the node it asked
//! (security review of 2026-12-07, M12: any peer could add links and monitors to any local
//! process and send it `{spawn_reply, ...}` messages). Forged replies from a bare peer change
//! nothing; `erpc` to a bare peer that answers as a node does, and `erpc` both ways with a
//! real erl node, still work.

mod support;

use std::time::Duration;

use dist::{ControlMessage as C, ProcessRef};
use etf::{Atom, Pid, Reference, Term};
use runtime::ExitReason;
use support::raw::{self, RawPeer};
use support::*;

const COOKIE: &str = "spawnreply";
const WAIT: Duration = Duration::from_secs(20);

/// The links and monitors `pid` holds and is held by.
fn relations(node: &rotp_node::Node, pid: &Pid) -> (usize, usize, usize) {
    let info = node.runtime().process_info(pid).expect("alive");
    (
        info.links.len(),
        info.monitors.len(),
        info.monitored_by.len(),
    )
}

/// A process that hands every message it gets to the test.
fn victim(node: &rotp_node::Node) -> (Pid, tokio::sync::mpsc::UnboundedReceiver<Term>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let pid = node.runtime().spawn(move |mut ctx| async move {
        loop {
            let m = ctx.recv().await;
            let term = m
                .as_term()
                .cloned()
                .unwrap_or_else(|| Term::atom("not_a_term"));
            let _ = tx.send(term);
        }
        #[allow(unreachable_code)]
        ExitReason::Normal
    });
    (pid, rx)
}

/// Answers the node's `rpc:call(Peer, erlang, whereis, [user])` (what `erpc` asks first) with
/// `undefined`, then returns the `SPAWN_REQUEST` that follows: its reference, its requester
/// and the call's tag (`erpc:execute_call/4`'s first argument).
async fn serve_erpc_request(peer: &mut RawPeer) -> (Reference, Pid, Term) {
    let call = peer
        .recv_matching(
            WAIT,
            |m| matches!(&m.control, C::RegSend { to, .. } if to.as_str() == "rex"),
        )
        .await
        .expect("the whereis call");
    let Some(Term::Tuple(v)) = &call.payload else {
        panic!("{call:?}")
    };
    let Term::Tuple(from) = &v[1] else {
        panic!("{call:?}")
    };
    let (Term::Pid(caller), tag) = (&from[0], &from[1]) else {
        panic!("{call:?}")
    };
    let answer = Term::Tuple(vec![tag.clone(), Term::atom("undefined")]);
    peer.send(
        &C::Send {
            to: caller.clone(),
            token: None,
        },
        Some(&answer),
    )
    .await;
    let request = peer
        .recv_matching(WAIT, |m| matches!(m.control, C::SpawnRequest { .. }))
        .await
        .expect("the spawn request");
    let C::SpawnRequest { req_id, from, .. } = request.control else {
        unreachable!()
    };
    let Some(Term::List(args)) = request.payload else {
        panic!("no arguments")
    };
    (req_id, from, args[0].clone())
}

fn spawn_reply(req_id: &Reference, to: &Pid, flags: i64, result: Term) -> C {
    C::SpawnReply {
        req_id: req_id.clone(),
        to: to.clone(),
        flags,
        result,
        token: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_spawn_replies_change_nothing_and_real_ones_still_work() {
    let (_epmd, epmd_port) = epmd();
    let node = rotp_node("rotp_spawn", COOKIE, epmd_port).await;
    let target = node.name().clone();
    let port = node.listen_port().unwrap();
    let rex = node.runtime().whereis(&Atom::from("rex")).unwrap();
    let (victim, mut inbox) = victim(&node);
    let rex_before = relations(&node, &rex);
    let third = Pid {
        node: Atom::from("elsewhere@127.0.0.1"),
        id: 9,
        serial: 0,
        creation: 1,
    };

    // Replies to requests nobody made, with link and monitor, to rex and to the victim: a
    // child of a third node, of the peer itself, and a failure.
    let mut forger = RawPeer::connect(port, &target, raw::config("forger@127.0.0.1", COOKIE)).await;
    let unknown = node.runtime().make_ref();
    for (to, result) in [
        (&rex, Term::Pid(third.clone())),
        (&rex, Term::Pid(forger.pid(5))),
        (&victim, Term::Pid(third.clone())),
        (&victim, Term::Pid(forger.pid(6))),
        (&victim, Term::atom("badarg")),
    ] {
        forger
            .send(&spawn_reply(&unknown, to, 3, result), None)
            .await;
    }
    // The peer's own child that nobody waits for is told to go, as erts tells it.
    let unwanted = forger.pid(6);
    let demonitor = forger
        .recv_matching(WAIT, |m| {
            matches!(&m.control, C::DemonitorP { to: ProcessRef::Pid(p), reference, .. }
                if *p == unwanted && *reference == unknown)
        })
        .await;
    assert!(demonitor.is_some(), "no DEMONITOR_P for the unwanted child");

    // A thousand more, each with a fresh reference: once, each grew rex's monitors by one.
    for i in 0..1000 {
        let reference = node.runtime().make_ref();
        let child = Term::Pid(third.clone());
        let to = if i % 2 == 0 { &rex } else { &victim };
        forger
            .send(&spawn_reply(&reference, to, 3, child), None)
            .await;
    }
    assert!(forger.round_trip(WAIT).await, "the forger's connection");
    assert_eq!(
        relations(&node, &rex),
        rex_before,
        "rex's links and monitors"
    );
    assert_eq!(
        relations(&node, &victim),
        (0, 0, 0),
        "the victim's links and monitors"
    );
    assert!(inbox.try_recv().is_err(), "the victim got a message");
    // A real erpc to a bare peer that answers as a node does: the forger's reply to its
    // request (the right reference, the wrong node) changes nothing; the peer's own reply
    // and its child's end give the call its result.
    let mut callee = RawPeer::connect(port, &target, raw::config("callee@127.0.0.1", COOKIE)).await;
    let call = {
        let (node, callee) = (node.clone(), callee.name.clone());
        tokio::spawn(async move { node.erpc(&callee, "erlang", "node", Vec::new(), WAIT).await })
    };
    let (req_id, requester, tag) = serve_erpc_request(&mut callee).await;
    let before = relations(&node, &requester);
    let elsewhere = forger.pid(7);
    forger
        .send(
            &spawn_reply(&req_id, &requester, 2, Term::Pid(elsewhere)),
            None,
        )
        .await;
    assert!(forger.round_trip(WAIT).await);
    assert_eq!(
        relations(&node, &requester),
        before,
        "a reply from the wrong node"
    );
    let child = callee.pid(42);
    callee
        .send(
            &spawn_reply(&req_id, &requester, 2, Term::Pid(child.clone())),
            None,
        )
        .await;
    // erpc:execute_call's end: the monitor's DOWN carries {Tag, return, Value}.
    let answer = Term::atom("callee_answers");
    let down = C::MonitorPExit {
        from: ProcessRef::Pid(child),
        to: requester.clone(),
        reference: req_id.clone(),
        reason: Term::Tuple(vec![tag, Term::atom("return"), answer.clone()]),
    };
    callee.send(&down, None).await;
    let result = tokio::time::timeout(WAIT, call)
        .await
        .expect("erpc returns")
        .expect("joined");
    assert_eq!(result, Ok(answer));

    // A peer that goes before it replies: the request fails with noconnection at once, as
    // erts fails it, rather than at the call's timeout.
    let call = {
        let (node, callee) = (node.clone(), callee.name.clone());
        tokio::spawn(async move { node.erpc(&callee, "erlang", "node", Vec::new(), WAIT).await })
    };
    let _ = serve_erpc_request(&mut callee).await;
    drop(callee);
    let result = tokio::time::timeout(WAIT, call)
        .await
        .expect("erpc returns")
        .expect("joined");
    assert_eq!(result, Err(rotp_node::ErpcError::NoConnection));

    // erpc both ways with a real erl node.
    let erl = start_erl("erl_spawn", COOKIE, epmd_port, "receive stop -> ok end.");
    let erl_name = node_name("erl_spawn");
    harness::wait_until_async("the erl node", WAIT, || node.ping(&erl_name)).await;
    assert_eq!(
        node.erpc(&erl_name, "erlang", "node", Vec::new(), WAIT)
            .await,
        Ok(Term::Atom(erl_name.clone()))
    );
    let out = erl_eval(
        "erl_spawn_caller",
        COOKIE,
        epmd_port,
        &format!(
            "{{P, R}} = spawn_monitor('{target}', erlang, node, []), \
             D = receive {{'DOWN', R, process, P, Why}} -> Why after 10000 -> timeout end, \
             io:format(\"~p ~p~n\", [erpc:call('{target}', erlang, node, []), D]), halt()."
        ),
    )
    .await;
    assert_eq!(out.trim(), format!("{target} normal"));
    drop(erl);
    assert!(!node.is_down());
}
