//! What is built on stages, after gen_stage's tests (`consumer_supervisor_test.exs`,
//! `gen_stage_test.exs`'s stream tests) and the book's pipeline: ConsumerSupervisor's bound on
//! concurrent children, streams and their cancellation, a consumer crashing under a supervisor,
//! and the Pipeline builder's `rest_for_one` restart.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etf::{Atom, Term};
use rotp_otp::gen_server::ServerRef;
use rotp_otp::gen_stage::{
    self, CancelMode, ConsumerSupervisor, ConsumerSupervisorOptions, Pipeline, SubscribeOptions,
};
use rotp_otp::supervisor::{self, ChildSpec, Flags, Restart, Strategy};
use runtime::{ExitReason, Runtime};
use support::{alive, seen, within, Collect, Double, Numbers, Seen};
use tokio::sync::mpsc;

fn numbers() -> ServerRef {
    ServerRef::Name(Atom::from("numbers"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_supervisor_runs_at_most_max_demand_children_at_once() {
    let rt = Runtime::default();
    let (log, _rx) = mpsc::unbounded_channel::<Seen>();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (r, p, d) = (running.clone(), peak.clone(), done.clone());
    let (all_done, mut finished) = mpsc::unbounded_channel::<()>();
    alive(&rt, move |mut ctx| async move {
        let events = (0..30).map(Term::Integer);
        gen_stage::from_enumerable(&mut ctx, events, gen_stage::local("numbers"))
            .await
            .expect("producer");
        drop(log);
        // Each child runs 20 ms; the event 7's crashes once and is restarted (transient).
        let crashed = Arc::new(AtomicUsize::new(0));
        let opts = ConsumerSupervisorOptions::new(Restart::Transient, move |ctx, event: Term| {
            let (r, p, d, all_done) = (r.clone(), p.clone(), d.clone(), all_done.clone());
            let crashed = crashed.clone();
            Box::pin(async move {
                let pid = ctx.spawn_link(move |_| async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    if event == Term::Integer(7) && crashed.fetch_add(1, Ordering::SeqCst) == 0 {
                        return ExitReason::atom("boom");
                    }
                    if d.fetch_add(1, Ordering::SeqCst) + 1 == 30 {
                        let _ = all_done.send(());
                    }
                    ExitReason::Normal
                });
                Ok(Some(pid))
            })
        })
        // Transient: the producer's normal end must not stop the supervisor (and its children).
        .subscribe_to(
            numbers(),
            SubscribeOptions::demand(4, 1).cancel(CancelMode::Transient),
        );
        ConsumerSupervisor::<Term>::start_link(&mut ctx, opts, gen_stage::local("sup"))
            .await
            .expect("consumer supervisor");
        ((), ctx)
    })
    .await;
    tokio::time::timeout(Duration::from_secs(10), finished.recv())
        .await
        .expect("all 30 children ran");
    assert_eq!(
        done.load(Ordering::SeqCst),
        30,
        "each event's child ended normally once"
    );
    assert_eq!(
        peak.load(Ordering::SeqCst),
        4,
        "max_demand bounds the children at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_with_its_producer_and_cancels_when_dropped() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let l = log.clone();
    let (first, reason) = within(&rt, move |mut ctx| async move {
        // A producer that runs out: the stream ends, normally.
        let events = (0..25).map(Term::Integer);
        let p = gen_stage::from_enumerable(&mut ctx, events, None)
            .await
            .expect("start")
            .expect("pid");
        let mut s = gen_stage::stream::<Term>(
            &mut ctx,
            vec![(ServerRef::Pid(p), SubscribeOptions::demand(10, 5))],
        )
        .await
        .expect("stream");
        let mut got = Vec::new();
        while let Some(e) = s.next().await {
            got.push(e);
        }
        let reason = s.exit_reason().cloned();
        // An endless one: five events, then the stream is dropped.
        gen_stage::start_link(&mut ctx, Numbers::new(&l), (), gen_stage::local("numbers"))
            .await
            .expect("numbers");
        let mut s =
            gen_stage::stream::<i64>(&mut ctx, vec![(numbers(), SubscribeOptions::demand(5, 2))])
                .await
                .expect("stream");
        let mut five = Vec::new();
        while five.len() < 5 {
            five.push(s.next().await.expect("an event"));
        }
        drop(s);
        let _ = got.len();
        ((got, five), reason)
    })
    .await;
    let (got, five) = first;
    assert_eq!(got, (0..25).map(Term::Integer).collect::<Vec<_>>());
    assert_eq!(reason, None, "the producer ended normally");
    assert_eq!(five, [0, 1, 2, 3, 4]);
    // The dropped stream cancelled its subscription with `normal`.
    loop {
        if let Seen::Cancel("producer", why) = seen(&mut rx).await {
            assert!(why.contains("normal"), "{why}");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_consumer_is_restarted_by_its_supervisor_and_subscribes_again() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let l = log.clone();
    alive(&rt, move |mut ctx| async move {
        let mut consumer = Collect::new("c", &l, vec![(numbers(), SubscribeOptions::demand(5, 2))]);
        consumer.crash_on = Some(7);
        let children = vec![
            ChildSpec::gen_stage("numbers", Numbers::new(&l), (), gen_stage::local("numbers")),
            ChildSpec::gen_stage("consumer", consumer, (), gen_stage::local("consumer")),
        ];
        supervisor::start_link(&mut ctx, Flags::new(Strategy::OneForOne), children, None)
            .await
            .expect("supervisor");
        ((), ctx)
    })
    .await;
    // The consumer crashes on the batch holding 7; its restart subscribes again and events keep
    // coming (the producer goes on from where it was: what the crashed one was sent is lost).
    let (mut batches, mut after_crash) = (0, Vec::new());
    let mut crashed = false;
    while after_crash.len() < 10 {
        match seen(&mut rx).await {
            Seen::Events("c", e) if crashed => after_crash.extend(e),
            Seen::Events("c", e) => {
                batches += 1;
                crashed = e.contains(&7);
            }
            _ => {}
        }
    }
    assert!(batches >= 2);
    assert!(after_crash.iter().all(|e| *e > 7), "{after_crash:?}");
    assert!(
        after_crash.windows(2).all(|w| w[0] < w[1]),
        "in order: {after_crash:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_restarts_a_crashed_step_with_everything_after_it() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let l = log.clone();
    let pids = alive(&rt, move |mut ctx| async move {
        let spec = Pipeline::start("p", "numbers", Numbers::new(&l), ())
            .demand(4, 2)
            .step("double", Double, (), 2)
            .finish("sink", Collect::new("sink", &l, Vec::new()), (), 1);
        spec.start_link(&mut ctx).await.expect("pipeline");
        let rt = ctx.runtime().clone();
        let whereis = move |step: &str, n| rt.whereis(&Pipeline::name("p", step, n));
        let before = (
            whereis("numbers", 1),
            whereis("double", 1),
            whereis("double", 2),
            whereis("sink", 1),
        );
        // Events flow: wait a little, then crash the first doubling copy.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(pid) = &before.1 {
            ctx.exit(pid, ExitReason::atom("crash"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = (
            whereis("numbers", 1),
            whereis("double", 1),
            whereis("double", 2),
            whereis("sink", 1),
        );
        ((before, after), ctx)
    })
    .await;
    let (before, after) = pids;
    assert!(before.0.is_some() && before.1.is_some() && before.2.is_some() && before.3.is_some());
    assert_eq!(before.0, after.0, "the step before the crash is left alone");
    assert!(
        after.1.is_some() && after.1 != before.1,
        "the crashed step restarted"
    );
    assert!(
        after.2.is_some() && after.2 != before.2,
        "the steps after it restarted"
    );
    assert!(
        after.3.is_some() && after.3 != before.3,
        "the consumer restarted"
    );
    // Every event through the pipeline was doubled, and events flow after the restart.
    while let Ok(s) = rx.try_recv() {
        if let Seen::Events("sink", e) = s {
            assert!(e.iter().all(|x| x % 2 == 0), "{e:?}");
        }
    }
    loop {
        if let Seen::Events("sink", e) = seen(&mut rx).await {
            assert!(e.iter().all(|x| x % 2 == 0), "{e:?}");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_supervisor_starts_and_stops_children_on_request() {
    let rt = Runtime::default();
    let (started, stopped) = alive(&rt, move |mut ctx| async move {
        // Children that run until stopped.
        let opts = ConsumerSupervisorOptions::new(Restart::Temporary, |ctx, _: i64| {
            Box::pin(async move {
                let pid = ctx.spawn_link(|mut c| async move {
                    loop {
                        let _ = c.recv().await;
                    }
                });
                Ok(Some(pid))
            })
        });
        let sup = ConsumerSupervisor::<i64>::start_link(&mut ctx, opts, None)
            .await
            .expect("started")
            .expect("a pid");
        let child = ConsumerSupervisor::<i64>::start_child(&mut ctx, sup.clone(), 1)
            .await
            .expect("answered")
            .expect("started")
            .expect("a pid");
        let counts = ConsumerSupervisor::<i64>::count_children(&mut ctx, sup.clone())
            .await
            .expect("counted");
        let stopped =
            ConsumerSupervisor::<i64>::terminate_child(&mut ctx, sup.clone(), child.clone())
                .await
                .expect("answered");
        let again =
            ConsumerSupervisor::<i64>::terminate_child(&mut ctx, sup.clone(), child.clone())
                .await
                .expect("answered");
        let after = ConsumerSupervisor::<i64>::count_children(&mut ctx, sup)
            .await
            .expect("counted");
        let alive = ctx.runtime().is_alive(&child);
        (
            (
                (counts.active, counts.workers),
                (stopped, again, after.active, alive),
            ),
            ctx,
        )
    })
    .await;
    assert_eq!(started, (1, 1));
    assert_eq!(stopped, (true, false, 0, false));
}
