//! Monitors: `'DOWN'` with the reason, `noproc` for dead targets, demonitor with flush,
//! spawn_monitor.

use std::time::Duration;

use etf::Term;
use runtime::{ExitReason, Runtime};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_carries_the_reason() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let (child, r) = ctx.spawn_monitor(|_| async { ExitReason::atom("bye") });
        let down = ctx.recv().await;
        let _ = tx.send((down.as_down(), child, r));
        ExitReason::Normal
    });
    let (down, child, r) = rx.recv().await.unwrap();
    assert_eq!(down, Some((r, child, ExitReason::atom("bye"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_a_dead_process_gives_noproc_at_once() {
    let rt = Runtime::default();
    let dead = rt.spawn(|_| async { ExitReason::Normal });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let d = dead.clone();
    rt.spawn(move |mut ctx| async move {
        let r = ctx.monitor(&d);
        let down = ctx.recv().await;
        let _ = tx.send((down.as_down(), r));
        ExitReason::Normal
    });
    let (down, r) = rx.recv().await.unwrap();
    assert_eq!(down, Some((r, dead, ExitReason::NoProc)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demonitor_with_flush_removes_a_down_already_sent() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let (child, r) = ctx.spawn_monitor(|_| async { ExitReason::Normal });
        // Let the DOWN arrive, then flush it.
        let probe = ctx.monitor(&child);
        ctx.receive(|m| m.as_down().is_some_and(|(x, _, _)| x == probe))
            .await;
        let was_on = ctx.demonitor(&r, true);
        let me = ctx.pid().clone();
        ctx.send(&me, Term::atom("marker"));
        let next = ctx.recv().await;
        let _ = tx.send((was_on, next.as_term().cloned()));
        ExitReason::Normal
    });
    let (was_on, next) = rx.recv().await.unwrap();
    assert!(!was_on, "the monitor had fired already");
    assert_eq!(next, Some(Term::atom("marker")));
}
