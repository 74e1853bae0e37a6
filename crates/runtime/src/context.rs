//! What a process's own code works with: its pid, its mailbox (selective receive), and the
//! BIFs that act on the calling process (`link/1`, `monitor/2`, `process_flag(trap_exit, _)`,
//! `register/2`, `exit/2`, `spawn_link/1`…).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use etf::{Atom, Pid, Reference};

use crate::exit::ExitReason;
use crate::message::Message;
use crate::process::{Process, Watched};
use crate::runtime::{BadArg, Runtime};

/// The running process's handle on itself and the runtime.
pub struct Context {
    runtime: Runtime,
    me: Arc<Process>,
    /// The process last sent to: sending to it again skips the process table (pids are never
    /// reused, and a dead process drops what it is sent, so the cached handle stays correct).
    last_sent: std::cell::RefCell<Option<Arc<Process>>>,
    /// Messages taken from the shared queue and not yet received: only this process touches
    /// them, so they are scanned without the lock (see [`Context::receive`]).
    inbox: VecDeque<Message>,
}

impl Context {
    pub(crate) fn new(runtime: Runtime, me: Arc<Process>) -> Context {
        Context {
            runtime,
            me,
            last_sent: std::cell::RefCell::new(None),
            inbox: VecDeque::new(),
        }
    }

    /// Whether a send to a busy distribution connection suspends this process (on by
    /// default, as in erts). The node's own services (`net_kernel`, `rex`, `pg` scopes) turn
    /// it off: one peer that stops reading must not stop them for every other node; their
    /// messages to it are queued regardless, bounded by the connection's hard limit.
    pub fn set_suspend_on_busy(&self, on: bool) {
        let mut state = self.me.lock();
        state.never_suspend = !on;
        if !on {
            state.busy = None;
            self.me.set_busy(false);
        }
    }

    /// Remembers that the last send went to a busy connection (rare: the process's state is
    /// locked only then).
    fn sent(&self, busy: Option<crate::Busy>) {
        if let Some(busy) = busy {
            let mut state = self.me.lock();
            if !state.never_suspend {
                state.busy = Some(Box::new(busy));
                self.me.set_busy(true);
            }
        }
    }

    /// Waits while the connection the process last sent to is busy, as erts suspends a
    /// process sending to a busy distribution port; returns at once otherwise. Receives do this
    /// first; a process that sends in a loop without receiving calls it after each send, so a
    /// peer that reads slowly slows the sender instead of filling memory (past the
    /// connection's hard limit the connection is dropped).
    pub async fn wait_if_busy(&mut self) {
        let me = &*self.me;
        std::future::poll_fn(|cx| {
            if me.is_busy() {
                me.poll_busy(cx)
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }

    /// `erlang:yield/0`: lets other processes run; a process that sent to a busy connection
    /// waits here for it to drain. A process that sends in a loop without receiving calls this
    /// now and then, so a peer that reads slowly slows it down rather than filling memory.
    pub async fn yield_now(&mut self) {
        if self.me.is_busy() {
            self.wait_if_busy().await;
        } else {
            tokio::task::yield_now().await;
        }
    }

    /// `self()`.
    pub fn pid(&self) -> &Pid {
        &self.me.pid
    }

    /// The runtime the process runs in.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The process with this pid, from the one-entry cache when it is the one last sent to
    /// (a dead one's handle may come from the cache: everything done to it checks `alive`).
    fn handle(&self, pid: &Pid) -> Option<Arc<Process>> {
        let mut last = self.last_sent.borrow_mut();
        if let Some(process) = last.as_ref().filter(|p| p.pid == *pid) {
            return Some(process.clone());
        }
        let process = self.runtime.lookup(pid)?;
        *last = Some(process.clone());
        Some(process)
    }

    /// `Pid ! Msg`.
    pub fn send(&self, to: &Pid, message: impl Into<Message>) {
        let last = self.last_sent.borrow();
        if let Some(process) = last.as_ref().filter(|p| p.pid == *to) {
            process.deliver(message.into());
            return;
        }
        drop(last);
        if let Some(process) = self.handle(to) {
            process.deliver(message.into());
        } else {
            self.sent(self.runtime.send_busy(to, message.into()));
        }
    }

    /// `{Name, Node} ! Msg`: to a name on any node (this one included); to a name nobody has
    /// on this node, `badarg`; to another node, sent if the node can be reached.
    pub fn send_to_name(
        &self,
        name: &Atom,
        node: &Atom,
        message: impl Into<Message>,
    ) -> Result<(), BadArg> {
        if node == self.runtime.node() {
            return self.runtime.send_named(name, message);
        }
        if let (Some(remote), Message::Term(term)) =
            (self.runtime.remote_for_node(node), message.into())
        {
            self.sent(remote.send_named(&self.me.pid, node, name, term));
        }
        Ok(())
    }

    /// `Name ! Msg`: `badarg` if nobody has the name.
    pub fn send_named(&self, name: &Atom, message: impl Into<Message>) -> Result<(), BadArg> {
        self.runtime.send_named(name, message)
    }

    /// Takes the first message in the queue that `matches` accepts, leaving the others in their
    /// order; waits for one if none does (`receive ... end`). While it waits, only messages that
    /// arrive later are tested: the ones already rejected stay rejected.
    ///
    /// Like the BEAM's outer and inner signal queues: senders append to the shared queue under
    /// the process lock; the receiver moves everything queued into its own inbox in one go and
    /// scans that without the lock, so a busy receiver takes the lock once per batch, not once
    /// per message.
    pub async fn receive(&mut self, mut matches: impl FnMut(&Message) -> bool) -> Message {
        let me = &*self.me;
        let inbox = &mut self.inbox;
        let mut scanned = 0;
        // Clears the waiting status if the receive is dropped while waiting (a timeout, the
        // process being killed).
        let guard = WaitingGuard(me);
        let message = std::future::poll_fn(|cx| loop {
            // A sender to a busy connection waits here first. The wait is polled where it is
            // kept, so that every process's future does not carry room for it.
            if me.is_busy() && me.poll_busy(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(offset) = inbox.iter().skip(scanned).position(&mut matches) {
                if let Some(message) = inbox.remove(scanned + offset) {
                    me.took_message(inbox.len());
                    return Poll::Ready(message);
                }
            }
            scanned = inbox.len();
            let mut state = me.lock();
            if state.queue.is_empty() {
                // From here on senders wake us (they skip the wake-up while we are not waiting).
                state.waiting = true;
                match &mut state.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            state.waiting = false;
            if inbox.is_empty() {
                std::mem::swap(inbox, &mut state.queue);
            } else {
                inbox.append(&mut state.queue);
            }
            // Under the lock, so `process_info` sees the messages in one place or the other.
            me.set_inbox_len(inbox.len());
        })
        .await;
        // Not waiting any more: cleared under the lock when the last batch was taken.
        std::mem::forget(guard);
        message
    }

    /// [`Context::receive`] with `after Timeout`: `None` when nothing matched in time.
    pub async fn receive_timeout(
        &mut self,
        timeout: Duration,
        matches: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        // The timer starts once a suspended sender is resumed, as it would reach its receive
        // only then.
        self.wait_if_busy().await;
        self.runtime.timed_receive();
        tokio::time::timeout(timeout, self.receive(matches))
            .await
            .ok()
    }

    /// The next message, whatever it is.
    pub async fn recv(&mut self) -> Message {
        self.receive(|_| true).await
    }

    /// Says which OTP behaviour the process runs and what started it, for introspection
    /// (`proc_lib` keeps the same in the process dictionary).
    pub fn set_behaviour(&self, behaviour: &str, initial_call: &str) {
        self.me.lock().behaviour = Some(Box::new((behaviour.to_owned(), initial_call.to_owned())));
    }

    /// `process_flag(trap_exit, On)`: returns the old value.
    pub fn trap_exit(&self, on: bool) -> bool {
        std::mem::replace(&mut self.me.lock().trap_exit, on)
    }

    /// `link(Pid)`.
    pub fn link(&self, pid: &Pid) {
        self.runtime.link(&self.me, pid, self.handle(pid));
    }

    /// `unlink(Pid)`.
    pub fn unlink(&self, pid: &Pid) {
        self.runtime.unlink(&self.me, pid, self.handle(pid));
    }

    /// `monitor(process, Pid)`.
    pub fn monitor(&self, pid: &Pid) -> Reference {
        self.runtime.monitor(&self.me, pid, self.handle(pid))
    }

    /// `monitor(process, {RegName, Node})` (`monitor(process, RegName)` when `node` is this
    /// node): watches the process registered as `name` there when the monitor is set; its
    /// `'DOWN'` message names `{RegName, Node}` (see [`Message::as_down_object`]).
    pub fn monitor_name(&self, name: &Atom, node: &Atom) -> Reference {
        self.runtime.monitor_name(&self.me, name, node)
    }

    /// `demonitor(Ref, [flush])` when `flush`, else `demonitor(Ref)`; whether the monitor was on.
    pub fn demonitor(&mut self, reference: &Reference, flush: bool) -> bool {
        if flush {
            self.inbox.retain(|m| !m.is_down_for(reference));
            self.me.set_inbox_len(self.inbox.len());
        }
        self.runtime
            .demonitor(&self.me, reference, flush, |pid| self.handle(pid))
    }

    /// `exit(Pid, Reason)`.
    pub fn exit(&self, pid: &Pid, reason: ExitReason) {
        self.runtime.exit_from(&self.me.pid, pid, &reason);
    }

    /// `register(Name, self())`.
    pub fn register(&self, name: Atom) -> Result<(), BadArg> {
        self.runtime.register(name, &self.me.pid)
    }

    /// `make_ref()`.
    pub fn make_ref(&self) -> Reference {
        self.runtime.make_ref()
    }

    /// `spawn/1`.
    pub fn spawn<F, Fut>(&self, body: F) -> Pid
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        self.runtime.spawn(body)
    }

    /// `spawn_link/1`: linked, both ways, before the new process can run.
    pub fn spawn_link<F, Fut>(&self, body: F) -> Pid
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        self.spawn_opt(body, true, false).0
    }

    /// `spawn_monitor/1`: monitored before the new process can run.
    pub fn spawn_monitor<F, Fut>(&self, body: F) -> (Pid, Reference)
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        let (pid, reference) = self.spawn_opt(body, false, true);
        (pid, reference.expect("asked for a monitor"))
    }

    /// `spawn_opt/2` with `link` and `monitor`: both set up before the new process can run,
    /// so neither its exit signal nor its `'DOWN'` can be missed however soon it ends.
    pub fn spawn_opt<F, Fut>(&self, body: F, link: bool, monitor: bool) -> (Pid, Option<Reference>)
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        let reference = monitor.then(|| self.runtime.make_ref());
        let me = self.me.clone();
        let r = reference.clone();
        let pid = self.runtime.spawn_with(body, |child| {
            if link {
                child.lock().rel().links.insert(me.pid.clone());
                me.lock().rel().links.insert(child.pid.clone());
            }
            if let Some(r) = r {
                child
                    .lock()
                    .rel()
                    .monitored_by
                    .insert(r.clone(), me.pid.clone());
                me.lock()
                    .rel()
                    .monitors
                    .insert(r, Watched::Pid(child.pid.clone()));
            }
        });
        (pid, reference)
    }
}

/// Clears the waiting status when a receive is dropped while it waits (a timeout, the process
/// being killed).
struct WaitingGuard<'a>(&'a Process);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.waiting = false;
        state.waker = None;
    }
}

/// Runs CPU-heavy or blocking work off the scheduler threads, so other processes keep running
/// (the rule: a process must not block a scheduler thread for long; anything that computes
/// for more than a millisecond or so, or blocks on I/O or a lock, goes through here).
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
