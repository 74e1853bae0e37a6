//! The programs of `docs/comparison.md` do what they claim: each counter comes back from its
//! crash at 0 behind its name or reference, each pipeline delivers every event, and a real erl
//! node calls rotp's counter (program 3) — `{inc, N}`, `get`, a `boom` that crashes it into a
//! restart — as it calls any `gen_server`.

use std::time::Duration;

use rotp_bench::peers::{self, kameo as km, ractor as ra, rotp as ro};
use runtime::{Context, ExitReason, Runtime};

const WITHIN: Duration = Duration::from_secs(10);

/// Runs `body` as a rotp process and returns what it gives back.
async fn in_process<T: Send + 'static, Fut>(body: impl FnOnce(Context) -> Fut + Send + 'static) -> T
where
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    Runtime::default().spawn(move |ctx| async move {
        let _ = tx.send(body(ctx).await);
        ExitReason::Normal
    });
    rx.await.expect("the process answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotp_counter_restarts_from_zero_after_boom() {
    let counts = in_process(|mut ctx| async move {
        ro::counter::start(&mut ctx)
            .await
            .expect("supervisor starts");
        let name = otp::gen_server::ServerRef::Name("counter".into());
        for _ in 0..3 {
            otp::gen_server::cast(&ctx, name.clone(), ro::counter::Cast::Inc);
        }
        let before: i64 =
            otp::gen_server::call(&mut ctx, name.clone(), ro::counter::Get, WITHIN).await;
        otp::gen_server::cast(&ctx, name.clone(), ro::counter::Cast::Boom);
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            match otp::gen_server::try_call::<_, i64>(
                &mut ctx,
                name.clone(),
                ro::counter::Get,
                WITHIN,
            )
            .await
            {
                Ok(after) => return (before, after),
                Err(_) if tokio::time::Instant::now() < deadline => tokio::task::yield_now().await,
                Err(e) => panic!("the counter never came back: {e:?}"),
            }
        }
    })
    .await;
    assert_eq!(counts, (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ractor_counter_restarts_from_zero_after_boom() {
    use ra::counter::CounterMsg;
    let _sup = ra::counter::start().await.expect("supervisor starts");
    let counter = ra::counter::counter().expect("counter registered");
    for _ in 0..3 {
        counter.cast(CounterMsg::Inc).expect("cast");
    }
    assert_eq!(
        ractor::call_t!(counter, CounterMsg::Get, 5000).expect("get"),
        3
    );
    counter.cast(CounterMsg::Boom).expect("cast");
    let restarted = harness::wait_until_async("ractor's counter restarted", WITHIN, || async {
        let c = ra::counter::counter()?;
        (c.get_id() != counter.get_id()).then_some(())?;
        ractor::call_t!(c, CounterMsg::Get, 5000).ok()
    })
    .await;
    assert_eq!(restarted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kameo_counter_restarts_from_zero_after_boom() {
    let (_sup, counter) = km::counter::start().await;
    for _ in 0..3 {
        counter.tell(km::counter::Inc).await.expect("tell");
    }
    assert_eq!(counter.ask(km::counter::Get).await.expect("ask"), 3);
    counter.tell(km::counter::Boom).await.expect("tell");
    let restarted = harness::wait_until_async("kameo's counter restarted", WITHIN, || async {
        counter.ask(km::counter::Get).await.ok()
    })
    .await;
    assert_eq!(restarted, 0);
}

/// `2 * (0 + 1 + … + (n - 1))`.
const N: i64 = 100_000;
const SUM: i64 = N * (N - 1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pipeline_delivers_every_event() {
    let rotp = in_process(|mut ctx| async move {
        ro::pipeline::start(&mut ctx, N)
            .await
            .expect("pipeline starts");
        let sum = ctx
            .receive_timeout(WITHIN, |m| m.downcast_ref::<i64>().is_some())
            .await
            .expect("rotp's pipeline finished");
        sum.downcast::<i64>().ok()
    })
    .await;
    assert_eq!(rotp, Some(SUM));
    let ractor = ra::pipeline::start(N).await.expect("stages start");
    assert_eq!(
        tokio::time::timeout(WITHIN, ractor).await.expect("in time"),
        Ok(SUM)
    );
    let kameo = km::pipeline::start(N).await.expect("stages start");
    assert_eq!(
        tokio::time::timeout(WITHIN, kameo).await.expect("in time"),
        Ok(SUM)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_calls_rotps_counter_and_sees_it_restart() {
    let out = peers::erl_calls_the_server(
        "P = fun(X) -> io:format(\"~w~n\", [X]) end, \
         P(gen_server:call(S, {inc, 5})), \
         P(gen_server:call(S, {inc, 1})), \
         P(gen_server:call(S, get)), \
         {'EXIT', {Reason, _}} = (catch gen_server:call(S, boom)), P(Reason), \
         Back = fun W(0) -> gave_up; W(K) -> case catch gen_server:call(S, get) of \
         N when is_integer(N) -> N; _ -> timer:sleep(20), W(K - 1) end end, \
         P(Back(250)), \
         P(catch gen_server:call(S, {dec, 1}, 300)), \
         halt().",
    )
    .await
    .expect("erl ran");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..5], ["5", "6", "6", "boom", "0"], "{out}");
    // A request that is not a `Request` is no call: it times out, as an unknown call to an erl
    // gen_server without a matching clause would not be answered.
    assert!(
        lines
            .get(5)
            .is_some_and(|l| l.starts_with("{'EXIT',{timeout,")),
        "{out}"
    );
}
