//! The application: SIGTERM shuts the tree down, last-started child first, and `run` returns
//! so the program can exit 0.

use std::time::Duration;

use etf::Term;
use rotp_otp::application::{self, Stopped};
use rotp_otp::supervisor::{ChildSpec, Flags, Strategy};
use runtime::{Context, ExitReason, Runtime};
use tokio::sync::mpsc;

fn worker(name: &'static str, events: mpsc::UnboundedSender<String>) -> ChildSpec {
    ChildSpec::worker(name, move |ctx: &mut Context, _extra| {
        let events = events.clone();
        Box::pin(async move {
            let me = ctx.pid().clone();
            let ev = events.clone();
            let pid = ctx.spawn_link(move |mut c| async move {
                c.trap_exit(true);
                c.send(&me, Term::atom("up"));
                let exit = c.receive(|m| m.as_exit().is_some()).await;
                let _ = ev.send(format!("stop {name}"));
                exit.as_exit().map_or(ExitReason::Normal, |(_, r)| r)
            });
            ctx.receive(|m| m.as_term() == Some(&Term::atom("up")))
                .await;
            let _ = events.send(format!("start {name}"));
            Ok(Some(pid))
        })
    })
}

/// The next events are `wanted`, in order, each within 5 s.
async fn expect(rx: &mut mpsc::UnboundedReceiver<String>, wanted: &[&str]) {
    for want in wanted {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("an event in time");
        assert_eq!(got.as_deref(), Some(*want));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_tree_in_reverse_order() {
    let runtime = Runtime::default();
    let (events, mut rx) = mpsc::unbounded_channel();
    let children = vec![
        worker("a", events.clone()),
        worker("b", events.clone()),
        worker("c", events),
    ];
    let app = tokio::spawn(async move {
        application::run(
            &runtime,
            "app_sup",
            Flags::new(Strategy::OneForOne),
            children,
        )
        .await
    });
    expect(&mut rx, &["start a", "start b", "start c"]).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    expect(&mut rx, &["stop c", "stop b", "stop a"]).await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), app)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(stopped, Stopped::Signal);
}
