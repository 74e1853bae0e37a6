//! Chapter 4 of the guide: a GenStage pipeline with back-pressure.
//!
//! `cargo run -p rotp-erlang --example gen_stage`
//!
//! `numbers` (a producer of 0, 1, 2, …, without end) → `square` (a producer_consumer) →
//! `printer` (a consumer, slow on purpose). What to watch:
//! 1. Demand flows up, events flow down: `numbers` makes events only in `handle_demand`,
//!    when asked, and never more than asked. Each line `numbers: asked for N` shows a demand.
//! 2. Demand is bounded: every subscription says `max_demand: 10, min_demand: 5`, so a stage
//!    has at most 10 events asked for and not yet received, and asks again (topping up to
//!    10) when what it still expects falls to 5. No batch has more than 10 events.
//! 3. Back-pressure: `printer` is slow, so the producer waits for it. When `printer` has
//!    taken 100 events and stops, `numbers` has made at most 20 more than that (what
//!    `square` and `printer` had asked for and not yet received), not millions: an infinite
//!    producer is safe.

use std::time::Duration;

use rotp::prelude::*;
use rotp::tokio::sync::oneshot;

use gen_stage::{
    CallReturn, ConsumerOptions, ProducerOptions, Return, SubscribeOptions, Subscription,
};

/// Events `printer` takes before the program ends.
const WANTED: u64 = 100;

// ANCHOR: producer
/// The producer: the next number to make is its state.
#[derive(Clone)]
struct Numbers;

/// `GenStage.call(numbers, :made)`: how many events it has made.
struct Made;

impl GenStage for Numbers {
    type Args = ();
    type State = u64;
    type In = ();
    type Out = u64;

    async fn init(&self, _: (), _: &mut Context) -> gen_stage::Init<u64, u64> {
        gen_stage::Init::Producer(0, ProducerOptions::default())
    }

    async fn handle_demand(&self, demand: usize, next: &mut u64, _: &mut Context) -> Return<u64> {
        println!("numbers: asked for {demand}");
        let events: Vec<u64> = (*next..*next + demand as u64).collect();
        *next += demand as u64;
        Return::NoReply(events)
    }

    async fn handle_call(
        &self,
        request: Message,
        _: &gen_server::From,
        next: &mut u64,
        _: &mut Context,
    ) -> CallReturn<u64> {
        match request.downcast::<Made>() {
            Ok(Made) => CallReturn::reply(*next, Vec::new()),
            Err(_) => CallReturn::reply((), Vec::new()),
        }
    }
}
// ANCHOR_END: producer

// ANCHOR: producer_consumer
/// The producer_consumer: squares what it takes, and passes it on.
#[derive(Clone)]
struct Square;

impl GenStage for Square {
    type Args = ();
    type State = ();
    type In = u64;
    type Out = u64;

    async fn init(&self, _: (), _: &mut Context) -> gen_stage::Init<(), u64> {
        let upstream = vec![("numbers".into(), SubscribeOptions::demand(10, 5))];
        gen_stage::Init::ProducerConsumer(
            (),
            ProducerOptions::default(),
            ConsumerOptions {
                subscribe_to: upstream,
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
        Return::NoReply(events.into_iter().map(|n| n * n).collect())
    }
}
// ANCHOR_END: producer_consumer

// ANCHOR: consumer
/// The consumer: prints each batch, slowly, and stops when it has had enough, telling `main`
/// how many it took.
#[derive(Clone)]
struct Printer;

struct Taken {
    count: u64,
    notify: Option<oneshot::Sender<u64>>,
}

impl GenStage for Printer {
    type Args = oneshot::Sender<u64>;
    type State = Taken;
    type In = u64;
    type Out = ();

    async fn init(
        &self,
        notify: oneshot::Sender<u64>,
        _: &mut Context,
    ) -> gen_stage::Init<Taken, ()> {
        let upstream = vec![("square".into(), SubscribeOptions::demand(10, 5))];
        let state = Taken {
            count: 0,
            notify: Some(notify),
        };
        gen_stage::Init::Consumer(
            state,
            ConsumerOptions {
                subscribe_to: upstream,
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<u64>,
        _: &Subscription,
        taken: &mut Taken,
        _: &mut Context,
    ) -> Return<()> {
        println!("printer: a batch of {}: {events:?}", events.len());
        rotp::tokio::time::sleep(Duration::from_millis(10)).await; // slow on purpose
        taken.count += events.len() as u64;
        if taken.count < WANTED {
            return Return::NoReply(Vec::new());
        }
        if let Some(notify) = taken.notify.take() {
            let _ = notify.send(taken.count);
        }
        Return::Stop(ExitReason::Normal)
    }
}
// ANCHOR_END: consumer

// ANCHOR: main
#[rotp::tokio::main(crate = "rotp::tokio")]
async fn main() {
    let (done, finished) = oneshot::channel();
    Runtime::default().spawn(|mut ctx| async move {
        let (enough, taken) = oneshot::channel();
        // Started in order, each registered by name; each consumer subscribes in its init.
        let started = [
            gen_stage::start_link(&mut ctx, Numbers, (), gen_stage::local("numbers")).await,
            gen_stage::start_link(&mut ctx, Square, (), gen_stage::local("square")).await,
            gen_stage::start_link(&mut ctx, Printer, enough, gen_stage::local("printer")).await,
        ];
        if started.iter().all(|s| matches!(s, Ok(Some(_)))) {
            let taken = taken.await.unwrap_or(0);
            let made: u64 =
                gen_stage::call(&mut ctx, "numbers", Made, Duration::from_secs(5)).await;
            println!("done: printer took {taken} events and stopped; numbers made {made}");
        }
        let _ = done.send(());
        ExitReason::Normal
    });
    let _ = finished.await;
}
// ANCHOR_END: main
