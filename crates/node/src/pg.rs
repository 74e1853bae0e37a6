//! Process groups that interoperate with OTP's `pg` (kernel's `pg.erl`, OTP 23+): a scope
//! process registered under the scope's name on every node; scopes discover each other on
//! nodeup (`{discover, Peer}`), exchange their members (`{'$gen_cast', {sync, Peer, Groups}}`)
//! and broadcast joins and leaves (`{join, Peer, Group, Pids}`, `{leave, Peer, Pids, Groups}`).
//! Local members are monitored; a remote scope's members go away with its scope process.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use etf::{Atom, Pid, Reference, Term};
use otp::supervisor::{ChildSpec, Shutdown};
use runtime::{Context, ExitReason, Message};

use crate::{Node, NodeEvent};

/// Groups and their members. Groups are any terms (not hashable: floats), and few: a list.
#[derive(Default)]
pub(crate) struct GroupMap(Vec<(Term, Vec<Pid>)>);

impl GroupMap {
    /// The members of `group`.
    pub(crate) fn get(&self, group: &Term) -> Option<&Vec<Pid>> {
        self.0.iter().find(|(g, _)| g == group).map(|(_, p)| p)
    }

    /// The groups with members (`pg:which_groups/1`).
    pub(crate) fn groups(&self) -> Vec<Term> {
        self.0.iter().map(|(g, _)| g.clone()).collect()
    }

    fn entry(&mut self, group: &Term) -> &mut Vec<Pid> {
        match self.0.iter().position(|(g, _)| g == group) {
            Some(i) => &mut self.0[i].1,
            None => {
                self.0.push((group.clone(), Vec::new()));
                &mut self.0.last_mut().expect("just pushed").1
            }
        }
    }

    /// Removes one membership of each of `pids` from `group`.
    fn remove(&mut self, group: &Term, pids: &[Pid]) {
        if let Some(i) = self.0.iter().position(|(g, _)| g == group) {
            let members = &mut self.0[i].1;
            for pid in pids {
                if let Some(j) = members.iter().position(|p| p == pid) {
                    members.remove(j);
                }
            }
            if members.is_empty() {
                self.0.remove(i);
            }
        }
    }
}

/// The members of one scope's groups, as the scope's ETS table holds them: readable without
/// asking the scope process.
pub(crate) type Members = Arc<RwLock<GroupMap>>;

/// A local request to a scope process.
pub(crate) enum PgRequest {
    Join(Term, Vec<Pid>, tokio::sync::oneshot::Sender<()>),
    Leave(Term, Vec<Pid>, tokio::sync::oneshot::Sender<()>),
}

/// Scope `scope` on `node` as a child of `kernel_safe_sup` (`pg:start_link(Scope)`): a
/// permanent worker with a 1 s shutdown, registered as the scope. Each start publishes a fresh
/// member view: a restarted scope knows only what it learns anew.
pub(crate) fn child_spec(node: &Node, scope: &Atom) -> ChildSpec {
    let (node, id) = (node.clone(), scope.clone());
    let scope = scope.clone();
    ChildSpec::worker(id.as_str(), move |ctx, _| {
        let (n, scope_name) = (node.clone(), scope.clone());
        Box::pin(async move {
            let members: Members = Arc::default();
            let view = members.clone();
            let events = n.events();
            let node = n.clone();
            let name = scope_name.clone();
            let pid = ctx.spawn_link(move |c| run(c, node, name, view, events));
            if ctx.runtime().register(scope_name.clone(), &pid).is_err() {
                ctx.exit(&pid, ExitReason::Kill);
                return Err(ExitReason::Other(Term::Tuple(vec![
                    Term::atom("already_started"),
                    Term::Atom(scope_name),
                ])));
            }
            n.inner()
                .pg_scopes
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(scope_name, members);
            Ok(Some(pid))
        })
    })
    .shutdown(Shutdown::Timeout(std::time::Duration::from_secs(1)))
}

struct Scope {
    name: Atom,
    me: Pid,
    members: Members,
    /// Local members: their monitor and the groups they joined (a pid can join a group twice).
    local: HashMap<Pid, (Reference, Vec<Term>)>,
    /// Remote scope processes: our monitor of them and their groups.
    remote: HashMap<Pid, (Reference, GroupMap)>,
}

async fn run(
    mut ctx: Context,
    node: Node,
    name: Atom,
    members: Members,
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
) -> ExitReason {
    ctx.set_behaviour("gen_server", "pg:init/1");
    // pg does not trap exits (OTP 25's pg.erl does not either), but as a service of the node
    // it never waits for a busy connection: its joins and leaves are queued all the same.
    ctx.set_suspend_on_busy(false);
    let mut scope = Scope {
        name: name.clone(),
        me: ctx.pid().clone(),
        members,
        local: HashMap::new(),
        remote: HashMap::new(),
    };
    // Discover the scope on every node already connected, then on each that comes up.
    for peer in node.nodes(false) {
        scope.discover(&ctx, &peer);
    }
    // Node events arrive through a channel, not the mailbox: a helper turns them into messages.
    let me = ctx.pid().clone();
    let rt = node.runtime().clone();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if !rt.is_alive(&me) {
                return;
            }
            if let NodeEvent::Up(peer, false) = event {
                rt.send(&me, Message::local(Nodeup(peer)));
            }
        }
    });
    loop {
        let message = ctx.recv().await;
        let message = match message.downcast::<Nodeup>() {
            Ok(Nodeup(peer)) => {
                scope.discover(&ctx, &peer);
                continue;
            }
            Err(m) => m,
        };
        let message = match message.downcast::<PgRequest>() {
            Ok(request) => {
                scope.request(&mut ctx, request);
                continue;
            }
            Err(m) => m,
        };
        if let Some((reference, pid, _)) = message.as_down() {
            scope.down(&ctx, &reference, &pid);
            continue;
        }
        if let Some(term) = message.as_term() {
            scope.protocol(&mut ctx, term);
        }
    }
}

/// A node came up.
struct Nodeup(Atom);

fn pids_of(term: &Term) -> Vec<Pid> {
    match term {
        Term::Pid(p) => vec![p.clone()],
        Term::List(v) => v
            .iter()
            .filter_map(|t| match t {
                Term::Pid(p) => Some(p.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn pid_list(pids: &[Pid]) -> Term {
    Term::List(pids.iter().cloned().map(Term::Pid).collect())
}

impl Scope {
    fn discover(&self, ctx: &Context, peer: &Atom) {
        let discover = Term::Tuple(vec![Term::atom("discover"), Term::Pid(self.me.clone())]);
        let _ = ctx.send_to_name(&self.name, peer, Message::Term(discover));
    }

    fn broadcast(&self, ctx: &Context, message: Term) {
        for peer in self.remote.keys() {
            ctx.send(peer, Message::Term(message.clone()));
        }
    }

    fn view_add(&self, group: &Term, pids: &[Pid]) {
        let mut view = self.members.write().unwrap_or_else(|e| e.into_inner());
        view.entry(group).extend(pids.iter().cloned());
    }

    fn view_remove(&self, group: &Term, pids: &[Pid]) {
        let mut view = self.members.write().unwrap_or_else(|e| e.into_inner());
        view.remove(group, pids);
    }

    /// Local groups as `sync` sends them: `[{Group, [Pid]}]`.
    fn local_groups(&self) -> Term {
        let mut groups = GroupMap::default();
        for (pid, (_, joined)) in &self.local {
            for g in joined {
                groups.entry(g).push(pid.clone());
            }
        }
        Term::List(
            groups
                .0
                .into_iter()
                .map(|(g, pids)| Term::Tuple(vec![g, pid_list(&pids)]))
                .collect(),
        )
    }

    fn request(&mut self, ctx: &mut Context, request: PgRequest) {
        match request {
            PgRequest::Join(group, pids, done) => {
                for pid in &pids {
                    let entry = match self.local.entry(pid.clone()) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert((ctx.monitor(pid), Vec::new()))
                        }
                    };
                    entry.1.push(group.clone());
                }
                self.view_add(&group, &pids);
                let join = Term::Tuple(vec![
                    Term::atom("join"),
                    Term::Pid(self.me.clone()),
                    group,
                    pid_list(&pids),
                ]);
                self.broadcast(ctx, join);
                let _ = done.send(());
            }
            PgRequest::Leave(group, pids, done) => {
                let mut left = Vec::new();
                for pid in &pids {
                    if let Some((reference, groups)) = self.local.get_mut(pid) {
                        if let Some(i) = groups.iter().position(|g| *g == group) {
                            groups.remove(i);
                            left.push(pid.clone());
                            if groups.is_empty() {
                                let reference = reference.clone();
                                ctx.demonitor(&reference, true);
                                self.local.remove(pid);
                            }
                        }
                    }
                }
                if !left.is_empty() {
                    self.view_remove(&group, &left);
                    let leave = Term::Tuple(vec![
                        Term::atom("leave"),
                        Term::Pid(self.me.clone()),
                        pid_list(&left),
                        Term::List(vec![group]),
                    ]);
                    self.broadcast(ctx, leave);
                }
                let _ = done.send(());
            }
        }
    }

    fn down(&mut self, ctx: &Context, reference: &Reference, pid: &Pid) {
        if self.local.get(pid).is_some_and(|(r, _)| r == reference) {
            if let Some((_, groups)) = self.local.remove(pid) {
                for g in &groups {
                    self.view_remove(g, std::slice::from_ref(pid));
                }
                let leave = Term::Tuple(vec![
                    Term::atom("leave"),
                    Term::Pid(self.me.clone()),
                    Term::Pid(pid.clone()),
                    Term::List(groups),
                ]);
                self.broadcast(ctx, leave);
            }
        } else if self.remote.get(pid).is_some_and(|(r, _)| r == reference) {
            if let Some((_, groups)) = self.remote.remove(pid) {
                for (g, pids) in groups.0 {
                    self.view_remove(&g, &pids);
                }
            }
        }
    }

    /// The messages other scopes send.
    fn protocol(&mut self, ctx: &mut Context, term: &Term) {
        let Term::Tuple(v) = term else { return };
        match v.as_slice() {
            [tag, Term::Pid(peer)] if tag.as_atom() == Some("discover") => {
                let sync = Term::Tuple(vec![
                    Term::atom("sync"),
                    Term::Pid(self.me.clone()),
                    self.local_groups(),
                ]);
                let cast = Term::Tuple(vec![Term::atom("$gen_cast"), sync]);
                ctx.send(peer, Message::Term(cast));
                if !self.remote.contains_key(peer) {
                    let reference = ctx.monitor(peer);
                    self.remote
                        .insert(peer.clone(), (reference, GroupMap::default()));
                    let discover =
                        Term::Tuple(vec![Term::atom("discover"), Term::Pid(self.me.clone())]);
                    ctx.send(peer, Message::Term(discover));
                }
            }
            [tag, inner] if tag.as_atom() == Some("$gen_cast") => {
                let Term::Tuple(s) = inner else { return };
                if let [sync, Term::Pid(peer), Term::List(groups)] = s.as_slice() {
                    if sync.as_atom() == Some("sync") {
                        self.sync(ctx, peer, groups);
                    }
                }
            }
            [tag, Term::Pid(peer), group, pids] if tag.as_atom() == Some("join") => {
                let pids = pids_of(pids);
                if let Some((_, groups)) = self.remote.get_mut(peer) {
                    groups.entry(group).extend(pids.iter().cloned());
                    self.view_add(group, &pids);
                }
            }
            [tag, Term::Pid(peer), pids, Term::List(groups)] if tag.as_atom() == Some("leave") => {
                let pids = pids_of(pids);
                if let Some((_, remote_groups)) = self.remote.get_mut(peer) {
                    for g in groups {
                        remote_groups.remove(g, &pids);
                    }
                    for g in groups {
                        self.view_remove(g, &pids);
                    }
                }
            }
            _ => {}
        }
    }

    /// `{sync, Peer, Groups}`: the peer's full membership replaces what we knew of it.
    fn sync(&mut self, ctx: &mut Context, peer: &Pid, groups: &[Term]) {
        let old = match self.remote.remove(peer) {
            Some((reference, old)) => {
                self.remote
                    .insert(peer.clone(), (reference, GroupMap::default()));
                old
            }
            None => {
                let reference = ctx.monitor(peer);
                self.remote
                    .insert(peer.clone(), (reference, GroupMap::default()));
                GroupMap::default()
            }
        };
        for (g, pids) in &old.0 {
            self.view_remove(g, pids);
        }
        let mut new = GroupMap::default();
        for entry in groups {
            if let Term::Tuple(pair) = entry {
                if let [group, pids] = pair.as_slice() {
                    let pids = pids_of(pids);
                    self.view_add(group, &pids);
                    new.entry(group).extend(pids);
                }
            }
        }
        if let Some(entry) = self.remote.get_mut(peer) {
            entry.1 = new;
        }
    }
}
