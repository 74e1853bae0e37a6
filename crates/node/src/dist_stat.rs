//! What a rotp node answers about its distribution connections, one per peer, in the BEAM's
//! own calls, so the window (and `prometheus_vm_dist_collector`-style scrapers) read rotp and
//! BEAM nodes alike:
//!
//! - `erlang:system_info(dist_ctrl)`: `[{Node, Port}]`, a port per connection up (erts names
//!   a TCP connection's port; ours is a port identifier of this node numbered by the
//!   connection, meaningful only to the two calls below);
//! - `inet:getstat(Port, Items)`: `{ok, [{Item, N}]}` for `recv_oct`, `send_oct`, `recv_cnt`,
//!   `send_cnt` and `send_pend` (bytes and packets, as `inet:getstat/2` documents them);
//! - `net_kernel:nodes_info/0`: `{ok, [{Node, [{state, up}, {type, normal | hidden}, {in, N},
//!   {out, N}]}]}`, packets in and out as kernel's `net_kernel.erl` reports them from
//!   `erlang:dist_get_stat/1`.

use std::sync::atomic::Ordering;

use etf::{Atom, Term};

use crate::connections::ConnState;
use crate::functions::pair;
use crate::Node;

/// One connection's figures.
struct Stat {
    peer: Atom,
    id: u64,
    hidden: bool,
    bytes_in: u64,
    bytes_out: u64,
    packets_in: u64,
    packets_out: u64,
    pending: u64,
}

fn stats(node: &Node) -> Vec<Stat> {
    let table = node.inner().conns.lock();
    let mut out: Vec<Stat> = table
        .iter()
        .filter_map(|(peer, c)| match &c.state {
            ConnState::Up(up) => {
                let s = c.outbox.stats();
                Some(Stat {
                    peer: peer.clone(),
                    id: c.owner,
                    hidden: up.hidden,
                    bytes_in: s.bytes_in.load(Ordering::Relaxed),
                    bytes_out: s.bytes_out.load(Ordering::Relaxed),
                    packets_in: s.read.load(Ordering::Relaxed),
                    packets_out: s.written.load(Ordering::Relaxed),
                    pending: s.backlog.bytes() as u64,
                })
            }
            ConnState::Pending { .. } => None,
        })
        .collect();
    out.sort_by(|a, b| a.peer.cmp(&b.peer));
    out
}

fn port(node: &Node, id: u64) -> Term {
    Term::Port(etf::Port {
        node: node.name().clone(),
        id,
        creation: node.runtime().creation(),
    })
}

/// `erlang:system_info(dist_ctrl)`.
pub(crate) fn dist_ctrl(node: &Node) -> Term {
    Term::List(
        stats(node)
            .into_iter()
            .map(|s| Term::Tuple(vec![Term::Atom(s.peer), port(node, s.id)]))
            .collect(),
    )
}

/// `inet:getstat(Port, Items)` for a port [`dist_ctrl`] gave; `{error, einval}` for any other,
/// as inet answers for a closed port; `None` (badarg) for an item it does not know.
pub(crate) fn getstat(node: &Node, port: &etf::Port, items: &Term) -> Option<Term> {
    let einval = || Term::Tuple(vec![Term::atom("error"), Term::atom("einval")]);
    if &port.node != node.name() {
        return Some(einval());
    }
    let Some(s) = stats(node).into_iter().find(|s| s.id == port.id) else {
        return Some(einval());
    };
    let Term::List(items) = items else {
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let n = match item.as_atom()? {
            "recv_oct" => s.bytes_in,
            "send_oct" => s.bytes_out,
            "recv_cnt" => s.packets_in,
            "send_cnt" => s.packets_out,
            "send_pend" => s.pending,
            _ => return None,
        };
        out.push(Term::Tuple(vec![item.clone(), Term::Integer(n as i64)]));
    }
    Some(Term::Tuple(vec![Term::atom("ok"), Term::List(out)]))
}

/// `net_kernel:nodes_info/0`.
pub(crate) fn nodes_info(node: &Node) -> Term {
    let infos = stats(node)
        .into_iter()
        .map(|s| {
            Term::Tuple(vec![
                Term::Atom(s.peer),
                Term::List(vec![
                    pair("state", Term::atom("up")),
                    pair(
                        "type",
                        Term::atom(if s.hidden { "hidden" } else { "normal" }),
                    ),
                    pair("in", Term::Integer(s.packets_in as i64)),
                    pair("out", Term::Integer(s.packets_out as i64)),
                ]),
            ])
        })
        .collect();
    Term::Tuple(vec![Term::atom("ok"), Term::List(infos)])
}
