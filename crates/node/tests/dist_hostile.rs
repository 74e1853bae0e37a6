//! A broken or hostile peer's bytes against a rotp node, each followed by proof that the node
//! is healthy: a fresh erl node pings it and calls into it, and the node's file descriptors
//! are back where they were. The peer is a bare client speaking the protocol byte by byte
//! (`support::raw`), so it can send what no well-behaved node sends.
//!
//! One test, one node, the scenarios in turn: descriptor counts would mean nothing with other
//! tests opening sockets in the same process.

mod support;

use std::io::BufRead;
use std::time::Duration;

use dist::{ControlMessage, HandshakeError};
use etf::{Atom, Pid, Term};
use support::raw::{self, RawPeer};
use support::*;

const COOKIE: &str = "hostile";

/// What the node had open before a scenario.
struct Baseline {
    fds: usize,
}

async fn healthy(node: &rotp_node::Node, port: u16, base: &Baseline, after: &str) {
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_checker",
        COOKIE,
        port,
        &format!(
            "N = '{target}', io:format(\"~p ~p~n\", [net_adm:ping(N), rpc:call(N, erlang, node, [])]), halt()."
        ),
    )
    .await;
    assert_eq!(out.trim(), format!("pong {target}"), "after {after}");
    assert!(!node.is_down(), "after {after}");
    // The peers' sockets and ours for them are closed: back to the count before, within a
    // few seconds (the checker's connection goes down as it halts).
    let mut fds = raw::open_fds();
    for _ in 0..100 {
        if fds <= base.fds {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        fds = raw::open_fds();
    }
    assert!(
        fds <= base.fds,
        "after {after}: {fds} descriptors open, {} before",
        base.fds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_leave_the_node_healthy() {
    let (_epmd, epmd_port) = epmd();
    let node = rotp_node("rotp_hostile", COOKIE, epmd_port).await;
    let target = node.name().clone();
    let port = node.listen_port().unwrap();
    // Once an erl node has connected and gone, what stays open is the node's own.
    healthy(&node, epmd_port, &Baseline { fds: usize::MAX }, "start").await;
    let base = Baseline {
        fds: raw::open_fds(),
    };

    own_name(&node, port, &target).await;
    healthy(&node, epmd_port, &base, "a peer claiming our own name").await;

    one_descriptor_per_connection(port, &target).await;
    healthy(&node, epmd_port, &base, "ten connections").await;

    send_to_a_third_node(&node, epmd_port, port, &target).await;
    healthy(&node, epmd_port, &base, "a send to a third node's pid").await;

    signals_from_elsewhere(&node, port, &target).await;
    healthy(&node, epmd_port, &base, "signals from other nodes' pids").await;

    pass_through_after_headers(port, &target).await;
    healthy(&node, epmd_port, &base, "a pass-through packet").await;

    huge_terms(port, &target).await;
    healthy(&node, epmd_port, &base, "huge terms").await;

    strangers(&node, port, &target).await;
    healthy(&node, epmd_port, &base, "strangers").await;

    silent_crowd(&node, epmd_port, port).await;
    healthy(&node, epmd_port, &base, "a silent crowd").await;

    // system_info(atom_count) counts the atom table, as erts does.
    let out = erl_eval(
        "erl_atoms",
        COOKIE,
        epmd_port,
        &format!("io:format(\"~p~n\", [rpc:call('{target}', erlang, system_info, [atom_count]) > 10]), halt()."),
    )
    .await;
    assert_eq!(out.trim(), "true");
}

/// A peer that says it is the node itself gets `nok`, as net_kernel answers it.
async fn own_name(node: &rotp_node::Node, port: u16, target: &Atom) {
    let result = RawPeer::try_connect(port, target, raw::config(target.as_str(), COOKIE)).await;
    assert!(
        matches!(
            result,
            Err(net::dist::DistIoError::Handshake(HandshakeError::Refused {
                status: "nok",
                ..
            }))
        ),
        "{:?}",
        result.err()
    );
    assert!(!node.nodes(true).contains(target));
}

/// Ten connections cost ten descriptors on our side (and ten for the peers, in this process).
async fn one_descriptor_per_connection(port: u16, target: &Atom) {
    let before = raw::open_fds();
    let mut peers = Vec::new();
    for i in 0..10 {
        let name = format!("fds{i}@127.0.0.1");
        peers.push(RawPeer::connect(port, target, raw::config(&name, COOKIE)).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let opened = raw::open_fds() - before;
    assert_eq!(
        opened, 20,
        "{opened} descriptors for 10 connections (10 of them the peers')"
    );
}

/// SEND and SEND_SENDER to a pid of a third node are dropped, as erts drops them: the node does
/// not connect to a host the peer chose.
async fn send_to_a_third_node(node: &rotp_node::Node, epmd_port: u16, port: u16, target: &Atom) {
    let mut third = start_erl(
        "erl_third",
        COOKIE,
        epmd_port,
        "register(sink, self()), \
         io:format(\"~s~n\", [binary:encode_hex(term_to_binary(self()))]), \
         (fun Loop() -> receive M -> io:format(\"got ~p~n\", [M]), Loop() end end)().",
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = third.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let hex = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the sink's pid");
    let Term::Pid(sink) = etf::decode(&hex::decode(hex.trim()).unwrap()).unwrap() else {
        panic!("not a pid: {hex}")
    };
    let mut peer = RawPeer::connect(port, target, raw::config("relay@127.0.0.1", COOKIE)).await;
    let send = ControlMessage::Send {
        to: sink.clone(),
        token: None,
    };
    peer.send(&send, Some(&Term::atom("relayed"))).await;
    let send_sender = ControlMessage::SendSender {
        from: peer.pid(1),
        to: sink.clone(),
        token: None,
    };
    peer.send(&send_sender, Some(&Term::atom("relayed_too")))
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(rx.try_recv().is_err(), "the third node got a message");
    assert!(
        !node.nodes(true).contains(&sink.node),
        "we connected to the third node"
    );
    drop(peer);
}

/// LINK, MONITOR_P and EXIT whose sender is not a process of the peer: erts calls them invalid
/// and closes the connection; nothing of them stays behind.
async fn signals_from_elsewhere(node: &rotp_node::Node, port: u16, target: &Atom) {
    let rex = node.runtime().whereis(&Atom::from("rex")).unwrap();
    let elsewhere = Pid {
        node: Atom::from("elsewhere@127.0.0.1"),
        id: 7,
        serial: 0,
        creation: 1,
    };
    let signals = [
        ControlMessage::Link {
            from: elsewhere.clone(),
            to: rex.clone(),
        },
        ControlMessage::MonitorP {
            from: elsewhere.clone(),
            to: dist::ProcessRef::Pid(rex.clone()),
            reference: node.runtime().make_ref(),
        },
        ControlMessage::Exit2 {
            from: elsewhere.clone(),
            to: rex.clone(),
            reason: Term::atom("kill"),
            token: None,
        },
    ];
    for signal in signals {
        let mut peer =
            RawPeer::connect(port, target, raw::config("forger@127.0.0.1", COOKIE)).await;
        peer.send(&signal, None).await;
        assert!(
            peer.closed_within(Duration::from_secs(5)).await,
            "{signal:?} left the connection open"
        );
    }
    let info = node.runtime().process_info(&rex).expect("rex lives");
    assert!(info.links.iter().all(|p| p.node != elsewhere.node));
    assert!(info.monitored_by.iter().all(|p| p.node != elsewhere.node));
    // A link to a pid of a third node is refused too.
    let mut peer = RawPeer::connect(port, target, raw::config("linker@127.0.0.1", COOKIE)).await;
    let link = ControlMessage::Link {
        from: peer.pid(1),
        to: elsewhere,
    };
    peer.send(&link, None).await;
    assert!(peer.closed_within(Duration::from_secs(5)).await);
}

/// A connection that agreed on distribution headers gets a pass-through packet (`112`): OTP 25
/// refuses it, and so do we.
async fn pass_through_after_headers(port: u16, target: &Atom) {
    let mut peer = RawPeer::connect(port, target, raw::config("oldstyle@127.0.0.1", COOKIE)).await;
    let (control, call) = peer.rex_call(&peer.pid(1), 1, "erlang", "node");
    let mut packet = vec![112];
    packet.extend_from_slice(&etf::encode(&control.to_term()).unwrap());
    packet.extend_from_slice(&etf::encode(&call).unwrap());
    let mut framed = (packet.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    peer.send_raw(&framed).await;
    assert!(peer.closed_within(Duration::from_secs(5)).await);
}

/// Terms that cost a careless reader dearly: a 5 MB integer where a pid belongs (an error
/// message that printed it whole took minutes), and list headers nested 64 deep that each
/// claim what the message holds (once reserved for at every level).
async fn huge_terms(port: u16, target: &Atom) {
    let mut peer = RawPeer::connect(port, target, raw::config("bignum@127.0.0.1", COOKIE)).await;
    let huge = Term::from_bigint(etf::BigInt::from(1u8) << (8 * (5 << 20)));
    let bad_link = Term::Tuple(vec![Term::Integer(1), huge, Term::Pid(peer.pid(1))]);
    let body = etf::encode(&bad_link).unwrap();
    // A distribution header with no atom cache references, then the control tuple.
    let mut packet = vec![131, 68, 0];
    packet.extend_from_slice(&body[1..]);
    let mut framed = (packet.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    peer.send_raw(&framed).await;
    assert!(peer.closed_within(Duration::from_secs(10)).await);

    let mut peer = RawPeer::connect(port, target, raw::config("lists@127.0.0.1", COOKIE)).await;
    let rest = 1u32 << 20;
    let mut packet = vec![131, 68, 0];
    // SEND's control tuple, then a payload of nested lists.
    let control = ControlMessage::Send {
        to: peer.pid(1),
        token: None,
    };
    packet.extend_from_slice(&etf::encode(&control.to_term()).unwrap()[1..]);
    for level in 0..64u32 {
        packet.push(108);
        packet.extend_from_slice(&(rest - 5 * level - 5).to_be_bytes());
    }
    packet.extend(std::iter::repeat_n(106u8, rest as usize));
    let mut framed = (packet.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    peer.send_raw(&framed).await;
    assert!(peer.closed_within(Duration::from_secs(10)).await);
}

/// Two thousand strangers, each with a name of its own and the wrong cookie: none of their
/// names enters the atom table, and the node does not even look at its processes for them.
async fn strangers(node: &rotp_node::Node, port: u16, target: &Atom) {
    let before = Atom::count();
    for i in 0..2000 {
        let name = format!("stranger_{i}_of_a_crowd@127.0.0.1");
        // The stranger lives in this process too: its own name must not be interned either.
        let mut config = raw::config("x@y", "wrong");
        config.name = Atom::transient(&name);
        let result = RawPeer::try_connect(port, target, config).await;
        assert!(result.is_err(), "{name} got in");
    }
    let grown = Atom::count() - before;
    assert!(grown < 100, "the atom table grew by {grown}");
    assert!(node
        .nodes(true)
        .iter()
        .all(|n| !n.as_str().starts_with("stranger_")));
}

/// Three hundred connections that say nothing: the oldest are dropped as new ones come, so a
/// real node still gets in at once.
async fn silent_crowd(node: &rotp_node::Node, epmd_port: u16, port: u16) {
    let mut crowd = Vec::new();
    for _ in 0..300 {
        crowd.push(raw::tcp(port).await);
    }
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_in_crowd",
        COOKIE,
        epmd_port,
        &format!("io:format(\"~p~n\", [net_adm:ping('{target}')]), halt()."),
    )
    .await;
    assert_eq!(out.trim(), "pong");
    // The first of the crowd were dropped to make room.
    assert!(raw::closed_within(&mut crowd[0], Duration::from_secs(2)).await);
    drop(crowd);
}
