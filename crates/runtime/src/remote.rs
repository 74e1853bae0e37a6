//! Processes on other nodes. The runtime knows nothing of the wire: signals to a pid of another
//! node go to the node layer through [`Remote`], and the node layer hands signals that arrive
//! from other nodes to the `Runtime::remote_*` methods here, which apply them with the same
//! rules as local ones (Erlang reference manual, "Processes": signals between a pair of
//! processes keep their order; a link or monitor to a node that goes away fires with
//! `noconnection`).

use std::future::Future;
use std::pin::Pin;

use etf::{Atom, Pid, Reference, Term};

use crate::exit::ExitReason;
use crate::runtime::Runtime;

/// A sender's wait for a busy connection: erts suspends a process that sends to a distribution
/// port over its busy limit until the port has drained (the message itself is queued first).
/// The process waits at its next receive (or [`Context::yield_now`](crate::Context::yield_now),
/// or before it exits), without holding a thread.
pub type Busy = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the node layer does for signals to processes on other nodes. Each call corresponds to
/// a distribution control message; none may block.
pub trait Remote: Send + Sync + 'static {
    /// `SEND`: a message to a remote pid; [`Busy`] when the connection is over its busy limit.
    fn send(&self, to: &Pid, message: Term) -> Option<Busy>;
    /// `REG_SEND`: a message to a name on another node (`{Name, Node} ! Msg`); [`Busy`] when
    /// the connection is over its busy limit.
    fn send_named(&self, from: &Pid, node: &Atom, name: &Atom, message: Term) -> Option<Busy>;
    /// `LINK`. If the node cannot be reached, the node layer answers with
    /// [`Runtime::remote_exit`] and `noconnection`.
    fn link(&self, from: &Pid, to: &Pid);
    /// `UNLINK_ID`.
    fn unlink(&self, from: &Pid, to: &Pid);
    /// `EXIT`: `from`, linked to `to`, ended with `reason`.
    fn exit_linked(&self, from: &Pid, to: &Pid, reason: &ExitReason);
    /// `EXIT2`: `exit(To, Reason)` called by `from`.
    fn exit2(&self, from: &Pid, to: &Pid, reason: &ExitReason);
    /// `MONITOR_P`. If the node cannot be reached, the node layer answers with
    /// [`Runtime::remote_down`] and `noconnection`.
    fn monitor(&self, from: &Pid, to: &Pid, reference: &Reference);
    /// `DEMONITOR_P`.
    fn demonitor(&self, from: &Pid, to: &Pid, reference: &Reference);
    /// `MONITOR_P` with a registered name as `ToProc` (`monitor(process, {Name, Node})`). If
    /// the node cannot be reached, the node layer answers with [`Runtime::remote_down`] and
    /// `noconnection`.
    fn monitor_name(&self, from: &Pid, name: &Atom, node: &Atom, reference: &Reference);
    /// `DEMONITOR_P` with a registered name as `ToProc`.
    fn demonitor_name(&self, from: &Pid, name: &Atom, node: &Atom, reference: &Reference);
    /// `MONITOR_P_EXIT`: a process monitored by the remote `to` through `reference` ended.
    /// `from` is its pid, or `Err(name)` when the monitor was set by registered name: erts
    /// matches a monitor by name only to a `MONITOR_P_EXIT` that carries the name.
    fn down(&self, from: Result<&Pid, &Atom>, to: &Pid, reference: &Reference, reason: &ExitReason);
}

impl Runtime {
    /// Connects the runtime to the node layer. Until this is called, pids of other nodes
    /// behave as dead processes. Can be set once.
    pub fn set_remote(&self, remote: std::sync::Arc<dyn Remote>) {
        let _ = self.inner().remote.set(remote);
    }

    /// The node layer, if the pid is another node's and there is one.
    pub(crate) fn remote_for(&self, pid: &Pid) -> Option<&dyn Remote> {
        if pid.node == *self.node() {
            return None;
        }
        self.inner().remote.get().map(|r| &**r)
    }

    /// The node layer, if `node` is another node and there is one.
    pub(crate) fn remote_for_node(&self, node: &Atom) -> Option<&dyn Remote> {
        if node == self.node() {
            return None;
        }
        self.inner().remote.get().map(|r| &**r)
    }

    /// `LINK` from remote `from` to local `to`; a dead `to` answers with `noproc`.
    pub fn remote_link(&self, from: &Pid, to: &Pid) {
        let linked = self.lookup(to).is_some_and(|process| {
            let mut state = process.lock();
            if state.alive {
                state.rel().links.insert(from.clone());
            }
            state.alive
        });
        if !linked {
            if let Some(remote) = self.remote_for(from) {
                remote.exit_linked(to, from, &ExitReason::NoProc);
            }
        }
    }

    /// `UNLINK_ID` (or the old `UNLINK`) from remote `from` to local `to`.
    pub fn remote_unlink(&self, from: &Pid, to: &Pid) {
        if let Some(process) = self.lookup(to) {
            if let Some(r) = process.lock().rel_mut() {
                r.links.remove(from);
            }
        }
    }

    /// An exit signal from remote `from` to local `to`: `EXIT` (`link`: the linked process
    /// ended) or `EXIT2` (`exit/2`).
    pub fn remote_exit(&self, from: &Pid, to: &Pid, reason: &ExitReason, link: bool) {
        if let Some(process) = self.lookup(to) {
            process.exit_signal(from, reason, link);
        }
    }

    /// `MONITOR_P` from remote `watcher` on local `target` (a pid, or a registered name when
    /// `target` is `Err(name)`); a dead or unknown target answers with `noproc` at once.
    pub fn remote_monitor(
        &self,
        watcher: &Pid,
        target: Result<&Pid, &Atom>,
        reference: &Reference,
    ) {
        let pid = match target {
            Ok(pid) => Some(pid.clone()),
            Err(name) => self.whereis(name),
        };
        let watching = pid
            .as_ref()
            .and_then(|p| self.lookup(p))
            .is_some_and(|process| {
                let mut state = process.lock();
                if state.alive {
                    let r = state.rel();
                    r.monitored_by.insert(reference.clone(), watcher.clone());
                    if let Err(name) = target {
                        r.monitored_by_name.insert(reference.clone(), name.clone());
                    }
                }
                state.alive
            });
        if !watching {
            if let Some(remote) = self.remote_for(watcher) {
                remote.down(target, watcher, reference, &ExitReason::NoProc);
            }
        }
    }

    /// `DEMONITOR_P` from a remote watcher on local `target` (pid or name).
    pub fn remote_demonitor(&self, target: Result<&Pid, &Atom>, reference: &Reference) {
        let pid = match target {
            Ok(pid) => Some(pid.clone()),
            Err(name) => self.whereis(name),
        };
        if let Some(process) = pid.and_then(|p| self.lookup(&p)) {
            if let Some(r) = process.lock().rel_mut() {
                r.monitored_by.remove(reference);
                r.monitored_by_name.remove(reference);
            }
        }
    }

    /// A process for another node's `SPAWN_REQUEST`: linked to and/or monitored by the remote
    /// `requester` (the monitor under `monitor`, the request's reference) before it can run,
    /// and `before_run` called with its pid first, to queue the `SPAWN_REPLY`, so that the
    /// reply goes out before anything the process sends, as erts replies before it schedules
    /// the process (`erl_create_process`).
    pub fn spawn_remote<F, Fut>(
        &self,
        body: F,
        requester: &Pid,
        link: bool,
        monitor: Option<&Reference>,
        before_run: impl FnOnce(&Pid),
    ) -> Pid
    where
        F: FnOnce(crate::Context) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ExitReason> + Send + 'static,
    {
        self.spawn_with(body, |process| {
            {
                let mut state = process.lock();
                if link {
                    state.rel().links.insert(requester.clone());
                }
                if let Some(reference) = monitor {
                    state
                        .rel()
                        .monitored_by
                        .insert(reference.clone(), requester.clone());
                }
            }
            before_run(&process.pid);
        })
    }

    /// `MONITOR_P_EXIT`: the remote process that local `watcher` monitors through
    /// `reference` ended. The `'DOWN'` message names what the monitor was set on (a pid, or
    /// `{RegName, Node}`), as erts builds it from its own record of the monitor.
    pub fn remote_down(&self, watcher: &Pid, reference: &Reference, reason: &ExitReason) {
        if let Some(process) = self.lookup(watcher) {
            process.monitor_fired(reference, reason);
        }
    }

    /// The connection to `node` is gone: local processes linked to its processes get exit
    /// signals and monitors of them fire, both with `noconnection`; its processes' monitors of
    /// ours are dropped; spawn requests to it fail with `noconnection`.
    pub fn node_down(&self, node: &Atom) {
        for pid in self.processes() {
            let Some(process) = self.lookup(&pid) else {
                continue;
            };
            let (links, downs) = {
                let mut state = process.lock();
                let Some(r) = state.rel_mut() else { continue };
                let links: Vec<Pid> = r
                    .links
                    .iter()
                    .filter(|p| p.node == *node)
                    .cloned()
                    .collect();
                let downs: Vec<Reference> = r
                    .monitors
                    .iter()
                    .filter(|(_, watched)| watched.node() == node)
                    .map(|(reference, _)| reference.clone())
                    .collect();
                r.monitored_by.retain(|_, watcher| watcher.node != *node);
                let monitored_by = &r.monitored_by;
                r.monitored_by_name
                    .retain(|reference, _| monitored_by.contains_key(reference));
                (links, downs)
            };
            self.spawn_requests_lost(&process, node);
            for linked in links {
                process.exit_signal(&linked, &ExitReason::NoConnection, true);
            }
            for reference in downs {
                process.monitor_fired(&reference, &ExitReason::NoConnection);
            }
        }
    }
}
