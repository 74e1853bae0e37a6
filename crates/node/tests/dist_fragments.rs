//! A connection's allowance for fragmented messages while it lives (`NodeConfig::max_message`,
//! here 8 MiB): a whole message of most of it arrives; unfinished messages may hold up to it
//! between them, and the peer that sends more is disconnected, the node answering everyone
//! else as before (security review of 2026-12-07, M13: the allowance must hold while the
//! connection lives; what it held goes back when it closes, `crates/rotp-cli/tests/dist_memory.rs`).

mod support;

use std::time::Duration;

use dist::ControlMessage;
use etf::{Atom, Term};
use runtime::ExitReason;
use support::raw::{self, first_fragment, RawPeer};
use support::*;

const COOKIE: &str = "fragments";
const ALLOWANCE: usize = 8 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_keeps_to_its_allowance_for_fragments() {
    let (_epmd, epmd_port) = epmd();
    let node = rotp_node_with("rotp_frag", COOKIE, epmd_port, |c| {
        c.max_message = ALLOWANCE;
    })
    .await;
    let target = node.name().clone();
    let port = node.listen_port().unwrap();

    // A sink that tells the test the size of each binary it gets.
    let (tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let sink = node.runtime().spawn(move |mut ctx| async move {
        loop {
            let m = ctx.recv().await;
            if let Some(Term::Binary(b)) = m.as_term() {
                let _ = tx.send(b.len());
            }
        }
        #[allow(unreachable_code)]
        ExitReason::Normal
    });
    node.runtime().register(Atom::from("sink"), &sink).unwrap();

    // Six megabytes in 64 KiB fragments: under the allowance, delivered whole.
    let mut peer = RawPeer::connect(port, &target, raw::config("big@127.0.0.1", COOKIE)).await;
    let send = ControlMessage::RegSend {
        from: peer.pid(1),
        to: Atom::from("sink"),
        token: None,
    };
    let six = Term::Binary(vec![7u8; 6 << 20].into());
    peer.send(&send, Some(&six)).await;
    let size = tokio::time::timeout(Duration::from_secs(20), got.recv())
        .await
        .expect("the large message arrives")
        .expect("the sink lives");
    assert_eq!(size, 6 << 20);

    // Seven unfinished messages of 1 MiB: held, the connection answers.
    for sequence in 1..=7u64 {
        peer.send_raw(&first_fragment(sequence, 100, 1 << 20)).await;
    }
    assert!(
        peer.round_trip(Duration::from_secs(20)).await,
        "7 MiB of unfinished messages, within the allowance, closed the connection"
    );
    // Two more take them past 8 MiB: the node closes the connection.
    for sequence in 8..=9u64 {
        peer.send_raw(&first_fragment(sequence, 100, 1 << 20)).await;
    }
    assert!(
        peer.closed_within(Duration::from_secs(10)).await,
        "9 MiB of unfinished messages and the connection still open"
    );

    // Everyone else is answered as before: a new peer, and an erl node.
    let mut next = RawPeer::connect(port, &target, raw::config("next@127.0.0.1", COOKIE)).await;
    assert!(next.round_trip(Duration::from_secs(20)).await);
    let out = erl_eval(
        "erl_after_fragments",
        COOKIE,
        epmd_port,
        &format!("io:format(\"~p~n\", [net_adm:ping('{target}')]), halt()."),
    )
    .await;
    assert_eq!(out.trim(), "pong");
}
