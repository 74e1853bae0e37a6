//! Locking through every node's `global_name_server`, from the calling process, as global.erl
//! does it: `gen_server:multi_call/3` of `{set_lock, Id}` and `{del_lock, Id}`, backing off
//! at random between attempts (`set_lock/4`, `set_lock_on_nodes/2`, `check_replies/3`,
//! `random_sleep/1`).

use std::sync::Arc;
use std::time::Duration;

use etf::{Atom, Term};
use runtime::{Context, Message};

use super::tables::Tables;
use super::terms::{tagged, SERVER};

/// How many times to try a lock (`Retries :: non_neg_integer() | infinity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retries {
    /// Until it is set.
    Infinity,
    /// This many more times after the first.
    Times(u32),
}

impl Retries {
    fn dec(self) -> Retries {
        match self {
            Retries::Infinity => Retries::Infinity,
            Retries::Times(n) => Retries::Times(n.saturating_sub(1)),
        }
    }
}

/// `gen_server:multi_call(Nodes, global_name_server, Request)` from `ctx`: the replies, by
/// node, and the nodes that did not answer (no server there, or no connection). As
/// gen_server.erl's `send_nodes/4`, each server is monitored by name and sent
/// `{'$gen_call', {self(), {Tag, Node}}, Request}`; it answers `{{Tag, Node}, Reply}`.
pub(crate) async fn multi_call(
    ctx: &mut Context,
    nodes: &[Atom],
    request: &Term,
) -> (Vec<(Atom, Term)>, Vec<Atom>) {
    let tag = Term::Reference(ctx.make_ref());
    let server = Atom::from(SERVER);
    let mut pending = Vec::with_capacity(nodes.len());
    for node in nodes {
        let monitor = ctx.monitor_name(&server, node);
        let from = Term::Tuple(vec![
            Term::Pid(ctx.pid().clone()),
            Term::Tuple(vec![tag.clone(), Term::Atom(node.clone())]),
        ]);
        let call = tagged("$gen_call", vec![from, request.clone()]);
        let _ = ctx.send_to_name(&server, node, Message::Term(call));
        pending.push((node.clone(), monitor));
    }
    let (mut replies, mut bad) = (Vec::new(), Vec::new());
    for (node, monitor) in pending {
        let node_term = Term::Atom(node.clone());
        let message = ctx
            .receive(|m| {
                m.is_down_for(&monitor)
                    || matches!(m.as_term(), Some(Term::Tuple(v)) if v.len() == 2
                        && matches!(&v[0], Term::Tuple(t) if t.len() == 2 && t[0] == tag && t[1] == node_term))
            })
            .await;
        if message.is_down_for(&monitor) {
            bad.push(node);
            continue;
        }
        ctx.demonitor(&monitor, true);
        if let Message::Term(Term::Tuple(mut v)) = message {
            if let Some(reply) = v.pop() {
                replies.push((node, reply));
            }
        }
    }
    (replies, bad)
}

/// `{ResourceId, LockRequesterId}`: what a lock is on, and who asks (processes asking with the
/// same requester share the lock).
#[derive(Clone, Debug, PartialEq)]
pub struct LockId {
    /// `ResourceId`.
    pub resource: Term,
    /// `LockRequesterId`.
    pub requester: Term,
}

impl LockId {
    /// `{ResourceId, LockRequesterId}`.
    pub fn new(resource: Term, requester: Term) -> LockId {
        LockId {
            resource,
            requester,
        }
    }

    pub(crate) fn to_term(&self) -> Term {
        Term::Tuple(vec![self.resource.clone(), self.requester.clone()])
    }

    pub(crate) fn from_term(term: &Term) -> Option<LockId> {
        match term {
            Term::Tuple(v) if v.len() == 2 => Some(LockId::new(v[0].clone(), v[1].clone())),
            _ => None,
        }
    }
}

/// `set_lock(Id, Nodes, Retries)`, from `ctx`, which holds the lock when this returns `true`.
pub(crate) async fn set_lock(
    ctx: &mut Context,
    tables: &Arc<super::Shared>,
    id: &LockId,
    nodes: &[Atom],
    mut retries: Retries,
) -> bool {
    let mut times = 1;
    loop {
        if set_lock_on_nodes(ctx, tables, id, nodes).await {
            return true;
        }
        if retries == Retries::Times(0) {
            return false;
        }
        random_sleep(times).await;
        retries = retries.dec();
        times += 1;
    }
}

/// One attempt on `nodes` (`set_lock_on_nodes/2`): if any refuses, the locks the others gave
/// are taken back. A node that does not answer does not refuse.
pub(crate) async fn set_lock_on_nodes(
    ctx: &mut Context,
    shared: &Arc<super::Shared>,
    id: &LockId,
    nodes: &[Atom],
) -> bool {
    if nodes.is_empty() {
        return true;
    }
    // Probe the local table first (`local_lock_check/2`), when there are other nodes to ask.
    if nodes.len() > 1
        && nodes.contains(ctx.runtime().node())
        && shared
            .read()
            .can_set_lock(&id.resource, &id.requester)
            .is_none()
    {
        return false;
    }
    let request = tagged("set_lock", vec![id.to_term()]);
    let (replies, _) = multi_call(ctx, nodes, &request).await;
    let refused = replies.iter().any(|(_, r)| r.as_atom() != Some("true"));
    if refused && replies.len() > 1 {
        let granted: Vec<Atom> = replies
            .iter()
            .filter(|(_, r)| r.as_atom() == Some("true"))
            .map(|(n, _)| n.clone())
            .collect();
        del_lock(ctx, id, &granted).await;
    }
    !refused
}

/// `del_lock(Id, Nodes)`.
pub(crate) async fn del_lock(ctx: &mut Context, id: &LockId, nodes: &[Atom]) {
    if nodes.is_empty() {
        return;
    }
    let request = tagged("del_lock", vec![id.to_term()]);
    let _ = multi_call(ctx, nodes, &request).await;
}

/// `delete_global_lock/2`: the lock on the boss (the greatest node) goes last, so that nobody
/// locks the boss while the others are still held.
pub(crate) async fn delete_global_lock(ctx: &mut Context, id: &LockId, nodes: &[Atom]) {
    let boss = super::terms::the_boss(nodes);
    let others: Vec<Atom> = nodes
        .iter()
        .filter(|n| Some(*n) != boss.as_ref())
        .cloned()
        .collect();
    del_lock(ctx, id, &others).await;
    if let Some(boss) = boss {
        del_lock(ctx, id, &[boss]).await;
    }
}

/// `random_sleep(Times)`: up to 1/8 s the first time, doubling each time up to 8 s.
pub(crate) async fn random_sleep(times: u32) {
    tokio::time::sleep(random_delay(times)).await;
}

/// How long `random_sleep(Times)` sleeps.
pub(crate) fn random_delay(times: u32) -> Duration {
    let max_ms: u64 = if times > 5 {
        8000
    } else {
        ((1u64 << times) * 1000) / 8
    };
    Duration::from_millis(1 + random_below(max_ms.max(1)))
}

/// A random number below `n`.
pub(crate) fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b) % n.max(1)
}

/// The tables, read.
impl super::Shared {
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }
}
