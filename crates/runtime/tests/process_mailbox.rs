//! Mailboxes: per-sender order, selective receive that leaves the rest in order, timeouts,
//! local Rust messages, and sends to dead processes (Erlang reference manual, "Processes").

use std::time::Duration;

use etf::Term;
use rotp_runtime::{ExitReason, Message, Runtime};
use tokio::sync::mpsc;

fn int(m: &Message) -> Option<i64> {
    match m.as_term()? {
        Term::Integer(i) => Some(*i),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_one_sender_arrive_in_order() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let receiver = rt.spawn(|mut ctx| async move {
        for _ in 0..1000 {
            let _ = tx.send(int(&ctx.recv().await));
        }
        ExitReason::Normal
    });
    for i in 0..1000 {
        rt.send(&receiver, Term::Integer(i));
    }
    for i in 0..1000 {
        assert_eq!(rx.recv().await, Some(Some(i)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selective_receive_takes_the_first_match_and_keeps_the_rest_in_order() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pid = rt.spawn(|mut ctx| async move {
        // Wait for the even one first, then take the rest as they come.
        let even = ctx.receive(|m| int(m).is_some_and(|i| i % 2 == 0)).await;
        let _ = tx.send(int(&even));
        for _ in 0..3 {
            let _ = tx.send(int(&ctx.recv().await));
        }
        ExitReason::Normal
    });
    for i in [1, 3, 4, 5] {
        rt.send(&pid, Term::Integer(i));
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(rx.recv().await.flatten());
    }
    assert_eq!(seen, [Some(4), Some(1), Some(3), Some(5)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_after_times_out_and_a_later_receive_still_sees_everything() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pid = rt.spawn(|mut ctx| async move {
        let none = ctx
            .receive_timeout(Duration::from_millis(50), |m| int(m) == Some(99))
            .await;
        let _ = tx.send(none.is_none());
        // A different pattern must still see the message the first one skipped.
        let seven = ctx.receive(|m| int(m) == Some(7)).await;
        let _ = tx.send(int(&seven) == Some(7));
        ExitReason::Normal
    });
    rt.send(&pid, Term::Integer(7));
    assert_eq!(rx.recv().await, Some(true));
    assert_eq!(rx.recv().await, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_rust_values_travel_without_serialising() {
    #[derive(Debug, PartialEq)]
    struct Job {
        id: u32,
        payload: Vec<u8>,
    }
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pid = rt.spawn(|mut ctx| async move {
        let job = ctx.receive(|m| m.downcast_ref::<Job>().is_some()).await;
        let _ = tx.send(job.downcast::<Job>().ok());
        ExitReason::Normal
    });
    rt.send(&pid, Term::atom("not a job"));
    rt.send(
        &pid,
        Message::local(Job {
            id: 7,
            payload: vec![1, 2],
        }),
    );
    assert_eq!(
        rx.recv().await,
        Some(Some(Job {
            id: 7,
            payload: vec![1, 2]
        }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_to_a_dead_process_is_silently_dropped() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let done = rt.spawn(|_| async { ExitReason::Normal });
    rt.spawn(|mut ctx| async move {
        let r = ctx.monitor(&done);
        let down = ctx
            .receive(|m| m.as_down().is_some_and(|(x, _, _)| x == r))
            .await;
        ctx.send(&done, Term::atom("late")); // no error, nothing happens
        let _ = tx.send(down.as_down().map(|(_, _, reason)| reason));
        ExitReason::Normal
    });
    // The watcher got its DOWN (normal, or noproc if `done` ended before the monitor) and
    // sending to the dead pid afterwards did not hurt it: it went on to report.
    let reason = rx.recv().await.flatten();
    assert!(
        matches!(reason, Some(ExitReason::Normal) | Some(ExitReason::NoProc)),
        "{reason:?}"
    );
}
