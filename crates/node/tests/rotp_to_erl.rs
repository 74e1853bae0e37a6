//! A rotp node talking to a real `erl` node: ping, rpc, messages to names and pids both ways,
//! links and monitors with their exit reasons, large messages, a hidden rotp node, and a peer
//! killed with SIGKILL (`noconnection`).

mod support;

use std::time::Duration;

use etf::{Atom, Pid, Term};
use runtime::{ExitReason, Message};
use support::*;

/// The erl side: `echo` answers `{From, Msg}` with `{echo, Msg}`; `victim` exits with the
/// reason it is sent as `{die, Reason}`.
const ERL_SIDE: &str = "\
    Echo = fun Loop() -> receive {From, Msg} -> From ! {echo, Msg}, Loop() end end, \
    register(echo, spawn(Echo)), \
    Victim = fun V() -> receive {die, R} -> exit(R); _ -> V() end end, \
    register(victim, spawn(Victim)), \
    register(victim2, spawn(Victim)), \
    receive stop -> halt() end.";

async fn erl_peer(name: &str, cookie: &str, port: u16) -> (Guard, Atom) {
    let guard = start_erl(name, cookie, port, ERL_SIDE);
    wait_registered(port, name).await;
    (guard, node_name(name))
}

/// The pid registered as `name` on `erl`, waiting (bounded) for the `-eval` to register it.
async fn whereis(node: &rotp_node::Node, erl: &Atom, name: &str) -> Pid {
    for _ in 0..100 {
        let got = node
            .rpc(
                erl,
                "erlang",
                "whereis",
                vec![Term::atom(name)],
                Duration::from_secs(5),
            )
            .await;
        if let Term::Pid(p) = got {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never registered on {erl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotp_pings_calls_and_messages_erl() {
    let (_epmd, port) = epmd();
    let (_erl, erl) = erl_peer("erl_r2e", "sesame", port).await;
    let node = rotp_node("rotp_r2e", "sesame", port).await;
    whereis(&node, &erl, "echo").await;
    assert!(node.ping(&erl).await);
    assert_eq!(node.nodes(false), std::slice::from_ref(&erl));
    let got = node
        .rpc(&erl, "erlang", "node", vec![], Duration::from_secs(5))
        .await;
    assert_eq!(got, Term::Atom(erl.clone()));
    let got = node
        .rpc(
            &erl,
            "lists",
            "reverse",
            vec![Term::List(vec![Term::Integer(1), Term::Integer(2)])],
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(got.to_string(), "[2,1]");
    let got = node
        .rpc(&erl, "nosuch", "fn", vec![], Duration::from_secs(5))
        .await;
    assert!(
        got.to_string().starts_with("{badrpc,{'EXIT',{undef,"),
        "{got}"
    );
    // erpc: a spawn request the peer runs, and its exceptions.
    let seq = node
        .erpc(
            &erl,
            "lists",
            "seq",
            vec![Term::Integer(1), Term::Integer(3)],
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(seq.map(|t| t.to_string()), Ok("[1,2,3]".to_owned()));
    let boom = node
        .erpc(
            &erl,
            "erlang",
            "error",
            vec![Term::atom("boom")],
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        boom,
        Err(rotp_node::ErpcError::Exception(
            rotp_node::Exception::Error(Term::atom("boom"))
        ))
    );
    // A wrong cookie: refused, and the good connection is untouched.
    let stranger = rotp_node("rotp_stranger", "not-sesame", port).await;
    assert!(!stranger.ping(&erl).await);
    assert!(node.ping(&erl).await);
    // A rotp process sends to a name on erl and gets the reply at its pid.
    let e = erl.clone();
    let reply = node
        .in_process(move |mut ctx| async move {
            let me = Term::Pid(ctx.pid().clone());
            let msg = Term::Tuple(vec![me, Term::atom("hello")]);
            ctx.send_to_name(&Atom::from("echo"), &e, Message::Term(msg))
                .unwrap();
            ctx.receive_timeout(Duration::from_secs(5), |_| true).await
        })
        .await
        .flatten();
    assert_eq!(
        reply
            .and_then(|m| m.as_term().cloned())
            .map(|t| t.to_string()),
        Some("{echo,hello}".into())
    );
    // Large messages, fragmented both ways: 1 MB and 100 MB binaries echoed back whole.
    for size in [1 << 20, 100 << 20] {
        let e = erl.clone();
        let back = node
            .in_process(move |mut ctx| async move {
                let me = Term::Pid(ctx.pid().clone());
                let blob = Term::Binary(
                    (0..size)
                        .map(|i| (i % 251) as u8)
                        .collect::<Vec<u8>>()
                        .into(),
                );
                let msg = Term::Tuple(vec![me, blob.clone()]);
                ctx.send_to_name(&Atom::from("echo"), &e, Message::Term(msg))
                    .unwrap();
                let got = ctx.receive_timeout(Duration::from_secs(60), |_| true).await;
                got.and_then(|m| m.as_term().cloned())
                    == Some(Term::Tuple(vec![Term::atom("echo"), blob]))
            })
            .await;
        assert_eq!(back, Some(true), "{size} bytes echoed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_monitors_to_erl_processes_carry_exit_reasons() {
    let (_epmd, port) = epmd();
    let (_erl, erl) = erl_peer("erl_links", "sesame", port).await;
    let node = rotp_node("rotp_links", "sesame", port).await;
    let victim = whereis(&node, &erl, "victim").await;
    let victim2 = whereis(&node, &erl, "victim2").await;
    let (v, v2) = (victim.clone(), victim2.clone());
    let seen = node
        .in_process(move |mut ctx| async move {
            ctx.trap_exit(true);
            ctx.link(&v);
            let watch = ctx.monitor(&v2);
            let die = |r: &str| Message::Term(Term::Tuple(vec![Term::atom("die"), Term::atom(r)]));
            ctx.send(&v, die("boom"));
            ctx.send(&v2, die("bang"));
            let exit = ctx
                .receive_timeout(Duration::from_secs(5), |m| m.as_exit().is_some())
                .await;
            let down = ctx
                .receive_timeout(Duration::from_secs(5), |m| {
                    m.as_down().is_some_and(|(r, _, _)| r == watch)
                })
                .await;
            (
                exit.and_then(|m| m.as_exit()),
                down.and_then(|m| m.as_down().map(|(_, p, r)| (p, r))),
            )
        })
        .await
        .unwrap();
    assert_eq!(seen.0, Some((victim, ExitReason::atom("boom"))));
    assert_eq!(seen.1, Some((victim2, ExitReason::atom("bang"))));
}

/// `erlang:process_info(whereis(Name), monitored_by)` on `erl`.
async fn monitored_by(node: &rotp_node::Node, erl: &Atom, pid: &Pid) -> Term {
    node.rpc(
        erl,
        "erlang",
        "process_info",
        vec![Term::Pid(pid.clone()), Term::atom("monitored_by")],
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_by_registered_name_on_erl_name_it_in_down() {
    let (_epmd, port) = epmd();
    let (_erl, erl) = erl_peer("erl_named", "sesame", port).await;
    let node = rotp_node("rotp_named", "sesame", port).await;
    let victim = whereis(&node, &erl, "victim").await;
    let victim2 = whereis(&node, &erl, "victim2").await;
    let (set_tx, set_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let (e, v) = (erl.clone(), victim.clone());
    let watcher = node.runtime().spawn(move |mut ctx| async move {
        let (victim_name, other) = (Atom::from("victim"), Atom::from("victim2"));
        let watch = ctx.monitor_name(&victim_name, &e);
        let dropped = ctx.monitor_name(&other, &e);
        let nobody = ctx.monitor_name(&Atom::from("nobody"), &e);
        let _ = set_tx.send(());
        let _ = go_rx.await;
        let was_on = ctx.demonitor(&dropped, true);
        let die = Term::Tuple(vec![Term::atom("die"), Term::atom("boom")]);
        ctx.send(&v, Message::Term(die));
        let mut downs = Vec::new();
        for r in [watch, nobody] {
            let down = ctx
                .receive_timeout(Duration::from_secs(10), |m| m.is_down_for(&r))
                .await;
            downs.push(
                down.and_then(|m| m.as_down_object())
                    .map(|(_, o, r)| (o, r)),
            );
        }
        let _ = seen_tx.send((was_on, downs));
        ExitReason::Normal
    });
    set_rx.await.unwrap();
    // MONITOR_P with a name reached erl: the process holding the name is monitored by us.
    let me = Term::List(vec![Term::Pid(watcher.clone())]);
    let mut watched = Term::List(vec![]);
    for _ in 0..100 {
        watched = monitored_by(&node, &erl, &victim2).await;
        if watched == Term::Tuple(vec![Term::atom("monitored_by"), me.clone()]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(watched, Term::Tuple(vec![Term::atom("monitored_by"), me]));
    go_tx.send(()).unwrap();
    let (was_on, downs) = seen_rx.await.unwrap();
    assert!(was_on);
    let named = |n: &str| Term::Tuple(vec![Term::atom(n), Term::Atom(erl.clone())]);
    assert_eq!(
        downs,
        vec![
            Some((named("victim"), ExitReason::atom("boom"))),
            Some((named("nobody"), ExitReason::NoProc)),
        ]
    );
    // DEMONITOR_P with the name took the other monitor off.
    let none = Term::Tuple(vec![Term::atom("monitored_by"), Term::List(vec![])]);
    let mut left = Term::List(vec![]);
    for _ in 0..100 {
        left = monitored_by(&node, &erl, &victim2).await;
        if left == none {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, none);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_killed_with_sigkill_is_noconnection_for_links_and_monitors() {
    let (_epmd, port) = epmd();
    let (mut erl_guard, erl) = erl_peer("erl_killed", "sesame", port).await;
    let node = rotp_node("rotp_survivor", "sesame", port).await;
    let victim = whereis(&node, &erl, "victim").await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let v = victim.clone();
    node.runtime().spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        ctx.link(&v);
        let watch = ctx.monitor(&v);
        let _ = tx.send(());
        let exit = ctx
            .receive_timeout(Duration::from_secs(30), |m| m.as_exit().is_some())
            .await;
        let down = ctx
            .receive_timeout(Duration::from_secs(30), |m| {
                m.as_down().is_some_and(|(r, _, _)| r == watch)
            })
            .await;
        let _ = seen_tx.send((
            exit.and_then(|m| m.as_exit()).map(|(_, r)| r),
            down.and_then(|m| m.as_down()).map(|(_, _, r)| r),
        ));
        ExitReason::Normal
    });
    rx.await.unwrap();
    // Let the LINK and MONITOR_P reach erl before it dies.
    assert!(node.ping(&erl).await);
    // monitor_node: a process told {nodedown, Node} when the connection goes.
    let (nd_tx, nd_rx) = tokio::sync::oneshot::channel();
    let nd_watcher = node.runtime().spawn(move |mut ctx| async move {
        let m = ctx.receive_timeout(Duration::from_secs(30), |_| true).await;
        let _ = nd_tx.send(m.and_then(|m| m.as_term().cloned()));
        ExitReason::Normal
    });
    node.monitor_node(&nd_watcher, &erl).await;
    let mut events = node.events();
    erl_guard.0.kill().unwrap();
    let down = tokio::time::timeout(Duration::from_secs(30), events.recv()).await;
    assert_eq!(
        down.unwrap().unwrap(),
        rotp_node::NodeEvent::Down(erl.clone())
    );
    let seen = tokio::time::timeout(Duration::from_secs(30), seen_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen,
        (
            Some(ExitReason::NoConnection),
            Some(ExitReason::NoConnection)
        )
    );
    assert!(node.nodes(true).is_empty());
    let nodedown = tokio::time::timeout(Duration::from_secs(30), nd_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        nodedown,
        Some(Term::Tuple(vec![
            Term::atom("nodedown"),
            Term::Atom(erl.clone())
        ]))
    );
    // A node that cannot be reached: {nodedown, Node} at once.
    let nowhere = Atom::from(format!("nobody_here@{}", short_host()).as_str());
    let (tx2, rx2) = tokio::sync::oneshot::channel();
    let lonely = node.runtime().spawn(move |mut ctx| async move {
        let m = ctx.receive_timeout(Duration::from_secs(30), |_| true).await;
        let _ = tx2.send(m.and_then(|m| m.as_term().cloned()));
        ExitReason::Normal
    });
    node.monitor_node(&lonely, &nowhere).await;
    let nodedown = tokio::time::timeout(Duration::from_secs(30), rx2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        nodedown,
        Some(Term::Tuple(vec![
            Term::atom("nodedown"),
            Term::Atom(nowhere)
        ]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_rotp_node_is_not_in_erls_nodes() {
    let (_epmd, port) = epmd();
    let (_erl, erl) = erl_peer("erl_hid", "sesame", port).await;
    let node = rotp_node_with("rotp_hidden", "sesame", port, |c| c.hidden = true).await;
    assert!(node.ping(&erl).await);
    let visible = node
        .rpc(&erl, "erlang", "nodes", vec![], Duration::from_secs(5))
        .await;
    let hidden = node
        .rpc(
            &erl,
            "erlang",
            "nodes",
            vec![Term::atom("hidden")],
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(visible, Term::NIL);
    assert_eq!(hidden, Term::List(vec![Term::Atom(node.name().clone())]));
}

/// erl and rotp connect to each other at the same moment: both pings succeed and one
/// connection remains (dist_util's `ok_simultaneous`/`nok`), for both name orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_connects_with_erl_settle() {
    let (_epmd, port) = epmd();
    // "rotp_m" sorts after "erl_m…", "a_rotp" before: each side wins once.
    for (rotp_name, erl_name) in [("rotp_m", "erl_m1"), ("a_rotp", "erl_m2")] {
        let node = rotp_node(rotp_name, "sesame", port).await;
        let target = node.name().to_string();
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 1500;
        let eval = format!(
            "timer:sleep(max(0, {at} - erlang:system_time(millisecond))), \
             R = net_adm:ping('{target}'), timer:sleep(500), \
             io:format(\"~p ~p~n\", [R, nodes()]), halt()."
        );
        let erl = tokio::spawn(async move { erl_eval(erl_name, "sesame", port, &eval).await });
        wait_registered(port, erl_name).await;
        let wait = at as i128
            - std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i128;
        tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;
        let erl_node = node_name(erl_name);
        assert!(node.ping(&erl_node).await, "{rotp_name} pings {erl_name}");
        let out = erl.await.unwrap();
        assert_eq!(out.trim(), format!("pong [{target}]"), "{rotp_name}");
    }
}

/// An erl node killed and restarted under the same name (a new creation from EPMD) connects
/// again at once, and pids of the old incarnation are not mistaken for the new one's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_erl_node_reconnects_with_a_new_creation() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_restart", "sesame", port).await;
    let (mut first, erl) = erl_peer("erl_phoenix", "sesame", port).await;
    let old = whereis(&node, &erl, "victim").await;
    first.0.kill().unwrap();
    let _ = first.0.wait();
    let (_second, _) = erl_peer("erl_phoenix", "sesame", port).await;
    let new = whereis(&node, &erl, "victim").await;
    assert_ne!(old.creation, new.creation);
    assert!(node.ping(&erl).await);
}

/// Terms of every kind sent to erl and echoed back arrive equal: erl encodes its side with
/// the atom cache (new entries, then references to them), so this also checks the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_of_every_kind_round_trip_through_erl() {
    let (_epmd, port) = epmd();
    let (_erl, erl) = erl_peer("erl_terms", "sesame", port).await;
    let node = rotp_node("rotp_terms", "sesame", port).await;
    whereis(&node, &erl, "echo").await;
    let texts = [
        "{ok, 42}",
        "[a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t, u, v, w, x, y, z]",
        "#{name => <<\"rotp\">>, version => {0, 1, 0}, tags => [fast, safe], score => 9.75}",
        "{1.5, -2.25, 3.141592653589793, 6.02214076e23, -0.0}",
        "123456789012345678901234567890",
        "-98765432109876543210",
        "\"a charlist\"",
        "[{'été', 'ünïcödé', '日本'}, <<1:3>>, <<>>, [], {}]",
        "#{1 => {a, [1, 2]}, {x, y} => #{nested => true}, <<\"k\">> => 'v'}",
        "fun lists:map/2",
        "[1, 2 | improper]",
        "{deep, {deeper, {deepest, [{x, 1}, {y, 2}, {z, [<<\"leaf\">>]}]}}}",
    ];
    for _ in 0..3 {
        for text in texts {
            let term = etf::text::parse(text).unwrap();
            let e = erl.clone();
            let t = term.clone();
            let back = node
                .in_process(move |mut ctx| async move {
                    let me = Term::Pid(ctx.pid().clone());
                    ctx.send_to_name(
                        &Atom::from("echo"),
                        &e,
                        Message::Term(Term::Tuple(vec![me, t])),
                    )
                    .unwrap();
                    ctx.receive_timeout(Duration::from_secs(5), |_| true).await
                })
                .await
                .flatten()
                .and_then(|m| m.as_term().cloned());
            assert_eq!(
                back,
                Some(Term::Tuple(vec![Term::atom("echo"), term])),
                "{text}"
            );
        }
    }
}

/// `disconnect_node` right after connecting: the connection goes down on both sides, and a
/// new one can be made at once, many times over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_disconnect_in_a_loop() {
    let (_epmd, port) = epmd();
    let (_erl, erl) = erl_peer("erl_flap", "sesame", port).await;
    let node = rotp_node("rotp_flap", "sesame", port).await;
    for round in 0..10 {
        assert!(node.connect(&erl).await, "round {round}");
        assert_eq!(node.nodes(false), std::slice::from_ref(&erl));
        // Down, and staying down: a reply still in flight (our rex answering erl's
        // features_request) may connect again, as it would from erl; disconnect that too.
        let mut quiet = 0;
        for _ in 0..500 {
            if node.nodes(true).is_empty() {
                quiet += 1;
                if quiet == 10 {
                    break;
                }
            } else {
                quiet = 0;
                node.disconnect(&erl);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(node.nodes(true).is_empty(), "round {round}");
    }
}

/// A peer that goes silent (SIGSTOP: the socket stays open, nothing comes) is dropped after
/// `net_ticktime`, and links to it fire with `noconnection`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_dropped_after_net_ticktime() {
    let (_epmd, port) = epmd();
    let (erl_guard, erl) = erl_peer("erl_frozen", "sesame", port).await;
    let node = rotp_node_with("rotp_ticker", "sesame", port, |c| {
        c.ticktime = Duration::from_secs(4)
    })
    .await;
    let victim = whereis(&node, &erl, "victim").await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    node.runtime().spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        ctx.link(&victim);
        let exit = ctx
            .receive_timeout(Duration::from_secs(30), |m| m.as_exit().is_some())
            .await;
        let _ = tx.send(exit.and_then(|m| m.as_exit()).map(|(_, r)| r));
        ExitReason::Normal
    });
    assert!(node.ping(&erl).await);
    let pid = erl_guard.0.id().to_string();
    let started = std::time::Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let reason = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .unwrap()
        .unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status();
    assert_eq!(reason, Some(ExitReason::NoConnection));
    // Dropped after about net_ticktime (4 s here), not before three quarters of it.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
