//! erlang's timers (`send_after/3`, `start_timer/3`, `cancel_timer/1`, `read_timer/1`), as
//! the Erlang reference manual's `erlang` module documents them.

use std::time::Duration;

use etf::Term;
use rotp_runtime::{ExitReason, Message, Runtime, TimerFired};
use tokio::sync::oneshot;

fn int(m: &Message) -> Option<i64> {
    match m.as_term()? {
        Term::Integer(i) => Some(*i),
        _ => None,
    }
}

/// Runs `body` in a process and gives back what it returns.
async fn in_process<T: Send + 'static>(
    body: impl FnOnce(
            rotp_runtime::Context,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = (T, rotp_runtime::Context)> + Send>,
        > + Send
        + 'static,
) -> T {
    let rt = Runtime::default();
    let (tx, rx) = oneshot::channel();
    rt.spawn(move |ctx| async move {
        let (v, _ctx) = body(ctx).await;
        let _ = tx.send(v);
        ExitReason::Normal
    });
    tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("the process answers within 10 s")
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_in_deadline_order_and_a_cancelled_one_never_fires() {
    let order = in_process(|mut ctx| {
        Box::pin(async move {
            let me = ctx.pid().clone();
            let late = ctx.send_after(Duration::from_millis(80), &me, Term::Integer(3));
            let cancelled = ctx.send_after(Duration::from_millis(20), &me, Term::Integer(99));
            ctx.send_after(Duration::from_millis(40), &me, Term::Integer(2));
            ctx.send_after(Duration::ZERO, &me, Term::Integer(1));
            let left = ctx.cancel_timer(&cancelled).expect("not fired yet");
            assert!(left <= Duration::from_millis(20), "{left:?}");
            assert!(ctx.read_timer(&late).is_some());
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(int(&ctx.recv().await));
            }
            // Fired: nothing left to cancel or read.
            assert_eq!(ctx.cancel_timer(&late), None);
            assert_eq!(ctx.read_timer(&late), None);
            assert_eq!(ctx.cancel_timer(&cancelled), None, "cancelled once only");
            (got, ctx)
        })
    })
    .await;
    // 99 never came: the third message is the 80 ms one.
    assert_eq!(order, [Some(1), Some(2), Some(3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_timer_says_which_timer_fired() {
    let (first, second, fired) = in_process(|mut ctx| {
        Box::pin(async move {
            let me = ctx.pid().clone();
            let first = ctx.start_timer(Duration::from_millis(10), &me, "first");
            let second = ctx.start_timer(Duration::from_millis(30), &me, "second");
            let mut fired = Vec::new();
            for _ in 0..2 {
                let m = ctx.recv().await;
                let t = m.downcast::<TimerFired<&str>>().expect("a TimerFired");
                fired.push((t.timer, t.message));
            }
            ((first, second, fired), ctx)
        })
    })
    .await;
    assert_ne!(first, second);
    assert_eq!(fired, [(first, "first"), (second, "second")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_to_a_process_that_has_gone_is_dropped() {
    let rt = Runtime::default();
    let (tx, rx) = oneshot::channel();
    let gone = rt.spawn(|_ctx| async { ExitReason::Normal });
    rt.spawn(move |mut ctx| async move {
        let me = ctx.pid().clone();
        ctx.send_after(Duration::from_millis(5), &gone, Term::Integer(1));
        // A later timer to itself: by then the first has fired into nothing.
        ctx.send_after(Duration::from_millis(30), &me, Term::Integer(2));
        let _ = tx.send(int(&ctx.recv().await));
        ExitReason::Normal
    });
    let got = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("within 10 s")
        .expect("an answer");
    assert_eq!(got, Some(2));
}
