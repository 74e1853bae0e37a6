//! Stages and helpers the GenStage tests share.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rotp_otp::gen_server::{From, ServerRef};
use rotp_otp::gen_stage::{
    CallReturn, CancelReason, ConsumerOptions, GenStage, Init, ProducerOptions, Return,
    SubscribeOptions, Subscription,
};
use runtime::{Context, ExitReason, Message, Runtime};
use tokio::sync::{mpsc, oneshot};

/// Runs `body` in a process (trapping exits) and gives what it returns; a panic in it fails
/// the test.
pub async fn within<T, F, Fut>(rt: &Runtime, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    rt.spawn(move |ctx| async move {
        ctx.trap_exit(true);
        let _ = tx.send(body(ctx).await);
        ExitReason::Normal
    });
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the test process finished in time")
        .expect("the test process did not panic")
}

/// Runs `body` in a process (trapping exits) that lives on after it, with the context `body`
/// hands back (the stages it started are linked to it, and a supervisor stops with its
/// parent); gives what `body` returns.
pub async fn alive<T, F, Fut>(rt: &Runtime, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = (T, Context)> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    rt.spawn(move |ctx| async move {
        ctx.trap_exit(true);
        let (t, mut ctx) = body(ctx).await;
        let _ = tx.send(t);
        loop {
            let _ = ctx.recv().await;
        }
    });
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the test process finished in time")
        .expect("the test process did not panic")
}

/// What a test's stages report.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Demand(usize),
    Events(&'static str, Vec<i64>),
    Cancel(&'static str, String),
}

pub type Log = mpsc::UnboundedSender<Seen>;

/// Waits for the next report.
pub async fn seen(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a report in time")
        .map(|s| {
            if std::env::var_os("SEEN").is_some() {
                eprintln!("{s:?}");
            }
            s
        })
        .expect("the log is open")
}

/// Events from `name` until `n` have come (other reports are left out).
pub async fn events_of(rx: &mut mpsc::UnboundedReceiver<Seen>, name: &str, n: usize) -> Vec<i64> {
    let mut got = Vec::new();
    while got.len() < n {
        if let Seen::Events(who, events) = seen(rx).await {
            if who == name {
                got.extend(events);
            }
        }
    }
    got
}

/// Emits 0, 1, 2... as asked; a call with [`Emit`] emits those events at once (replying `ok`).
#[derive(Clone)]
pub struct Numbers {
    pub log: Log,
    pub options: Arc<dyn Fn() -> ProducerOptions<i64> + Send + Sync>,
}

/// A call to [`Numbers`]: emit these.
pub struct Emit(pub Vec<i64>);

impl Numbers {
    pub fn new(log: &Log) -> Numbers {
        Numbers::with(log, ProducerOptions::default)
    }

    pub fn with(
        log: &Log,
        options: impl Fn() -> ProducerOptions<i64> + Send + Sync + 'static,
    ) -> Numbers {
        Numbers {
            log: log.clone(),
            options: Arc::new(options),
        }
    }
}

impl GenStage for Numbers {
    type Args = ();
    type State = i64;
    type In = ();
    type Out = i64;

    async fn init(&self, _: (), _: &mut Context) -> Init<i64, i64> {
        Init::Producer(0, (self.options)())
    }

    async fn handle_demand(&self, demand: usize, next: &mut i64, _: &mut Context) -> Return<i64> {
        let _ = self.log.send(Seen::Demand(demand));
        let events: Vec<i64> = (*next..*next + demand as i64).collect();
        *next += demand as i64;
        Return::NoReply(events)
    }

    async fn handle_call(
        &self,
        request: Message,
        _: &From,
        _: &mut i64,
        _: &mut Context,
    ) -> CallReturn<i64> {
        match request.downcast::<Emit>() {
            Ok(Emit(events)) => CallReturn::reply("ok", events),
            Err(_) => CallReturn::NoReply(Vec::new()),
        }
    }

    async fn handle_cast(&self, request: Message, _: &mut i64, _: &mut Context) -> Return<i64> {
        match request.downcast::<Emit>() {
            Ok(Emit(events)) => Return::NoReply(events),
            Err(_) => Return::NoReply(Vec::new()),
        }
    }

    async fn handle_cancel(
        &self,
        reason: CancelReason,
        _: &Subscription,
        _: &mut i64,
        _: &mut Context,
    ) -> Return<i64> {
        let _ = self
            .log
            .send(Seen::Cancel("producer", format!("{reason:?}")));
        Return::NoReply(Vec::new())
    }
}

/// A consumer that reports what it gets under its name; it crashes on the event `crash_on`.
#[derive(Clone)]
pub struct Collect {
    pub name: &'static str,
    pub log: Log,
    pub to: Vec<(ServerRef, SubscribeOptions)>,
    pub crash_on: Option<i64>,
}

impl Collect {
    pub fn new(name: &'static str, log: &Log, to: Vec<(ServerRef, SubscribeOptions)>) -> Collect {
        Collect {
            name,
            log: log.clone(),
            to,
            crash_on: None,
        }
    }
}

impl GenStage for Collect {
    type Args = ();
    type State = ();
    type In = i64;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<(), ()> {
        let subscribe_to = self.to.clone();
        Init::Consumer((), ConsumerOptions { subscribe_to })
    }

    async fn handle_events(
        &self,
        events: Vec<i64>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<()> {
        let crash = self.crash_on.is_some_and(|c| events.contains(&c));
        let _ = self.log.send(Seen::Events(self.name, events));
        if crash {
            return Return::Stop(ExitReason::atom("crashed"));
        }
        Return::NoReply(Vec::new())
    }

    async fn handle_cancel(
        &self,
        reason: CancelReason,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<()> {
        let _ = self
            .log
            .send(Seen::Cancel(self.name, format!("{reason:?}")));
        Return::NoReply(Vec::new())
    }
}

/// Doubles each event.
#[derive(Clone)]
pub struct Double;

impl GenStage for Double {
    type Args = ();
    type State = ();
    type In = i64;
    type Out = i64;

    async fn init(&self, _: (), _: &mut Context) -> Init<(), i64> {
        Init::ProducerConsumer((), ProducerOptions::unbounded(), ConsumerOptions::default())
    }

    async fn handle_events(
        &self,
        events: Vec<i64>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<i64> {
        Return::NoReply(events.into_iter().map(|e| e * 2).collect())
    }
}

/// Log lines, captured from every thread: the test binary's global `tracing` subscriber, set
/// on first use.
pub fn captured() -> &'static std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
}

/// A writer into a shared buffer.
pub struct Capture(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
