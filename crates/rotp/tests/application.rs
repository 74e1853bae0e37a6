//! `Application`: started from plain async code, its tree answers through `Runtime::in_process`,
//! a crash is restarted, `stop` shuts it down in order; a root that gives up and a child that
//! cannot start are errors naming the reason.

use std::time::Duration;

use rotp::prelude::*;

#[derive(Clone)]
struct Counter;

#[derive(Clone, Copy)]
enum Request {
    Inc,
    Get,
    Boom,
}

impl GenServer for Counter {
    type Args = i64;
    type State = i64;
    type Call = Request;
    type Reply = i64;
    type Cast = ();

    async fn handle_call(
        &self,
        request: Request,
        _: &gen_server::From,
        n: &mut i64,
        _: &mut Context,
    ) -> CallReply<i64> {
        match request {
            Request::Inc => *n += 1,
            Request::Get => {}
            Request::Boom => panic!("boom"),
        }
        CallReply::Reply(*n)
    }
}

/// A child whose `init` refuses to start.
#[derive(Clone)]
struct Refuses;

impl GenServer for Refuses {
    type Args = ();
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();

    async fn init(&self, _: (), _: &mut Context) -> Init<()> {
        Init::Stop(ExitReason::atom("no_database"))
    }
}

fn counter() -> ChildSpec {
    ChildSpec::gen_server_named("counter", Counter, 0, Some("counter".into()))
}

/// `gen_server:call(counter, request)` from outside the tree, as an HTTP handler would.
async fn call(running: &rotp::Running, request: Request) -> Result<i64, gen_server::CallError> {
    running
        .runtime()
        .in_process(move |mut ctx| async move {
            gen_server::try_call(&mut ctx, "counter", request, Duration::from_secs(5)).await
        })
        .await
        .expect("the calling process returned")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_application_answers_restarts_and_stops_in_order() {
    let running = Application::new("counter")
        .child(counter())
        .start()
        .await
        .expect("started");
    // The root supervisor is NAME_sup, so the server may be called as the application is.
    let root = running.runtime().whereis(&Atom::from("counter_sup"));
    assert!(
        root.is_some(),
        "the root supervisor is registered as counter_sup"
    );
    assert_eq!(call(&running, Request::Inc).await, Ok(1));
    assert_eq!(call(&running, Request::Inc).await, Ok(2));
    assert!(
        call(&running, Request::Boom).await.is_err(),
        "boom crashes it"
    );
    // Restarted by the root supervisor, from its argument.
    harness::wait_until_async("the counter restarted", Duration::from_secs(10), || {
        let running = &running;
        async move { call(running, Request::Get).await == Ok(0) }
    })
    .await;

    let runtime = running.runtime().clone();
    let counter = runtime.whereis(&Atom::from("counter")).expect("counter");
    running.stop().await.expect("stopped in order");
    assert!(
        !runtime.is_alive(&counter),
        "the counter is down after stop"
    );
    assert!(
        runtime.whereis(&Atom::from("counter_sup")).is_none(),
        "the root supervisor is down after stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_that_gives_up_ends_the_application_with_its_reason() {
    let no_restarts = Flags {
        max_restarts: 0,
        ..Flags::new(Strategy::OneForOne)
    };
    let running = Application::new("fragile")
        .flags(no_restarts)
        .child(counter())
        .start()
        .await
        .expect("started");
    assert!(call(&running, Request::Boom).await.is_err());
    match running.wait().await {
        Err(rotp::Error::RootExited(reason)) => assert_eq!(reason, ExitReason::Shutdown),
        other => panic!("expected the root's exit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_cannot_start_fails_the_start_with_its_reason() {
    let started = Application::new("refusing")
        .child(ChildSpec::gen_server("refuses", Refuses, ()))
        .start()
        .await;
    match started {
        Err(e @ rotp::Error::StartFailed(_)) => {
            let text = e.to_string();
            assert!(text.contains("no_database"), "{text}");
        }
        Err(other) => panic!("expected StartFailed, got {other}"),
        Ok(_) => panic!("started although its child refused"),
    }
}
