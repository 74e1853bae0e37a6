//! `global_name_server` (global.erl's gen_server): the names and locks tables, the calls every
//! node's registrar and lockers make (`{register, ...}`, `{set_lock, Id}`, ...), and the
//! messages of the connect protocol, which `connect.rs` handles.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use etf::{Atom, Pid, Reference, Term, TermKey};
use runtime::{Context, ExitReason, Message};

use super::calls::LockId;
use super::connect::Session;
use super::locker::LockerMsg;
use super::resolve::Op;
use super::tables::{Lock, NameEntry};
use super::terms::{atoms, from_of, reply, tagged, untag};
use super::{ServerMsg, Shared, VSN};
use crate::Node;

/// Who asks for a name to be inserted: a registrar (its call) or a node (its `resolved` or
/// `new_nodes` message); `lock_still_set/3` checks that they still hold global's lock.
pub(crate) enum Inserter<'a> {
    Pid(&'a Pid),
    Node,
}

/// How a node went (`handle_nodedown/3`'s `What`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeDown {
    /// The connection went: the others are told (prevent overlapping partitions).
    Disconnected,
    /// We are taking the connection down ourselves.
    RemoveConnection,
}

pub(crate) struct Server {
    pub(crate) ctx: Context,
    pub(crate) node: Node,
    pub(crate) shared: Arc<Shared>,
    pub(crate) locker: Pid,
    pub(crate) registrar: Pid,
    /// Known nodes and their protocol versions (`known`'s `node() => Vsn`).
    pub(crate) known: HashMap<Atom, i64>,
    /// `{pending, Node} => Vsn`: connect sessions past `init_connect`.
    pub(crate) pending: HashMap<Atom, i64>,
    /// `{removing, Node}`.
    pub(crate) removing: HashSet<Atom>,
    pub(crate) synced: Vec<Atom>,
    /// `{Node, MyTag, Resolver}`.
    pub(crate) resolvers: Vec<(Atom, i64, Pid)>,
    pub(crate) syncers: Vec<Pid>,
    /// What global.erl keeps in the process dictionary for each node it syncs with.
    pub(crate) sessions: HashMap<Atom, Session>,
    global_lock_down: bool,
    pub(crate) connect_all: bool,
    pub(crate) prevent_over_part: bool,
    /// `creation_extension`, for `lost_connection` messages.
    pub(crate) creation_extension: i64,
    /// `global_lost_connections` (`partitions.rs`).
    pub(crate) lost: super::partitions::LostConnections,
    /// A timer will forget the oldest of `lost`.
    pub(crate) lost_timer: bool,
    /// `{whereis, Name, From}` requests waiting for global's lock to go (`whereis.rs`).
    pub(crate) deferred_whereis: Vec<(Term, Pid, Term)>,
    /// A timer will look at `deferred_whereis` again.
    pub(crate) whereis_timer: bool,
}

pub(crate) async fn run(
    ctx: Context,
    parent: Pid,
    node: Node,
    shared: Arc<Shared>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> ExitReason {
    ctx.trap_exit(true);
    ctx.set_suspend_on_busy(false);
    ctx.set_behaviour("gen_server", "global:init/1");
    node.monitor_nodes(ctx.pid(), true);
    let me = ctx.pid().clone();
    let locker = ctx.spawn_link({
        let shared = shared.clone();
        move |c| super::locker::run(c, shared, me)
    });
    let registrar = ctx.spawn_link({
        let shared = shared.clone();
        move |c| super::registrar::run(c, shared)
    });
    *shared.registrar.lock().unwrap_or_else(|e| e.into_inner()) = Some(registrar.clone());
    let _ = ready.send(());
    // Bits 32 and up random, as global.erl's `creation_extension`.
    let creation_extension = (super::calls::random_below(1 << 59) as i64) & !0xffff_ffff;
    let mut server = Server {
        ctx,
        node: node.clone(),
        shared,
        locker,
        registrar,
        known: HashMap::new(),
        pending: HashMap::new(),
        removing: HashSet::new(),
        synced: Vec::new(),
        resolvers: Vec::new(),
        syncers: Vec::new(),
        sessions: HashMap::new(),
        global_lock_down: false,
        connect_all: true,
        prevent_over_part: true,
        creation_extension,
        lost: super::partitions::lost_connections(),
        lost_timer: false,
        deferred_whereis: Vec::new(),
        whereis_timer: false,
    };
    server.shared.lost_connections.store(0, Ordering::Relaxed);
    let reason = server.serve(&parent).await;
    node.monitor_nodes(server.ctx.pid(), false);
    *server.shared.write() = Default::default();
    reason
}

impl Server {
    pub(crate) fn me(&self) -> Atom {
        self.node.name().clone()
    }

    async fn serve(&mut self, parent: &Pid) -> ExitReason {
        loop {
            let message = self.ctx.recv().await;
            if let Some((from, reason)) = message.as_exit() {
                if from == *parent {
                    return reason;
                }
                if from == self.locker || from == self.registrar {
                    let who = if from == self.locker {
                        "locker_died"
                    } else {
                        "registrar_died"
                    };
                    return ExitReason::Other(tagged(
                        who,
                        vec![tagged("EXIT", vec![Term::Pid(from), reason.to_term()])],
                    ));
                }
                self.syncers.retain(|p| *p != from);
                continue;
            }
            if let Some((reference, _, _)) = message.as_down() {
                self.down(&reference);
                continue;
            }
            let message = match message.downcast::<ServerMsg>() {
                Ok(m) => {
                    self.internal(m);
                    continue;
                }
                Err(m) => m,
            };
            let Message::Term(term) = message else {
                continue;
            };
            if let Some([from, request]) = untag(&term, "$gen_call") {
                if let Some((pid, tag)) = from_of(from) {
                    self.call(pid, tag, request);
                }
            } else if let Some([request]) = untag(&term, "$gen_cast") {
                self.cast(request);
            } else {
                self.info(&term).await;
            }
        }
    }

    fn internal(&mut self, message: ServerMsg) {
        match message {
            ServerMsg::LockIsSet { node, tag, lock } => self.lock_is_set(&node, tag, lock),
            ServerMsg::ExchangeOps {
                node,
                tag,
                ops,
                resolved,
            } => self.exchange_ops(&node, tag, ops, resolved),
            ServerMsg::ForgetLostConnections => self.forget_lost_connections(),
            ServerMsg::WhereisAgain => self.whereis_again(),
        }
    }

    /// Sends the server `message` after `delay` (`erlang:send_after/3`), from a timer task
    /// rather than a process: a message to a server that has gone meanwhile is dropped.
    pub(crate) fn send_after(&self, delay: std::time::Duration, message: ServerMsg) {
        let runtime = self.ctx.runtime().clone();
        let server = self.ctx.pid().clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            runtime.send(&server, Message::local(message));
        });
    }

    fn call(&mut self, from: Pid, tag: Term, request: &Term) {
        let answer = |s: &Server, value: Term| reply(&s.ctx, &from, tag.clone(), value);
        let Term::Tuple(v) = request else {
            match request.as_atom() {
                Some("get_known") => {
                    let known: Vec<Atom> = self.known.keys().cloned().collect();
                    answer(self, atoms(&known));
                }
                Some("get_synced") => answer(self, atoms(&self.synced)),
                Some("get_protocol_version") => answer(self, Term::Integer(VSN)),
                Some("get_names_ext") => answer(self, self.names_ext()),
                Some("disconnect") => {
                    let nodes: Vec<Atom> = self.known.keys().cloned().collect();
                    for n in &nodes {
                        self.node.disconnect(n);
                        self.handle_nodedown(n, NodeDown::RemoveConnection);
                    }
                    answer(self, atoms(&nodes));
                }
                _ => self.unexpected("handle_call", request),
            }
            return;
        };
        match (
            v.first().and_then(Term::as_atom),
            v.get(1..).unwrap_or_default(),
        ) {
            (Some("register"), [name, Term::Pid(pid), method]) => {
                self.ins_name(name, pid, method, Inserter::Pid(&from), &[]);
                answer(self, Term::atom("yes"));
            }
            (Some("unregister"), [name]) => {
                self.delete_global_name(name);
                answer(self, Term::atom("ok"));
            }
            (Some("register_ext"), [name, Term::Pid(pid), method, Term::Atom(reg_node)]) => {
                self.ins_name_ext(name, pid, method, reg_node, Inserter::Pid(&from), &[]);
                answer(self, Term::atom("yes"));
            }
            (Some("set_lock"), [id]) => {
                let Some(id) = LockId::from_term(id) else {
                    return self.unexpected("handle_call", request);
                };
                let set = self.handle_set_lock(&id, &from);
                answer(self, Term::atom(if set { "true" } else { "false" }));
            }
            (Some("del_lock"), [id]) => {
                if let Some(id) = LockId::from_term(id) {
                    self.handle_del_lock(&id, &from);
                }
                answer(self, Term::atom("true"));
            }
            (Some("sync"), [nodes]) => {
                let me = self.me();
                let nodes: Vec<Atom> = super::terms::atom_list(nodes)
                    .into_iter()
                    .filter(|n| *n != me && !self.synced.contains(n))
                    .collect();
                let pid = super::sync::start(&self.ctx, &self.node, nodes, from, tag);
                self.syncers.push(pid);
            }
            _ => self.unexpected("handle_call", request),
        }
    }

    fn cast(&mut self, request: &Term) {
        let Term::Tuple(v) = request else {
            return self.unexpected("handle_cast", request);
        };
        let node_of = |t: &Term| match t {
            Term::Atom(a) => Some(a.clone()),
            _ => None,
        };
        match (
            v.first().and_then(Term::as_atom),
            v.get(1..).unwrap_or_default(),
        ) {
            (Some("init_connect"), [vsn, node, init]) => {
                if let Some(node) = node_of(node) {
                    self.init_connect(vsn, &node, init);
                }
            }
            (Some("exchange"), [node, names, _ext, tag]) => {
                if let Some(node) = node_of(node) {
                    self.exchange_cast(&node, names, tag);
                }
            }
            (Some("resolved"), [node, his_resolved, his_known, _unused, names_ext, tag]) => {
                if let Some(node) = node_of(node) {
                    self.resolved_cast(&node, his_resolved, his_known, names_ext, tag);
                }
            }
            // The sender only marks the operations as a node's: the lock they need is checked by
            // the id in ExtraInfo (`lock_still_set/3`).
            (Some("new_nodes"), [Term::Atom(_), ops, names_ext, nodes, extra]) => {
                self.new_nodes(ops, names_ext, nodes, extra);
            }
            (Some("in_sync"), [node, _is_known]) => {
                if let Some(node) = node_of(node) {
                    self.in_sync(&node);
                }
            }
            // Sent by nodes before R14A; the 'DOWN' messages do the work now.
            (Some("async_del_name" | "async_del_lock"), [_, _]) => {}
            (Some("lock_set"), [Term::Pid(pid), _set, _known, tag]) => {
                if self
                    .my_tag(&pid.node)
                    .is_some_and(|t| Term::Integer(t) == *tag)
                {
                    self.ctx.send(&self.locker, Message::Term(request.clone()));
                }
            }
            (Some("lock_set"), [Term::Pid(_), _set, _known]) => {
                self.ctx.send(&self.locker, Message::Term(request.clone()));
            }
            _ => self.unexpected("handle_cast", request),
        }
    }

    async fn info(&mut self, message: &Term) {
        let Term::Tuple(v) = message else {
            return self.unexpected("handle_info", message);
        };
        let me = self.me();
        match (
            v.first().and_then(Term::as_atom),
            v.get(1..).unwrap_or_default(),
        ) {
            (Some("nodeup"), [Term::Atom(node), _info]) => {
                if *node != me && self.connect_all {
                    self.handle_nodeup(node);
                }
            }
            (Some("nodedown"), [Term::Atom(node), _info]) => {
                if *node != me {
                    self.handle_nodedown(node, NodeDown::Disconnected);
                }
            }
            (Some("extra_nodedown"), [Term::Atom(node)]) => {
                for pid in &self.syncers {
                    let down = tagged("nodedown", vec![Term::Atom(node.clone())]);
                    self.ctx.send(pid, Message::Term(down));
                }
                self.handle_nodedown(node, NodeDown::Disconnected);
            }
            (Some("whereis"), [name, from]) => {
                if let Some((pid, tag)) = from_of(from) {
                    self.whereis(name.clone(), pid, tag);
                }
            }
            // XCreationA is an integer (global.erl's `inform_connection_loss/2`).
            (
                Some("lost_connection"),
                [Term::Atom(a), Term::Integer(xcreation), Term::Integer(op), Term::Atom(b)],
            ) => {
                if self.connect_all && self.prevent_over_part {
                    self.lost_connection(message, a, *xcreation, *op, b);
                }
            }
            (Some("remove_connection"), [Term::Atom(node)]) => self.remove_connection(node),
            (Some("cancel_connect"), [Term::Atom(node), tag]) => self.cancel_connect(node, tag),
            (Some("init_connect_ack"), [Term::Atom(node), his_my, his_his]) => {
                self.init_connect_ack(node, his_my, his_his)
            }
            (Some("prepare_shutdown"), [Term::Pid(from), reference]) => {
                self.connect_all = false;
                self.prevent_over_part = false;
                let ok = Term::Tuple(vec![reference.clone(), Term::atom("ok")]);
                self.ctx.send(from, Message::Term(ok));
            }
            // Only sent when global groups are configured, which rotp nodes never are.
            (Some("group_nodeup" | "group_nodedown"), _) => {}
            _ => self.unexpected("handle_info", message),
        }
    }

    fn unexpected(&self, callback: &str, message: &Term) {
        tracing::warn!(
            "The global_name_server received an unexpected message:\n{callback}({}, _)",
            etf::text::write_limited(message, 400)
        );
    }

    /// `global_names_ext` as `[{Name, Pid, RegNode}]`.
    pub(crate) fn names_ext(&self) -> Term {
        Term::List(
            self.shared
                .read()
                .names_ext
                .iter()
                .map(|(n, p, r)| {
                    Term::Tuple(vec![n.clone(), Term::Pid(p.clone()), Term::Atom(r.clone())])
                })
                .collect(),
        )
    }

    // ---- names ----

    /// `ins_name/6`.
    pub(crate) fn ins_name(
        &mut self,
        name: &Term,
        pid: &Pid,
        method: &Term,
        by: Inserter,
        extra: &[Term],
    ) {
        self.delete_global_name_keep_pid(name);
        self.insert_global_name(name, pid, method, by, extra);
    }

    /// `ins_name_ext/7`: a name of a C node's process, linked from the registering node.
    pub(crate) fn ins_name_ext(
        &mut self,
        name: &Term,
        pid: &Pid,
        method: &Term,
        reg_node: &Atom,
        by: Inserter,
        extra: &[Term],
    ) {
        self.delete_global_name_keep_pid(name);
        if *reg_node == self.me() {
            self.ctx.link(pid);
        }
        self.shared
            .write()
            .names_ext
            .push((name.clone(), pid.clone(), reg_node.clone()));
        self.insert_global_name(name, pid, method, by, extra);
    }

    fn insert_global_name(
        &mut self,
        name: &Term,
        pid: &Pid,
        method: &Term,
        by: Inserter,
        extra: &[Term],
    ) {
        let monitor = self.ctx.monitor(pid);
        let key = TermKey::new(name);
        {
            let mut t = self.shared.write();
            t.names.insert(
                key.clone(),
                NameEntry {
                    name: name.clone(),
                    pid: pid.clone(),
                    method: method.clone(),
                    monitor: monitor.clone(),
                },
            );
            t.pid_names
                .entry(pid.clone())
                .or_default()
                .push(key.clone());
            t.ref_names.insert(monitor, key);
        }
        if !self.lock_still_set(by, extra) {
            // The node that took the lock went down and came up again meanwhile.
            self.delete_global_name(name);
        }
    }

    fn lock_still_set(&self, by: Inserter, extra: &[Term]) -> bool {
        let tables = self.shared.read();
        match (tables.locks.get(&TermKey::new(&Term::atom("global"))), by) {
            (Some(lock), Inserter::Pid(p)) => lock.holders.iter().any(|(h, _)| h == p),
            (Some(lock), Inserter::Node) => {
                let id = extra.iter().find_map(|t| match untag(t, "lock") {
                    Some([Term::Tuple(l)]) if l.len() == 2 => Some(l[1].clone()),
                    _ => None,
                });
                id.is_some_and(|id| id == lock.requester)
            }
            (None, _) => !self.global_lock_down,
        }
    }

    fn delete_global_name_keep_pid(&mut self, name: &Term) {
        let entry = self.shared.read().lookup(name).cloned();
        if let Some(e) = entry {
            self.delete_global_name_entry(&e);
        }
    }

    /// `delete_global_name2/2`.
    pub(crate) fn delete_global_name(&mut self, name: &Term) {
        let entry = self.shared.write().names.remove(&TermKey::new(name));
        if let Some(e) = entry {
            self.delete_global_name_entry(&e);
        }
    }

    fn delete_global_name_entry(&mut self, e: &NameEntry) {
        self.ctx.demonitor(&e.monitor, true);
        let key = TermKey::new(&e.name);
        let unlink = {
            let mut t = self.shared.write();
            if let Some(names) = t.pid_names.get_mut(&e.pid) {
                names.retain(|k| *k != key);
                if names.is_empty() {
                    t.pid_names.remove(&e.pid);
                }
            }
            t.ref_names.remove(&e.monitor);
            match t
                .names_ext
                .iter()
                .position(|(n, p, _)| *n == e.name && *p == e.pid)
            {
                Some(i) => {
                    let (_, _, reg_node) = t.names_ext.remove(i);
                    reg_node == *self.node.name() && !t.has_name(&e.pid)
                }
                None => false,
            }
        };
        if unlink {
            self.ctx.unlink(&e.pid);
        }
    }

    // ---- locks ----

    fn handle_set_lock(&mut self, id: &LockId, pid: &Pid) -> bool {
        let holders = self.shared.read().can_set_lock(&id.resource, &id.requester);
        match holders {
            Some(holders) => {
                if !holders.iter().any(|(p, _)| p == pid) {
                    let monitor = self.ctx.monitor(pid);
                    let key = TermKey::new(&id.resource);
                    let mut t = self.shared.write();
                    t.ref_locks
                        .entry(monitor.clone())
                        .or_default()
                        .push(key.clone());
                    let lock = t.locks.entry(key).or_insert_with(|| Lock {
                        requester: id.requester.clone(),
                        holders: Vec::new(),
                    });
                    lock.holders.insert(0, (pid.clone(), monitor));
                }
                true
            }
            None => false,
        }
    }

    fn handle_del_lock(&mut self, id: &LockId, pid: &Pid) {
        let key = TermKey::new(&id.resource);
        let same = self
            .shared
            .read()
            .locks
            .get(&key)
            .is_some_and(|l| l.requester == id.requester);
        if same {
            self.remove_lock(&key, pid, false);
        }
    }

    /// `remove_lock/6`: `pid` lets go of the lock; the lock goes with its last holder.
    fn remove_lock(&mut self, key: &TermKey, pid: &Pid, down: bool) {
        let global = TermKey::new(&Term::atom("global"));
        let released = {
            let mut t = self.shared.write();
            let Some(lock) = t.locks.get_mut(key) else {
                return;
            };
            let Some(i) = lock.holders.iter().position(|(p, _)| p == pid) else {
                return;
            };
            let (_, monitor) = lock.holders.remove(i);
            let last = lock.holders.is_empty();
            if last {
                t.locks.remove(key);
            }
            if let Some(keys) = t.ref_locks.get_mut(&monitor) {
                keys.retain(|k| k != key);
                if keys.is_empty() {
                    t.ref_locks.remove(&monitor);
                }
            }
            (monitor, last)
        };
        let (monitor, last) = released;
        self.ctx.demonitor(&monitor, true);
        if last && *key == global {
            self.global_lock_down = down;
        }
    }

    /// A process that held names or locks ended (or its node went).
    fn down(&mut self, reference: &Reference) {
        let keys = self
            .shared
            .read()
            .ref_locks
            .get(reference)
            .cloned()
            .unwrap_or_default();
        for key in keys {
            let holder = self.shared.read().locks.get(&key).and_then(|l| {
                l.holders
                    .iter()
                    .find(|(_, r)| r == reference)
                    .map(|(p, _)| p.clone())
            });
            if let Some(pid) = holder {
                self.remove_lock(&key, &pid, true);
            }
        }
        let name = {
            let t = self.shared.read();
            t.ref_names
                .get(reference)
                .and_then(|k| t.names.get(k))
                .filter(|e| e.monitor == *reference)
                .map(|e| e.name.clone())
        };
        if let Some(name) = name {
            self.delete_global_name(&name);
        }
    }

    /// `do_ops/5`: the operations of a `resolved` or `new_nodes` message.
    pub(crate) fn do_ops(&mut self, ops: &[Op], names_ext: &Term, extra: &[Term]) {
        let ext: Vec<(Term, Pid, Atom)> = match names_ext {
            Term::List(v) => v
                .iter()
                .filter_map(|t| match t {
                    Term::Tuple(e) => match e.as_slice() {
                        [n, Term::Pid(p), Term::Atom(r)] => Some((n.clone(), p.clone(), r.clone())),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let by = || Inserter::Node;
        let mut ext_names = Vec::new();
        for op in ops {
            if let Op::Insert(name, pid, method) = op {
                if let Some((_, _, reg)) = ext.iter().find(|(n, p, _)| n == name && p == pid) {
                    self.ins_name_ext(name, pid, method, reg, by(), extra);
                    ext_names.push(name.clone());
                }
            }
        }
        for op in ops {
            if let Op::Insert(name, pid, method) = op {
                if !ext_names.contains(name) {
                    self.ins_name(name, pid, method, by(), extra);
                }
            }
        }
        for op in ops {
            if let Op::Delete(name) = op {
                self.delete_global_name(name);
            }
        }
    }

    /// Lets the registrar and API read the known nodes.
    pub(crate) fn publish_known(&self) {
        let known: Vec<Atom> = self.known.keys().cloned().collect();
        *self.shared.known.write().unwrap_or_else(|e| e.into_inner()) = known;
    }

    pub(crate) fn tell_locker(&self, message: LockerMsg) {
        self.ctx.send(&self.locker, Message::local(message));
    }
}
