//! Many processes, and the rule that heavy work goes through `rotp_runtime::blocking` so that it
//! does not hold up other processes.

use std::time::{Duration, Instant};

use etf::Term;
use rotp_runtime::{blocking, ExitReason, Runtime};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_a_million_processes() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let n = 1_000_000;
    let mut pids = Vec::with_capacity(n);
    for _ in 0..n {
        let tx = tx.clone();
        pids.push(rt.spawn(move |mut ctx| async move {
            let _ = ctx.recv().await;
            let _ = tx.send(());
            ExitReason::Normal
        }));
    }
    // All of them alive at once, each one waiting in its receive.
    assert_eq!(rt.processes().len(), n);
    let last = rt
        .process_info(&pids[n - 1])
        .expect("the last one is alive");
    assert!(
        last.memory < 1024,
        "an idle process takes {} bytes",
        last.memory
    );
    for pid in &pids {
        rt.send(pid, Term::atom("go"));
    }
    for _ in 0..n {
        rx.recv().await.unwrap();
    }
    // Each one ends after its send: wait for the last ones to leave the table.
    for _ in 0..500 {
        if rt.processes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(rt.processes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_process_does_not_hold_up_a_ping_pong() {
    let rt = Runtime::default();
    // Two busy processes, one per scheduler thread, each computing for a second.
    for _ in 0..2 {
        rt.spawn(|_| async {
            blocking(|| {
                let until = Instant::now() + Duration::from_secs(1);
                let mut x = 0u64;
                while Instant::now() < until {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                std::hint::black_box(x);
            })
            .await;
            ExitReason::Normal
        });
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pong = rt.spawn(|mut ctx| async move {
        loop {
            let m = ctx.recv().await;
            let Some(Term::Pid(from)) = m.as_term().cloned() else {
                break;
            };
            ctx.send(&from, Term::atom("pong"));
        }
        ExitReason::Normal
    });
    let started = Instant::now();
    rt.spawn(move |mut ctx| async move {
        for _ in 0..1000 {
            ctx.send(&pong, Term::Pid(ctx.pid().clone()));
            ctx.recv().await;
        }
        let _ = tx.send(started.elapsed());
        ExitReason::Normal
    });
    let took = rx.recv().await.unwrap();
    // Liveness, not speed: a scheduler held by the busy processes would make this take the
    // whole second of their work or more.
    assert!(
        took < Duration::from_millis(900),
        "1000 round trips took {took:?}"
    );
}
