//! With a global `tracing` subscriber set, a crash and its restart are reported through it:
//! gen_server's error report, proc_lib's crash report and the supervisor report, as error
//! events (without one they go to standard error: `crates/node/tests/node_defaults.rs`).

use std::time::Duration;

use rotp_otp::gen_server::{self, CallReply, GenServer};
use rotp_otp::supervisor::{self, ChildSpec, Flags, Strategy};
use rotp_otp::From;
use runtime::{Context, ExitReason, Runtime};

mod support;

#[derive(Clone)]
struct Crasher;

impl GenServer for Crasher {
    type Args = ();
    type State = ();
    type Call = ();
    type Reply = ();
    type Cast = ();

    async fn handle_call(&self, _: (), _: &From, _: &mut (), _: &mut Context) -> CallReply<()> {
        CallReply::Stop(ExitReason::atom("boom"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_go_to_the_subscriber_when_one_is_set() {
    let logs = support::captured();

    let (tx, rx) = tokio::sync::oneshot::channel();
    Runtime::default().spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let child = ChildSpec::gen_server_named("crasher", Crasher, (), Some("crasher".into()));
        let flags = Flags::new(Strategy::OneForOne);
        let sup = supervisor::start_link(&mut ctx, flags, vec![child], Some("sup".into())).await;
        let outcome = gen_server::try_call::<_, ()>(
            &mut ctx,
            etf::Atom::from("crasher"),
            (),
            Duration::from_secs(5),
        )
        .await;
        let _ = tx.send((sup.is_ok(), outcome));
        std::future::pending().await
    });
    let (started, outcome) = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("in time")
        .expect("the test process");
    assert!(started);
    assert_eq!(
        outcome,
        Err(rotp_otp::CallError::Exited(ExitReason::atom("boom")))
    );
    let text = || String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    harness::wait_until_async("the supervisor report", Duration::from_secs(10), || async {
        text().contains("errorContext: child_terminated")
    })
    .await;
    let text = text();
    for expected in [
        "ERROR REPORT",
        "** Generic server crasher terminating",
        "CRASH REPORT",
        "exception exit: boom",
        "SUPERVISOR REPORT",
        "supervisor: {local,sup}",
        "reason: boom",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(text.contains(" ERROR "), "error events:\n{text}");
}
