//! Monitors: `'DOWN'` with the reason, `noproc` for dead targets, demonitor with flush,
//! spawn_monitor.

use std::time::Duration;

use etf::{Atom, Term};
use rotp_runtime::{ExitReason, Runtime};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_by_name_names_the_process_in_down() {
    let rt = Runtime::default();
    let node = rt.node().clone();
    let server = rt.spawn(|mut ctx| async move {
        ctx.recv().await;
        ExitReason::atom("asked")
    });
    rt.register(Atom::from("server"), &server).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (s, n, rt2) = (server.clone(), node.clone(), rt.clone());
    rt.spawn(move |mut ctx| async move {
        let name = Atom::from("server");
        let kept = ctx.monitor_name(&name, &n);
        let dropped = ctx.monitor_name(&name, &n);
        let info = || rt2.process_info(&s).map(|i| i.monitored_by.len());
        let before = info();
        assert!(ctx.demonitor(&dropped, true));
        let after = info();
        let nobody = ctx.monitor_name(&Atom::from("nobody"), &n);
        let elsewhere = ctx.monitor_name(&name, &Atom::from("other@host"));
        ctx.send(&s, Term::atom("stop"));
        let mut downs = Vec::new();
        for r in [kept, nobody, elsewhere] {
            let down = ctx
                .receive_timeout(Duration::from_secs(5), |m| m.is_down_for(&r))
                .await;
            downs.push(
                down.and_then(|m| m.as_down_object())
                    .map(|(_, o, r)| (o, r)),
            );
        }
        let _ = tx.send((before, after, downs));
        ExitReason::Normal
    });
    let (before, after, downs) = rx.recv().await.unwrap();
    assert_eq!((before, after), (Some(2), Some(1)));
    let named =
        |name: &str, node: &Atom| Term::Tuple(vec![Term::atom(name), Term::Atom(node.clone())]);
    assert_eq!(
        downs,
        vec![
            Some((named("server", &node), ExitReason::atom("asked"))),
            Some((named("nobody", &node), ExitReason::NoProc)),
            // Not distributed: another node cannot be reached.
            Some((
                named("server", &Atom::from("other@host")),
                ExitReason::NoConnection
            )),
        ]
    );
}
