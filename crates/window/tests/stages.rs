//! A rotp node's GenStage stages read from another rotp node over the distribution
//! (`rotp_window::stages`, and the `rotp_gen_stage_*` metrics of `rotp_window::metrics`): the levels
//! follow Elixir's demand accounting as events flow.

use std::time::{Duration, Instant};

use etf::{Atom, Term};
use harness::{free_port, otp_epmd, start_epmd, Guard};
use node::{name::NameKind, Node, NodeConfig};
use otp::gen_stage::{
    self, ConsumerOptions, GenStage, Init, ProducerOptions, Return, SubscribeOptions,
};
use otp::ServerRef;
use runtime::{Context, ExitReason, Message};

/// A producer that makes events only when told (`{emit, N}`), so demand waits and events
/// buffer.
struct OnRequest;

impl GenStage for OnRequest {
    type Args = ();
    type State = i64;
    type In = ();
    type Out = i64;

    async fn init(&self, _: (), _: &mut Context) -> Init<i64, i64> {
        Init::Producer(0, ProducerOptions::default())
    }

    async fn handle_info(&self, message: Message, next: &mut i64, _: &mut Context) -> Return<i64> {
        if let Some(Term::Tuple(v)) = message.as_term() {
            if let [tag, Term::Integer(n)] = v.as_slice() {
                if tag.as_atom() == Some("emit") {
                    let events = (*next..*next + n).collect();
                    *next += n;
                    return Return::NoReply(events);
                }
            }
        }
        Return::NoReply(Vec::new())
    }
}

/// A consumer of `levels_producer` at max_demand 10, min_demand 5, that takes what comes.
struct Taker;

impl GenStage for Taker {
    type Args = ();
    type State = ();
    type In = i64;
    type Out = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<(), ()> {
        Init::Consumer(
            (),
            ConsumerOptions {
                subscribe_to: vec![(
                    ServerRef::Name(Atom::from("levels_producer")),
                    SubscribeOptions::demand(10, 5),
                )],
            },
        )
    }
}

async fn node(name: &str, epmd_port: u16) -> Node {
    let mut config = NodeConfig::new(name, NameKind::Short, dist::Cookie::new("stagescookie"));
    config.epmd_port = epmd_port;
    Node::start(config).await.expect("a rotp node starts")
}

/// Reads `target`'s stages from `from` until `ok` holds of them (bounded).
async fn until(
    from: &Node,
    target: &Atom,
    what: &str,
    ok: impl Fn(&[rotp_window::Stage]) -> bool,
) -> Vec<rotp_window::Stage> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stages = rotp_window::stages(from, target, Duration::from_secs(5))
            .await
            .expect("the stages are read");
        if ok(&stages) {
            return stages;
        }
        assert!(Instant::now() < deadline, "{what}: {stages:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn named<'a>(stages: &'a [rotp_window::Stage], name: &str) -> Option<&'a rotp_window::Stage> {
    stages.iter().find(|s| s.name.as_deref() == Some(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotp_nodes_stages_and_their_levels_are_read_over_the_distribution() {
    let port = free_port();
    let _epmd: Guard = start_epmd(&otp_epmd(), port, &[]);
    let host = node("stages_host", port).await;
    let watcher = node("stages_watcher", port).await;
    let (started, ready) = tokio::sync::oneshot::channel();
    host.runtime().spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let producer =
            gen_stage::start_link(&mut ctx, OnRequest, (), gen_stage::local("levels_producer"))
                .await;
        let idle =
            gen_stage::start_link(&mut ctx, OnRequest, (), gen_stage::local("idle_producer")).await;
        let consumer =
            gen_stage::start_link(&mut ctx, Taker, (), gen_stage::local("levels_consumer")).await;
        let _ = started.send(producer.is_ok() && idle.is_ok() && consumer.is_ok());
        loop {
            ctx.recv().await;
        }
        #[allow(unreachable_code)]
        ExitReason::Normal
    });
    assert!(ready.await.expect("the stages start"));
    let target = host.name().clone();

    // Subscribed: the consumer asked for max_demand, nothing came yet.
    let stages = until(&watcher, &target, "the consumer's first ask", |s| {
        named(s, "levels_producer").is_some_and(|p| p.demand == Some(10))
    })
    .await;
    let p = named(&stages, "levels_producer").expect("the producer is listed");
    assert_eq!(
        (p.kind.as_str(), p.consumers, p.buffered),
        ("producer", 1, 0)
    );
    let c = named(&stages, "levels_consumer").expect("the consumer is listed");
    assert_eq!(
        (c.kind.as_str(), c.producers, c.expected),
        ("consumer", 1, 10)
    );

    // 23 events: 10 go at once and 13 wait; the consumer handles them in batches that bring
    // it down to min_demand, asking 5 after each (10 + 4 × 5 = 30 asked), so it takes all 23
    // and 7 of its demand stay open, as Elixir's consumer accounting does.
    let emit = |to: &str, n: i64| {
        host.runtime()
            .send_named(
                &Atom::from(to),
                Term::Tuple(vec![Term::atom("emit"), Term::Integer(n)]),
            )
            .expect("the producer is registered");
    };
    emit("levels_producer", 23);
    // With no consumer, every event made is buffered.
    emit("idle_producer", 7);
    let stages = until(&watcher, &target, "the flow settles", |s| {
        named(s, "levels_producer").is_some_and(|p| p.demand == Some(7) && p.buffered == 0)
            && named(s, "idle_producer").is_some_and(|p| p.buffered == 7)
    })
    .await;
    let c = named(&stages, "levels_consumer").expect("the consumer is listed");
    assert_eq!(c.expected, 7, "{stages:#?}");

    // The same levels as metrics, labelled by stage.
    let snapshot = rotp_window::collect(&watcher, &target, Duration::from_secs(10))
        .await
        .expect("a snapshot");
    let text = rotp_window::metrics::exposition(&snapshot);
    for line in [
        "rotp_gen_stage_buffered_events{stage=\"idle_producer\",type=\"producer\"} 7",
        "rotp_gen_stage_demand_events{stage=\"levels_producer\",type=\"producer\"} 7",
        "rotp_gen_stage_expected_events{stage=\"levels_consumer\",type=\"consumer\"} 7",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}
