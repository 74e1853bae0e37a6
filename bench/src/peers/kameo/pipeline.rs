//! Program 2 in kameo: a producer of `0..n`, a stage doubling them, a consumer summing them,
//! in batches of 500 through bounded mailboxes of two: a full mailbox holds the sender's
//! `tell(…).await` back (kameo's back-pressure), so at most ~1500 events wait per stage.

use kameo::actor::{ActorRef, Spawn};
use kameo::error::SendError;
use kameo::mailbox;
use kameo::message::{Context, Message};
use kameo::Actor;
use tokio::sync::oneshot;

const BATCH: i64 = 500;

/// A batch of events.
#[derive(Debug)]
pub struct Events(pub Vec<i64>);

/// The consumer.
#[derive(Actor)]
pub struct Sum {
    left: i64,
    sum: i64,
    done: Option<oneshot::Sender<i64>>,
}

impl Message<Events> for Sum {
    type Reply = ();

    async fn handle(&mut self, Events(events): Events, _: &mut Context<Self, ()>) {
        self.left -= events.len() as i64;
        self.sum += events.iter().sum::<i64>();
        if self.left == 0 {
            if let Some(done) = self.done.take() {
                let _ = done.send(self.sum);
            }
        }
    }
}

/// The middle stage.
#[derive(Actor)]
pub struct Double {
    next: ActorRef<Sum>,
}

impl Message<Events> for Double {
    type Reply = Result<(), SendError<Events>>;

    async fn handle(
        &mut self,
        Events(events): Events,
        _: &mut Context<Self, Self::Reply>,
    ) -> Self::Reply {
        self.next
            .tell(Events(events.into_iter().map(|x| x * 2).collect()))
            .await
    }
}

/// The producer.
#[derive(Actor)]
pub struct Numbers {
    next: ActorRef<Double>,
}

/// To the producer: make `0..n`.
pub struct Produce(pub i64);

impl Message<Produce> for Numbers {
    type Reply = Result<(), SendError<Events>>;

    async fn handle(
        &mut self,
        Produce(n): Produce,
        _: &mut Context<Self, Self::Reply>,
    ) -> Self::Reply {
        for start in (0..n).step_by(BATCH as usize) {
            self.next
                .tell(Events((start..n.min(start + BATCH)).collect()))
                .await?;
        }
        Ok(())
    }
}

/// Starts the three stages and the run; the receiver gets the sum of `2 * (0..n)`.
pub async fn start(n: i64) -> Result<oneshot::Receiver<i64>, SendError<Produce>> {
    let (done, sum) = oneshot::channel();
    let sum_stage = Sum::spawn_with_mailbox(
        Sum {
            left: n,
            sum: 0,
            done: Some(done),
        },
        mailbox::bounded(2),
    );
    let double = Double::spawn_with_mailbox(Double { next: sum_stage }, mailbox::bounded(2));
    let numbers = Numbers::spawn(Numbers { next: double });
    numbers.tell(Produce(n)).await?;
    Ok(sum)
}
