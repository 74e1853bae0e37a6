//! GenStage events as serde types over the wire (`serde_events!()`): a rotp consumer whose
//! `In` is a struct takes an erl producer's maps (dropping one that does not fit), and an erl
//! consumer takes a rotp producer's structs as atom-keyed maps. The erl stages speak gen_stage's
//! message protocol from plain Erlang (Elixir's gen_stage library cannot be installed here).

mod support;

use std::time::Duration;

use etf::Atom;
use otp::gen_server::ServerRef;
use otp::gen_stage::{
    self, ConsumerOptions, GenStage, Init, ProducerOptions, Return, SubscribeOptions, Subscription,
};
use runtime::Context;
use serde::{Deserialize, Serialize};
use support::global::erl_node;
use support::*;
use tokio::sync::mpsc;

/// `#{id => Id, item => Binary}` on the wire.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    id: u64,
    item: String,
}

/// A producer of orders 0, 1, 2... for any node's consumers.
struct Orders;

impl GenStage for Orders {
    type Args = ();
    type State = u64;
    type In = ();
    type Out = Order;

    otp::serde_events!();

    async fn init(&self, _: (), _: &mut Context) -> Init<u64, Order> {
        Init::Producer(0, ProducerOptions::default())
    }

    async fn handle_demand(&self, demand: usize, next: &mut u64, _: &mut Context) -> Return<Order> {
        let start = *next;
        *next += demand as u64;
        Return::NoReply(
            (start..*next)
                .map(|id| Order {
                    id,
                    item: "apples".into(),
                })
                .collect(),
        )
    }
}

/// A consumer of orders that passes them to the test.
struct Till {
    from: ServerRef,
    out: mpsc::UnboundedSender<Vec<Order>>,
}

impl GenStage for Till {
    type Args = ();
    type State = ();
    type In = Order;
    type Out = ();

    otp::serde_events!();

    async fn init(&self, _: (), _: &mut Context) -> Init<(), ()> {
        Init::Consumer(
            (),
            ConsumerOptions {
                subscribe_to: vec![(self.from.clone(), SubscribeOptions::demand(10, 5))],
            },
        )
    }

    async fn handle_events(
        &self,
        events: Vec<Order>,
        _: &Subscription,
        _: &mut (),
        _: &mut Context,
    ) -> Return<()> {
        let _ = self.out.send(events);
        Return::NoReply(vec![])
    }
}

/// An erl producer of order maps, registered as `orders`; order 3's id is a binary, which
/// does not fit `Order`.
const ERL_ORDERS: &str = "Me = spawn(fun() -> \
    Order = fun(3) -> #{id => <<\"three\">>, item => <<\"pears\">>}; \
               (N) -> #{id => N, item => <<\"apples\">>} end, \
    L = fun L(Next) -> receive \
        {'$gen_producer', {C, Ref}, {ask, D}} -> \
            C ! {'$gen_consumer', {self(), Ref}, [Order(N) || N <- lists:seq(Next, Next + D - 1)]}, \
            L(Next + D); \
        _ -> L(Next) \
    end end, L(0) end), \
    register(orders, Me).";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotp_consumer_takes_an_erl_producers_maps_as_structs() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gtc", "gstyped", port).await;
    let (_erl, a) = erl_node("erl_gtc", "gstyped", port).await;
    assert!(node.ping(&a).await);
    assert_eq!(erl_run(&node, &a, ERL_ORDERS).await.as_atom(), Some("true"));
    let (out, mut orders) = mpsc::unbounded_channel();
    let till = Till {
        from: ServerRef::Remote(Atom::from("orders"), a.clone()),
        out,
    };
    node.in_process(move |mut ctx| async move {
        gen_stage::start_link(&mut ctx, till, (), None)
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
    let mut got = Vec::new();
    while got.len() < 19 {
        let batch = tokio::time::timeout(Duration::from_secs(10), orders.recv())
            .await
            .expect("orders come")
            .expect("the consumer runs");
        got.extend(batch);
    }
    let expected: Vec<Order> = (0..20)
        .filter(|&id| id != 3)
        .map(|id| Order {
            id,
            item: "apples".into(),
        })
        .collect();
    assert_eq!(got[..19], expected[..], "in order; order 3 dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erl_consumer_takes_a_rotp_producers_structs_as_maps() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gtp", "gstyped", port).await;
    node.in_process(|mut ctx| async move {
        gen_stage::start_link(&mut ctx, Orders, (), gen_stage::local("orders"))
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
    let target = node.name().to_string();
    let script = format!(
        "P = {{orders, '{target}'}}, Ref = monitor(process, P), \
         P ! {{'$gen_producer', {{self(), Ref}}, {{subscribe, nil, [{{max_demand, 5}}]}}}}, \
         P ! {{'$gen_producer', {{self(), Ref}}, {{ask, 5}}}}, \
         Es = receive {{'$gen_consumer', {{_, Ref}}, E}} when is_list(E) -> E after 5000 -> timeout end, \
         io:format(\"~w~n\", [[Id || #{{id := Id, item := <<\"apples\">>}} <- Es]]), \
         io:format(\"~w~n\", [[lists:sort(maps:keys(M)) || M <- Es]]), \
         halt()."
    );
    let out = erl_eval("erl_gtp", "gstyped", port, &script).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "[0,1,2,3,4]",
            "[[id,item],[id,item],[id,item],[id,item],[id,item]]"
        ],
        "{out}"
    );
}
