//! The node-local runtime: the process table, registered names, and spawning.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use etf::{Atom, Pid, Reference, Term};
use futures::FutureExt;
use rustc_hash::FxHashMap;
use thiserror::Error;

use crate::context::Context;
use crate::exit::ExitReason;
use crate::message::Message;
use crate::process::{ExitOutcome, Process, Watched};
use crate::remote::Remote;
use crate::timer::TimerKeeper;

/// The name a node has before it is distributed.
pub const NONODE: &str = "nonode@nohost";

/// Bits of a pid's number; the serial counts how often numbers wrapped.
const PID_NUMBER_BITS: u32 = 28;

/// An error Erlang would raise as `badarg`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BadArg {
    /// Sending to a name nobody has registered.
    #[error("bad argument: no process is registered as {0}")]
    NotRegistered(Atom),
    /// `register/2` with a name already taken, or for a process that already has a name.
    #[error("bad argument: {0} is already registered, or the process already has a name")]
    AlreadyRegistered(Atom),
    /// `register/2` for a process that is not alive.
    #[error("bad argument: the process is not alive")]
    NotAlive,
    /// `undefined` is not a name.
    #[error("bad argument: undefined cannot be registered")]
    Undefined,
}

/// The process a sender last delivered to, for [`Runtime::send_routed`]. A dead process's
/// handle is harmless: delivering to it drops the message, as sending to a dead pid does.
#[derive(Default)]
pub struct Route(Option<Arc<Process>>);

/// A node's processes. Cheap to clone; every clone is the same runtime.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    node: Atom,
    creation: u32,
    next_pid: AtomicU64,
    next_ref: AtomicU64,
    table: RwLock<FxHashMap<(u32, u32), Arc<Process>>>,
    names: Mutex<FxHashMap<Atom, Pid>>,
    timers: Arc<TimerKeeper>,
    /// `send_after`'s and `start_timer`'s timers not yet fired.
    pub(crate) send_after: crate::send_after::Timers,
    /// The node layer, for processes on other nodes.
    pub(crate) remote: std::sync::OnceLock<Arc<dyn Remote>>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new(Atom::from(NONODE), 0)
    }
}

impl Runtime {
    /// A runtime for node `node` in incarnation `creation` (`nonode@nohost`, 0 before the node
    /// is distributed). Processes run on the current tokio runtime.
    pub fn new(node: Atom, creation: u32) -> Runtime {
        Runtime {
            inner: Arc::new(Inner {
                node,
                creation,
                next_pid: AtomicU64::new(1),
                next_ref: AtomicU64::new(1),
                table: RwLock::new(FxHashMap::default()),
                names: Mutex::new(FxHashMap::default()),
                timers: Arc::default(),
                send_after: crate::send_after::Timers::default(),
                remote: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The node name pids and references carry.
    pub fn node(&self) -> &Atom {
        &self.inner.node
    }

    /// The node's creation (its incarnation), in every pid and reference it makes.
    pub fn creation(&self) -> u32 {
        self.inner.creation
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn inner_arc(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The runtime again from a weak handle, if it still runs.
    pub(crate) fn from_inner(weak: std::sync::Weak<Inner>) -> Option<Runtime> {
        weak.upgrade().map(|inner| Runtime { inner })
    }

    fn table(&self) -> std::sync::RwLockReadGuard<'_, FxHashMap<(u32, u32), Arc<Process>>> {
        self.inner.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn names(&self) -> MutexGuard<'_, FxHashMap<Atom, Pid>> {
        self.inner.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new reference (`make_ref/0`): three words, the first 18 bits wide as in erts.
    pub fn make_ref(&self) -> Reference {
        let n = self.inner.next_ref.fetch_add(1, Ordering::Relaxed);
        Reference {
            node: self.inner.node.clone(),
            creation: self.inner.creation,
            id: etf::RefId::from([(n & 0x3ffff) as u32, (n >> 18) as u32, (n >> 50) as u32]),
        }
    }

    fn new_pid(&self) -> Pid {
        let n = self.inner.next_pid.fetch_add(1, Ordering::Relaxed);
        Pid {
            node: self.inner.node.clone(),
            id: (n & ((1 << PID_NUMBER_BITS) - 1)) as u32,
            serial: (n >> PID_NUMBER_BITS) as u32,
            creation: self.inner.creation,
        }
    }

    /// The live process with this pid.
    pub(crate) fn lookup(&self, pid: &Pid) -> Option<Arc<Process>> {
        if pid.node != self.inner.node || pid.creation != self.inner.creation {
            return None;
        }
        self.table().get(&(pid.id, pid.serial)).cloned()
    }

    /// A timed receive is about to wait (see [`crate::timer`]).
    pub(crate) fn timed_receive(&self) {
        self.inner.timers.touch();
    }

    /// Whether the process is alive (`is_process_alive/1`).
    pub fn is_alive(&self, pid: &Pid) -> bool {
        self.lookup(pid).is_some()
    }

    /// The pids of all live processes (`processes/0`).
    pub fn processes(&self) -> Vec<Pid> {
        self.table().values().map(|p| p.pid.clone()).collect()
    }

    /// The figures of a live process a top sorts by, without the lists and strings of
    /// [`Runtime::process_info`]: what a snapshot of 100 000 processes asks of each.
    pub fn process_counts(&self, pid: &Pid) -> Option<ProcessCounts> {
        let process = self.lookup(pid)?;
        let state = process.lock();
        Some(counts(&process, &state))
    }

    /// [`Runtime::process_counts`] of every live process, in one pass over the process table
    /// (what `erlang:memory/0` and `statistics(reductions)` add up).
    pub fn each_process_counts(&self, mut f: impl FnMut(&ProcessCounts)) {
        // The table's lock is let go before any process's is taken.
        let all: Vec<Arc<Process>> = self.table().values().cloned().collect();
        for process in all {
            let state = process.lock();
            f(&counts(&process, &state));
        }
    }

    /// What `process_info/1` would say about a live process.
    pub fn process_info(&self, pid: &Pid) -> Option<ProcessInfo> {
        let process = self.lookup(pid)?;
        let state = process.lock();
        let relations = state.relations.as_deref();
        let ProcessCounts {
            registered_name,
            status,
            message_queue_len,
            memory,
            reductions,
        } = counts(&process, &state);
        Some(ProcessInfo {
            pid: pid.clone(),
            registered_name,
            status,
            message_queue_len,
            memory,
            reductions,
            links: relations.map_or_else(Vec::new, |r| r.links.iter().cloned().collect()),
            monitors: relations.map_or_else(Vec::new, |r| {
                r.monitors.values().map(Watched::object).collect()
            }),
            monitored_by: relations
                .map_or_else(Vec::new, |r| r.monitored_by.values().cloned().collect()),
            trap_exit: state.trap_exit,
            initial_call: state
                .behaviour
                .as_ref()
                .map_or(state.initial_call, |b| b.1.as_str())
                .to_owned(),
            current_behaviour: state.behaviour.as_ref().map(|b| b.0.clone()),
        })
    }

    /// Sends a message (`Pid ! Msg`); to a dead process it is dropped, as in Erlang.
    pub fn send(&self, to: &Pid, message: impl Into<Message>) {
        let _ = self.send_busy(to, message.into());
    }

    /// [`Runtime::send`], saying when the message went to a busy connection (the sending
    /// process should wait: [`crate::Busy`]).
    pub(crate) fn send_busy(&self, to: &Pid, message: Message) -> Option<crate::Busy> {
        if let Some(process) = self.lookup(to) {
            process.deliver(message);
            None
        } else if let Some(remote) = self.remote_for(to) {
            // Only terms can leave the node; a Rust value sent to another node is dropped, as a
            // message to a process that cannot receive it.
            match message {
                Message::Term(term) => remote.send(to, term),
                _ => None,
            }
        } else {
            None
        }
    }

    /// [`Runtime::send`] remembering the target in `route`: messages to the same process skip
    /// the process table (a distribution connection's reader delivers through one).
    pub fn send_routed(&self, route: &mut Route, to: &Pid, message: impl Into<Message>) {
        if let Some(process) = route.0.as_ref().filter(|p| p.pid == *to) {
            process.deliver(message.into());
            return;
        }
        match self.lookup(to) {
            Some(process) => {
                process.deliver(message.into());
                route.0 = Some(process);
            }
            None => self.send(to, message),
        }
    }

    /// Sends to a registered name (`Name ! Msg`): `badarg` if nobody has it.
    pub fn send_named(&self, name: &Atom, message: impl Into<Message>) -> Result<(), BadArg> {
        let pid = self
            .whereis(name)
            .ok_or_else(|| BadArg::NotRegistered(name.clone()))?;
        self.send(&pid, message);
        Ok(())
    }

    /// The pid registered as `name` (`whereis/1`).
    pub fn whereis(&self, name: &Atom) -> Option<Pid> {
        self.names().get(name).cloned()
    }

    /// Registers `pid` as `name` (`register/2`).
    pub fn register(&self, name: Atom, pid: &Pid) -> Result<(), BadArg> {
        if name.as_str() == "undefined" {
            return Err(BadArg::Undefined);
        }
        let process = self.lookup(pid).ok_or(BadArg::NotAlive)?;
        let mut names = self.names();
        let mut state = process.lock();
        if !state.alive {
            return Err(BadArg::NotAlive);
        }
        if names.contains_key(&name) || state.name.is_some() {
            return Err(BadArg::AlreadyRegistered(name));
        }
        state.name = Some(name.clone());
        names.insert(name, pid.clone());
        Ok(())
    }

    /// Removes a registered name (`unregister/1`).
    pub fn unregister(&self, name: &Atom) -> Result<(), BadArg> {
        let pid = self
            .names()
            .remove(name)
            .ok_or_else(|| BadArg::NotRegistered(name.clone()))?;
        if let Some(process) = self.lookup(&pid) {
            process.lock().name = None;
        }
        Ok(())
    }

    /// The names registered now (`registered/0`).
    pub fn registered(&self) -> Vec<Atom> {
        self.names().keys().cloned().collect()
    }

    /// Sends an exit signal from outside any process (`exit/2` from the node itself).
    pub fn exit(&self, to: &Pid, reason: ExitReason) {
        if let Some(process) = self.lookup(to) {
            let from = Pid {
                node: self.inner.node.clone(),
                id: 0,
                serial: 0,
                creation: self.inner.creation,
            };
            process.exit_signal(&from, &reason, false);
        }
    }

    /// Starts a process running `body`; it ends with the reason `body` returns, the reason an
    /// exit signal gives it, or `{panic, Message}` if it panics.
    pub fn spawn<F, Fut>(&self, body: F) -> Pid
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        self.spawn_with(body, |_| {})
    }

    /// Spawns with `setup` run on the new process's state before it can run or be seen
    /// (links and monitors made atomically with the spawn).
    pub(crate) fn spawn_with<F, Fut>(&self, body: F, setup: impl FnOnce(&Arc<Process>)) -> Pid
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        let pid = self.new_pid();
        let process = Arc::new(Process::new(pid.clone()));
        setup(&process);
        self.inner
            .table
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((pid.id, pid.serial), process.clone());
        let runtime = self.clone();
        let body = body(Context::new(runtime.clone(), process.clone()));
        {
            let mut state = process.lock();
            state.initial_call = std::any::type_name::<F>();
            state.body_size = std::mem::size_of_val(&body);
        }
        let task = async move {
            let run = AssertUnwindSafe(body).catch_unwind();
            let reason = tokio::select! {
                biased;
                reason = doomed(&process) => reason,
                result = run => {
                    let reason = match result {
                        Ok(reason) => reason,
                        Err(panic) => ExitReason::Panic(panic_message(panic.as_ref())),
                    };
                    // Ended by its own code, not by an exit signal: as `proc_lib:exit_p/3`
                    // reports a behaviour's process that exits abnormally.
                    crash_report(&process, &reason);
                    reason
                }
            };
            // A process whose code ended right after a send to a busy connection waits for it
            // before it exits, in a task of its own: every process's task would otherwise
            // carry room for this rare wait.
            if process.is_busy() {
                process.set_busy(false);
                let busy = process.lock().busy.take().map(|b| *b);
                if let Some(busy) = busy {
                    tokio::spawn(async move {
                        let reason = wait_at_exit(&process, busy, reason).await;
                        runtime.terminate(&process, reason);
                    });
                    return;
                }
            }
            runtime.terminate(&process, reason);
        };
        tokio::spawn(task);
        pid
    }

    /// A process ended: it leaves the table and its name, its links get exit signals and its
    /// monitors `'DOWN'` messages (Erlang reference manual, "Processes", "Sending signals").
    fn terminate(&self, process: &Arc<Process>, reason: ExitReason) {
        let pid = process.pid.clone();
        let (links, watchers, named_by, watching, name) = {
            let mut state = process.lock();
            state.alive = false;
            state.queue.clear();
            let relations = state.relations.take().map(|r| *r).unwrap_or_default();
            (
                relations.links,
                relations.monitored_by,
                relations.monitored_by_name,
                relations.monitors,
                state.name.take(),
            )
        };
        self.inner
            .table
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(pid.id, pid.serial));
        if let Some(name) = name {
            let mut names = self.names();
            if names.get(&name) == Some(&pid) {
                names.remove(&name);
            }
        }
        for (reference, watched) in watching {
            self.unwatch(&pid, &reference, &watched, &|p| self.lookup(p));
        }
        for linked in links {
            if let Some(remote) = self.remote_for(&linked) {
                remote.exit_linked(&pid, &linked, &reason);
                continue;
            }
            if let Some(process) = self.lookup(&linked) {
                process.exit_signal(&pid, &reason, true);
            }
        }
        for (reference, watcher) in watchers {
            if let Some(remote) = self.remote_for(&watcher) {
                let from = match named_by.get(&reference) {
                    Some(name) => Err(name),
                    None => Ok(&pid),
                };
                remote.down(from, &watcher, &reference, &reason);
                continue;
            }
            if let Some(watcher) = self.lookup(&watcher) {
                watcher.monitor_fired(&reference, &reason);
            }
        }
    }

    /// Links `a` and `b` (`link/1` called by `a`): if `b` is gone, `a` gets an exit signal with
    /// `noproc` instead. `other` is `b`'s handle, if it has one (the caller may have it cached).
    pub(crate) fn link(&self, a: &Arc<Process>, b: &Pid, other: Option<Arc<Process>>) {
        if *b == a.pid {
            return;
        }
        if let Some(remote) = self.remote_for(b) {
            if a.lock().rel().links.insert(b.clone()) {
                remote.link(&a.pid, b);
            }
            return;
        }
        let linked = other.is_some_and(|other| {
            let mut state = other.lock();
            if state.alive {
                state.rel().links.insert(a.pid.clone());
            }
            state.alive
        });
        a.lock().rel().links.insert(b.clone());
        if !linked {
            // The link signal comes back as an exit signal from the dead process.
            a.exit_signal(b, &ExitReason::NoProc, true);
        }
    }

    /// Removes the link between `a` and `b`, both sides (`unlink/1`).
    pub(crate) fn unlink(&self, a: &Arc<Process>, b: &Pid, other: Option<Arc<Process>>) {
        let was_linked = a.lock().rel_mut().is_some_and(|r| r.links.remove(b));
        if let Some(remote) = self.remote_for(b) {
            if was_linked {
                remote.unlink(&a.pid, b);
            }
            return;
        }
        if let Some(other) = other {
            if let Some(r) = other.lock().rel_mut() {
                r.links.remove(&a.pid);
            }
        }
    }

    /// `a` monitors `b` (`monitor(process, B)`): a `'DOWN'` message when `b` ends, at once with
    /// `noproc` if it already has. `other` is `b`'s handle, as for [`Runtime::link`].
    pub(crate) fn monitor(
        &self,
        a: &Arc<Process>,
        b: &Pid,
        other: Option<Arc<Process>>,
    ) -> Reference {
        let reference = self.make_ref();
        if let Some(remote) = self.remote_for(b) {
            a.lock()
                .rel()
                .monitors
                .insert(reference.clone(), Watched::Pid(b.clone()));
            remote.monitor(&a.pid, b, &reference);
            return reference;
        }
        self.watch_local(a, &reference, Watched::Pid(b.clone()), other);
        reference
    }

    /// `a` monitors whatever process is registered as `name` on `node`
    /// (`monitor(process, {RegName, Node})`, or `monitor(process, RegName)` for this node): the
    /// name is resolved once, now; the `'DOWN'` message names `{RegName, Node}`, with `noproc`
    /// at once if nothing is registered, `noconnection` if the node cannot be reached.
    pub(crate) fn monitor_name(&self, a: &Arc<Process>, name: &Atom, node: &Atom) -> Reference {
        let reference = self.make_ref();
        if node != self.node() {
            let watched = Watched::RemoteName(name.clone(), node.clone());
            match self.remote_for_node(node) {
                Some(remote) => {
                    a.lock().rel().monitors.insert(reference.clone(), watched);
                    remote.monitor_name(&a.pid, name, node, &reference);
                }
                None => a.deliver(Message::down(
                    &reference,
                    watched.object(),
                    &ExitReason::NoConnection,
                )),
            }
            return reference;
        }
        match self.whereis(name) {
            Some(pid) => {
                let holder = self.lookup(&pid);
                self.watch_local(a, &reference, Watched::LocalName(name.clone(), pid), holder);
            }
            None => {
                let object = Term::Tuple(vec![Term::Atom(name.clone()), Term::Atom(node.clone())]);
                a.deliver(Message::down(&reference, object, &ExitReason::NoProc));
            }
        }
        reference
    }

    /// Sets a monitor of `a` on a local process (`holder`, its handle if it is alive): a
    /// `'DOWN'` with `noproc` at once if it is gone.
    fn watch_local(
        &self,
        a: &Arc<Process>,
        reference: &Reference,
        watched: Watched,
        holder: Option<Arc<Process>>,
    ) {
        let watching = holder.is_some_and(|holder| {
            let mut state = holder.lock();
            if state.alive {
                state
                    .rel()
                    .monitored_by
                    .insert(reference.clone(), a.pid.clone());
            }
            state.alive
        });
        if watching {
            a.lock().rel().monitors.insert(reference.clone(), watched);
        } else {
            a.deliver(Message::down(
                reference,
                watched.object(),
                &ExitReason::NoProc,
            ));
        }
    }

    /// Takes down the far end of a monitor that `watcher` held and has dropped: the watched
    /// process's record of it, or a `DEMONITOR_P` to its node. `resolve` finds a local
    /// process's handle (the caller may have it cached).
    fn unwatch(
        &self,
        watcher: &Pid,
        reference: &Reference,
        watched: &Watched,
        resolve: &dyn Fn(&Pid) -> Option<Arc<Process>>,
    ) {
        let pid = match watched {
            Watched::RemoteName(name, node) => {
                if let Some(remote) = self.remote_for_node(node) {
                    remote.demonitor_name(watcher, name, node, reference);
                }
                return;
            }
            Watched::Pid(pid) | Watched::LocalName(_, pid) => pid,
        };
        if let Some(remote) = self.remote_for(pid) {
            remote.demonitor(watcher, pid, reference);
            return;
        }
        if let Some(holder) = resolve(pid) {
            if let Some(r) = holder.lock().rel_mut() {
                r.monitored_by.remove(reference);
            }
        }
    }

    /// Removes a monitor (`demonitor/2`); with `flush`, also a `'DOWN'` message it already sent.
    /// `resolve` finds the monitored process's handle.
    pub(crate) fn demonitor(
        &self,
        a: &Arc<Process>,
        reference: &Reference,
        flush: bool,
        resolve: impl Fn(&Pid) -> Option<Arc<Process>>,
    ) -> bool {
        let watched = {
            let mut state = a.lock();
            let watched = state.rel_mut().and_then(|r| r.monitors.remove(reference));
            if flush {
                state.queue.retain(|m| !m.is_down_for(reference));
            }
            watched
        };
        // With the monitor gone from `a`, a `'DOWN'` can no longer be sent for it.
        match watched {
            Some(watched) => {
                self.unwatch(&a.pid, reference, &watched, &resolve);
                true
            }
            None => false,
        }
    }

    /// Sends an exit signal from process `from` (`exit/2`).
    pub(crate) fn exit_from(&self, from: &Pid, to: &Pid, reason: &ExitReason) -> bool {
        if let Some(remote) = self.remote_for(to) {
            remote.exit2(from, to, reason);
            return true;
        }
        match self.lookup(to) {
            Some(process) => process.exit_signal(from, reason, false) != ExitOutcome::Dead,
            None => false,
        }
    }
}

/// What a tokio task costs besides the future it runs (header, scheduler links), estimated.
const TASK_OVERHEAD: usize = 128;

/// A process's memory, estimated: its state, its future, its queue, its link and monitor sets.
fn memory(state: &crate::process::State) -> usize {
    let queue_bytes = state.queue.capacity() * std::mem::size_of::<Message>();
    let sets = state.relations.as_deref().map_or(0, |r| {
        std::mem::size_of::<crate::process::Relations>()
            + (r.links.capacity() + r.monitors.capacity() + r.monitored_by.capacity()) * 64
    });
    std::mem::size_of::<Process>() + state.body_size + queue_bytes + sets + TASK_OVERHEAD
}

/// A process's [`ProcessCounts`], read under its lock.
fn counts(process: &Process, state: &crate::process::State) -> ProcessCounts {
    ProcessCounts {
        registered_name: state.name.clone(),
        status: if state.waiting {
            Status::Waiting
        } else {
            Status::Runnable
        },
        message_queue_len: process.message_queue_len(state),
        memory: memory(state),
        reductions: process.work(),
    }
}

/// The cheap part of [`ProcessInfo`] ([`Runtime::process_counts`]).
#[derive(Clone, Debug)]
pub struct ProcessCounts {
    /// Its registered name.
    pub registered_name: Option<Atom>,
    /// Waiting in a receive, or not.
    pub status: Status,
    /// Messages in its queue.
    pub message_queue_len: usize,
    /// Bytes it holds, estimated as [`ProcessInfo::memory`].
    pub memory: usize,
    /// Its work counter, as [`ProcessInfo::reductions`].
    pub reductions: u64,
}

/// Whether a process is waiting for a message or has work to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Running or ready to run.
    Runnable,
    /// Blocked in a receive.
    Waiting,
}

/// A snapshot of one process, as `erlang:process_info/1` gives it.
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    /// The process.
    pub pid: Pid,
    /// Its registered name.
    pub registered_name: Option<Atom>,
    /// Waiting in a receive, or not.
    pub status: Status,
    /// Messages in its queue.
    pub message_queue_len: usize,
    /// Bytes it holds, estimated: its state, its future, its queue, its link and monitor sets.
    pub memory: usize,
    /// Messages taken and signals handled: a reductions-like work counter.
    pub reductions: u64,
    /// Linked processes.
    pub links: Vec<Pid>,
    /// What it monitors, as `process_info(Pid, monitors)` names it: a pid, or
    /// `{RegName, Node}` for a monitor set by name.
    pub monitors: Vec<Term>,
    /// Processes that monitor it.
    pub monitored_by: Vec<Pid>,
    /// Whether it traps exits.
    pub trap_exit: bool,
    /// What started it.
    pub initial_call: String,
    /// The OTP behaviour it runs.
    pub current_behaviour: Option<String>,
}

/// A process whose code ended right after it sent to a busy connection waits for that
/// connection before it exits, unless an exit signal kills it meanwhile.
async fn wait_at_exit(process: &Process, busy: crate::Busy, reason: ExitReason) -> ExitReason {
    tokio::select! {
        biased;
        doom = doomed(process) => doom,
        () = busy => reason,
    }
}

/// Resolves when an exit signal dooms the process.
async fn doomed(process: &Process) -> ExitReason {
    std::future::poll_fn(|cx| {
        if let Some(reason) = process.doomed() {
            return std::task::Poll::Ready(reason);
        }
        process.doom.register(cx.waker());
        // Doomed between the check and the registration: the wake may have been missed.
        match process.doomed() {
            Some(reason) => std::task::Poll::Ready(reason),
            None => std::task::Poll::Pending,
        }
    })
    .await
}

/// `proc_lib:crash_report/4`: a process that runs an OTP behaviour (it called
/// [`Context::set_behaviour`](crate::Context::set_behaviour)) ended with a reason other than
/// `normal`, `shutdown` or `{shutdown, _}`. The fields are those of erl's report that a rotp
/// process has (no ancestors, dictionary, heap or reductions).
fn crash_report(process: &Process, reason: &ExitReason) {
    if reason.is_normal_or_shutdown() {
        return;
    }
    let body = {
        let state = process.lock();
        let Some(behaviour) = state.behaviour.as_deref() else {
            return;
        };
        let name = state
            .name
            .as_ref()
            .map_or("[]".to_owned(), |n| Term::Atom(n.clone()).to_string());
        let links: Vec<String> = state
            .relations
            .as_ref()
            .map(|r| {
                r.links
                    .iter()
                    .map(|p| Term::Pid(p.clone()).to_string())
                    .collect()
            })
            .unwrap_or_default();
        format!(
            "  crasher:\n    initial call: {}\n    pid: {}\n    registered_name: {name}\n    \
             exception exit: {}\n    message_queue_len: {}\n    links: [{}]\n    \
             trap_exit: {}\n  neighbours:",
            behaviour.1,
            Term::Pid(process.pid.clone()),
            crate::logger::format_term(&reason.to_term()),
            process.message_queue_len(&state),
            links.join(","),
            state.trap_exit,
        )
    };
    crate::logger::report(crate::logger::Kind::Crash, &body);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}
