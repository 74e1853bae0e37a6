//! Program 2 in ractor: a producer of `0..n`, a stage doubling them, a consumer summing them.
//! ractor's mailboxes are unbounded and it has no GenStage, so demand is a hand-written
//! protocol: the consumer asks for up to 1000 events, asks again each time 500 have come, and
//! the middle stage passes its asks upstream.

use ractor::{Actor, ActorProcessingErr, ActorRef, SpawnErr};
use tokio::sync::oneshot;

const MAX_DEMAND: usize = 1000;
const MIN_DEMAND: usize = 500;

/// The producer.
pub struct Numbers;

/// To the producer: up to `n` more events for this stage.
pub struct Ask(pub usize, pub ActorRef<DoubleMsg>);

impl Actor for Numbers {
    type Msg = Ask;
    type State = (i64, i64);
    type Arguments = i64;

    async fn pre_start(&self, _: ActorRef<Ask>, n: i64) -> Result<(i64, i64), ActorProcessingErr> {
        Ok((0, n))
    }

    async fn handle(
        &self,
        _: ActorRef<Ask>,
        Ask(demand, to): Ask,
        (next, n): &mut (i64, i64),
    ) -> Result<(), ActorProcessingErr> {
        let k = (demand as i64).min(*n - *next);
        *next += k;
        Ok(to.cast(DoubleMsg::Events((*next - k..*next).collect()))?)
    }
}

/// The middle stage.
pub struct Double;

/// To the middle stage.
pub enum DoubleMsg {
    /// From the consumer: up to `n` more events.
    Ask(usize, ActorRef<Events>),
    /// From the producer.
    Events(Vec<i64>),
}

/// Events for the consumer.
pub struct Events(pub Vec<i64>);

impl Actor for Double {
    type Msg = DoubleMsg;
    type State = (ActorRef<Ask>, Option<ActorRef<Events>>);
    type Arguments = ActorRef<Ask>;

    async fn pre_start(
        &self,
        _: ActorRef<DoubleMsg>,
        up: ActorRef<Ask>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok((up, None))
    }

    async fn handle(
        &self,
        me: ActorRef<DoubleMsg>,
        msg: DoubleMsg,
        (up, down): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DoubleMsg::Ask(n, consumer) => {
                *down = Some(consumer);
                up.cast(Ask(n, me))?;
            }
            DoubleMsg::Events(events) => {
                if let Some(down) = down {
                    down.cast(Events(events.into_iter().map(|x| x * 2).collect()))?;
                }
            }
        }
        Ok(())
    }
}

/// The consumer.
pub struct Sum;

/// The consumer's state.
pub struct SumState {
    up: ActorRef<DoubleMsg>,
    left: i64,
    pending: usize,
    sum: i64,
    done: Option<oneshot::Sender<i64>>,
}

impl Actor for Sum {
    type Msg = Events;
    type State = SumState;
    type Arguments = (ActorRef<DoubleMsg>, i64, oneshot::Sender<i64>);

    async fn pre_start(
        &self,
        me: ActorRef<Events>,
        (up, n, done): Self::Arguments,
    ) -> Result<SumState, ActorProcessingErr> {
        up.cast(DoubleMsg::Ask(MAX_DEMAND, me))?;
        Ok(SumState {
            up,
            left: n,
            pending: MAX_DEMAND,
            sum: 0,
            done: Some(done),
        })
    }

    async fn handle(
        &self,
        me: ActorRef<Events>,
        Events(events): Events,
        s: &mut SumState,
    ) -> Result<(), ActorProcessingErr> {
        s.left -= events.len() as i64;
        s.pending -= events.len();
        s.sum += events.iter().sum::<i64>();
        if s.pending <= MIN_DEMAND {
            s.up.cast(DoubleMsg::Ask(MAX_DEMAND - s.pending, me))?;
            s.pending = MAX_DEMAND;
        }
        if s.left == 0 {
            if let Some(done) = s.done.take() {
                let _ = done.send(s.sum);
            }
        }
        Ok(())
    }
}

/// Starts the three stages; the receiver gets the sum of `2 * (0..n)`.
pub async fn start(n: i64) -> Result<oneshot::Receiver<i64>, SpawnErr> {
    let (done, sum) = oneshot::channel();
    let (numbers, _) = Actor::spawn(None, Numbers, n).await?;
    let (double, _) = Actor::spawn(None, Double, numbers).await?;
    Actor::spawn(None, Sum, (double, n, done)).await?;
    Ok(sum)
}
