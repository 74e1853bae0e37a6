//! The queue a pipeline's Starter pulls from (the book's `QueueServer`), and the Starter: a
//! producer that asks the queue for as many tasks as its consumers asked of it. An empty queue
//! answers when a task arrives (the book's Starter retried every 30 s).
//!
//! The queue keeps every task it handed out until the pipeline's last step says it is done,
//! so none is lost: when a stage starts again after a crash (`rest_for_one` restarts it and
//! the steps after it, and a task may have died in any of their mailboxes or buffers), every
//! task still out goes back to the head of the queue. Each stage also says which tasks it
//! holds ([`holding`]) and the queue monitors the holders: a task held by a stage that
//! crashed counts one more attempt, so a task that keeps crashing the pipeline is given up
//! after [`MAX_ATTEMPTS`](super::upload::MAX_ATTEMPTS). Steps are written so a task done
//! twice is done once (its row says it is stored).
//!
//! A task is there once: one pushed (or offered) while a task of its id waits or is out is
//! dropped, since that one will do. [`offer`] also bounds how many tasks one owner has in
//! the queue at once. A stage that cannot finish a task for now (the database away) hands
//! it back with [`later`]: after a while it waits again at the queue's tail.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use etf::{Atom, Pid, Reference, Term};
use otp::gen_server::{self, ServerRef};
use otp::gen_stage::{CancelReason, GenStage, Init, ProducerOptions, Return, Subscription};
use otp::{CallReply, GenServer, Init as ServerInit, NoReply};
use runtime::{Context, ExitReason, Message};

/// A task a queue holds: it has an id and an owner, and counts its attempts.
pub trait Task: Clone + Send + Sync + 'static {
    /// Its id, unique among the tasks waiting and out.
    fn id(&self) -> &str;
    /// The user it is for.
    fn owner(&self) -> &str;
    /// Counts one more attempt.
    fn retried(&mut self);
    /// The bytes of the file it carries (counted in `drip_pipeline_bytes_total` when it
    /// leaves).
    fn bytes(&self) -> u64;
}

/// The queue server, registered under a name. It keeps its pipeline's figures
/// (`drip_pipeline_tasks_*`) up to date.
#[derive(Clone)]
pub struct Queue<T> {
    figures: crate::metrics::PipelineFigures,
    task: std::marker::PhantomData<fn() -> T>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::counted(crate::metrics::PipelineFigures::default())
    }
}

impl<T> Queue<T> {
    /// A queue that keeps `figures`.
    pub fn counted(figures: crate::metrics::PipelineFigures) -> Queue<T> {
        Queue {
            figures,
            task: std::marker::PhantomData,
        }
    }
}

/// What a queue is asked.
pub enum QueueCall<T> {
    /// Up to `n` tasks for the stage `holder`; an empty queue answers when one arrives.
    Take(usize, Pid),
    /// How many wait, and how many are out.
    Len,
    /// A new task, unless its owner has this many in the queue already.
    Offer(T, usize),
}

/// What a queue answers.
pub enum QueueReply<T> {
    /// Tasks.
    Tasks(Vec<T>),
    /// Waiting and out.
    Len(usize, usize),
    /// What became of an offered task.
    Offered(Offered),
}

/// What became of an offered task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    /// It waits in the queue.
    Queued,
    /// A task of its id waits or is out already: that one will do.
    AlreadyThere,
    /// Its owner has as many tasks in the queue as it may.
    TooMany,
}

/// What a queue is told.
pub enum QueueCast<T> {
    /// A new task.
    Push(T),
    /// The task with this id is done (or has been reported failed).
    Done(String),
    /// The stage `Pid` holds the task with this id now.
    Holding(String, Pid),
    /// A stage started again (or lost a neighbour) at this instant: every task handed out
    /// before it goes back in. One handed out after it went to the pipeline as it is now, so
    /// a burst of these (each restarted stage sends one) does not send a task round twice.
    Restarted(Instant),
    /// A stage hands back a task it could not finish for now: if it is out, it waits again
    /// (as given: it may have got further), at the tail.
    Retry(T),
}

/// The queue's state.
pub struct QueueState<T> {
    waiting: VecDeque<T>,
    /// Tasks handed out, and the stage holding each.
    out: HashMap<String, (T, Pid)>,
    /// When each task out was handed out.
    taken_at: HashMap<String, Instant>,
    /// Our monitors of holders.
    holders: HashMap<Pid, Reference>,
    asked: Option<(otp::From, usize, Pid)>,
}

impl<T: Task> QueueState<T> {
    /// Whether a task of this id waits or is out.
    fn has(&self, id: &str) -> bool {
        self.out.contains_key(id) || self.waiting.iter().any(|t| t.id() == id)
    }

    /// How many tasks of `owner`'s wait or are out.
    fn owned_by(&self, owner: &str) -> usize {
        self.waiting.iter().filter(|t| t.owner() == owner).count()
            + self
                .out
                .values()
                .filter(|(t, _)| t.owner() == owner)
                .count()
    }

    /// Queues `task` unless a task of its id is there already.
    fn push(&mut self, task: T) -> Offered {
        if self.has(task.id()) {
            return Offered::AlreadyThere;
        }
        self.waiting.push_back(task);
        Offered::Queued
    }

    fn hold(&mut self, ctx: &mut Context, id: &str, holder: &Pid) {
        if let Some((_, h)) = self.out.get_mut(id) {
            h.clone_from(holder);
            if !self.holders.contains_key(holder) {
                self.holders.insert(holder.clone(), ctx.monitor(holder));
            }
        }
    }

    fn take(&mut self, ctx: &mut Context, n: usize, holder: &Pid) -> Vec<T> {
        let n = n.min(self.waiting.len());
        let tasks: Vec<T> = self.waiting.drain(..n).collect();
        let now = Instant::now();
        for t in &tasks {
            self.out
                .insert(t.id().to_owned(), (t.clone(), holder.clone()));
            self.taken_at.insert(t.id().to_owned(), now);
            self.hold(ctx, t.id(), holder);
        }
        tasks
    }

    fn answer(&mut self, ctx: &mut Context) {
        if self.waiting.is_empty() {
            return;
        }
        // A Starter that died asking is gone: its ask goes with it (its successor asks anew).
        let asked = self
            .asked
            .take()
            .filter(|(_, _, h)| ctx.runtime().is_alive(h));
        if let Some((from, n, holder)) = asked {
            let tasks = self.take(ctx, n, &holder);
            from.reply(ctx, QueueReply::Tasks(tasks));
        }
    }

    /// A holder died: what it held counts one more attempt.
    fn holder_down(&mut self, holder: &Pid) {
        self.holders.remove(holder);
        for (task, h) in self.out.values_mut() {
            if h == holder {
                task.retried();
            }
        }
    }

    /// Every task handed out before `at` goes back to the head of the queue.
    fn requeue(&mut self, at: Instant) {
        let before: Vec<String> = self
            .out
            .keys()
            .filter(|id| self.taken_at.get(*id).is_none_or(|t| *t < at))
            .cloned()
            .collect();
        for id in before {
            self.taken_at.remove(&id);
            if let Some((task, _)) = self.out.remove(&id) {
                self.waiting.push_front(task);
            }
        }
    }

    /// The task `id` is no longer out: it, if it was.
    fn forget(&mut self, id: &str) -> Option<T> {
        self.taken_at.remove(id);
        self.out.remove(id).map(|(task, _)| task)
    }
}

impl<T: Task> Queue<T> {
    /// Answers `call`.
    fn call(
        &self,
        call: QueueCall<T>,
        from: &otp::From,
        q: &mut QueueState<T>,
        ctx: &mut Context,
    ) -> CallReply<QueueReply<T>> {
        match call {
            QueueCall::Len => CallReply::Reply(QueueReply::Len(q.waiting.len(), q.out.len())),
            QueueCall::Take(n, holder) if q.waiting.is_empty() => {
                q.asked = Some((from.clone(), n, holder));
                CallReply::NoReply
            }
            QueueCall::Take(n, holder) => {
                CallReply::Reply(QueueReply::Tasks(q.take(ctx, n, &holder)))
            }
            QueueCall::Offer(task, most) => {
                let offered = if q.has(task.id()) {
                    Offered::AlreadyThere
                } else if q.owned_by(task.owner()) >= most {
                    Offered::TooMany
                } else {
                    q.push(task)
                };
                q.answer(ctx);
                CallReply::Reply(QueueReply::Offered(offered))
            }
        }
    }
}

impl<T: Task> GenServer for Queue<T> {
    type Args = ();
    type State = QueueState<T>;
    type Call = QueueCall<T>;
    type Reply = QueueReply<T>;
    type Cast = QueueCast<T>;

    async fn init(&self, _: (), _: &mut Context) -> ServerInit<QueueState<T>> {
        ServerInit::Ok(QueueState {
            waiting: VecDeque::new(),
            out: HashMap::new(),
            taken_at: HashMap::new(),
            holders: HashMap::new(),
            asked: None,
        })
    }

    async fn handle_call(
        &self,
        call: QueueCall<T>,
        from: &otp::From,
        q: &mut QueueState<T>,
        ctx: &mut Context,
    ) -> CallReply<QueueReply<T>> {
        let reply = self.call(call, from, q, ctx);
        self.figures.holding(q.waiting.len(), q.out.len());
        reply
    }

    async fn handle_cast(
        &self,
        cast: QueueCast<T>,
        q: &mut QueueState<T>,
        ctx: &mut Context,
    ) -> NoReply {
        match cast {
            QueueCast::Push(task) => {
                q.push(task);
            }
            QueueCast::Done(id) => {
                if let Some(task) = q.forget(&id) {
                    self.figures.done(task.bytes());
                }
            }
            QueueCast::Holding(id, holder) => q.hold(ctx, &id, &holder),
            QueueCast::Restarted(at) => q.requeue(at),
            QueueCast::Retry(task) => {
                if q.forget(task.id()).is_some() {
                    q.waiting.push_back(task);
                }
            }
        }
        q.answer(ctx);
        self.figures.holding(q.waiting.len(), q.out.len());
        NoReply::Continue
    }

    async fn handle_info(
        &self,
        message: Message,
        q: &mut QueueState<T>,
        _: &mut Context,
    ) -> NoReply {
        // `{'DOWN', Ref, process, Pid, Reason}` of a holder.
        if let Some(Term::Tuple(v)) = message.as_term() {
            if let [tag, _, _, Term::Pid(pid), _] = v.as_slice() {
                if tag.as_atom() == Some("DOWN") {
                    q.holder_down(pid);
                }
            }
        }
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

/// Offers `task` to the queue `name` from the process `ctx`, unless its owner has `most`
/// tasks there already: what became of it (`None` if the queue did not answer).
pub async fn offer<T: Task>(
    ctx: &mut Context,
    name: &Atom,
    task: T,
    most: usize,
) -> Option<Offered> {
    let reply = gen_server::try_call::<QueueCall<T>, QueueReply<T>>(
        ctx,
        ServerRef::Name(name.clone()),
        QueueCall::Offer(task, most),
        Duration::from_secs(10),
    )
    .await;
    match reply {
        Ok(QueueReply::Offered(o)) => Some(o),
        _ => None,
    }
}

/// Hands `task` (out) back to the queue `name` after `after`: it waits again then.
pub fn later<T: Task>(ctx: &Context, name: &Atom, task: T, after: Duration) {
    let name = name.clone();
    ctx.runtime().spawn(move |c| async move {
        tokio::time::sleep(after).await;
        gen_server::cast(&c, ServerRef::Name(name), QueueCast::Retry(task));
        ExitReason::Normal
    });
}

/// Tells the queue `name` a task is done.
pub fn done<T: Task>(ctx: &Context, name: &Atom, id: &str) {
    gen_server::cast(
        ctx,
        ServerRef::Name(name.clone()),
        QueueCast::<T>::Done(id.to_owned()),
    );
}

/// Tells the queue `name` that this stage holds the task `id` now.
pub fn holding<T: Task>(ctx: &Context, name: &Atom, id: &str) {
    gen_server::cast(
        ctx,
        ServerRef::Name(name.clone()),
        QueueCast::<T>::Holding(id.to_owned(), ctx.pid().clone()),
    );
}

/// Tells the queue `name` a stage has started (again).
pub fn restarted<T: Task>(ctx: &Context, name: &Atom) {
    gen_server::cast(
        ctx,
        ServerRef::Name(name.clone()),
        QueueCast::<T>::Restarted(Instant::now()),
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
        let holder = me.clone();
        // Linked: if the Starter goes, its pending ask goes with it.
        ctx.spawn_link(move |mut c| async move {
            let reply = gen_server::try_call(
                &mut c,
                ServerRef::Name(queue),
                QueueCall::<T>::Take(n, holder),
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

    async fn init(&self, _: (), _: &mut Context) -> Init<StarterState, T> {
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

    /// A consumer went away: what was sent to it may have died in its mailbox, after the
    /// restarted stages said they were back, so every task out goes in again.
    async fn handle_cancel(
        &self,
        _: CancelReason,
        _: &Subscription,
        _: &mut StarterState,
        ctx: &mut Context,
    ) -> Return<T> {
        restarted::<T>(ctx, &self.queue);
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
