//! What a consumer of another node may ask of a rotp producer, from a plain erl process
//! speaking gen_stage's protocol: asks of 2^63 - 1 events, over and over, are cut to twice the
//! subscription's max_demand under each dispatcher (no overflow, no allocation for them, the
//! stage serving on); and a stage whose events have no term form refuses the subscription
//! while its own node's consumers lose nothing.

mod support;

use std::time::Duration;

use etf::{Atom, Term};
use otp::gen_server::ServerRef;
use otp::gen_stage::{
    self, BroadcastDispatcher, ConsumerOptions, GenStage, Init, PartitionDispatcher,
    ProducerOptions, Return, SubscribeOptions, Subscription,
};
use runtime::Context;
use support::*;
use tokio::sync::mpsc;

/// Which dispatcher a [`Numbers`] hands its events out with.
#[derive(Clone, Copy)]
enum Dispatch {
    Demand,
    Broadcast,
    Partition,
}

/// Integers 0, 1, 2... as asked, as many as asked; to other nodes they go as integers.
struct Numbers(Dispatch);

impl GenStage for Numbers {
    type Args = ();
    type State = i64;
    type In = ();
    type Out = i64;

    fn event_to_term(event: i64) -> Option<Term> {
        Some(Term::Integer(event))
    }

    fn serves_other_nodes() -> bool {
        true
    }

    async fn init(&self, _: (), _: &mut Context) -> Init<i64, i64> {
        let options = ProducerOptions::default();
        let options = match self.0 {
            Dispatch::Demand => options,
            Dispatch::Broadcast => options.dispatcher(BroadcastDispatcher::new()),
            Dispatch::Partition => options.dispatcher(PartitionDispatcher::new(1)),
        };
        Init::Producer(0, options)
    }

    async fn handle_demand(&self, demand: usize, next: &mut i64, _: &mut Context) -> Return<i64> {
        // As many as asked: what a huge ask would make is what the producer must never be
        // asked for.
        let events = (*next..*next + demand as i64).collect();
        *next += demand as i64;
        Return::NoReply(events)
    }
}

/// A job of a pipeline: a Rust value with no term form.
#[derive(Debug)]
struct Job(u64);

/// Jobs 0, 1, 2... as asked.
struct Jobs;

impl GenStage for Jobs {
    type Args = ();
    type State = u64;
    type In = ();
    type Out = Job;

    async fn init(&self, _: (), _: &mut Context) -> Init<u64, Job> {
        Init::Producer(0, ProducerOptions::default())
    }

    async fn handle_demand(&self, demand: usize, next: &mut u64, _: &mut Context) -> Return<Job> {
        let jobs = (*next..*next + demand as u64).map(Job).collect();
        *next += demand as u64;
        Return::NoReply(jobs)
    }
}

/// A consumer of `jobs` on the same node that hands each batch on, waiting until it is taken.
struct Worker(mpsc::Sender<Vec<u64>>);

impl GenStage for Worker {
    type Args = ();
    type State = ();
    type In = Job;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<(), ()> {
        Init::Consumer(
            (),
            ConsumerOptions {
                subscribe_to: vec![(
                    ServerRef::Name(Atom::from("jobs")),
                    SubscribeOptions::demand(10, 5),
                )],
            },
        )
    }

    async fn handle_events(
        &self,
        jobs: Vec<Job>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<()> {
        let _ = self.0.send(jobs.into_iter().map(|j| j.0).collect()).await;
        Return::NoReply(Vec::new())
    }
}

/// Starts `stage` on `node` from a process that lives on.
async fn start_on<G: GenStage<Args = ()>>(node: &rotp_node::Node, stage: G, name: &str) {
    let name = name.to_owned();
    node.in_process(move |mut ctx| async move {
        gen_stage::start_link(&mut ctx, stage, (), gen_stage::local(&name))
            .await
            .expect("started")
            .expect("a pid");
        ctx.trap_exit(true);
        tokio::spawn(async move {
            loop {
                let _ = ctx.recv().await;
            }
        });
    })
    .await
    .expect("in a process");
}

/// Takes `n` more jobs from the worker into `got`.
async fn more(rx: &mut mpsc::Receiver<Vec<u64>>, got: &mut Vec<u64>, n: usize) {
    let until = got.len() + n;
    while got.len() < until {
        let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("jobs in time")
            .expect("the worker runs");
        got.extend(batch);
    }
}

/// `[First, ..., Last]` as `~w` prints it.
fn list(numbers: impl IntoIterator<Item = i64>) -> String {
    let items: Vec<String> = numbers.into_iter().map(|i| i.to_string()).collect();
    format!("[{}]", items.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_for_2_pow_63_events_are_cut_to_twice_max_demand_under_every_dispatcher() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsl1", "gstage", port).await;
    start_on(&node, Numbers(Dispatch::Demand), "by_demand").await;
    start_on(&node, Numbers(Dispatch::Broadcast), "broadcast").await;
    start_on(&node, Numbers(Dispatch::Partition), "partitioned").await;
    let target = node.name().to_string();
    // Per producer: a subscription of max_demand 10, three asks of 2^63 - 1 (the sum of two
    // already overflows an i64, of three a u64), a call whose answer means every event sent
    // before it is in the mailbox, then an ask of 5.
    let script = format!(
        "pong = net_adm:ping('{target}'), \
         Try = fun(Name, Opts) -> \
             P = {{Name, '{target}'}}, Ref = monitor(process, P), \
             P ! {{'$gen_producer', {{self(), Ref}}, {{subscribe, nil, [{{max_demand, 10}} | Opts]}}}}, \
             [P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 9223372036854775807}}}} || _ <- [1, 2, 3]], \
             Drain = fun D(Acc) -> receive {{'$gen_consumer', {{_, Ref}}, Es}} when is_list(Es) -> D(Acc ++ Es) after 0 -> Acc end end, \
             _ = gen_server:call(P, '$estimate_buffered_count'), \
             First = Drain([]), \
             P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 5}}}}, \
             _ = gen_server:call(P, '$estimate_buffered_count'), \
             {{First, Drain([])}} \
         end, \
         io:format(\"~w~n~w~n~w~n\", [Try(by_demand, []), Try(broadcast, []), Try(partitioned, [{{partition, 0}}])]), \
         halt()."
    );
    let out = erl_eval("erl_gsl1", "gstage", port, &script).await;
    let expected = format!("{{{},{}}}", list(0..60), list(60..65));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [expected.as_str(), expected.as_str(), expected.as_str()],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_of_rust_values_refuses_a_consumer_of_another_node_and_its_own_lose_nothing() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsl2", "gstage", port).await;
    start_on(&node, Jobs, "jobs").await;
    let (tx, mut rx) = mpsc::channel(1);
    start_on(&node, Worker(tx), "worker").await;
    let mut got: Vec<u64> = Vec::new();
    more(&mut rx, &mut got, 50).await;
    // An erl process subscribes as a consumer would, and asks: refused, with a reason it can
    // read, and nothing was sent to it.
    let target = node.name().to_string();
    let script = format!(
        "P = {{jobs, '{target}'}}, pong = net_adm:ping('{target}'), Ref = monitor(process, P), \
         P ! {{'$gen_producer', {{self(), Ref}}, {{subscribe, nil, [{{max_demand, 10}}]}}}}, \
         P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 10}}}}, \
         Why = receive {{'$gen_consumer', {{_, Ref}}, {{cancel, W}}}} -> W after 10000 -> no_cancel end, \
         _ = gen_server:call(P, '$estimate_buffered_count'), \
         Sent = receive {{'$gen_consumer', {{_, Ref}}, Es}} when is_list(Es) -> Es after 0 -> none end, \
         case Why of {{Tag, Text}} when is_binary(Text) -> io:format(\"~w ~ts~n\", [Tag, Text]); _ -> io:format(\"~w~n\", [Why]) end, \
         io:format(\"~w~n\", [Sent]), halt()."
    );
    let out = erl_eval("erl_gsl2", "gstage", port, &script).await;
    let lines: Vec<&str> = out.lines().collect();
    let refused = format!(
        "local_only the events of this stage have no term form: only stages of node {target} may subscribe to it"
    );
    assert_eq!(lines.first().copied(), Some(refused.as_str()), "{out}");
    assert_eq!(lines.get(1).copied(), Some("none"), "{out}");
    // The worker has had every job, in order, before and after.
    more(&mut rx, &mut got, 100).await;
    assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
}
