//! One process's shared state and the signals other processes send it (Erlang reference
//! manual, "Processes": signals between a pair of processes arrive in the order sent). Every
//! signal is applied under the receiver's lock at send time, so a message and an exit signal
//! from the same sender can never overtake each other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use etf::{Atom, Pid, Reference, Term};
use futures::task::AtomicWaker;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::exit::ExitReason;
use crate::message::Message;

/// A process as other processes and the runtime see it.
pub(crate) struct Process {
    pub(crate) pid: Pid,
    state: Mutex<State>,
    /// Set (after `State::doomed`) when an exit signal kills the process: checked without the
    /// lock every time the process's task is polled.
    doomed_flag: AtomicBool,
    /// Whether `State::busy` holds a wait, checked without the lock at every receive. Only the
    /// process itself sets and clears it.
    busy_flag: AtomicBool,
    /// The process's task, woken when an exit signal kills it.
    pub(crate) doom: AtomicWaker,
    /// Messages in the receiver's own inbox (`Context`), for `message_queue_len`.
    inbox_len: AtomicUsize,
    /// Messages taken and signals handled: a reductions-like counter.
    work: AtomicU64,
}

pub(crate) struct State {
    pub(crate) queue: VecDeque<Message>,
    pub(crate) trap_exit: bool,
    /// Sending to a busy connection never suspends this process (the node's services).
    pub(crate) never_suspend: bool,
    /// Links and monitors, allocated when the process first has one (most never do).
    pub(crate) relations: Option<Box<Relations>>,
    /// Set by an exit signal that kills the process.
    pub(crate) doomed: Option<Box<ExitReason>>,
    pub(crate) alive: bool,
    pub(crate) name: Option<Atom>,
    /// Waiting in a receive, with `waker` to wake it: senders wake it once and clear this, so
    /// a burst of messages costs one wake-up.
    pub(crate) waiting: bool,
    /// The receiving task's waker, kept here (under the lock every sender takes anyway) rather
    /// than in a separate `Notify` with a lock of its own.
    pub(crate) waker: Option<Waker>,
    /// What started the process: the closure's type.
    pub(crate) initial_call: &'static str,
    /// The OTP behaviour the process runs and the initial call it names, if it runs one.
    pub(crate) behaviour: Option<Box<(String, String)>>,
    /// The size of the process's own future, measured at spawn.
    pub(crate) body_size: usize,
    /// The busy connection the process last sent to: it waits for it at its next receive, or
    /// before it exits if its code ends first (erts suspends it at the send). Boxed once more
    /// to keep `Process` at 216 bytes: at 224, an idle process cost 1016 bytes of resident
    /// memory instead of 824 (`runtime-vs-erl idle_bytes`; glibc's heap).
    pub(crate) busy: Option<Box<crate::Busy>>,
}

/// A process's links and monitors (Fx-hashed: the keys are our own pids and references, and a
/// GenServer call adds and removes a monitor each time).
#[derive(Default)]
pub(crate) struct Relations {
    pub(crate) links: FxHashSet<Pid>,
    /// Monitors this process holds: reference → what it watches.
    pub(crate) monitors: FxHashMap<Reference, Watched>,
    /// Monitors on this process: reference → watcher.
    pub(crate) monitored_by: FxHashMap<Reference, Pid>,
    /// Of those, the ones another node set by registered name: the name, which their
    /// `MONITOR_P_EXIT` must carry (erts matches a monitor by name only to its name).
    pub(crate) monitored_by_name: FxHashMap<Reference, Atom>,
    /// Spawn requests this process sent to other nodes and awaits the reply to.
    pub(crate) spawn_requests: FxHashMap<Reference, crate::spawn_request::SpawnRequest>,
}

/// What a monitor watches (`erlang:monitor(process, Item)`): a pid, or a registered name,
/// which OTP resolves once, when the monitor is set, and names in the `'DOWN'` message as
/// `{RegName, Node}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Watched {
    /// `monitor(process, Pid)`, local or remote.
    Pid(Pid),
    /// A name registered on this node, and the process that held it when the monitor was set.
    LocalName(Atom, Pid),
    /// `monitor(process, {RegName, Node})` for another node: that node resolves the name.
    RemoteName(Atom, Atom),
}

impl Watched {
    /// The node of the watched process.
    pub(crate) fn node(&self) -> &Atom {
        match self {
            Watched::Pid(pid) | Watched::LocalName(_, pid) => &pid.node,
            Watched::RemoteName(_, node) => node,
        }
    }

    /// How the `'DOWN'` message and `process_info(_, monitors)` name it: the pid, or
    /// `{RegName, Node}`.
    pub(crate) fn object(&self) -> Term {
        match self {
            Watched::Pid(pid) => Term::Pid(pid.clone()),
            Watched::LocalName(name, Pid { node, .. }) | Watched::RemoteName(name, node) => {
                Term::Tuple(vec![Term::Atom(name.clone()), Term::Atom(node.clone())])
            }
        }
    }
}

impl State {
    /// The links and monitors, made on first use.
    pub(crate) fn rel(&mut self) -> &mut Relations {
        self.relations.get_or_insert_with(Default::default)
    }

    /// Queues `message` and returns the receiver's waker if it was waiting for one: wake it
    /// after releasing the lock.
    #[must_use]
    pub(crate) fn push(&mut self, message: Message) -> Option<Waker> {
        self.queue.push_back(message);
        self.take_waker()
    }

    /// The waiting receiver's waker, taken (it stops waiting once woken).
    pub(crate) fn take_waker(&mut self) -> Option<Waker> {
        if self.waiting {
            self.waiting = false;
            self.waker.take()
        } else {
            None
        }
    }

    /// The links and monitors, if there are any.
    pub(crate) fn rel_mut(&mut self) -> Option<&mut Relations> {
        self.relations.as_deref_mut()
    }
}

/// What an exit signal did to its receiver.
#[derive(Debug, PartialEq)]
pub(crate) enum ExitOutcome {
    Ignored,
    Trapped,
    Killed,
    /// The receiver is already gone.
    Dead,
}

impl Process {
    pub(crate) fn new(pid: Pid) -> Process {
        Process {
            pid,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                trap_exit: false,
                never_suspend: false,
                relations: None,
                doomed: None,
                alive: true,
                name: None,
                waiting: false,
                waker: None,
                initial_call: "",
                behaviour: None,
                body_size: 0,
                busy: None,
            }),
            doomed_flag: AtomicBool::new(false),
            busy_flag: AtomicBool::new(false),
            doom: AtomicWaker::new(),
            inbox_len: AtomicUsize::new(0),
            work: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a message at the end of the queue (dropped if the process is gone).
    pub(crate) fn deliver(&self, message: Message) {
        let mut state = self.lock();
        if state.alive {
            // A receiver that is not waiting will see the message when it next looks.
            let waker = state.push(message);
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// The process its monitor `reference` watches ended with `reason`: the monitor is taken
    /// off and a `'DOWN'` message queued, unless the monitor was already dropped.
    pub(crate) fn monitor_fired(&self, reference: &Reference, reason: &ExitReason) {
        let mut state = self.lock();
        let Some(watched) = state.rel_mut().and_then(|r| r.monitors.remove(reference)) else {
            return;
        };
        let waker = state.push(Message::down(reference, watched.object(), reason));
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// An exit signal (`exit/2` when `link` is false, a linked process's end when true), with
    /// Erlang's rules: `kill` by `exit/2` cannot be trapped and ends the process as `killed`;
    /// a trapping process gets `{'EXIT', From, Reason}`; others ignore `normal` (unless they
    /// sent it to themselves) and die with anything else.
    pub(crate) fn exit_signal(&self, from: &Pid, reason: &ExitReason, link: bool) -> ExitOutcome {
        let mut state = self.lock();
        if !state.alive || state.doomed.is_some() {
            return ExitOutcome::Dead;
        }
        if link && !state.rel_mut().is_some_and(|r| r.links.remove(from)) {
            // Unlinked before the signal arrived: it no longer applies.
            return ExitOutcome::Ignored;
        }
        self.work.fetch_add(1, Ordering::Relaxed);
        let mut waker = None;
        let outcome = if *reason == ExitReason::Kill && !link {
            state.doomed = Some(Box::new(ExitReason::Killed));
            ExitOutcome::Killed
        } else if state.trap_exit {
            waker = state.push(Message::exit(from, reason));
            ExitOutcome::Trapped
        } else if *reason == ExitReason::Normal && *from != self.pid {
            ExitOutcome::Ignored
        } else {
            state.doomed = Some(Box::new(reason.clone()));
            ExitOutcome::Killed
        };
        if outcome == ExitOutcome::Killed {
            self.doomed_flag.store(true, Ordering::Release);
        }
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        if outcome == ExitOutcome::Killed {
            self.doom.wake();
        }
        outcome
    }

    /// Whether the process has a busy connection to wait for.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy_flag.load(Ordering::Relaxed)
    }

    /// Polls the wait for a busy connection; `Ready` once it has drained (the wait is gone).
    pub(crate) fn poll_busy(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut state = self.lock();
        if let Some(busy) = state.busy.as_mut() {
            if busy.as_mut().as_mut().poll(cx).is_pending() {
                return std::task::Poll::Pending;
            }
        }
        state.busy = None;
        self.set_busy(false);
        std::task::Poll::Ready(())
    }

    /// Records whether the process has a busy connection to wait for.
    pub(crate) fn set_busy(&self, busy: bool) {
        self.busy_flag.store(busy, Ordering::Relaxed);
    }

    /// The receiver took a message; `inbox_len` are left in its inbox.
    pub(crate) fn took_message(&self, inbox_len: usize) {
        self.work.fetch_add(1, Ordering::Relaxed);
        self.set_inbox_len(inbox_len);
    }

    /// How many messages the receiver holds in its inbox.
    pub(crate) fn set_inbox_len(&self, inbox_len: usize) {
        self.inbox_len.store(inbox_len, Ordering::Relaxed);
    }

    /// Messages queued but not yet received, in the shared queue and the receiver's inbox.
    pub(crate) fn message_queue_len(&self, state: &State) -> usize {
        state.queue.len() + self.inbox_len.load(Ordering::Relaxed)
    }

    /// The reductions-like work counter.
    pub(crate) fn work(&self) -> u64 {
        self.work.load(Ordering::Relaxed)
    }

    /// The reason an exit signal doomed this process with, if one did (checked without the
    /// lock until one has).
    pub(crate) fn doomed(&self) -> Option<ExitReason> {
        if !self.doomed_flag.load(Ordering::Acquire) {
            return None;
        }
        self.lock().doomed.as_deref().cloned()
    }
}
