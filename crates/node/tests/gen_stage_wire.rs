//! GenStage over the wire, with real erl nodes speaking gen_stage's message protocol from
//! plain Erlang (no Elixir library needed): a rotp consumer of an erl producer, an erl
//! consumer of a rotp producer, demand never exceeded, events in order, and a subscription
//! ended by the node's loss as its cancel mode says; two rotp nodes likewise; and GenStage's
//! own calls (`'$subscribe'` as `GenStage.sync_subscribe/2` sends it, `'$demand'`,
//! `'$estimate_buffered_count'`) made from erl to rotp stages; and Elixir's `GenStage.stream/2`,
//! as it speaks on the wire, taking from a rotp producer_consumer.

mod support;

use std::time::Duration;

use etf::{Atom, Term};
use otp::gen_server::ServerRef;
use otp::gen_stage::{
    self, CancelMode, CancelReason, ConsumerOptions, GenStage, Init, ProducerOptions, Return,
    SubscribeOptions, Subscription,
};
use runtime::Context;
use support::global::erl_node;
use support::*;
use tokio::sync::mpsc;

/// Integers 0, 1, 2... as asked; to other nodes they go as integers.
struct Numbers;

impl GenStage for Numbers {
    type Args = ();
    type State = i64;
    type In = ();
    type Out = i64;

    fn event_to_term(event: i64) -> Option<Term> {
        Some(Term::Integer(event))
    }

    async fn init(&self, _: (), _: &mut Context) -> Init<i64, Self::Out> {
        Init::Producer(0, ProducerOptions::default())
    }

    fn serves_other_nodes() -> bool {
        true
    }

    async fn handle_demand(&self, demand: usize, next: &mut i64, _: &mut Context) -> Return<i64> {
        let events = (*next..*next + demand as i64).collect();
        *next += demand as i64;
        Return::NoReply(events)
    }
}

/// A producer_consumer of `numbers` (max_demand 10) that doubles them; its events are terms.
struct Doubler;

impl GenStage for Doubler {
    type Args = ();
    type State = ();
    type In = i64;
    type Out = Term;

    async fn init(&self, _: (), _: &mut Context) -> Init<(), Term> {
        Init::ProducerConsumer(
            (),
            ProducerOptions::unbounded(),
            ConsumerOptions {
                subscribe_to: vec![(
                    ServerRef::Name(Atom::from("numbers")),
                    SubscribeOptions::demand(10, 5),
                )],
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<i64>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<Term> {
        Return::NoReply(events.into_iter().map(|n| Term::Integer(2 * n)).collect())
    }
}

/// Reports the events it gets (terms) and how its subscriptions end.
struct Report {
    to: Option<ServerRef>,
    opts: SubscribeOptions,
    out: mpsc::UnboundedSender<Result<Vec<Term>, CancelReason>>,
}

impl GenStage for Report {
    type Args = ();
    type State = ();
    type In = Term;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<(), Self::Out> {
        Init::Consumer(
            (),
            ConsumerOptions {
                subscribe_to: self
                    .to
                    .iter()
                    .map(|to| (to.clone(), self.opts.clone()))
                    .collect(),
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<Term>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<()> {
        let _ = self.out.send(Ok(events));
        Return::NoReply(vec![])
    }

    async fn handle_cancel(
        &self,
        reason: CancelReason,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<()> {
        let _ = self.out.send(Err(reason));
        Return::NoReply(vec![])
    }
}

/// An erl producer of integers speaking the protocol, registered as `producer`; it keeps the
/// largest single ask and answers `{max_ask, From}`.
const ERL_PRODUCER: &str = "Me = spawn(fun() -> \
    L = fun L(Next, Max) -> receive \
        {'$gen_producer', {_C, _Ref}, {subscribe, _, _}} -> L(Next, Max); \
        {'$gen_producer', {C, Ref}, {ask, D}} -> \
            C ! {'$gen_consumer', {self(), Ref}, lists:seq(Next, Next + D - 1)}, L(Next + D, max(D, Max)); \
        {'$gen_producer', {_C, _Ref}, {cancel, _}} -> L(Next, Max); \
        {max_ask, From} -> From ! {max_ask, Max}, L(Next, Max) \
    end end, L(0, 0) end), \
    register(producer, Me).";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotp_consumer_takes_an_erl_producers_events_in_order_and_outlives_its_node_when_temporary(
) {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsw1", "gstage", port).await;
    let (mut guard, a) = erl_node("erl_gsw1", "gstage", port).await;
    assert!(node.ping(&a).await);
    assert_eq!(
        erl_run(&node, &a, ERL_PRODUCER).await.as_atom(),
        Some("true")
    );
    let (out, mut events) = mpsc::unbounded_channel();
    let report = Report {
        to: Some(ServerRef::Remote(Atom::from("producer"), a.clone())),
        opts: SubscribeOptions::demand(10, 5).cancel(CancelMode::Temporary),
        out,
    };
    let consumer = start_on(&node, report, None).await;
    let mut got = Vec::new();
    while got.len() < 100 {
        let batch = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(batch.len() <= 5, "batches of at most max - min: {batch:?}");
        got.extend(batch);
    }
    let expected: Vec<Term> = (0..got.len() as i64).map(Term::Integer).collect();
    assert!(got == expected, "in order, none lost");
    let max_ask = erl_run(
        &node,
        &a,
        "producer ! {max_ask, self()}, receive {max_ask, M} -> M end.",
    )
    .await;
    assert_eq!(
        max_ask,
        Term::Integer(10),
        "never more than max_demand asked at once"
    );
    // The producer's node goes: the temporary subscription is cancelled with noconnection,
    // and the consumer carries on.
    let _ = guard.0.kill();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Ok(_) => continue,
            Err(reason) => {
                assert_eq!(reason, CancelReason::Down(Term::atom("noconnection")));
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(node.runtime().is_alive(&consumer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erl_consumer_takes_a_rotp_producers_events_within_its_demand() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsw2", "gstage", port).await;
    start_on(&node, Numbers, gen_stage::local("numbers")).await;

    let target = node.name().to_string();
    // The erl consumer asks 7 at a time, once the last 7 are in; it counts what arrives
    // beyond what it asked for.
    let script = format!(
        "P = {{numbers, '{target}'}}, Ref = monitor(process, P), \
         P ! {{'$gen_producer', {{self(), Ref}}, {{subscribe, nil, [{{max_demand, 7}}]}}}}, \
         Ask = fun() -> P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 7}}}} end, Ask(), \
         L = fun L(Got, Owed) when length(Got) >= 35 -> {{lists:reverse(Got), Owed}}; \
                 L(Got, Owed) -> receive {{'$gen_consumer', {{_, Ref}}, Es}} -> \
                     Left = Owed - length(Es), \
                     Left < 0 andalso io:format(\"excess~n\"), \
                     case Left of 0 -> Ask(), L(lists:reverse(Es) ++ Got, 7); _ -> L(lists:reverse(Es) ++ Got, Left) end \
                 after 5000 -> {{timeout, Got}} end end, \
         {{Events, _}} = L([], 7), io:format(\"~w~n\", [Events]), \
         P ! {{'$gen_producer', {{self(), Ref}}, {{cancel, done}}}}, \
         receive {{'$gen_consumer', {{_, Ref}}, {{cancel, R}}}} -> io:format(\"~p~n\", [R]) after 5000 -> io:format(\"no cancel~n\") end, \
         halt()."
    );
    let out = erl_eval("erl_gsw2", "gstage", port, &script).await;
    let expected: Vec<String> = (0..35).map(|i| i.to_string()).collect();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [format!("[{}]", expected.join(",")).as_str(), "done"],
        "{out}"
    );
}

/// Starts `stage` on `node` from a process that lives on; its pid.
async fn start_on<G: GenStage>(
    node: &rotp_node::Node,
    stage: G,
    name: Option<otp::gen_server::Name>,
) -> etf::Pid
where
    G::Args: Default,
{
    node.in_process(move |mut ctx| async move {
        let pid = gen_stage::start_link(&mut ctx, stage, G::Args::default(), name)
            .await
            .expect("started")
            .expect("a pid");
        ctx.trap_exit(true);
        tokio::spawn(async move {
            loop {
                let _ = ctx.recv().await;
            }
        });
        pid
    })
    .await
    .expect("in a process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rotp_nodes_subscribe_across_the_wire_and_a_permanent_consumer_stops_on_node_loss() {
    let (_epmd, port) = epmd();
    let a = rotp_node("rotp_gsw3a", "gstage", port).await;
    let b = rotp_node("rotp_gsw3b", "gstage", port).await;
    assert!(b.ping(a.name()).await);
    start_on(&a, Numbers, gen_stage::local("numbers")).await;
    let (out, mut events) = mpsc::unbounded_channel();
    let report = Report {
        to: Some(ServerRef::Remote(Atom::from("numbers"), a.name().clone())),
        opts: SubscribeOptions::demand(8, 4),
        out,
    };
    let consumer = start_on(&b, report, None).await;
    let mut got = Vec::new();
    while got.len() < 200 {
        let batch = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("events in time")
            .expect("open")
            .expect("events, not a cancel");
        assert!(batch.len() <= 4, "batches of at most max - min: {batch:?}");
        got.extend(batch);
    }
    let expected: Vec<Term> = (0..got.len() as i64).map(Term::Integer).collect();
    assert!(got == expected, "in order, none lost");
    // The producer's node goes away: cancelled with noconnection, and a permanent
    // subscription stops the consumer with it.
    assert!(b.disconnect(a.name()));
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("a cancel in time")
            .expect("open")
        {
            Ok(_) => continue,
            Err(reason) => {
                assert_eq!(reason, CancelReason::Down(Term::atom("noconnection")));
                break;
            }
        }
    }
    let gone = eventually(Duration::from_secs(5), || !b.runtime().is_alive(&consumer)).await;
    assert!(
        gone,
        "a permanent consumer stops when its producer's node goes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_subscribes_a_rotp_consumer_as_gen_stage_sync_subscribe_does_and_asks_a_producers_mode()
{
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsw4", "gstage", port).await;
    let (_guard, a) = erl_node("erl_gsw4", "gstage", port).await;
    assert!(node.ping(&a).await);
    assert_eq!(
        erl_run(&node, &a, ERL_PRODUCER).await.as_atom(),
        Some("true")
    );
    let (out, mut events) = mpsc::unbounded_channel();
    let report = Report {
        to: None,
        opts: SubscribeOptions::default(),
        out,
    };
    start_on(&node, report, gen_stage::local("sink")).await;
    start_on(&node, Numbers, gen_stage::local("numbers")).await;
    let me = node.name().to_string();
    // `GenStage.sync_subscribe(consumer, to: {producer, node}, max_demand: 6)` is this call.
    let reply = erl_run(
        &node,
        &a,
        &format!(
            "{{ok, Ref}} = gen_server:call({{sink, '{me}'}}, \
             {{'$subscribe', nil, {{producer, node()}}, [{{max_demand, 6}}, {{min_demand, 3}}]}}), \
             is_reference(Ref)."
        ),
    )
    .await;
    assert_eq!(reply.as_atom(), Some("true"));
    let mut got = Vec::new();
    while got.len() < 30 {
        let batch = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("events in time")
            .expect("open")
            .expect("events");
        assert!(batch.len() <= 3, "{batch:?}");
        got.extend(batch);
    }
    let expected: Vec<Term> = (0..30).map(Term::Integer).collect();
    assert!(got[..30] == expected[..]);
    // A bad option is refused with Elixir's message; a producer is not a consumer.
    let refused = erl_run(
        &node,
        &a,
        &format!(
            "{{gen_server:call({{sink, '{me}'}}, {{'$subscribe', nil, {{producer, node()}}, [{{max_demand, 0}}]}}), \
              gen_server:call({{numbers, '{me}'}}, {{'$subscribe', nil, {{producer, node()}}, []}})}}."
        ),
    )
    .await;
    let error = |why: Term| Term::Tuple(vec![Term::atom("error"), why]);
    let message = "expected :max_demand to be equal to or greater than 1, got: 0";
    let bad_opts = Term::Tuple(vec![
        Term::atom("bad_opts"),
        Term::Binary(message.as_bytes().to_vec().into()),
    ]);
    assert_eq!(
        refused,
        Term::Tuple(vec![error(bad_opts), error(Term::atom("not_a_consumer"))])
    );
    // `GenStage.demand/1`, `demand/2` and `estimate_buffered_count/1` on a rotp producer.
    let mode = erl_run(
        &node,
        &a,
        &format!(
            "P = {{numbers, '{me}'}}, M1 = gen_server:call(P, '$demand'), \
             gen_server:cast(P, {{'$demand', accumulate}}), M2 = gen_server:call(P, '$demand'), \
             {{M1, M2, gen_server:call(P, '$estimate_buffered_count')}}."
        ),
    )
    .await;
    assert_eq!(etf::text::write(&mode), "{forward,accumulate,0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elixirs_gen_stage_stream_takes_from_a_rotp_producer_consumer_and_its_cancel_is_answered() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gsw5", "gstage", port).await;
    start_on(&node, Numbers, gen_stage::local("numbers")).await;
    start_on(&node, Doubler, gen_stage::local("doubled")).await;
    let target = node.name().to_string();
    // `GenStage.stream([{{:doubled, node}, max_demand: 50}]) |> Enum.take(60)`, then another
    // stream of 10, as `stream.ex` speaks (`harness::gen_stage::stream_take`).
    let to = format!("{{doubled, '{target}'}}");
    let script = format!(
        "pong = net_adm:ping('{target}'), A = {}, B = {}, io:format(\"~w~n~w~n\", [A, B]), halt().",
        harness::gen_stage::stream_take(&to, 50, 60),
        harness::gen_stage::stream_take(&to, 50, 10),
    );
    let out = erl_eval("erl_gsw5", "gstage", port, &script).await;
    let lines: Vec<Term> = out
        .lines()
        .map(|l| etf::text::parse(l).unwrap_or_else(|e| panic!("{e:?}: {out}")))
        .collect();
    let normal = Term::Tuple(vec![Term::atom("cancel"), Term::atom("normal")]);
    let taken = |t: &Term| -> Vec<i64> {
        let Term::Tuple(v) = t else { panic!("{out}") };
        assert_eq!(v.get(1), Some(&normal), "the cancel is answered: {out}");
        let Some(Term::List(events)) = v.first() else {
            panic!("events were taken: {out}")
        };
        events
            .iter()
            .map(|e| match e {
                Term::Integer(n) => *n,
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let [first, second] = lines.as_slice() else {
        panic!("two streams: {out}")
    };
    let first = taken(first);
    assert_eq!(first, (0..60).map(|n| 2 * n).collect::<Vec<_>>());
    // The first asked for 100 (50, then 25 after each batch of 25) and was sent them; the
    // second takes up from the 101st.
    assert_eq!(taken(second), (100..110).map(|n| 2 * n).collect::<Vec<_>>());
}
