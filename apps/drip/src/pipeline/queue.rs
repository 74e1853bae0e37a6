//! The queue a pipeline's Starter pulls from (the book's `QueueServer`), and the Starter: a
//! producer that asks the queue for as many tasks as its consumers asked of it. An empty queue
//! answers when a task arrives (the book's Starter retried every 30 s).
//!
//! The queue keeps every task it handed out until the pipeline's last step says it is done,
//! so none is lost: when a stage starts again after a crash (`rest_for_one` restarts it and
//! the steps after it), the tasks still out are queued again, first, with one more attempt
//! counted. Steps are written so a task done twice is done once (its row says it is stored).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use etf::Atom;
use otp::gen_server::{self, ServerRef};
use otp::gen_stage::{GenStage, Init, ProducerOptions, Return};
use otp::{CallReply, GenServer, Init as ServerInit, NoReply};
use runtime::{Context, ExitReason, Message};

/// A task a queue holds: it has an id, and counts its attempts.
pub trait Task: Clone + Send + Sync + 'static {
    /// Its id, unique among the tasks out.
    fn id(&self) -> &str;
    /// Counts one more attempt.
    fn retried(&mut self);
}

/// The queue server, registered under a name.
#[derive(Clone)]
pub struct Queue<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue(std::marker::PhantomData)
    }
}

/// What a queue is asked.
pub enum QueueCall {
    /// Up to `n` tasks; an empty queue answers when one arrives.
    Take(usize),
    /// How many wait, and how many are out.
    Len,
}

/// What a queue answers.
pub enum QueueReply<T> {
    /// Tasks.
    Tasks(Vec<T>),
    /// Waiting and out.
    Len(usize, usize),
}

/// What a queue is told.
pub enum QueueCast<T> {
    /// A new task.
    Push(T),
    /// The task with this id is done (or has been reported failed).
    Done(String),
    /// A stage started again: the tasks out go back in.
    Restarted,
}

/// The queue's state.
pub struct QueueState<T> {
    waiting: VecDeque<T>,
    out: HashMap<String, T>,
    asked: Option<(otp::From, usize)>,
}

impl<T: Task> QueueState<T> {
    fn take(&mut self, n: usize) -> Vec<T> {
        let n = n.min(self.waiting.len());
        let tasks: Vec<T> = self.waiting.drain(..n).collect();
        for t in &tasks {
            self.out.insert(t.id().to_owned(), t.clone());
        }
        tasks
    }

    fn answer(&mut self, ctx: &mut Context) {
        if self.waiting.is_empty() {
            return;
        }
        // A Starter that died asking is gone: its ask goes with it (its successor asks anew).
        if let Some((from, n)) = self
            .asked
            .take()
            .filter(|(f, _)| ctx.runtime().is_alive(f.pid()))
        {
            let tasks = self.take(n);
            from.reply(ctx, QueueReply::Tasks(tasks));
        }
    }
}

impl<T: Task> GenServer for Queue<T> {
    type Args = ();
    type State = QueueState<T>;
    type Call = QueueCall;
    type Reply = QueueReply<T>;
    type Cast = QueueCast<T>;

    async fn init(&self, _: (), _: &mut Context) -> ServerInit<QueueState<T>> {
        ServerInit::Ok(QueueState {
            waiting: VecDeque::new(),
            out: HashMap::new(),
            asked: None,
        })
    }

    async fn handle_call(
        &self,
        call: QueueCall,
        from: &otp::From,
        q: &mut QueueState<T>,
        _: &mut Context,
    ) -> CallReply<QueueReply<T>> {
        match call {
            QueueCall::Len => CallReply::Reply(QueueReply::Len(q.waiting.len(), q.out.len())),
            QueueCall::Take(n) if q.waiting.is_empty() => {
                q.asked = Some((from.clone(), n));
                CallReply::NoReply
            }
            QueueCall::Take(n) => CallReply::Reply(QueueReply::Tasks(q.take(n))),
        }
    }

    async fn handle_cast(
        &self,
        cast: QueueCast<T>,
        q: &mut QueueState<T>,
        ctx: &mut Context,
    ) -> NoReply {
        match cast {
            QueueCast::Push(task) => q.waiting.push_back(task),
            QueueCast::Done(id) => {
                q.out.remove(&id);
            }
            QueueCast::Restarted => {
                for (_, mut task) in q.out.drain() {
                    task.retried();
                    q.waiting.push_front(task);
                }
            }
        }
        q.answer(ctx);
        NoReply::Continue
    }
}

/// Pushes a task to the queue `name`.
pub fn push<T: Task>(ctx: &Context, name: &Atom, task: T) {
    gen_server::cast(
        ctx,
        ServerRef::Name(name.clone()),
        QueueCast::<T>::Push(task),
    );
}

/// Tells the queue `name` a task is done.
pub fn done<T: Task>(ctx: &Context, name: &Atom, id: &str) {
    gen_server::cast(
        ctx,
        ServerRef::Name(name.clone()),
        QueueCast::<T>::Done(id.to_owned()),
    );
}

/// Tells the queue `name` a stage has started (again).
pub fn restarted<T: Task>(ctx: &Context, name: &Atom) {
    gen_server::cast(
        ctx,
        ServerRef::Name(name.clone()),
        QueueCast::<T>::Restarted,
    );
}

/// The producer at the head of a pipeline: pulls from the queue `queue` as consumers ask, one
/// request to the queue at a time, made from a helper process so the stage keeps answering
/// while the queue is empty.
#[derive(Clone)]
pub struct Starter<T> {
    queue: Atom,
    _task: std::marker::PhantomData<fn() -> T>,
}

impl<T> Starter<T> {
    /// A Starter over the queue registered as `queue`.
    pub fn new(queue: &Atom) -> Starter<T> {
        Starter {
            queue: queue.clone(),
            _task: std::marker::PhantomData,
        }
    }
}

/// Tasks the helper got.
struct Taken<T>(Vec<T>);

/// What the Starter owes its consumers.
pub struct StarterState {
    demand: usize,
    asking: bool,
}

impl<T: Task> Starter<T> {
    fn ask_queue(&self, state: &mut StarterState, ctx: &mut Context) {
        if state.asking || state.demand == 0 {
            return;
        }
        state.asking = true;
        let (me, n, queue) = (ctx.pid().clone(), state.demand, self.queue.clone());
        // Linked: if the Starter goes, its pending ask goes with it.
        ctx.spawn_link(move |mut c| async move {
            let reply = gen_server::try_call(
                &mut c,
                ServerRef::Name(queue),
                QueueCall::Take(n),
                Duration::from_secs(24 * 3600),
            );
            if let Ok(QueueReply::Tasks(tasks)) = reply.await {
                c.send(&me, Message::local(Taken::<T>(tasks)));
            }
            ExitReason::Normal
        });
    }
}

impl<T: Task> GenStage for Starter<T> {
    type Args = ();
    type State = StarterState;
    type In = ();
    type Out = T;

    async fn init(&self, _: (), ctx: &mut Context) -> Init<StarterState, T> {
        restarted::<T>(ctx, &self.queue);
        Init::Producer(
            StarterState {
                demand: 0,
                asking: false,
            },
            ProducerOptions::default(),
        )
    }

    async fn handle_demand(
        &self,
        demand: usize,
        state: &mut StarterState,
        ctx: &mut Context,
    ) -> Return<T> {
        state.demand += demand;
        self.ask_queue(state, ctx);
        Return::NoReply(Vec::new())
    }

    async fn handle_info(
        &self,
        message: Message,
        state: &mut StarterState,
        ctx: &mut Context,
    ) -> Return<T> {
        match message.downcast::<Taken<T>>() {
            Ok(Taken(tasks)) => {
                state.asking = false;
                state.demand = state.demand.saturating_sub(tasks.len());
                self.ask_queue(state, ctx);
                Return::NoReply(tasks)
            }
            Err(_) => Return::NoReply(Vec::new()),
        }
    }
}
