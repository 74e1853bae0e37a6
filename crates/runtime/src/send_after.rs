//! Timers as erlang's BIFs: `erlang:send_after/3` ([`Context::send_after`]),
//! `erlang:start_timer/3` ([`Context::start_timer`], delivering a [`TimerFired`]),
//! `erlang:cancel_timer/1` ([`Context::cancel_timer`]) and `erlang:read_timer/1`
//! ([`Context::read_timer`]); Elixir's `Process.send_after/3`, `Process.cancel_timer/1` and
//! `Process.read_timer/1` are the same BIFs.
//!
//! A timer is a tokio task that sleeps until its deadline and then sends, holding the runtime
//! weakly (a pending timer never keeps a stopped runtime alive). A message to a process that
//! has gone by then is dropped, as any send to a dead pid is. Cancelling a timer that has fired
//! or was cancelled answers `None` (erlang's `false`).

use std::sync::Arc;
use std::time::Duration;

use etf::Reference;
use rustc_hash::FxHashMap;

use crate::{Context, Message, Runtime};

/// A timer's reference (erlang's `TRef`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimerRef(pub Reference);

/// What [`Context::start_timer`] delivers: erlang's `{timeout, TRef, Msg}`.
#[derive(Clone, Debug, PartialEq)]
pub struct TimerFired<M> {
    /// The timer that fired.
    pub timer: TimerRef,
    /// What it was given.
    pub message: M,
}

/// The timers not yet fired or cancelled, by reference.
#[derive(Default)]
pub(crate) struct Timers {
    pending: std::sync::Mutex<FxHashMap<Reference, Pending>>,
}

struct Pending {
    deadline: tokio::time::Instant,
    task: tokio::task::AbortHandle,
}

impl Timers {
    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<Reference, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Runtime {
    /// Sends `make(timer)` to `to` after `after`; the timer's reference.
    fn arm(
        &self,
        after: Duration,
        to: etf::Pid,
        make: impl FnOnce(TimerRef) -> Message + Send + 'static,
    ) -> TimerRef {
        let reference = self.make_ref();
        let deadline = tokio::time::Instant::now() + after;
        let weak = Arc::downgrade(self.inner_arc());
        let key = reference.clone();
        // Held while the task is spawned and entered, so the task's own removal (at its
        // deadline) always finds the entry.
        let mut pending = self.inner().send_after.lock();
        let task = tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let Some(runtime) = Runtime::from_inner(weak) else {
                return;
            };
            let fired = runtime.inner().send_after.lock().remove(&key).is_some();
            if fired {
                runtime.send(&to, make(TimerRef(key)));
            }
        });
        pending.insert(
            reference.clone(),
            Pending {
                deadline,
                task: task.abort_handle(),
            },
        );
        TimerRef(reference)
    }

    /// The time left on `timer` and its removal, if it has neither fired nor been cancelled.
    fn disarm(&self, timer: &TimerRef) -> Option<Duration> {
        let pending = self.inner().send_after.lock().remove(&timer.0)?;
        pending.task.abort();
        Some(
            pending
                .deadline
                .saturating_duration_since(tokio::time::Instant::now()),
        )
    }

    /// The time left on `timer`, if it has neither fired nor been cancelled.
    fn time_left(&self, timer: &TimerRef) -> Option<Duration> {
        self.inner().send_after.lock().get(&timer.0).map(|p| {
            p.deadline
                .saturating_duration_since(tokio::time::Instant::now())
        })
    }
}

impl Context {
    /// `erlang:send_after(Time, Dest, Msg)`: sends `message` to `to` after `after`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # #[tokio::main] async fn main() {
    /// let runtime = rotp_runtime::Runtime::default();
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// runtime.spawn(move |mut ctx| async move {
    ///     let me = ctx.pid().clone();
    ///     ctx.send_after(Duration::from_millis(10), &me, rotp_runtime::Message::local("tick"));
    ///     let tick = ctx.recv().await;
    ///     let _ = tx.send(tick.downcast::<&str>().ok());
    ///     rotp_runtime::ExitReason::Normal
    /// });
    /// assert_eq!(rx.await.unwrap(), Some("tick"));
    /// # }
    /// ```
    pub fn send_after(
        &self,
        after: Duration,
        to: &etf::Pid,
        message: impl Into<Message> + Send + 'static,
    ) -> TimerRef {
        let message = message.into();
        self.runtime().arm(after, to.clone(), move |_| message)
    }

    /// `erlang:start_timer(Time, Dest, Msg)`: sends [`TimerFired`] `{timer, message}` to `to`
    /// after `after`, so the receiver knows which timer fired (a stale one, cancelled too
    /// late, can be told from the current one).
    pub fn start_timer<M: Send + 'static>(
        &self,
        after: Duration,
        to: &etf::Pid,
        message: M,
    ) -> TimerRef {
        self.runtime().arm(after, to.clone(), move |timer| {
            Message::local(TimerFired { timer, message })
        })
    }

    /// `erlang:cancel_timer(TRef)`: the time that was left, or `None` (erlang's `false`) if
    /// the timer had fired or was cancelled. A message already sent stays in the mailbox, as
    /// in erlang.
    pub fn cancel_timer(&self, timer: &TimerRef) -> Option<Duration> {
        self.runtime().disarm(timer)
    }

    /// `erlang:read_timer(TRef)`: the time left, or `None` once it has fired or been cancelled.
    pub fn read_timer(&self, timer: &TimerRef) -> Option<Duration> {
        self.runtime().time_left(timer)
    }
}
