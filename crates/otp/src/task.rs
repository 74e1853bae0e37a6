//! `Task`: run a computation in its own process and await its result (Elixir's `Task` and
//! `Task.Supervisor`). The task is linked to its owner (`async`) or only monitored
//! (`Supervisor::async_nolink`); either way the owner monitors it, so a crash ends the await.
//!
//! ```
//! use std::time::Duration;
//! use rotp_otp::task::{self, AwaitError};
//! use runtime::ExitReason;
//!
//! # #[tokio::main] async fn main() {
//! # let (done, finished) = tokio::sync::oneshot::channel();
//! # runtime::Runtime::default().spawn(move |mut ctx| async move {
//! // In a process, `ctx` being its `runtime::Context`:
//! // task = Task.async(fn -> 6 * 7 end); Task.await(task)
//! let answer = task::spawn(&mut ctx, |_| async { 6 * 7 });
//! assert_eq!(task::await_task(&mut ctx, answer, Duration::from_secs(5)).await, 42);
//!
//! // Task.async_stream(1..4, &(&1 * &1), max_concurrency: 2)
//! let squares = task::async_stream(&mut ctx, vec![1, 2, 3], 2, true, Duration::from_secs(5), |n, _| async move { n * n }).await;
//! assert_eq!(squares, [Ok(1), Ok(4), Ok(9)]);
//!
//! // Task.Supervisor.async_nolink: a crash is an answer, not an exit of the caller.
//! let tasks = task::Supervisor::start_link(&mut ctx).await.unwrap().unwrap();
//! let failing = task::Supervisor::async_nolink(&mut ctx, &tasks, |ctx| async move {
//!     let me = ctx.pid().clone();
//!     ctx.exit(&me, ExitReason::atom("boom"));
//!     std::future::pending::<()>().await
//! }).await.unwrap();
//! let result = task::try_await(&mut ctx, &failing, Duration::from_secs(5)).await;
//! assert_eq!(result, Err(AwaitError::Exited(ExitReason::atom("boom"))));
//! # let _ = done.send(());
//! # runtime::ExitReason::Normal
//! # });
//! # finished.await.expect("the example ran to its end");
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use etf::{Pid, Reference, Term};
use runtime::{Context, ExitReason, Message};

use crate::dynamic_supervisor::{self, Options, Request, Response};
use crate::supervisor::{ChildSpec, Restart, Shutdown};

/// A running task (`%Task{}`): its pid and the reference its reply carries.
#[derive(Debug)]
pub struct Task<T> {
    /// The task's process.
    pub pid: Pid,
    reference: Reference,
    _result: std::marker::PhantomData<fn() -> T>,
}

/// Why awaiting a task failed.
#[derive(Debug, Clone, PartialEq)]
pub enum AwaitError {
    /// No result within the timeout.
    Timeout,
    /// The task exited first, with this reason.
    Exited(ExitReason),
}

/// `Task.async/1`: runs `work` in a process linked to and monitored by the caller.
pub fn spawn<T, F, Fut>(ctx: &mut Context, work: F) -> Task<T>
where
    T: Send + 'static,
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let owner = ctx.pid().clone();
    // Linked and monitored before the task can run: linking afterwards to a task that has
    // already finished would kill the caller with `noproc`, as `link/1` does in Erlang.
    let (pid, reference) = ctx.spawn_opt(move |child| run(owner, child, work), true, true);
    let reference = reference.expect("asked for a monitor");
    Task {
        pid,
        reference,
        _result: std::marker::PhantomData,
    }
}

/// The task's body: run the work, send the result to the owner with the monitor reference.
async fn run<T, F, Fut>(owner: Pid, ctx: Context, work: F) -> ExitReason
where
    T: Send + 'static,
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let me = ctx.pid().clone();
    let runtime = ctx.runtime().clone();
    let result = work(ctx).await;
    // The owner finds the reply by the monitor reference it holds on us.
    runtime.send(&owner, Message::local((me, result)));
    ExitReason::Normal
}

/// `Task.yield/2`: the result, or why there is none (the task keeps running on a timeout).
pub async fn try_await<T: Send + 'static>(
    ctx: &mut Context,
    task: &Task<T>,
    timeout: Duration,
) -> Result<T, AwaitError> {
    let (pid, reference) = (task.pid.clone(), task.reference.clone());
    let answer = ctx
        .receive_timeout(timeout, |m| {
            m.downcast_ref::<(Pid, T)>().is_some_and(|(p, _)| *p == pid)
                || m.as_down().is_some_and(|(r, _, _)| r == reference)
        })
        .await
        .ok_or(AwaitError::Timeout)?;
    if let Some((_, _, reason)) = answer.as_down() {
        return Err(AwaitError::Exited(reason));
    }
    ctx.demonitor(&task.reference, true);
    match answer.downcast::<(Pid, T)>() {
        Ok((_, result)) => Ok(result),
        Err(_) => Err(AwaitError::Exited(ExitReason::atom("bad_reply"))),
    }
}

/// `Task.await/2`: the result; on a timeout the caller exits with
/// `{timeout, {'Elixir.Task', await, [Pid, Timeout]}}` and the task is killed with it, as in
/// Elixir; a crashed task makes the caller exit with the task's reason.
pub async fn await_task<T: Send + 'static>(
    ctx: &mut Context,
    task: Task<T>,
    timeout: Duration,
) -> T {
    match try_await(ctx, &task, timeout).await {
        Ok(result) => result,
        Err(error) => {
            let reason = match error {
                AwaitError::Timeout => {
                    ctx.unlink(&task.pid);
                    ctx.exit(&task.pid, ExitReason::Kill);
                    Term::atom("timeout")
                }
                AwaitError::Exited(reason) => reason.to_term(),
            };
            let location = Term::Tuple(vec![
                Term::atom("Elixir.Task"),
                Term::atom("await"),
                Term::List(vec![
                    Term::Pid(task.pid.clone()),
                    Term::Integer(timeout.as_millis() as i64),
                ]),
            ]);
            let me = ctx.pid().clone();
            ctx.exit(&me, ExitReason::Other(Term::Tuple(vec![reason, location])));
            std::future::pending().await
        }
    }
}

/// `Task.async_stream/3`: `work` on every input with at most `max_concurrency` tasks at a
/// time; results in input order when `ordered`, else as they finish. A crashed task gives
/// `Err(reason)` in its place.
pub async fn async_stream<I, T, F, Fut>(
    ctx: &mut Context,
    inputs: Vec<I>,
    max_concurrency: usize,
    ordered: bool,
    timeout: Duration,
    work: F,
) -> Vec<Result<T, ExitReason>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I, Context) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let total = inputs.len();
    let mut pending = inputs.into_iter().enumerate();
    let mut running: Vec<(usize, Task<T>)> = Vec::new();
    let mut done: Vec<(usize, Result<T, ExitReason>)> = Vec::with_capacity(total);
    loop {
        while running.len() < max_concurrency.max(1) {
            let Some((index, input)) = pending.next() else {
                break;
            };
            let work = work.clone();
            let owner = ctx.pid().clone();
            // Monitored, not linked: one failure is a result, not a crash of the caller.
            let (pid, reference) =
                ctx.spawn_monitor(move |child| run(owner, child, move |c| work(input, c)));
            running.push((
                index,
                Task {
                    pid,
                    reference,
                    _result: std::marker::PhantomData,
                },
            ));
        }
        if running.is_empty() {
            break;
        }
        let refs: Vec<(Pid, Reference)> = running
            .iter()
            .map(|(_, t)| (t.pid.clone(), t.reference.clone()))
            .collect();
        let message = ctx
            .receive_timeout(timeout, |m| {
                m.downcast_ref::<(Pid, T)>()
                    .is_some_and(|(p, _)| refs.iter().any(|(q, _)| q == p))
                    || m.as_down()
                        .is_some_and(|(r, _, _)| refs.iter().any(|(_, s)| *s == r))
            })
            .await;
        let Some(message) = message else {
            for (index, task) in running.drain(..) {
                ctx.exit(&task.pid, ExitReason::Kill);
                done.push((index, Err(ExitReason::atom("timeout"))));
            }
            continue;
        };
        if let Some((r, _, reason)) = message.as_down() {
            if let Some(at) = running.iter().position(|(_, t)| t.reference == r) {
                let (index, _) = running.remove(at);
                done.push((index, Err(reason)));
            }
            continue;
        }
        if let Ok((pid, result)) = message.downcast::<(Pid, T)>() {
            if let Some(at) = running.iter().position(|(_, t)| t.pid == pid) {
                let (index, task) = running.remove(at);
                ctx.demonitor(&task.reference, true);
                done.push((index, Ok(result)));
            }
        }
    }
    if ordered {
        done.sort_by_key(|(index, _)| *index);
    }
    done.into_iter().map(|(_, r)| r).collect()
}

/// `Task.Supervisor`: a dynamic supervisor of temporary tasks.
pub struct Supervisor;

impl Supervisor {
    /// `Task.Supervisor.start_link/1`.
    pub async fn start_link(ctx: &mut Context) -> Result<Option<Pid>, ExitReason> {
        dynamic_supervisor::start_link(ctx, Options::default(), None).await
    }

    /// `Task.Supervisor.async_nolink/2`: a task under `supervisor`, monitored (not linked) by
    /// the caller, so its crash is a result the caller awaits, not an exit.
    pub async fn async_nolink<T, F, Fut>(
        ctx: &mut Context,
        supervisor: &Pid,
        work: F,
    ) -> Result<Task<T>, Term>
    where
        T: Send + 'static,
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let owner = ctx.pid().clone();
        let work = std::sync::Mutex::new(Some(work));
        let slot = std::sync::Arc::new(work);
        let spec = ChildSpec::worker("task", move |sup: &mut Context, _extra| {
            let owner = owner.clone();
            let work = slot.lock().ok().and_then(|mut w| w.take());
            Box::pin(async move {
                let Some(work) = work else { return Ok(None) };
                Ok(Some(sup.spawn_link(move |child| run(owner, child, work))))
            })
        })
        // Elixir's Task.Supervisor default: asked to stop with `shutdown`, killed after 5 s.
        .restart(Restart::Temporary)
        .shutdown(Shutdown::Timeout(Duration::from_secs(5)));
        match dynamic_supervisor::request(ctx, supervisor, Request::StartChild(spec)).await {
            Response::Ok(Some(pid)) => {
                let reference = ctx.monitor(&pid);
                Ok(Task {
                    pid,
                    reference,
                    _result: std::marker::PhantomData,
                })
            }
            Response::Error(reason) => Err(reason),
            _ => Err(Term::atom("ignore")),
        }
    }
}
