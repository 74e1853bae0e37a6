//! Program 2 in rotp: GenStage's three stages — a producer of the integers `0..n`, a
//! producer_consumer doubling them, a consumer summing them — at `max_demand: 1000`, as one
//! `rest_for_one` pipeline.

use rotp::gen_stage::{ConsumerOptions, Init, Pipeline, ProducerOptions, Return, Subscription};
use rotp::prelude::*;

/// The producer: `0..n`, as fast as demand asks.
#[derive(Clone)]
pub struct Numbers(pub i64);

impl GenStage for Numbers {
    type Args = ();
    type State = i64;
    type In = ();
    type Out = i64;

    async fn init(&self, _: (), _: &mut Context) -> Init<i64, i64> {
        Init::Producer(0, ProducerOptions::default())
    }

    async fn handle_demand(&self, demand: usize, next: &mut i64, _: &mut Context) -> Return<i64> {
        let k = (demand as i64).min(self.0 - *next);
        *next += k;
        Return::NoReply((*next - k..*next).collect())
    }
}

/// The producer_consumer: each event doubled.
#[derive(Clone)]
pub struct Double;

impl GenStage for Double {
    type Args = ();
    type State = ();
    type In = i64;
    type Out = i64;

    async fn init(&self, _: (), _: &mut Context) -> Init<(), i64> {
        Init::ProducerConsumer((), ProducerOptions::default(), ConsumerOptions::default())
    }

    async fn handle_events(
        &self,
        events: Vec<i64>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<i64> {
        Return::NoReply(events.into_iter().map(|x| x * 2).collect())
    }
}

/// The consumer: sums `n` events, then sends the sum to `report`.
#[derive(Clone)]
pub struct Sum {
    /// Events to wait for.
    pub n: i64,
    /// Who gets the sum.
    pub report: Pid,
}

impl GenStage for Sum {
    type Args = ();
    type State = (i64, i64);
    type In = i64;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<(i64, i64), ()> {
        Init::Consumer((0, 0), ConsumerOptions::default())
    }

    async fn handle_events(
        &self,
        events: Vec<i64>,
        _: &Subscription,
        s: &mut (i64, i64),
        ctx: &mut Context,
    ) -> Return<()> {
        s.0 += events.len() as i64;
        s.1 += events.iter().sum::<i64>();
        if s.0 == self.n {
            ctx.send(&self.report, Message::local(s.1));
        }
        Return::NoReply(Vec::new())
    }
}

/// Starts the pipeline, linked to the calling process, which gets the sum of `2 * (0..n)`.
pub async fn start(ctx: &mut Context, n: i64) -> Result<Option<Pid>, ExitReason> {
    let report = ctx.pid().clone();
    Pipeline::start("numbers", "numbers", Numbers(n), ())
        .demand(1000, 500)
        .step("double", Double, (), 1)
        .finish("sum", Sum { n, report }, (), 1)
        .start_link(ctx)
        .await
}
