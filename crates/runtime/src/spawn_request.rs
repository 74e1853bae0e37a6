//! Spawn requests a local process made of another node (`erlang:spawn_request/5`), and the
//! replies to them (`SPAWN_REPLY`). As erts does, a process keeps its outstanding requests
//! under their references (erts keeps them in the process's monitor tree) and a reply is
//! applied only if it answers one of them and comes from the node the request went to:
//! anything else — a reference nobody is waiting for, a reply from a third node, a child pid
//! of another node than the one asked — sets up no link and no monitor and delivers nothing
//! (security review of 2026-12-07, M12: a peer could add links and monitors to any local
//! process, `rex` and `global_name_server` included, without bound).

use etf::{Atom, Pid, Reference, Term};

use crate::message::Message;
use crate::process::{Process, Watched};
use crate::runtime::Runtime;

/// A spawn request on its way: where it went and what it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpawnRequest {
    /// The node asked to spawn.
    pub(crate) node: Atom,
    /// The `link` option.
    pub(crate) link: bool,
    /// The `monitor` option.
    pub(crate) monitor: bool,
}

/// What became of a `SPAWN_REPLY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnReply {
    /// It answered a request of the process, from the node asked: the link and monitor asked
    /// for are set up, and the process got `{spawn_reply, ReqId, ok | error, Result}`.
    Applied,
    /// Nobody waits for it (an abandoned request, a dead requester, a forged reply): nothing
    /// changed.
    Unexpected,
}

impl Runtime {
    /// Local `owner` sent a spawn request `req_id` to `node` (with the `link` and `monitor`
    /// options): a `SPAWN_REPLY` to it from that node will be applied. Call it before the
    /// request goes out. `false` if `owner` is not a live local process.
    pub fn spawn_request_sent(
        &self,
        owner: &Pid,
        req_id: &Reference,
        node: &Atom,
        link: bool,
        monitor: bool,
    ) -> bool {
        let Some(process) = self.lookup(owner) else {
            return false;
        };
        let mut state = process.lock();
        if !state.alive {
            return false;
        }
        let request = SpawnRequest {
            node: node.clone(),
            link,
            monitor,
        };
        state.rel().spawn_requests.insert(req_id.clone(), request);
        true
    }

    /// `erlang:spawn_request_abandon/1`: `owner` no longer waits for `req_id`; a reply that
    /// comes later is [`SpawnReply::Unexpected`]. Whether it was still waiting.
    pub fn spawn_request_abandon(&self, owner: &Pid, req_id: &Reference) -> bool {
        self.lookup(owner).is_some_and(|process| {
            process
                .lock()
                .rel_mut()
                .is_some_and(|r| r.spawn_requests.remove(req_id).is_some())
        })
    }

    /// `SPAWN_REPLY` from `peer` to local `owner` for `req_id`: `result` is the child's pid
    /// (the peer set up the link and monitor that `link` and `monitor` say) or the reason the
    /// spawn failed. Applied only if `owner` waits for `req_id` from `peer`, and a child is a
    /// process of `peer`; the link and monitor are the ones both the request asked for and the
    /// reply says were set up (the monitor under `req_id`, as `spawn_request/5` does).
    pub fn remote_spawn_reply(
        &self,
        peer: &Atom,
        owner: &Pid,
        req_id: &Reference,
        link: bool,
        monitor: bool,
        result: &Term,
    ) -> SpawnReply {
        let child = match result {
            Term::Pid(child) if child.node == *peer => Some(child),
            Term::Atom(_) => None,
            _ => return SpawnReply::Unexpected,
        };
        let Some(process) = self.lookup(owner) else {
            return SpawnReply::Unexpected;
        };
        let mut state = process.lock();
        if !state.alive {
            return SpawnReply::Unexpected;
        }
        let Some(relations) = state.rel_mut() else {
            return SpawnReply::Unexpected;
        };
        let Some(request) = relations.spawn_requests.remove(req_id) else {
            return SpawnReply::Unexpected;
        };
        if request.node != *peer {
            // Not from the node asked: the request still waits for its own reply.
            relations.spawn_requests.insert(req_id.clone(), request);
            return SpawnReply::Unexpected;
        }
        if let Some(child) = child {
            if link && request.link {
                relations.links.insert(child.clone());
            }
            if monitor && request.monitor {
                relations
                    .monitors
                    .insert(req_id.clone(), Watched::Pid(child.clone()));
            }
        }
        let ok = if child.is_some() { "ok" } else { "error" };
        let waker = state.push(Message::Term(spawn_reply(req_id, ok, result.clone())));
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        SpawnReply::Applied
    }

    /// The connection to `node` is gone: `process`'s requests to it fail with
    /// `{spawn_reply, ReqId, error, noconnection}`, as erts answers a request whose connection
    /// was lost.
    pub(crate) fn spawn_requests_lost(&self, process: &Process, node: &Atom) {
        let mut state = process.lock();
        let Some(relations) = state.rel_mut() else {
            return;
        };
        let lost: Vec<Reference> = relations
            .spawn_requests
            .iter()
            .filter(|(_, request)| request.node == *node)
            .map(|(req_id, _)| req_id.clone())
            .collect();
        for req_id in &lost {
            relations.spawn_requests.remove(req_id);
        }
        let mut waker = None;
        for req_id in &lost {
            let reply = spawn_reply(req_id, "error", Term::atom("noconnection"));
            waker = state.push(Message::Term(reply)).or(waker);
        }
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// `{spawn_reply, ReqId, ok | error, Result}`: what `spawn_request/5` delivers by default.
fn spawn_reply(req_id: &Reference, ok: &str, result: Term) -> Term {
    Term::Tuple(vec![
        Term::atom("spawn_reply"),
        Term::Reference(req_id.clone()),
        Term::atom(ok),
        result,
    ])
}
