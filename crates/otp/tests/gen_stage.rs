//! GenStage's rules, after gen_stage's own test suite (`test/gen_stage_test.exs`): demand
//! accounting with min/max demand, manual demand, cancel modes, subscribing to a stage that is
//! not alive, and the producer's buffer keeping the first or the last events.

use std::sync::Arc;
use std::time::Duration;

use etf::{Atom, Term};
use rotp_otp::gen_server::ServerRef;
use rotp_otp::gen_stage::{
    self, BufferKeep, CancelMode, CancelReason, ConsumerOptions, Demand, GenStage, Init,
    ProducerOptions, Return, Role, SubscribeOptions, Subscription,
};
use runtime::{Context, ExitReason, Message, Runtime};
use tokio::sync::mpsc;

type Log = mpsc::UnboundedSender<String>;

/// Emits 0, 1, 2... as asked, logging each demand; `emit N` (a message) emits N events
/// unasked; it stops `normal` after `stop_after` events.
struct Counter {
    log: Log,
    stop_after: u64,
    options: Arc<dyn Fn() -> ProducerOptions<u64> + Send + Sync>,
}

impl GenStage for Counter {
    type Args = ();
    type State = u64;
    type In = ();
    type Out = u64;

    async fn init(&self, _: (), _: &mut Context) -> Init<u64, Self::Out> {
        Init::Producer(0, (self.options)())
    }

    async fn handle_demand(&self, demand: usize, next: &mut u64, _: &mut Context) -> Return<u64> {
        let _ = self.log.send(format!("demand {demand}"));
        if *next >= self.stop_after {
            return Return::Stop(ExitReason::Normal);
        }
        let events: Vec<u64> = (*next..*next + demand as u64).collect();
        *next += demand as u64;
        Return::NoReply(events)
    }

    async fn handle_info(&self, message: Message, next: &mut u64, _: &mut Context) -> Return<u64> {
        match message.as_term() {
            Some(Term::Tuple(v)) if v.len() == 2 && v[0] == Term::atom("emit") => {
                let Term::Integer(n) = v[1] else {
                    return Return::NoReply(vec![]);
                };
                let events: Vec<u64> = (*next..*next + n as u64).collect();
                *next += n as u64;
                Return::NoReply(events)
            }
            _ => Return::NoReply(vec![]),
        }
    }
}

impl Counter {
    /// A counter that never stops, with the default buffer.
    fn endless(log: &Log) -> Counter {
        Counter {
            log: log.clone(),
            stop_after: u64::MAX,
            options: Arc::new(ProducerOptions::default),
        }
    }
}

/// Logs each batch; with `manual`, asks `manual` at a time itself.
struct Sink {
    log: Log,
    to: Vec<(ServerRef, SubscribeOptions)>,
    manual: Option<usize>,
}

impl GenStage for Sink {
    type Args = ();
    type State = ();
    type In = u64;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<(), Self::Out> {
        Init::Consumer(
            (),
            ConsumerOptions {
                subscribe_to: self.to.clone(),
            },
        )
    }

    async fn handle_subscribe(
        &self,
        role: Role,
        _opts: &SubscribeOptions,
        from: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Demand {
        assert_eq!(role, Role::Producer);
        match self.manual {
            Some(n) => {
                gen_stage::ask(ctx, from, n);
                Demand::Manual
            }
            None => Demand::Automatic,
        }
    }

    async fn handle_events(
        &self,
        events: Vec<u64>,
        from: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Return<()> {
        let _ = self.log.send(format!("events {events:?}"));
        if let Some(n) = self.manual {
            gen_stage::ask(ctx, from, n);
        }
        Return::NoReply(vec![])
    }

    async fn handle_cancel(
        &self,
        reason: CancelReason,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<()> {
        let _ = self.log.send(format!("cancel {reason:?}"));
        Return::NoReply(vec![])
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a log line")
        .expect("open")
}

fn producer_ref() -> ServerRef {
    ServerRef::Name(Atom::from("counter"))
}

/// Starts the producer (registered as `counter`) and then `sink`, from one supervising process
/// that traps exits and reports them.
fn start(rt: &Runtime, producer: Counter, sink: Option<Sink>) -> mpsc::UnboundedReceiver<String> {
    let (exits, rx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let p = gen_stage::start_link(&mut ctx, producer, (), gen_stage::local("counter")).await;
        let _ = exits.send(format!("producer {}", p.is_ok()));
        if let Some(sink) = sink {
            let c = gen_stage::start_link(&mut ctx, sink, (), None).await;
            let _ = exits.send(format!(
                "consumer {:?}",
                c.as_ref().map(|p| p.is_some()).map_err(|r| r.to_term())
            ));
        }
        loop {
            let m = ctx.recv().await;
            if let Some((_, reason)) = m.as_exit() {
                let _ = exits.send(format!("exit {}", etf::text::write(&reason.to_term())));
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_asks_for_max_demand_then_tops_up_at_min_demand() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let producer = Counter::endless(&log);
    let sink = Sink {
        log,
        to: vec![(producer_ref(), SubscribeOptions::demand(10, 5))],
        manual: None,
    };
    let mut exits = start(&rt, producer, Some(sink));
    assert_eq!(next(&mut exits).await, "producer true");
    assert_eq!(next(&mut exits).await, "consumer Ok(true)");
    // 10 asked; handled in batches of max - min = 5; each batch brings the expected demand down
    // to min, so the consumer asks for 5 more each time (when the producer hears of each ask
    // depends on the timing; their sizes do not).
    let (mut demands, mut events) = (Vec::new(), Vec::new());
    while events.len() < 6 {
        let line = next(&mut rx).await;
        match line.strip_prefix("demand ") {
            Some(d) => demands.push(d.to_owned()),
            None => events.push(line),
        }
    }
    assert_eq!(demands[..3], ["10", "5", "5"]);
    let expected: Vec<String> = (0..6)
        .map(|b| format!("events {:?}", (b * 5..b * 5 + 5).collect::<Vec<u64>>()))
        .collect();
    assert_eq!(events, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_demand_asks_only_when_the_consumer_says() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let producer = Counter::endless(&log);
    let sink = Sink {
        log,
        to: vec![(producer_ref(), SubscribeOptions::default())],
        manual: Some(3),
    };
    let _exits = start(&rt, producer, Some(sink));
    let lines = [
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ];
    assert_eq!(
        lines,
        [
            "demand 3",
            "events [0, 1, 2]",
            "demand 3",
            "events [3, 4, 5]"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_modes_decide_whether_the_consumer_outlives_its_producer() {
    for (mode, survives) in [
        (CancelMode::Permanent, false),
        (CancelMode::Transient, true),
        (CancelMode::Temporary, true),
    ] {
        let rt = Runtime::default();
        let (log, mut rx) = mpsc::unbounded_channel();
        // The producer stops `normal` at its second demand.
        let producer = Counter {
            log: log.clone(),
            stop_after: 2,
            options: Arc::new(ProducerOptions::default),
        };
        let opts = SubscribeOptions::demand(2, 1).cancel(mode);
        let sink = Sink {
            log,
            to: vec![(producer_ref(), opts)],
            manual: None,
        };
        let mut exits = start(&rt, producer, Some(sink));
        assert_eq!(next(&mut exits).await, "producer true");
        assert_eq!(next(&mut exits).await, "consumer Ok(true)");
        assert_eq!(
            next(&mut exits).await,
            "exit normal",
            "{mode:?}: the producer"
        );
        let consumer_went = tokio::time::timeout(Duration::from_millis(500), exits.recv())
            .await
            .is_ok();
        assert_eq!(!consumer_went, survives, "{mode:?}");
        let mut saw_cancel = false;
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
        {
            saw_cancel |= line.starts_with("cancel Down(Atom(\"normal\"))");
        }
        assert!(saw_cancel, "{mode:?}: handle_cancel saw the producer go");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_a_stage_that_is_not_alive_fails_unless_temporary() {
    let rt = Runtime::default();
    let (log, _rx) = mpsc::unbounded_channel();
    let (tx, mut results) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        for mode in [CancelMode::Permanent, CancelMode::Temporary] {
            let sink = Sink {
                log: log.clone(),
                to: vec![(
                    ServerRef::Name(Atom::from("nobody")),
                    SubscribeOptions::default().cancel(mode),
                )],
                manual: None,
            };
            let r = gen_stage::start_link(&mut ctx, sink, (), None).await;
            let _ = tx.send(
                r.map(|p| p.is_some())
                    .map_err(|e| etf::text::write(&e.to_term())),
            );
        }
        // Bad options are refused with Elixir's message (and at init, only logged).
        let sink = Sink {
            log: log.clone(),
            to: vec![(
                ServerRef::Name(Atom::from("nobody")),
                SubscribeOptions::demand(10, 10),
            )],
            manual: None,
        };
        let r = gen_stage::start_link(&mut ctx, sink, (), None).await;
        let _ = tx.send(
            r.map(|p| p.is_some())
                .map_err(|e| etf::text::write(&e.to_term())),
        );
        let consumer = gen_stage::start_link(
            &mut ctx,
            Sink {
                log,
                to: vec![],
                manual: None,
            },
            (),
            None,
        )
        .await
        .unwrap()
        .unwrap();
        let refused = gen_stage::sync_subscribe(
            &mut ctx,
            &consumer,
            Atom::from("nobody"),
            SubscribeOptions::demand(10, 10),
            Duration::from_secs(5),
        )
        .await;
        let _ = tx.send(refused.map(|_| true).map_err(|e| e.to_string()));
        ExitReason::Normal
    });
    assert_eq!(results.recv().await.unwrap(), Err("noproc".to_owned()));
    assert_eq!(results.recv().await.unwrap(), Ok(true));
    assert_eq!(results.recv().await.unwrap(), Ok(true));
    assert_eq!(
        results.recv().await.unwrap(),
        Err("bad options: expected :min_demand to be equal to or less than 9, got: 10".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_keeps_the_first_or_the_last_events() {
    for (keep, expected) in [
        (BufferKeep::Last, "events [2, 3, 4]"),
        (BufferKeep::First, "events [0, 1, 2]"),
    ] {
        let rt = Runtime::default();
        let (log, mut rx) = mpsc::unbounded_channel();
        let options = Arc::new(move || ProducerOptions::default().buffer(Some(3), keep));
        // Nobody has asked yet: five events emitted, three kept.
        let producer = Counter {
            log: log.clone(),
            stop_after: u64::MAX,
            options,
        };
        let mut exits = start(&rt, producer, None);
        assert_eq!(next(&mut exits).await, "producer true");
        let counter = rt.whereis(&Atom::from("counter")).unwrap();
        rt.send(
            &counter,
            Message::Term(Term::Tuple(vec![Term::atom("emit"), Term::Integer(5)])),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A manual consumer asks for 3: the buffer answers, handle_demand is not called.
        let sink = Sink {
            log,
            to: vec![(producer_ref(), SubscribeOptions::default())],
            manual: Some(3),
        };
        let (tx, started) = tokio::sync::oneshot::channel();
        rt.spawn(move |mut ctx| async move {
            let _ = tx.send(
                gen_stage::start_link(&mut ctx, sink, (), None)
                    .await
                    .is_ok(),
            );
            loop {
                let _ = ctx.recv().await;
            }
        });
        assert!(started.await.unwrap());
        assert_eq!(next(&mut rx).await, expected, "{keep:?}");
    }
}

/// Doubles what it gets and hands it on.
struct Doubler {
    to: ServerRef,
    opts: SubscribeOptions,
}

impl GenStage for Doubler {
    type Args = ();
    type State = ();
    type In = u64;
    type Out = u64;

    async fn init(&self, _: (), _: &mut Context) -> Init<(), Self::Out> {
        Init::ProducerConsumer(
            (),
            ProducerOptions::unbounded(),
            ConsumerOptions {
                subscribe_to: vec![(self.to.clone(), self.opts.clone())],
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<u64>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<u64> {
        Return::NoReply(events.into_iter().map(|e| e * 2).collect())
    }
}

/// Asks for `total` events once (manual demand), logs them, and asks no more.
struct Budget {
    log: Log,
    to: ServerRef,
    total: usize,
}

impl GenStage for Budget {
    type Args = ();
    type State = ();
    type In = u64;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<(), Self::Out> {
        Init::Consumer(
            (),
            ConsumerOptions {
                subscribe_to: vec![(self.to.clone(), SubscribeOptions::default())],
            },
        )
    }

    async fn handle_subscribe(
        &self,
        _: Role,
        _opts: &SubscribeOptions,
        from: &Subscription,
        _: &mut (),
        ctx: &mut Context,
    ) -> Demand {
        gen_stage::ask(ctx, from, self.total);
        Demand::Manual
    }

    async fn handle_events(
        &self,
        events: Vec<u64>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<()> {
        for e in events {
            let _ = self.log.send(format!("event {e}"));
        }
        Return::NoReply(vec![])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_consumer_asks_upstream_only_as_fast_as_downstream_asks() {
    let rt = Runtime::default();
    let (log, mut rx) = mpsc::unbounded_channel();
    let (exits, mut exit_rx) = mpsc::unbounded_channel();
    let producer = Counter::endless(&log);
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        gen_stage::start_link(&mut ctx, producer, (), gen_stage::local("counter"))
            .await
            .unwrap();
        let doubler = Doubler {
            to: producer_ref(),
            opts: SubscribeOptions::demand(4, 2),
        };
        gen_stage::start_link(&mut ctx, doubler, (), gen_stage::local("doubler"))
            .await
            .unwrap();
        let sink = Budget {
            log,
            to: ServerRef::Name(Atom::from("doubler")),
            total: 6,
        };
        gen_stage::start_link(&mut ctx, sink, (), None)
            .await
            .unwrap();
        loop {
            if let Some((_, reason)) = ctx.recv().await.as_exit() {
                let _ = exits.send(reason);
            }
        }
    });
    let (mut demanded, mut events) = (0usize, Vec::new());
    while events.len() < 6 {
        let line = next(&mut rx).await;
        match line.strip_prefix("demand ") {
            Some(d) => demanded += d.parse::<usize>().unwrap(),
            None => events.push(line),
        }
    }
    let expected: Vec<String> = (0..6).map(|i| format!("event {}", i * 2)).collect();
    assert_eq!(events, expected);
    // Once it settles, the doubler holds at most its max_demand of 4 from upstream beyond the
    // 6 that went downstream, and nothing more goes down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(line) = rx.try_recv() {
        match line.strip_prefix("demand ") {
            Some(d) => demanded += d.parse::<usize>().unwrap(),
            None => panic!("more than asked went downstream: {line}"),
        }
    }
    assert!(demanded <= 6 + 4, "asked upstream for {demanded}");
    assert!(exit_rx.try_recv().is_err(), "nothing crashed");
}
