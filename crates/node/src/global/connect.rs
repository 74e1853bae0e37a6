//! The connect protocol between two `global_name_server`s (global.erl's "Connection
//! algorithm"), on nodeup:
//!
//! ```text
//! A → B  {init_connect, {8, TagA}, A, {locker, no_longer_a_pid, KnownA, LockerA}}
//! B → A  {init_connect_ack, B, TagA, TagB}
//!        the lockers lock both partitions ({lock_set, ...} through the servers)
//! A → B  {exchange, A, NamesA, [], TagB}
//!        A's resolver works out the operations (name clashes are resolved here)
//! A → B  {resolved, A, ResolvedA, KnownA, unused, NamesExtA, TagB}
//! A → C  {new_nodes, A, Ops, NamesExt, [{B, 8} | KnownB], ExtraInfo}   for each C known to A
//! C → B  {in_sync, C, true}                                             C connects to B
//! ```
//!
//! Either side may call a session off (`{cancel_connect, Node, Tag}`) and start again.

use etf::{Atom, Map, Pid, Term};
use runtime::Message;

use super::calls::LockId;
use super::locker::{Him, LockerMsg};
use super::resolve::{Op, ResolveNames};
use super::server::{NodeDown, Server};
use super::terms::{cast, tagged, untag, SERVER};
use super::VSN;

/// The version that introduced "prevent overlapping partitions" and versions in known lists.
pub(crate) const POP_VSN: i64 = 7;
/// The version that introduced `init_connect_ack` and `cancel_connect`.
const VERIFY_CONNECT_VSN: i64 = 8;

/// What global.erl keeps in its process dictionary for one node it syncs with.
#[derive(Default)]
pub(crate) struct Session {
    pub(crate) my_tag: Option<i64>,
    his_tag: Option<Term>,
    wait_lock: Option<WaitLock>,
    save_ops: Option<SaveOps>,
    pre_connect: Option<(i64, Term, Term)>,
    prot_vsn: Option<i64>,
    lock_id: Option<LockId>,
}

/// `{wait_lock, Node}`.
enum WaitLock {
    LockIsSet,
    Exchange(Vec<(Term, Pid, Term)>),
}

/// `{save_ops, Node}`: our operations, or the other side's `resolved`, whichever came first.
enum SaveOps {
    Ops(Vec<Op>),
    Resolved {
        his_known: Term,
        names_ext: Term,
        his_resolved: Vec<Op>,
    },
}

fn ops_of(term: &Term) -> Vec<Op> {
    match term {
        Term::List(v) => v.iter().filter_map(Op::from_term).collect(),
        _ => Vec::new(),
    }
}

fn ops_term(ops: &[Op]) -> Term {
    Term::List(ops.iter().map(Op::to_term).collect())
}

fn tag_of(term: &Term) -> Option<i64> {
    match term {
        Term::Integer(t) => Some(*t),
        _ => None,
    }
}

impl Server {
    pub(crate) fn my_tag(&self, node: &Atom) -> Option<i64> {
        self.sessions.get(node).and_then(|s| s.my_tag)
    }

    fn session(&mut self, node: &Atom) -> &mut Session {
        self.sessions.entry(node.clone()).or_default()
    }

    fn his_tag(&self, node: &Atom) -> Term {
        self.sessions
            .get(node)
            .and_then(|s| s.his_tag.clone())
            .unwrap_or_else(|| Term::atom("undefined"))
    }

    /// A send that neither connects nor waits (`gns_volatile_send/2`).
    pub(crate) fn volatile_send(&self, node: &Atom, message: Term) {
        if self.node.nodes(true).contains(node) {
            let _ = self
                .ctx
                .send_to_name(&Atom::from(SERVER), node, Message::Term(message));
        }
    }

    /// `handle_nodeup/2`: start a connect session with `node`.
    pub(crate) fn handle_nodeup(&mut self, node: &Atom) {
        if self.known.contains_key(node) || self.resolvers.iter().any(|(n, _, _)| n == node) {
            return;
        }
        // An init_connect that came before the nodeup is handled after this.
        if let Some((vsn, init, his_tag)) = self
            .sessions
            .get_mut(node)
            .and_then(|s| s.pre_connect.take())
        {
            let again = tagged(
                "init_connect",
                vec![
                    Term::Tuple(vec![Term::Integer(vsn), his_tag]),
                    Term::Atom(node.clone()),
                    init,
                ],
            );
            let cast = tagged("$gen_cast", vec![again]);
            self.ctx.send(self.ctx.pid(), Message::Term(cast));
        }
        let tag = super::unique_integer();
        self.session(node).my_tag = Some(tag);
        let known = Term::Map(Map::from_entries(
            self.known
                .iter()
                .map(|(n, v)| (Term::Atom(n.clone()), Term::Integer(*v))),
        ));
        let locker = tagged(
            "locker",
            vec![
                Term::atom("no_longer_a_pid"),
                known,
                Term::Pid(self.locker.clone()),
            ],
        );
        let init = tagged(
            "init_connect",
            vec![
                Term::Tuple(vec![Term::Integer(VSN), Term::Integer(tag)]),
                Term::Atom(self.me()),
                locker,
            ],
        );
        cast(&self.ctx, node, init);
        let (n, shared, server, peer) = (
            self.node.clone(),
            self.shared.clone(),
            self.ctx.pid().clone(),
            node.clone(),
        );
        let resolver = self
            .ctx
            .spawn(move |c| super::resolve::resolver(c, n, shared, server, peer, tag));
        self.resolvers.push((node.clone(), tag, resolver));
    }

    /// `{init_connect, {Vsn, HisTag}, Node, InitMsg}`.
    pub(crate) fn init_connect(&mut self, vsn: &Term, node: &Atom, init: &Term) {
        let (his_vsn, his_tag) = match vsn {
            Term::Tuple(v) if v.len() >= 2 => match &v[0] {
                Term::Integer(h) => (*h, v[1].clone()),
                _ => return self.illegal_version(vsn, node),
            },
            _ => return self.illegal_version(vsn, node),
        };
        let vsn = his_vsn.min(VSN);
        if self.pending.contains_key(node) {
            if his_vsn < VERIFY_CONNECT_VSN {
                self.node.disconnect(node);
                tracing::error!(
                    "'global' at node {} got an out of sync connection attempt from old version {his_vsn} node {node}. Disconnecting from it.",
                    self.me()
                );
                return;
            }
            self.send_cancel_connect_message(node, &his_tag);
            let old = self.my_tag(node);
            self.restart_connect(node, old);
        }
        let session = self.session(node);
        session.prot_vsn = Some(vsn);
        session.his_tag = Some(his_tag.clone());
        let resolver = self.resolvers.iter().find(|(n, _, _)| n == node).cloned();
        match resolver {
            Some((_, my_tag, _)) => {
                let Some([_, _, Term::Pid(his_locker)]) = untag(init, "locker") else {
                    return;
                };
                self.tell_locker(LockerMsg::HisTheLocker(Him {
                    node: node.clone(),
                    locker: his_locker.clone(),
                    vsn,
                    my_tag,
                    his_tag: his_tag.clone(),
                }));
                if his_vsn >= VERIFY_CONNECT_VSN {
                    let ack = tagged(
                        "init_connect_ack",
                        vec![Term::Atom(self.me()), his_tag, Term::Integer(my_tag)],
                    );
                    self.volatile_send(node, ack);
                }
                self.pending.insert(node.clone(), his_vsn);
            }
            None => {
                self.session(node).pre_connect = Some((vsn, init.clone(), his_tag));
            }
        }
    }

    fn illegal_version(&self, vsn: &Term, node: &Atom) {
        tracing::info!(
            "Illegal global protocol version {} Node: {node}",
            etf::text::write_limited(vsn, 100)
        );
    }

    /// `{init_connect_ack, Node, HisMyTag, HisHisTag}`: both sides must be in the same session.
    pub(crate) fn init_connect_ack(&mut self, node: &Atom, his_my: &Term, his_his: &Term) {
        let my = self.my_tag(node);
        let same = my.map(Term::Integer).as_ref() == Some(his_my)
            && self.sessions.get(node).and_then(|s| s.his_tag.as_ref()) == Some(his_his);
        if !same {
            self.send_cancel_connect_message(node, his_his);
            self.restart_connect(node, my);
        }
    }

    /// `{cancel_connect, Node, MyTag}`: the other side called the session off.
    pub(crate) fn cancel_connect(&mut self, node: &Atom, tag: &Term) {
        let my = self.my_tag(node);
        if my.is_some() && my == tag_of(tag) {
            self.cancel_locker(node, my, Vec::new());
            self.sessions.remove(node);
            self.pending.remove(node);
            self.restart_connect(node, my);
        }
    }

    fn restart_connect(&mut self, node: &Atom, my_tag: Option<i64>) {
        self.cancel_locker(node, my_tag, Vec::new());
        self.sessions.remove(node);
        self.pending.remove(node);
        if my_tag.is_some() {
            self.handle_nodeup(node);
        }
    }

    fn send_cancel_connect_message(&self, node: &Atom, his_tag: &Term) {
        let message = tagged(
            "cancel_connect",
            vec![Term::Atom(self.me()), his_tag.clone()],
        );
        self.volatile_send(node, message);
    }

    /// `cancel_locker/4`: the locker lets go of the session (after making `then`'s casts),
    /// the other side is told if the session was under way, and the resolver is killed.
    pub(crate) fn cancel_locker(&mut self, node: &Atom, tag: Option<i64>, then: Vec<(Atom, Term)>) {
        self.tell_locker(LockerMsg::Cancel {
            node: node.clone(),
            tag,
            then,
        });
        if self
            .pending
            .get(node)
            .is_some_and(|v| *v >= VERIFY_CONNECT_VSN)
            && self.my_tag(node) == tag
            && tag.is_some()
        {
            let his = self.his_tag(node);
            self.send_cancel_connect_message(node, &his);
        }
        if let Some(i) = self
            .resolvers
            .iter()
            .position(|(n, t, _)| n == node && Some(*t) == tag)
        {
            let (_, _, resolver) = self.resolvers.remove(i);
            self.ctx.exit(&resolver, runtime::ExitReason::Kill);
        }
    }

    /// Our locker has global's lock in both partitions: send our names.
    pub(crate) fn lock_is_set(&mut self, node: &Atom, tag: i64, lock: LockId) {
        if self.my_tag(node) != Some(tag) {
            return self.cancel_locker(node, Some(tag), Vec::new());
        }
        let names = self.shared.read().names();
        let names_term = Term::List(
            names
                .into_iter()
                .map(|(n, p, m)| Term::Tuple(vec![n, Term::Pid(p), m]))
                .collect(),
        );
        let his = self.his_tag(node);
        cast(
            &self.ctx,
            node,
            tagged(
                "exchange",
                vec![Term::Atom(self.me()), names_term, Term::NIL, his],
            ),
        );
        let session = self.session(node);
        session.lock_id = Some(lock);
        match session.wait_lock.take() {
            Some(WaitLock::Exchange(names)) => {
                session.wait_lock = Some(WaitLock::LockIsSet);
                self.exchange(node, names);
            }
            _ => session.wait_lock = Some(WaitLock::LockIsSet),
        }
    }

    /// `{exchange, Node, Names, _, MyTag}`.
    pub(crate) fn exchange_cast(&mut self, node: &Atom, names: &Term, tag: &Term) {
        if self.my_tag(node).is_none() || self.my_tag(node) != tag_of(tag) {
            return self.cancel_locker(node, tag_of(tag), Vec::new());
        }
        let names = match names {
            Term::List(v) => v
                .iter()
                .filter_map(|t| match t {
                    Term::Tuple(e) => match e.as_slice() {
                        [n, Term::Pid(p), m] => Some((n.clone(), p.clone(), m.clone())),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        self.exchange(node, names);
    }

    fn exchange(&mut self, node: &Atom, names: Vec<(Term, Pid, Term)>) {
        let session = self.session(node);
        match session.wait_lock.take() {
            Some(WaitLock::LockIsSet) => {
                if let Some((_, _, resolver)) = self.resolvers.iter().find(|(n, _, _)| n == node) {
                    self.ctx.send(resolver, Message::local(ResolveNames(names)));
                }
            }
            _ => session.wait_lock = Some(WaitLock::Exchange(names)),
        }
    }

    /// From our resolver: tell the other side what it must do, then apply ours once its
    /// `resolved` is here too.
    pub(crate) fn exchange_ops(&mut self, node: &Atom, tag: i64, ops: Vec<Op>, resolved: Vec<Op>) {
        if self.my_tag(node) != Some(tag) {
            return self.cancel_locker(node, Some(tag), Vec::new());
        }
        let known = self.known_list(self.node_vsn(node));
        let his = self.his_tag(node);
        let names_ext = self.names_ext();
        cast(
            &self.ctx,
            node,
            tagged(
                "resolved",
                vec![
                    Term::Atom(self.me()),
                    ops_term(&resolved),
                    known,
                    Term::atom("unused"),
                    names_ext,
                    his,
                ],
            ),
        );
        let session = self.session(node);
        if let Some(SaveOps::Resolved {
            his_known,
            names_ext,
            his_resolved,
        }) = session.save_ops.replace(SaveOps::Ops(ops))
        {
            self.resolved(node, his_resolved, &his_known, &names_ext);
        }
    }

    /// `{resolved, Node, HisResolved, HisKnown, _, NamesExt, MyTag}`.
    pub(crate) fn resolved_cast(
        &mut self,
        node: &Atom,
        his_resolved: &Term,
        his_known: &Term,
        names_ext: &Term,
        tag: &Term,
    ) {
        if self.my_tag(node).is_none() || self.my_tag(node) != tag_of(tag) {
            return self.cancel_locker(node, tag_of(tag), Vec::new());
        }
        let his_resolved = ops_of(his_resolved);
        let session = self.session(node);
        match session.save_ops.take() {
            Some(SaveOps::Ops(ops)) => {
                session.save_ops = Some(SaveOps::Ops(ops));
                self.resolved(node, his_resolved, his_known, names_ext);
            }
            _ => {
                session.save_ops = Some(SaveOps::Resolved {
                    his_known: his_known.clone(),
                    names_ext: names_ext.clone(),
                    his_resolved,
                })
            }
        }
    }

    /// `resolved/5`: both sides' operations are here; apply them, tell our partition about
    /// the new nodes, and let go of the lock.
    fn resolved(&mut self, node: &Atom, his_resolved: Vec<Op>, his_known: &Term, names_ext: &Term) {
        let mut ops = match self.session(node).save_ops.take() {
            Some(SaveOps::Ops(ops)) => ops,
            _ => Vec::new(),
        };
        ops.extend(his_resolved);
        let mut listed = vec![Term::Atom(node.clone())];
        if let Term::List(v) = his_known {
            listed.extend(v.iter().cloned());
        }
        let new_nodes = self.node_vsn_list(&listed);
        let his_known_nodes: Vec<Atom> = self
            .node_vsn_list(his_known_items(his_known))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        self.sync_others(&his_known_nodes);
        let session = self.session(node);
        let extra = vec![
            tagged(
                "vsn",
                vec![session
                    .prot_vsn
                    .map_or(Term::atom("undefined"), Term::Integer)],
            ),
            tagged(
                "lock",
                vec![session
                    .lock_id
                    .as_ref()
                    .map_or(Term::atom("undefined"), LockId::to_term)],
            ),
        ];
        self.do_ops(&ops, names_ext, &extra);
        self.tell_syncers(node);
        for other in &his_known_nodes {
            self.cancel_resolved_locker(other, Vec::new());
        }
        let new_nodes_term = Term::List(
            new_nodes
                .iter()
                .map(|(n, v)| Term::Tuple(vec![Term::Atom(n.clone()), Term::Integer(*v)]))
                .collect(),
        );
        let plain_nodes = Term::List(
            new_nodes
                .iter()
                .map(|(n, _)| Term::Atom(n.clone()))
                .collect(),
        );
        let me = Term::Atom(self.me());
        let extra_term = Term::List(extra);
        let casts = self
            .known
            .iter()
            .map(|(n, v)| {
                let nodes = if *v >= POP_VSN {
                    new_nodes_term.clone()
                } else {
                    plain_nodes.clone()
                };
                let message = tagged(
                    "new_nodes",
                    vec![
                        me.clone(),
                        ops_term(&ops),
                        names_ext.clone(),
                        nodes,
                        extra_term.clone(),
                    ],
                );
                (n.clone(), message)
            })
            .collect();
        self.cancel_resolved_locker(node, casts);
        let added = self.add_to_known(&new_nodes);
        self.tell_locker(LockerMsg::AddToKnown(added));
        self.synced.push(node.clone());
    }

    fn cancel_resolved_locker(&mut self, node: &Atom, then: Vec<(Atom, Term)>) {
        let tag = self.my_tag(node);
        self.pending.remove(node);
        self.cancel_locker(node, tag, then);
        self.sessions.remove(node);
    }

    fn tell_syncers(&self, node: &Atom) {
        let synced = tagged("synced", vec![Term::List(vec![Term::Atom(node.clone())])]);
        for pid in &self.syncers {
            self.ctx.send(pid, Message::Term(synced.clone()));
        }
    }

    /// `{new_nodes, Node, Ops, NamesExt, Nodes, ExtraInfo}`: a node of our partition joined
    /// another; connect to its nodes and take its operations.
    pub(crate) fn new_nodes(&mut self, ops: &Term, names_ext: &Term, nodes: &Term, extra: &Term) {
        let items: Vec<Term> = match nodes {
            Term::List(v) => v.clone(),
            _ => Vec::new(),
        };
        let listed = self.node_vsn_list(&items);
        let added = self.add_to_known(&listed);
        self.sync_others(&added);
        let extra: Vec<Term> = match extra {
            Term::List(v) => v.clone(),
            _ => Vec::new(),
        };
        self.do_ops(&ops_of(ops), names_ext, &extra);
        self.tell_locker(LockerMsg::AddToKnown(added));
    }

    /// `{in_sync, Node, IsKnown}`: a node of the other partition is in sync with us.
    pub(crate) fn in_sync(&mut self, node: &Atom) {
        self.tell_syncers(node);
        if !self.synced.contains(node) {
            self.synced.push(node.clone());
        }
        self.pending.remove(node);
        let tag = self.my_tag(node);
        self.cancel_locker(node, tag, Vec::new());
        self.sessions.remove(node);
    }

    /// `sync_others/1`: connect to each node and tell it we are in sync; a node that cannot
    /// be reached gets an artificial nodedown.
    fn sync_others(&self, nodes: &[Atom]) {
        for other in nodes {
            let (node, other, server) = (self.node.clone(), other.clone(), self.ctx.pid().clone());
            self.ctx.spawn(move |mut c| async move {
                let me = c.pid().clone();
                node.monitor_node(&me, &other).await;
                let down = c
                    .receive_timeout(std::time::Duration::ZERO, |m| {
                        matches!(m.as_term().and_then(|t| untag(t, "nodedown")), Some([Term::Atom(n)]) if *n == other)
                    })
                    .await;
                node.demonitor_node(&me, &other);
                if down.is_some() {
                    tracing::warn!("'global' at {} failed to connect to {other}", node.name());
                    let extra = tagged("extra_nodedown", vec![Term::Atom(other)]);
                    c.send(&server, Message::Term(extra));
                } else {
                    cast(&c, &other, tagged("in_sync", vec![Term::Atom(node.name().clone()), Term::atom("true")]));
                }
                runtime::ExitReason::Normal
            });
        }
    }

    /// `handle_nodedown/3`.
    pub(crate) fn handle_nodedown(&mut self, node: &Atom, what: NodeDown) {
        let tag = self.my_tag(node);
        self.cancel_locker(node, tag, Vec::new());
        self.tell_locker(LockerMsg::RemoveFromKnown(node.clone()));
        self.sessions.remove(node);
        match what {
            NodeDown::RemoveConnection => {
                self.removing.insert(node.clone());
            }
            NodeDown::Disconnected => {
                if !self.removing.remove(node) {
                    self.inform_connection_loss(node);
                }
            }
        }
        self.pending.remove(node);
        self.known.remove(node);
        self.synced.retain(|n| n != node);
        self.publish_known();
    }

    /// `node_vsn/2`.
    pub(crate) fn node_vsn(&self, node: &Atom) -> i64 {
        if *node == self.me() {
            return VSN;
        }
        self.known
            .get(node)
            .or_else(|| self.pending.get(node))
            .copied()
            .unwrap_or(0)
    }

    /// `make_node_vsn_list/2`: `Node` or `{Node, 0}` gets the version we know of.
    fn node_vsn_list(&self, items: &[Term]) -> Vec<(Atom, i64)> {
        items
            .iter()
            .filter_map(|t| match t {
                Term::Atom(n) => Some((n.clone(), self.node_vsn(n))),
                Term::Tuple(v) => match v.as_slice() {
                    [Term::Atom(n), Term::Integer(0)] => Some((n.clone(), self.node_vsn(n))),
                    [Term::Atom(n), Term::Integer(v)] => Some((n.clone(), *v)),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// `mk_known_list/2`: `[{Node, Vsn}]`, or plain nodes for versions before 7.
    fn known_list(&self, vsn: i64) -> Term {
        Term::List(
            self.known
                .iter()
                .map(|(n, v)| {
                    if vsn < POP_VSN {
                        Term::Atom(n.clone())
                    } else {
                        Term::Tuple(vec![Term::Atom(n.clone()), Term::Integer(*v)])
                    }
                })
                .collect(),
        )
    }

    /// `add_to_known/2`: the nodes that were not known.
    fn add_to_known(&mut self, nodes: &[(Atom, i64)]) -> Vec<Atom> {
        let me = self.me();
        let mut added = Vec::new();
        for (n, v) in nodes {
            if *n == me || self.known.contains_key(n) {
                continue;
            }
            self.known.insert(n.clone(), *v);
            added.push(n.clone());
        }
        self.publish_known();
        added
    }
}

fn his_known_items(his_known: &Term) -> &[Term] {
    match his_known {
        Term::List(v) => v,
        _ => &[],
    }
}
