//! The book's upload pipeline (chapter 5), on rotp's GenStage: a queue of upload tasks, then
//! Starter → Encryption (×2) → RemoteStorage (×2) → Notifier, built with [`Pipeline`] at
//! `min_demand: 1, max_demand: 10`.
//!
//! `cargo run -p rotp-otp --example upload_pipeline [-- TASKS]` (default 200). Tasks arrive faster
//! than the slow storage step stores them, so demand, not the arrival rate, sets the pace: the
//! starter prints each demand it gets and how many tasks wait in the queue, which grows while
//! the starter is held back. Halfway, the first Encryption copy crashes: the pipeline's
//! `rest_for_one` supervisor restarts it and every step after it, which subscribe again by name;
//! the tasks those stages held are lost with them (as in the book), and the rest go through.
//!
//! Unlike the book's starter, which retried an empty queue every 30 s, asking an empty queue
//! here is answered as soon as a task arrives.

use std::collections::VecDeque;
use std::time::Duration;

use etf::{Atom, Term};
use rotp_otp::gen_server::{self, CallReply, GenServer, Init as ServerInit, NoReply, ServerRef};
use rotp_otp::gen_stage::{
    ConsumerOptions, GenStage, Init, Pipeline, ProducerOptions, Return, Subscription,
};
use runtime::{Context, ExitReason, Message, Runtime};

/// An upload: its id and its content.
#[derive(Clone, Debug)]
struct Upload {
    id: u32,
    content: Vec<u8>,
}

const QUEUE: &str = "upload_queue";

/// The queue of uploads waiting to go through (the book's `QueueServer`).
#[derive(Clone)]
struct Queue;

enum QueueCall {
    /// Up to `n` tasks; an empty queue answers when a task arrives.
    Take(usize),
    Len,
}

enum QueueReply {
    Tasks(Vec<Upload>),
    Len(usize),
}

struct QueueState {
    tasks: VecDeque<Upload>,
    waiting: Option<(rotp_otp::From, usize)>,
}

impl GenServer for Queue {
    type Args = ();
    type State = QueueState;
    type Call = QueueCall;
    type Reply = QueueReply;
    type Cast = Upload;

    async fn init(&self, _: (), _: &mut Context) -> ServerInit<QueueState> {
        ServerInit::Ok(QueueState {
            tasks: VecDeque::new(),
            waiting: None,
        })
    }

    async fn handle_call(
        &self,
        call: QueueCall,
        from: &rotp_otp::From,
        q: &mut QueueState,
        _: &mut Context,
    ) -> CallReply<QueueReply> {
        match call {
            QueueCall::Len => CallReply::Reply(QueueReply::Len(q.tasks.len())),
            QueueCall::Take(_) if q.tasks.is_empty() => {
                if let QueueCall::Take(n) = call {
                    q.waiting = Some((from.clone(), n));
                }
                CallReply::NoReply
            }
            QueueCall::Take(n) => {
                let n = n.min(q.tasks.len());
                CallReply::Reply(QueueReply::Tasks(q.tasks.drain(..n).collect()))
            }
        }
    }

    async fn handle_cast(&self, task: Upload, q: &mut QueueState, ctx: &mut Context) -> NoReply {
        q.tasks.push_back(task);
        if let Some((from, n)) = q.waiting.take() {
            let n = n.min(q.tasks.len());
            from.reply(ctx, QueueReply::Tasks(q.tasks.drain(..n).collect()));
        }
        NoReply::Continue
    }
}

/// Pulls tasks from the queue as consumers ask: one request to the queue at a time, made from a
/// helper process so the stage keeps answering while the queue is empty.
#[derive(Clone)]
struct Starter;

/// Tasks the helper got from the queue.
struct Taken(Vec<Upload>);

struct StarterState {
    demand: usize,
    asking: bool,
}

impl Starter {
    fn ask_queue(state: &mut StarterState, ctx: &mut Context) {
        if state.asking || state.demand == 0 {
            return;
        }
        state.asking = true;
        let (me, n) = (ctx.pid().clone(), state.demand);
        ctx.spawn(move |mut c| async move {
            let queue = ServerRef::Name(Atom::from(QUEUE));
            let reply =
                gen_server::call(&mut c, queue, QueueCall::Take(n), Duration::from_secs(60));
            if let QueueReply::Tasks(tasks) = reply.await {
                c.send(&me, Message::local(Taken(tasks)));
            }
            ExitReason::Normal
        });
    }
}

impl GenStage for Starter {
    type Args = ();
    type State = StarterState;
    type In = ();
    type Out = Upload;

    async fn init(&self, _: (), _: &mut Context) -> Init<StarterState, Upload> {
        let state = StarterState {
            demand: 0,
            asking: false,
        };
        Init::Producer(state, ProducerOptions::default())
    }

    async fn handle_demand(
        &self,
        demand: usize,
        state: &mut StarterState,
        ctx: &mut Context,
    ) -> Return<Upload> {
        state.demand += demand;
        println!("starter: asked for {demand}, owes {}", state.demand);
        Starter::ask_queue(state, ctx);
        Return::NoReply(Vec::new())
    }

    async fn handle_info(
        &self,
        message: Message,
        state: &mut StarterState,
        ctx: &mut Context,
    ) -> Return<Upload> {
        match message.downcast::<Taken>() {
            Ok(Taken(tasks)) => {
                state.asking = false;
                state.demand = state.demand.saturating_sub(tasks.len());
                let queue = ServerRef::Name(Atom::from(QUEUE));
                let call = gen_server::try_call(ctx, queue, QueueCall::Len, Duration::from_secs(5));
                let waiting = match call.await {
                    Ok(QueueReply::Len(n)) => n,
                    _ => 0,
                };
                println!(
                    "starter: took {} tasks, owes {}; {waiting} wait in the queue",
                    tasks.len(),
                    state.demand
                );
                Starter::ask_queue(state, ctx);
                Return::NoReply(tasks)
            }
            Err(_) => Return::NoReply(Vec::new()),
        }
    }
}

/// Encrypts each upload (a stand-in cipher: the real app's AES-GCM comes with Drip).
#[derive(Clone)]
struct Encryption;

impl GenStage for Encryption {
    type Args = ();
    type State = ();
    type In = Upload;
    type Out = Upload;

    async fn init(&self, _: (), ctx: &mut Context) -> Init<(), Upload> {
        println!("encryption: started as {}", Term::Pid(ctx.pid().clone()));
        Init::ProducerConsumer((), ProducerOptions::unbounded(), ConsumerOptions::default())
    }

    async fn handle_events(
        &self,
        uploads: Vec<Upload>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<Upload> {
        let encrypted = uploads
            .into_iter()
            .map(|mut u| {
                u.content.iter_mut().for_each(|b| *b ^= 0x5a);
                u
            })
            .collect();
        Return::NoReply(encrypted)
    }
}

/// Stores each upload: slowly (30 ms each), the step that holds the pipeline back.
#[derive(Clone)]
struct RemoteStorage;

impl GenStage for RemoteStorage {
    type Args = ();
    type State = ();
    type In = Upload;
    type Out = Upload;

    async fn init(&self, _: (), ctx: &mut Context) -> Init<(), Upload> {
        println!("storage: started as {}", Term::Pid(ctx.pid().clone()));
        Init::ProducerConsumer((), ProducerOptions::unbounded(), ConsumerOptions::default())
    }

    async fn handle_events(
        &self,
        uploads: Vec<Upload>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<Upload> {
        tokio::time::sleep(Duration::from_millis(30) * uploads.len() as u32).await;
        Return::NoReply(uploads)
    }
}

/// Tells of each stored upload.
#[derive(Clone)]
struct Notifier;

impl GenStage for Notifier {
    type Args = ();
    type State = usize;
    type In = Upload;
    type Out = ();

    async fn init(&self, _: (), ctx: &mut Context) -> Init<usize, ()> {
        println!("notifier: started as {}", Term::Pid(ctx.pid().clone()));
        Init::Consumer(0, ConsumerOptions::default())
    }

    async fn handle_events(
        &self,
        uploads: Vec<Upload>,
        _: &Subscription,
        stored: &mut usize,
        _: &mut Context,
    ) -> Return<()> {
        for u in uploads {
            *stored += 1;
            println!(
                "notifier: upload {} stored ({} bytes)",
                u.id,
                u.content.len()
            );
        }
        Return::NoReply(Vec::new())
    }
}

#[tokio::main]
async fn main() {
    let tasks: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let runtime = Runtime::default();
    let (done, finished) = tokio::sync::oneshot::channel();
    runtime.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let queue = gen_server::start_link(&mut ctx, Queue, (), Some(Atom::from(QUEUE).into()))
            .await
            .ok()
            .flatten();
        let pipeline = Pipeline::start("upload", "starter", Starter, ())
            .demand(10, 1)
            .step("encryption", Encryption, (), 2)
            .step("storage", RemoteStorage, (), 2)
            .finish("notifier", Notifier, (), 1)
            .start_link(&mut ctx)
            .await;
        let (Some(queue), Ok(Some(_))) = (queue, pipeline) else {
            eprintln!("the pipeline did not start");
            let _ = done.send(());
            return ExitReason::Normal;
        };
        // Uploads arrive every 2 ms, about eight times faster than two storage copies store them.
        for id in 1..=tasks {
            let content = format!("file {id}").into_bytes();
            gen_server::cast(&ctx, queue.clone(), Upload { id, content });
            tokio::time::sleep(Duration::from_millis(2)).await;
            if id == tasks / 2 {
                if let Some(pid) = ctx
                    .runtime()
                    .whereis(&Pipeline::name("upload", "encryption", 1))
                {
                    println!("-- crashing encryption 1 ({}) --", Term::Pid(pid.clone()));
                    ctx.exit(&pid, ExitReason::atom("crash"));
                }
            }
        }
        // Let the pipeline drain.
        tokio::time::sleep(Duration::from_millis(15) * tasks + Duration::from_secs(1)).await;
        let _ = done.send(());
        ExitReason::Normal
    });
    let _ = finished.await;
}
