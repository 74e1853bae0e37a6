//! Links and exit signals with Erlang's rules (reference manual, "Processes" → "Receiving
//! Exit Signals"): `normal` ignored unless trapping, `kill` untrappable and seen as `killed`,
//! trap_exit turning signals into `{'EXIT', Pid, Reason}`, `noproc` for dead targets, panics.

use std::time::Duration;

use etf::Term;
use rotp_runtime::{ExitReason, Message, Runtime};
use tokio::sync::mpsc;

/// Waits (bounded) until `pid` is gone.
async fn wait_dead(rt: &Runtime, pid: &etf::Pid) {
    for _ in 0..500 {
        if !rt.is_alive(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{pid:?} is still alive");
}

/// A process that waits forever (until killed).
fn sleeper(rt: &Runtime) -> etf::Pid {
    rt.spawn(|mut ctx| async move {
        ctx.receive(|_| false).await;
        ExitReason::Normal
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abnormal_exit_kills_linked_processes_that_do_not_trap() {
    let rt = Runtime::default();
    let victim = sleeper(&rt);
    let v = victim.clone();
    let crasher = rt.spawn(move |mut ctx| async move {
        ctx.link(&v);
        ctx.receive(|m| m.as_term() == Some(&Term::atom("crash")))
            .await;
        ExitReason::atom("boom")
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(rt.is_alive(&victim));
    rt.send(&crasher, Term::atom("crash"));
    wait_dead(&rt, &victim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_exit_does_not_kill_linked_processes() {
    let rt = Runtime::default();
    let survivor = sleeper(&rt);
    let s = survivor.clone();
    let quitter = rt.spawn(move |ctx| async move {
        ctx.link(&s);
        ExitReason::Normal
    });
    wait_dead(&rt, &quitter).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(rt.is_alive(&survivor));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trapping_processes_get_exit_messages_with_the_reason() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let child = ctx.spawn_link(|_| async { ExitReason::atom("oops") });
        let exit = ctx.receive(|m| m.as_exit().is_some()).await;
        let _ = tx.send((exit.as_exit(), child));
        // A normal exit of a linked process arrives too when trapping.
        let quiet = ctx.spawn_link(|_| async { ExitReason::Normal });
        let exit = ctx.receive(|m| m.as_exit().is_some()).await;
        let _ = tx.send((exit.as_exit(), quiet));
        ExitReason::Normal
    });
    let (exit, child) = rx.recv().await.unwrap();
    assert_eq!(exit, Some((child, ExitReason::atom("oops"))));
    let (exit, quiet) = rx.recv().await.unwrap();
    assert_eq!(exit, Some((quiet, ExitReason::Normal)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_cannot_be_trapped_and_linked_processes_see_killed() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ptx, mut prx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let target = ctx.spawn_link(|mut c| async move {
            c.trap_exit(true); // trapping does not help against kill
            c.receive(|_| false).await;
            ExitReason::Normal
        });
        let _ = ptx.send(target.clone());
        let exit = ctx.receive(|m| m.as_exit().is_some()).await;
        let _ = tx.send(exit.as_exit());
        ExitReason::Normal
    });
    let target = prx.recv().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    rt.exit(&target, ExitReason::Kill);
    assert_eq!(rx.recv().await.unwrap(), Some((target, ExitReason::Killed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_normal_to_another_process_is_ignored_but_to_itself_ends_it() {
    let rt = Runtime::default();
    let target = sleeper(&rt);
    let t = target.clone();
    let sender = rt.spawn(move |mut ctx| async move {
        ctx.exit(&t, ExitReason::Normal);
        let me = ctx.pid().clone();
        ctx.exit(&me, ExitReason::Normal);
        ctx.receive(|_| false).await;
        ExitReason::atom("not reached")
    });
    wait_dead(&rt, &sender).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(rt.is_alive(&target));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_to_a_dead_process_gives_noproc() {
    let rt = Runtime::default();
    let dead = rt.spawn(|_| async { ExitReason::Normal });
    wait_dead(&rt, &dead).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let d = dead.clone();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        ctx.link(&d);
        let _ = tx.send(ctx.recv().await.as_exit());
        ExitReason::Normal
    });
    assert_eq!(
        rx.recv().await.unwrap(),
        Some((dead.clone(), ExitReason::NoProc))
    );
    // Without trapping, the linker dies with noproc.
    let d = dead.clone();
    let linker = rt.spawn(move |mut ctx| async move {
        ctx.link(&d);
        ctx.receive(|_| false).await;
        ExitReason::Normal
    });
    wait_dead(&rt, &linker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlink_stops_exit_signals() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        let child = ctx.spawn_link(|mut c| async move {
            c.receive(|m| m.as_term() == Some(&Term::atom("die"))).await;
            ExitReason::atom("boom")
        });
        ctx.unlink(&child);
        ctx.send(&child, Term::atom("die"));
        let r = ctx.monitor(&child);
        let down = ctx
            .receive(|m| m.as_down().is_some_and(|(x, _, _)| x == r))
            .await;
        let _ = tx.send(down.as_down().map(|(_, _, reason)| reason));
        ExitReason::Normal
    });
    let reason = rx.recv().await.unwrap();
    assert!(
        matches!(
            reason,
            Some(ExitReason::Other(_)) | Some(ExitReason::NoProc)
        ),
        "{reason:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_then_an_exit_signal_from_one_sender_arrive_in_that_order() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ptx, mut prx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let _ = ptx.send(ctx.pid().clone());
        let first = ctx.recv().await;
        let second = ctx.recv().await;
        let _ = tx.send((format!("{first:?}"), second.as_exit().map(|(_, r)| r)));
        ExitReason::Normal
    });
    let receiver = prx.recv().await.unwrap();
    rt.spawn(move |ctx| async move {
        ctx.send(&receiver, Term::atom("first"));
        ctx.exit(&receiver, ExitReason::atom("second"));
        ExitReason::Normal
    });
    assert_eq!(
        rx.recv().await.unwrap(),
        ("first".to_owned(), Some(ExitReason::atom("second")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_an_exit_with_the_panic_message_not_a_crashed_node() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        ctx.spawn_link(|_| async {
            if true {
                panic!("division by zero, in Rust");
            }
            ExitReason::Normal
        });
        let exit: Message = ctx.recv().await;
        let _ = tx.send(exit.as_exit().map(|(_, r)| r));
        ExitReason::Normal
    });
    assert_eq!(
        rx.recv().await.unwrap(),
        Some(ExitReason::Panic("division by zero, in Rust".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_link_and_spawn_monitor_never_miss_a_child_that_ends_at_once() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        for _ in 0..1000 {
            let child = ctx.spawn_link(|_| async { ExitReason::atom("quick") });
            let exit = ctx
                .receive(|m| m.as_exit().is_some_and(|(p, _)| p == child))
                .await;
            assert_eq!(
                exit.as_exit().map(|(_, r)| r),
                Some(ExitReason::atom("quick"))
            );
            let (child, r) = ctx.spawn_monitor(|_| async { ExitReason::atom("quick") });
            let down = ctx
                .receive(|m| m.as_down().is_some_and(|(x, _, _)| x == r))
                .await;
            assert_eq!(down.as_down(), Some((r, child, ExitReason::atom("quick"))));
        }
        let _ = tx.send(());
        ExitReason::Normal
    });
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no exit or DOWN was lost")
        .unwrap();
}

/// `unlink/1` racing the linked process's exit (erlang:unlink/1 docs): once `unlink` has
/// returned the link has no effect on the caller, even when the other side was dying at that
/// very moment; before it returns, the exit may or may not have come through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlink_racing_an_exit_never_kills_after_it_returns() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let rounds = 300;
    for _ in 0..rounds {
        let tx = tx.clone();
        rt.spawn(move |mut ctx| async move {
            let child = ctx.spawn_link(|mut c| async move {
                c.recv().await;
                ExitReason::atom("boom")
            });
            // The child dies on the other scheduler while we unlink.
            ctx.send(&child, Term::atom("die"));
            ctx.unlink(&child);
            // Still alive here: from now on nothing from the link may end us.
            let _ = tx.send(ctx.pid().clone());
            ctx.receive_timeout(Duration::from_millis(30), |_| false)
                .await;
            let _ = tx.send(ctx.pid().clone());
            ExitReason::Normal
        });
    }
    drop(tx);
    let mut unlinked = std::collections::HashMap::<etf::Pid, u32>::new();
    while let Some(pid) = rx.recv().await {
        *unlinked.entry(pid).or_default() += 1;
    }
    // A process that got past unlink always lives to report a second time.
    assert!(!unlinked.is_empty());
    assert!(
        unlinked.values().all(|&n| n == 2),
        "{} of {} processes died after unlink returned",
        unlinked.values().filter(|&&n| n != 2).count(),
        unlinked.len()
    );
}
