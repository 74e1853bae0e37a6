//! Task (async/await with timeout, crashes, Task.Supervisor, async_stream ordered and
//! unordered with max_concurrency) and Agent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etf::Term;
use rotp_otp::agent;
use rotp_otp::task::{self, AwaitError};
use runtime::{ExitReason, Runtime};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_and_await_return_the_result() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let t = task::spawn(&mut ctx, |_| async { 6 * 7 });
        let v: i32 = task::await_task(&mut ctx, t, Duration::from_secs(5)).await;
        let _ = tx.send(v);
        ExitReason::Normal
    });
    assert_eq!(rx.recv().await, Some(42));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_await_that_times_out_makes_the_caller_exit_and_kills_the_task() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let (ttx, mut trx) = tokio::sync::mpsc::unbounded_channel();
        let caller = ctx.spawn_link(move |mut c| async move {
            let t = task::spawn(&mut c, |mut tc| async move {
                tc.receive(|_| false).await;
                1
            });
            let _ = ttx.send(t.pid.clone());
            let _: i32 = task::await_task(&mut c, t, Duration::from_millis(50)).await;
            ExitReason::atom("not reached")
        });
        let exit = ctx
            .receive(|m| m.as_exit().is_some_and(|(p, _)| p == caller))
            .await;
        let task_pid = trx.recv().await.unwrap();
        ctx.receive_timeout(Duration::from_millis(50), |_| false)
            .await;
        let _ = tx.send((
            exit.as_exit().unwrap().1.to_term().to_string(),
            ctx.runtime().is_alive(&task_pid),
        ));
        ExitReason::Normal
    });
    let (reason, task_alive) = rx.recv().await.unwrap();
    assert!(
        reason.starts_with("{timeout,{'Elixir.Task',await,[<"),
        "{reason}"
    );
    assert!(!task_alive);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_under_a_task_supervisor_fails_without_taking_the_caller_down() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let sup = task::Supervisor::start_link(&mut ctx)
            .await
            .unwrap()
            .unwrap();
        let bad = task::Supervisor::async_nolink(&mut ctx, &sup, |_| async {
            if true {
                panic!("task failed");
            }
            0
        })
        .await
        .unwrap();
        let good = task::Supervisor::async_nolink(&mut ctx, &sup, |_| async { 5 })
            .await
            .unwrap();
        let bad: Result<i32, _> = task::try_await(&mut ctx, &bad, Duration::from_secs(5)).await;
        let good: Result<i32, _> = task::try_await(&mut ctx, &good, Duration::from_secs(5)).await;
        let _ = tx.send((bad, good));
        ExitReason::Normal
    });
    let (bad, good) = rx.recv().await.unwrap();
    assert_eq!(
        bad,
        Err(AwaitError::Exited(ExitReason::Panic("task failed".into())))
    );
    assert_eq!(good, Ok(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_bounds_concurrency_and_keeps_order_when_asked() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    rt.spawn(move |mut ctx| async move {
        let work = move |n: u64, _ctx| {
            let (r, p) = (r.clone(), p.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                // Later inputs finish first.
                tokio::time::sleep(Duration::from_millis(60 - n * 10)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                if n == 3 {
                    panic!("three");
                }
                n * 10
            }
        };
        let ordered = task::async_stream(
            &mut ctx,
            vec![1, 2, 3, 4, 5],
            2,
            true,
            Duration::from_secs(5),
            work.clone(),
        )
        .await;
        let unordered = task::async_stream(
            &mut ctx,
            vec![1, 2, 3, 4, 5],
            5,
            false,
            Duration::from_secs(5),
            work,
        )
        .await;
        let _ = tx.send((ordered, unordered));
        ExitReason::Normal
    });
    let (ordered, unordered) = rx.recv().await.unwrap();
    assert_eq!(
        ordered,
        vec![
            Ok(10),
            Ok(20),
            Err(ExitReason::Panic("three".into())),
            Ok(40),
            Ok(50)
        ]
    );
    assert_eq!(unordered.len(), 5);
    assert_eq!(
        unordered.first(),
        Some(&Ok(50)),
        "unordered results come as tasks finish"
    );
    assert_eq!(
        peak.load(Ordering::SeqCst),
        5,
        "the unordered run had all five at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_keeps_state_behind_functions() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let a = agent::start_link(&mut ctx, || vec![Term::atom("a")], None)
            .await
            .unwrap()
            .unwrap();
        agent::update(&mut ctx, &a, |v: &mut Vec<Term>| v.push(Term::atom("b"))).await;
        agent::cast(&ctx, &a, |v: &mut Vec<Term>| v.push(Term::atom("c")));
        let len = agent::get(&mut ctx, &a, |v: &Vec<Term>| v.len()).await;
        let popped = agent::get_and_update(
            &mut ctx,
            &a,
            |v: &mut Vec<Term>| v.pop(),
            Duration::from_secs(1),
        )
        .await;
        let _ = tx.send((len, popped));
        ExitReason::Normal
    });
    assert_eq!(rx.recv().await, Some((3, Some(Term::atom("c")))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_finish_at_once_do_not_take_the_caller_down() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let mut sum = 0;
        for n in 0..500 {
            let t = task::spawn(&mut ctx, move |_| async move { n });
            sum += task::await_task(&mut ctx, t, Duration::from_secs(5)).await;
        }
        let _ = tx.send(sum);
        ExitReason::Normal
    });
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap(),
        Some((0..500).sum::<i32>())
    );
}

/// `Task.async` links the task to its caller: a caller that crashes takes its task with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_dies_with_a_caller_that_crashes() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let (ttx, mut trx) = mpsc::unbounded_channel();
        let (caller, _) = ctx.spawn_monitor(move |mut c| async move {
            let t = task::spawn(&mut c, |mut tc| async move {
                tc.receive(|_| false).await;
                1
            });
            let _ = ttx.send(t.pid.clone());
            c.recv().await;
            ExitReason::atom("caller_crashed")
        });
        let task_pid = trx.recv().await.unwrap();
        let watch = ctx.monitor(&task_pid);
        ctx.send(&caller, Term::atom("crash"));
        let down = ctx
            .receive(|m| m.as_down().is_some_and(|(r, _, _)| r == watch))
            .await;
        let _ = tx.send(down.as_down().map(|(_, _, reason)| reason));
        ExitReason::Normal
    });
    assert_eq!(
        rx.recv().await.unwrap(),
        Some(ExitReason::atom("caller_crashed"))
    );
}

/// A Task.Supervisor that shuts down stops its running tasks with `shutdown` (Elixir's
/// default child shutdown for tasks: `shutdown`, then `kill` after 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_supervisor_shutting_down_stops_its_tasks_with_shutdown() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let (ttx, mut trx) = mpsc::unbounded_channel();
        let (parent, _) = ctx.spawn_monitor(move |mut p| async move {
            let sup = task::Supervisor::start_link(&mut p).await.unwrap().unwrap();
            let t = task::Supervisor::async_nolink(&mut p, &sup, |mut tc| async move {
                tc.receive(|_| false).await;
                1
            })
            .await
            .unwrap();
            let _ = ttx.send(t.pid.clone());
            p.recv().await;
            // The supervisor's parent ends: the supervisor shuts its children down.
            ExitReason::Shutdown
        });
        let task_pid = trx.recv().await.unwrap();
        let watch = ctx.monitor(&task_pid);
        ctx.send(&parent, Term::atom("stop"));
        let down = ctx
            .receive_timeout(Duration::from_secs(3), |m| {
                m.as_down().is_some_and(|(r, _, _)| r == watch)
            })
            .await;
        let _ = tx.send(down.and_then(|d| d.as_down().map(|(_, _, reason)| reason)));
        ExitReason::Normal
    });
    assert_eq!(rx.recv().await.unwrap(), Some(ExitReason::Shutdown));
}
