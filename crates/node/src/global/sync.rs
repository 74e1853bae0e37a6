//! `global:sync/0,1` (global.erl's `start_sync/2`): a process per call that waits until the
//! server is in sync with each node, or the node is down, then answers the call.

use etf::{Atom, Pid, Term};
use runtime::{Context, ExitReason};

use super::terms::{atom_list, reply, untag};
use crate::Node;

/// Starts the syncer, linked to the server, which answers `from` with `ok`.
pub(crate) fn start(ctx: &Context, node: &Node, nodes: Vec<Atom>, from: Pid, tag: Term) -> Pid {
    let node = node.clone();
    ctx.spawn_link(move |mut c| async move {
        c.set_behaviour("global", "global:sync_init/2");
        let me = c.pid().clone();
        let mut waiting = Vec::new();
        for n in nodes {
            node.monitor_node(&me, &n).await;
            waiting.push(n);
        }
        while !waiting.is_empty() {
            let message = c.recv().await;
            let Some(term) = message.as_term() else {
                continue;
            };
            if let Some([Term::Atom(down)]) = untag(term, "nodedown") {
                node.demonitor_node(&me, down);
                waiting.retain(|n| n != down);
            } else if let Some([synced]) = untag(term, "synced") {
                for n in atom_list(synced) {
                    node.demonitor_node(&me, &n);
                    waiting.retain(|w| *w != n);
                }
            }
        }
        reply(&c, &from, tag, Term::atom("ok"));
        ExitReason::Normal
    })
}
