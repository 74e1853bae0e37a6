//! GenStage's producers, after gen_stage's own tests (`test/gen_stage_test.exs`, the
//! dispatcher tests): broadcast with selectors, partitions by hash, the demand dispatcher's
//! options, `demand: :accumulate`, and the report of a full buffer.

mod support;

use std::time::Duration;

use etf::{Atom, Term};
use rotp_otp::gen_server::ServerRef;
use rotp_otp::gen_stage::{
    self, BroadcastDispatcher, BufferKeep, DemandDispatcher, DemandMode, PartitionDispatcher,
    ProducerOptions, Selector, SubscribeOptions,
};
use runtime::Runtime;
use support::{alive, captured, events_of, seen, within, Collect, Emit, Numbers, Seen};
use tokio::sync::mpsc;

fn producer() -> ServerRef {
    ServerRef::Name(Atom::from("numbers"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_sends_every_event_to_every_consumer_and_selectors_pick() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let l = log.clone();
    alive(&rt, move |mut ctx| async move {
        // Accumulating until both have subscribed, as BroadcastDispatcher's docs advise.
        let numbers = Numbers::with(&l, || {
            ProducerOptions::default()
                .dispatcher(BroadcastDispatcher::new())
                .accumulate()
        });
        gen_stage::start_link(&mut ctx, numbers, (), gen_stage::local("numbers"))
            .await
            .expect("producer");
        let all = Collect::new(
            "all",
            &l,
            vec![(producer(), SubscribeOptions::demand(10, 5))],
        );
        let even = SubscribeOptions::demand(4, 2).selector(Selector::new(|e: &i64| e % 2 == 0));
        let evens = Collect::new("evens", &l, vec![(producer(), even)]);
        gen_stage::start_link(&mut ctx, all, (), None)
            .await
            .expect("all");
        gen_stage::start_link(&mut ctx, evens, (), None)
            .await
            .expect("evens");
        let mode = gen_stage::demand_mode(&mut ctx, producer(), Duration::from_secs(5)).await;
        assert_eq!(mode, Ok(DemandMode::Accumulate));
        gen_stage::demand(&ctx, producer(), DemandMode::Forward);
        ((), ctx)
    })
    .await;
    // The evens consumer asks 4 at a time: each batch it gets is within its demand.
    let (mut all, mut evens) = (Vec::new(), Vec::new());
    while all.len() < 40 || evens.len() < 20 {
        match seen(&mut rx).await {
            Seen::Events("all", batch) => {
                assert!(batch.len() <= 10, "demand exceeded: {batch:?}");
                all.extend(batch);
            }
            Seen::Events("evens", batch) => {
                assert!(batch.len() <= 4, "demand exceeded: {batch:?}");
                evens.extend(batch);
            }
            _ => {}
        }
    }
    assert_eq!(all[..40], (0..40).collect::<Vec<i64>>()[..]);
    assert_eq!(evens[..20], (0..40).step_by(2).collect::<Vec<i64>>()[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_take_events_by_hash_and_none_is_discarded() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let l = log.clone();
    alive(&rt, move |mut ctx| async move {
        // Even and odd partitions; negative events go nowhere.
        let numbers = Numbers::with(&l, || {
            let hash = |e: &i64| (*e >= 0).then(|| Term::Integer(e % 2));
            ProducerOptions::default().dispatcher(PartitionDispatcher::with_hash(2, hash))
        });
        gen_stage::start_link(&mut ctx, numbers, (), gen_stage::local("numbers"))
            .await
            .expect("producer");
        for (name, p) in [("p0", 0), ("p1", 1)] {
            let opts = SubscribeOptions::demand(6, 3).partition(p);
            let c = Collect::new(name, &l, vec![(producer(), opts)]);
            gen_stage::start_link(&mut ctx, c, (), None)
                .await
                .expect(name);
        }
        // A partition that is taken: the subscription is cancelled with bad_opts.
        let taken = SubscribeOptions::default()
            .partition(0)
            .cancel(gen_stage::CancelMode::Temporary);
        let c = Collect::new("taken", &l, vec![(producer(), taken)]);
        gen_stage::start_link(&mut ctx, c, (), None)
            .await
            .expect("taken");
        // Made unasked, discarded by the hash (-2 would go to partition 0 otherwise).
        gen_stage::cast(&ctx, producer(), Emit(vec![-2, -4]));
        ((), ctx)
    })
    .await;
    let (mut p0, mut p1, mut refused) = (Vec::new(), Vec::new(), None);
    while p0.len() < 40 || p1.len() < 40 || refused.is_none() {
        match seen(&mut rx).await {
            Seen::Events("p0", e) => p0.extend(e),
            Seen::Events("p1", e) => p1.extend(e),
            Seen::Cancel("taken", why) => refused = Some(why),
            _ => {}
        }
    }
    let expect = |r: i64| -> Vec<i64> { (0..).filter(|e| e % 2 == r).take(40).collect() };
    assert_eq!(p0[..40], expect(0)[..]);
    assert_eq!(p1[..40], expect(1)[..]);
    let refused = refused.unwrap_or_default();
    assert!(
        refused.contains("bad_opts") && refused.contains("already taken"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demand_dispatcher_shuffled_still_hands_each_event_out_once() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let l = log.clone();
    alive(&rt, move |mut ctx| async move {
        let numbers = Numbers::with(&l, || {
            let d = DemandDispatcher::new()
                .shuffle_demands_on_first_dispatch()
                .max_demand(5);
            ProducerOptions::default().dispatcher(d).accumulate()
        });
        gen_stage::start_link(&mut ctx, numbers, (), gen_stage::local("numbers"))
            .await
            .expect("producer");
        for name in ["a", "b", "c"] {
            let c = Collect::new(name, &l, vec![(producer(), SubscribeOptions::demand(5, 2))]);
            gen_stage::start_link(&mut ctx, c, (), None)
                .await
                .expect(name);
        }
        gen_stage::demand(&ctx, producer(), DemandMode::Forward);
        ((), ctx)
    })
    .await;
    let mut got = Vec::new();
    let mut by = std::collections::HashSet::new();
    while got.len() < 90 {
        if let Seen::Events(who, e) = seen(&mut rx).await {
            assert!(e.len() <= 5, "demand exceeded: {e:?}");
            by.insert(who);
            got.extend(e);
        }
    }
    got.sort_unstable();
    let n = got.len();
    got.dedup();
    assert_eq!(got.len(), n, "no event twice");
    assert_eq!(got[..30], (0..30).collect::<Vec<i64>>()[..]);
    assert_eq!(by.len(), 3, "every consumer got events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accumulating_producer_keeps_demand_and_events_until_forward() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let l = log.clone();
    alive(&rt, move |mut ctx| async move {
        let numbers = Numbers::with(&l, || ProducerOptions::default().accumulate());
        gen_stage::start_link(&mut ctx, numbers, (), gen_stage::local("numbers"))
            .await
            .expect("producer");
        let c = Collect::new("c", &l, vec![(producer(), SubscribeOptions::demand(10, 5))]);
        gen_stage::start_link(&mut ctx, c, (), None)
            .await
            .expect("c");
        // Events made while accumulating (a call's) wait too.
        let reply: &str = gen_stage::call(
            &mut ctx,
            producer(),
            Emit(vec![100, 101]),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(reply, "ok");
        ((), ctx)
    })
    .await;
    // Nothing comes while the producer accumulates: no demand reached handle_demand.
    let quiet = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    assert!(quiet.is_err(), "nothing while accumulating, got {quiet:?}");
    within(&rt, move |ctx| async move {
        gen_stage::demand(&ctx, producer(), DemandMode::Forward);
        drop(ctx);
    })
    .await;
    // The demand first (10), then the events of the call, in the order they came.
    assert_eq!(seen(&mut rx).await, Seen::Demand(10));
    let got = events_of(&mut rx, "c", 12).await;
    assert_eq!(got[..12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 101]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_reports_what_it_discarded() {
    let logs = captured();
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let l = log.clone();
    alive(&rt, move |mut ctx| async move {
        let numbers = Numbers::with(&l, || {
            ProducerOptions::default().buffer(Some(3), BufferKeep::First)
        });
        let pid = gen_stage::start_link(&mut ctx, numbers, (), gen_stage::local("numbers"))
            .await
            .expect("producer")
            .expect("started");
        // Nobody has asked: five events, three kept (the first), two discarded.
        gen_stage::cast(&ctx, pid, Emit(vec![10, 11, 12, 13, 14]));
        let c = Collect::new("c", &l, vec![(producer(), SubscribeOptions::demand(3, 1))]);
        gen_stage::start_link(&mut ctx, c, (), None)
            .await
            .expect("c");
        ((), ctx)
    })
    .await;
    assert_eq!(events_of(&mut rx, "c", 3).await[..3], [10, 11, 12]);
    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        text.contains("has discarded 2 events from buffer"),
        "the drop is reported as Elixir reports it: {text}"
    );
}
