//! The locker (global.erl's `loop_the_locker/1`): when two nodes connect, each side's locker
//! sets global's lock in its own partition — every node it knows — under one lock id that
//! both lockers share, `{global, lists:sort([LockerA, LockerB])}`. Once both partitions are
//! locked it tells `global_name_server` (`lock_is_set`) and holds the lock until the server
//! cancels it, when the names are exchanged. Lockers on different nodes talk through their
//! servers (`{lock_set, Locker, IsSet, Known, HisTag}` casts, protocol version 6 and later).

use std::sync::Arc;
use std::time::Duration;

use etf::{Atom, Pid, Term};
use runtime::{Context, ExitReason, Message};

use super::calls::{del_lock, delete_global_lock, random_below, set_lock_on_nodes, LockId};
use super::terms::{atoms, cast, tagged, the_boss};
use super::{ServerMsg, Shared};

/// The version below which lock_set carries no tag (`?verify_connect_vsn`).
const VERIFY_CONNECT_VSN: i64 = 8;

/// What the server tells its locker.
pub(crate) enum LockerMsg {
    /// `{his_the_locker, HisTheLocker, {Vsn, HisKnown}, HisTag, MyTag}`: a node to lock with.
    HisTheLocker(Him),
    /// `{cancel, Node, Tag, Fun}`: stop locking for this session. `then` is the casts to make
    /// before the lock is let go (the `{new_nodes, ...}` messages, so that they reach the
    /// partition before global's lock is deleted).
    Cancel {
        node: Atom,
        tag: Option<i64>,
        then: Vec<(Atom, Term)>,
    },
    /// `{add_to_known, Nodes}`.
    AddToKnown(Vec<Atom>),
    /// `{remove_from_known, Node}`.
    RemoveFromKnown(Atom),
}

/// The other side of a connect session (`#him{}`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Him {
    pub(crate) node: Atom,
    pub(crate) locker: Pid,
    pub(crate) vsn: i64,
    pub(crate) my_tag: i64,
    pub(crate) his_tag: Term,
}

struct Locker {
    ctx: Context,
    shared: Arc<Shared>,
    server: Pid,
    /// Sessions with nodes on this host, tried first, and with others.
    local: Vec<Him>,
    remote: Vec<Him>,
    known: Vec<Atom>,
    just_synced: bool,
    host: String,
}

pub(crate) async fn run(ctx: Context, shared: Arc<Shared>, server: Pid) -> ExitReason {
    ctx.set_behaviour("global", "global:init_the_locker_fun/1");
    ctx.trap_exit(true);
    ctx.set_suspend_on_busy(false);
    let host = ctx
        .runtime()
        .node()
        .as_str()
        .split_once('@')
        .map(|(_, h)| h.to_owned())
        .unwrap_or_default();
    let known = shared.known();
    let mut locker = Locker {
        ctx,
        shared,
        server,
        local: Vec::new(),
        remote: Vec::new(),
        known,
        just_synced: false,
        host,
    };
    loop {
        if let Some(reason) = locker.step().await {
            return reason;
        }
    }
}

impl Locker {
    fn me(&self) -> Atom {
        self.ctx.runtime().node().clone()
    }

    /// One turn of `loop_the_locker/1`: a message if one is there; else wait for one for as
    /// long as OTP waits before trying to lock (200 ms when alone, then 1 s plus 100 ms per
    /// known node, at most 3 s; at once right after a success).
    async fn step(&mut self) -> Option<ExitReason> {
        if let Some(m) = self.ctx.receive_timeout(Duration::ZERO, |_| true).await {
            return self.message(m).await;
        }
        let timeout = if self.local.is_empty() && self.remote.is_empty() {
            None
        } else if self.just_synced {
            Some(Duration::ZERO)
        } else if self.known.is_empty() {
            Some(Duration::from_millis(200))
        } else {
            Some(Duration::from_millis(
                (1000 + 100 * self.known.len() as u64).min(3000),
            ))
        };
        self.just_synced = false;
        let message = match timeout {
            None => Some(self.ctx.recv().await),
            Some(t) => self.ctx.receive_timeout(t, |_| true).await,
        };
        match message {
            Some(m) => self.message(m).await,
            None => {
                if !self.shared.read().is_lock_set(&Term::atom("global")) {
                    self.select_node().await;
                }
                None
            }
        }
    }

    async fn message(&mut self, message: Message) -> Option<ExitReason> {
        if let Some((from, reason)) = message.as_exit() {
            // The server's end is ours; other exits (of the trapped kind) are nobody's business.
            return (from == self.server).then_some(reason);
        }
        let message = match message.downcast::<LockerMsg>() {
            Ok(m) => {
                match m {
                    LockerMsg::HisTheLocker(him) => {
                        if self.is_node_local(&him.node) {
                            self.local.insert(0, him);
                        } else {
                            self.remote.insert(0, him);
                        }
                    }
                    LockerMsg::Cancel { node, tag, then } => {
                        // A cancel with no tag may stem from an old nodedown: it must not
                        // cancel a new nodeup.
                        if let Some(tag) = tag {
                            if !then.is_empty() {
                                tracing::warn!(
                                    "The global_name_server locker process received an unexpected message: cancel with a function for {node}"
                                );
                            }
                            self.remove_node(&node, tag);
                        }
                    }
                    LockerMsg::AddToKnown(nodes) => self.add_known(nodes),
                    LockerMsg::RemoveFromKnown(node) => self.known.retain(|n| *n != node),
                }
                return None;
            }
            Err(m) => m,
        };
        let term = message.as_term()?;
        // `{lock_set, Pid, IsSet, HisKnown[, MyTag]}`, forwarded by the server.
        if let Some(rest) = super::terms::untag(term, "lock_set") {
            if let (Some(Term::Pid(pid)), Some(set)) = (rest.first(), rest.get(1)) {
                if set.as_atom() == Some("true") {
                    let tag = match rest.get(3) {
                        Some(Term::Integer(t)) => Some(*t),
                        Some(_) => return None,
                        None => None,
                    };
                    self.spontaneous(pid.clone(), tag).await;
                }
            }
            return None;
        }
        tracing::warn!(
            "The global_name_server locker process received an unexpected message:\n{}",
            etf::text::write_limited(term, 400)
        );
        None
    }

    fn add_known(&mut self, nodes: Vec<Atom>) {
        let mut all = nodes;
        all.append(&mut self.known);
        self.known = all;
    }

    fn is_node_local(&self, node: &Atom) -> bool {
        node.as_str().split_once('@').map(|(_, h)| h) == Some(self.host.as_str())
    }

    fn remove_node(&mut self, node: &Atom, tag: i64) {
        for list in [&mut self.local, &mut self.remote] {
            if let Some(i) = list.iter().position(|h| h.node == *node && h.my_tag == tag) {
                list.remove(i);
            }
        }
    }

    fn find(&self, node: &Atom) -> Option<Him> {
        self.local
            .iter()
            .chain(self.remote.iter())
            .find(|h| h.node == *node)
            .cloned()
    }

    /// `{global, lists:sort([self(), HisTheLocker])}`.
    fn lock_id(&self, his_locker: &Pid) -> LockId {
        let mut pids = [
            Term::Pid(self.ctx.pid().clone()),
            Term::Pid(his_locker.clone()),
        ];
        pids.sort_by(etf::order::term_cmp);
        LockId::new(Term::atom("global"), Term::List(pids.to_vec()))
    }

    /// The other locker locked its side and asks us to lock ours.
    async fn spontaneous(&mut self, pid: Pid, tag: Option<i64>) {
        let node = pid.node.clone();
        match self.find(&node) {
            Some(him) if tag.is_none_or(|t| t == him.my_tag) => {
                let id = self.lock_id(&pid);
                let set = self.lock_nodes_safely(&id, &[]).await;
                self.send_lock_set(set, &pid, him.vsn, &him.his_tag);
                if set {
                    let mut known = vec![self.me()];
                    known.extend(self.known.iter().cloned());
                    self.ctx.send(
                        &self.server,
                        Message::local(ServerMsg::LockIsSet {
                            node: node.clone(),
                            tag: him.my_tag,
                            lock: id.clone(),
                        }),
                    );
                    self.wait_cancel_lock(&node, &id, him.my_tag, &known).await;
                    self.just_synced = true;
                    self.remove_node(&node, him.my_tag);
                } else {
                    self.just_synced = false;
                }
            }
            Some(_) => {}
            None => self.send_lock_set(false, &pid, 5, &Term::Integer(0)),
        }
    }

    /// `select_node/1`: try to lock with one of the nodes waiting, at random.
    async fn select_node(&mut self) {
        let use_remote = self.local.is_empty();
        let known = self.known.clone();
        let list = if use_remote {
            &mut self.remote
        } else {
            &mut self.local
        };
        list.retain(|h| !known.contains(&h.node));
        if list.is_empty() {
            return;
        }
        let him = list[random_below(list.len() as u64) as usize].clone();
        let id = self.lock_id(&him.locker);
        if !self
            .lock_nodes_safely(&id, std::slice::from_ref(&him.node))
            .await
        {
            return;
        }
        let mut known = vec![self.me(), him.node.clone()];
        known.extend(self.known.iter().cloned());
        self.send_lock_set(true, &him.locker, him.vsn, &him.his_tag);
        self.lock_is_set(&him, &known, &id).await;
    }

    /// Waits for the other locker's answer (`lock_is_set/5`).
    async fn lock_is_set(&mut self, him: &Him, known: &[Atom], id: &LockId) {
        let server = self.server.clone();
        let node = him.node.clone();
        let my_tag = him.my_tag;
        loop {
            let message = self
                .ctx
                .receive(|m| {
                    if let Some(LockerMsg::Cancel {
                        node: n,
                        tag: Some(t),
                        ..
                    }) = m.downcast_ref()
                    {
                        return *n == node && *t == my_tag;
                    }
                    lock_set_from(m, &node).is_some()
                })
                .await;
            if let Some((set, tag)) = lock_set_from(&message, &node) {
                if tag.is_some_and(|t| t != my_tag) {
                    continue; // An answer to an older session.
                }
                if set {
                    self.ctx.send(
                        &server,
                        Message::local(ServerMsg::LockIsSet {
                            node: node.clone(),
                            tag: my_tag,
                            lock: id.clone(),
                        }),
                    );
                    self.wait_cancel_lock(&node, id, my_tag, known).await;
                    self.just_synced = true;
                    self.local.retain(|h| h != him);
                    self.remote.retain(|h| h != him);
                } else {
                    delete_global_lock(&mut self.ctx, id, known).await;
                }
                return;
            }
            if let Ok(LockerMsg::Cancel { then, .. }) = message.downcast::<LockerMsg>() {
                self.run_then(then);
                delete_global_lock(&mut self.ctx, id, known).await;
                self.remove_node(&node, my_tag);
                return;
            }
        }
    }

    /// Holds the lock until the server cancels the session (`wait_cancel_lock/6`).
    async fn wait_cancel_lock(&mut self, node: &Atom, id: &LockId, tag: i64, known: &[Atom]) {
        let node = node.clone();
        let message = self
            .ctx
            .receive(|m| {
                matches!(m.downcast_ref(), Some(LockerMsg::Cancel { node: n, tag: Some(t), .. }) if *n == node && *t == tag)
            })
            .await;
        if let Ok(LockerMsg::Cancel { then, .. }) = message.downcast::<LockerMsg>() {
            self.run_then(then);
        }
        delete_global_lock(&mut self.ctx, id, known).await;
    }

    fn run_then(&self, casts: Vec<(Atom, Term)>) {
        for (node, message) in casts {
            cast(&self.ctx, &node, message);
        }
    }

    fn send_lock_set(&self, set: bool, his_locker: &Pid, vsn: i64, his_tag: &Term) {
        let set = Term::atom(if set { "true" } else { "false" });
        let me = Term::Pid(self.ctx.pid().clone());
        let known = atoms(&self.known);
        let message = if vsn < VERIFY_CONNECT_VSN {
            tagged("lock_set", vec![me, set, known])
        } else {
            tagged("lock_set", vec![me, set, known, his_tag.clone()])
        };
        if vsn < 6 {
            self.ctx.send(his_locker, Message::Term(message));
        } else {
            cast(&self.ctx, &his_locker.node, message);
        }
    }

    /// `update_locker_known/1`: takes in the changes to the known nodes queued so far.
    async fn update_known(&mut self) {
        while let Some(message) = self
            .ctx
            .receive_timeout(Duration::ZERO, |m| {
                matches!(
                    m.downcast_ref(),
                    Some(LockerMsg::AddToKnown(_) | LockerMsg::RemoveFromKnown(_))
                )
            })
            .await
        {
            match message.downcast::<LockerMsg>() {
                Ok(LockerMsg::AddToKnown(nodes)) => self.add_known(nodes),
                Ok(LockerMsg::RemoveFromKnown(node)) => self.known.retain(|n| *n != node),
                _ => {}
            }
        }
    }

    /// `lock_nodes_safely/3`: the boss first, then this node and `extra`, then every other
    /// known node; all or nothing.
    async fn lock_nodes_safely(&mut self, id: &LockId, extra: &[Atom]) -> bool {
        let me = self.me();
        let mut everyone = vec![me.clone()];
        everyone.extend(self.known.iter().cloned());
        let first: Vec<Atom> = the_boss(&everyone).into_iter().collect();
        let local_ok = first == [me.clone()]
            || self
                .shared
                .read()
                .can_set_lock(&id.resource, &id.requester)
                .is_some();
        if !local_ok || !set_lock_on_nodes(&mut self.ctx, &self.shared, id, &first).await {
            return false;
        }
        self.update_known().await;
        let mut second = vec![me];
        second.extend(extra.iter().cloned());
        second.retain(|n| !first.contains(n));
        if !set_lock_on_nodes(&mut self.ctx, &self.shared, id, &second).await {
            del_lock(&mut self.ctx, id, &first).await;
            return false;
        }
        let rest: Vec<Atom> = self
            .known
            .iter()
            .filter(|n| !first.contains(n))
            .cloned()
            .collect();
        if !set_lock_on_nodes(&mut self.ctx, &self.shared, id, &rest).await {
            let mut so_far = first;
            so_far.extend(second);
            del_lock(&mut self.ctx, id, &so_far).await;
            return false;
        }
        true
    }
}

/// A `{lock_set, P, IsSet, _[, Tag]}` from `node`'s locker: whether set, and its tag.
fn lock_set_from(message: &Message, node: &Atom) -> Option<(bool, Option<i64>)> {
    let rest = super::terms::untag(message.as_term()?, "lock_set")?;
    let Some(Term::Pid(p)) = rest.first() else {
        return None;
    };
    if p.node != *node {
        return None;
    }
    let set = rest.get(1)?.as_atom()? == "true";
    let tag = match rest.get(3) {
        Some(Term::Integer(t)) => Some(*t),
        Some(_) => Some(i64::MIN),
        None => None,
    };
    Some((set, tag))
}
