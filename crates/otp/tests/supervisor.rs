//! Supervisors, by the rules of the Supervisor docs: children start in order and stop in
//! reverse order, the three strategies, restart intensity (exceeded → children stopped in
//! reverse order, then the supervisor exits with `shutdown`), permanent/transient/temporary,
//! and the child-management requests.

use std::time::Duration;

use etf::{Atom, Pid, Term};
use rotp_otp::supervisor::{
    self, ChildCounts, ChildSpec, Flags, Request, Response, Restart, Strategy,
};
use runtime::{Context, ExitReason, Runtime};
use tokio::sync::mpsc;

type Events = mpsc::UnboundedSender<String>;

/// A worker that reports its start and stop; `crash` makes it exit with `crashed`, `quit`
/// with `normal`. It is up (trapping exits) before its start function returns, as a
/// `gen_server` is once `start_link` returns, so starts and stops happen in a known order.
fn worker(name: &'static str, events: Events) -> ChildSpec {
    ChildSpec::worker(name, move |ctx: &mut Context, _extra| {
        let events = events.clone();
        Box::pin(async move {
            let me = ctx.pid().clone();
            let child_events = events.clone();
            let pid = ctx.spawn_link(move |mut c| async move {
                c.trap_exit(true);
                c.send(&me, Term::atom("up"));
                loop {
                    let m = c.recv().await;
                    if let Some((_, reason)) = m.as_exit() {
                        let _ = child_events.send(format!("stop {name}"));
                        return reason;
                    }
                    match m.as_term().and_then(Term::as_atom) {
                        Some("crash") => return ExitReason::atom("crashed"),
                        Some("quit") => return ExitReason::Normal,
                        _ => {}
                    }
                }
            });
            ctx.receive(|m| m.as_term() == Some(&Term::atom("up")))
                .await;
            let _ = events.send(format!("start {name}"));
            Ok(Some(pid))
        })
    })
}

async fn next(events: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event in time")
        .expect("events open")
}

async fn children(ctx: &mut Context, sup: &Pid) -> Vec<(String, Option<Pid>)> {
    match supervisor::request(ctx, sup, Request::WhichChildren).await {
        Response::Children(c) => c
            .into_iter()
            .map(|c| (c.id.as_str().to_owned(), c.pid))
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// Starts a supervisor of workers a, b, c inside a process; runs `script` there with it.
fn with_supervisor(
    flags: Flags,
    specs: impl FnOnce(&Events) -> Vec<ChildSpec> + Send + 'static,
) -> (
    Runtime,
    mpsc::UnboundedReceiver<String>,
    mpsc::UnboundedReceiver<Pid>,
) {
    let rt = Runtime::default();
    let (events, rx) = mpsc::unbounded_channel();
    let (ptx, prx) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let sup = supervisor::start_link(&mut ctx, flags, specs(&events), None)
            .await
            .unwrap()
            .unwrap();
        let _ = ptx.send(sup.clone());
        let exit = ctx.receive(|m| m.as_exit().is_some()).await;
        let _ = events.send(format!(
            "supervisor exited {}",
            exit.as_exit().unwrap().1.to_term()
        ));
        ExitReason::Normal
    });
    (rt, rx, prx)
}

fn abc(events: &Events) -> Vec<ChildSpec> {
    vec![
        worker("a", events.clone()),
        worker("b", events.clone()),
        worker("c", events.clone()),
    ]
}

/// Runs `f` in a fresh process and returns its result.
async fn run<T: Send + 'static>(
    rt: &Runtime,
    f: impl FnOnce(Context) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>
        + Send
        + 'static,
) -> T {
    let (tx, mut rx) = mpsc::unbounded_channel();
    rt.spawn(move |ctx| async move {
        let _ = tx.send(f(ctx).await);
        ExitReason::Normal
    });
    rx.recv().await.expect("result")
}

async fn ids(rt: &Runtime, sup: &Pid) -> Vec<(String, Option<Pid>)> {
    let sup = sup.clone();
    run(rt, move |mut ctx| {
        Box::pin(async move { children(&mut ctx, &sup).await })
    })
    .await
}

fn pid_of<'a>(c: &'a [(String, Option<Pid>)], id: &str) -> &'a Pid {
    c.iter()
        .find(|(i, _)| i == id)
        .and_then(|(_, p)| p.as_ref())
        .expect("running child")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_start_in_order_and_stop_in_reverse_order() {
    let (rt, mut events, mut sups) = with_supervisor(Flags::new(Strategy::OneForOne), abc);
    let sup = sups.recv().await.unwrap();
    for want in ["start a", "start b", "start c"] {
        assert_eq!(next(&mut events).await, want);
    }
    let s = sup.clone();
    let stopped = run(&rt, move |mut ctx| {
        Box::pin(async move {
            rotp_otp::gen_server::stop(&mut ctx, s, ExitReason::Shutdown, Duration::from_secs(5))
                .await
        })
    })
    .await;
    assert_eq!(stopped, Ok(()));
    for want in ["stop c", "stop b", "stop a"] {
        assert_eq!(next(&mut events).await, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_only_the_child_that_died() {
    let (rt, mut events, mut sups) = with_supervisor(Flags::new(Strategy::OneForOne), abc);
    let sup = sups.recv().await.unwrap();
    for _ in 0..3 {
        next(&mut events).await;
    }
    let before = ids(&rt, &sup).await;
    rt.send(pid_of(&before, "b"), Term::atom("crash"));
    assert_eq!(next(&mut events).await, "start b");
    let after = ids(&rt, &sup).await;
    assert_eq!(pid_of(&after, "a"), pid_of(&before, "a"));
    assert_ne!(pid_of(&after, "b"), pid_of(&before, "b"));
    assert_eq!(pid_of(&after, "c"), pid_of(&before, "c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_restarts_every_child() {
    let (rt, mut events, mut sups) = with_supervisor(Flags::new(Strategy::OneForAll), abc);
    let sup = sups.recv().await.unwrap();
    for _ in 0..3 {
        next(&mut events).await;
    }
    let before = ids(&rt, &sup).await;
    rt.send(pid_of(&before, "b"), Term::atom("crash"));
    // The others stop in reverse order, then all start in order.
    for want in ["stop c", "stop a", "start a", "start b", "start c"] {
        assert_eq!(next(&mut events).await, want);
    }
    let after = ids(&rt, &sup).await;
    for id in ["a", "b", "c"] {
        assert_ne!(pid_of(&after, id), pid_of(&before, id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_the_child_and_those_after_it() {
    let (rt, mut events, mut sups) = with_supervisor(Flags::new(Strategy::RestForOne), abc);
    let sup = sups.recv().await.unwrap();
    for _ in 0..3 {
        next(&mut events).await;
    }
    let before = ids(&rt, &sup).await;
    rt.send(pid_of(&before, "b"), Term::atom("crash"));
    for want in ["stop c", "start b", "start c"] {
        assert_eq!(next(&mut events).await, want);
    }
    let after = ids(&rt, &sup).await;
    assert_eq!(pid_of(&after, "a"), pid_of(&before, "a"));
    assert_ne!(pid_of(&after, "b"), pid_of(&before, "b"));
    assert_ne!(pid_of(&after, "c"), pid_of(&before, "c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeding_the_intensity_stops_children_in_reverse_order_then_exits_with_shutdown() {
    let flags = Flags {
        max_restarts: 2,
        ..Flags::new(Strategy::OneForOne)
    };
    let (rt, mut events, mut sups) = with_supervisor(flags, abc);
    let sup = sups.recv().await.unwrap();
    for _ in 0..3 {
        next(&mut events).await;
    }
    for _ in 0..2 {
        let c = ids(&rt, &sup).await;
        rt.send(pid_of(&c, "c"), Term::atom("crash"));
        assert_eq!(next(&mut events).await, "start c");
    }
    let c = ids(&rt, &sup).await;
    rt.send(pid_of(&c, "c"), Term::atom("crash"));
    for want in ["stop b", "stop a", "supervisor exited shutdown"] {
        assert_eq!(next(&mut events).await, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_children_are_not_restarted_and_transient_ones_only_after_a_crash() {
    let specs = |e: &Events| {
        vec![
            worker("temp", e.clone()).restart(Restart::Temporary),
            worker("trans", e.clone()).restart(Restart::Transient),
        ]
    };
    let (rt, mut events, mut sups) = with_supervisor(Flags::new(Strategy::OneForOne), specs);
    let sup = sups.recv().await.unwrap();
    for _ in 0..2 {
        next(&mut events).await;
    }
    let c = ids(&rt, &sup).await;
    rt.send(pid_of(&c, "temp"), Term::atom("crash"));
    rt.send(pid_of(&c, "trans"), Term::atom("quit")); // normal: not restarted
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = ids(&rt, &sup).await;
    assert_eq!(
        c,
        vec![("trans".to_owned(), None)],
        "temporary removed, transient left stopped"
    );
    let s = sup.clone();
    let restarted = run(&rt, move |mut ctx| {
        Box::pin(async move {
            supervisor::request(&mut ctx, &s, Request::RestartChild(Atom::from("trans"))).await
        })
    })
    .await;
    assert!(matches!(restarted, Response::Ok(Some(_))), "{restarted:?}");
    assert_eq!(next(&mut events).await, "start trans");
    let c = ids(&rt, &sup).await;
    rt.send(pid_of(&c, "trans"), Term::atom("crash")); // abnormal: restarted
    assert_eq!(next(&mut events).await, "start trans");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_can_be_counted_terminated_restarted_deleted_and_added() {
    let (rt, mut events, mut sups) = with_supervisor(Flags::new(Strategy::OneForOne), abc);
    let sup = sups.recv().await.unwrap();
    for _ in 0..3 {
        next(&mut events).await;
    }
    let s = sup.clone();
    let (e2, _) = mpsc::unbounded_channel();
    let answers = run(&rt, move |mut ctx| {
        Box::pin(async move {
            let mut out = Vec::new();
            out.push(supervisor::request(&mut ctx, &s, Request::CountChildren).await);
            out.push(
                supervisor::request(&mut ctx, &s, Request::TerminateChild(Atom::from("b"))).await,
            );
            out.push(
                supervisor::request(&mut ctx, &s, Request::DeleteChild(Atom::from("a"))).await,
            );
            out.push(
                supervisor::request(&mut ctx, &s, Request::DeleteChild(Atom::from("b"))).await,
            );
            out.push(
                supervisor::request(&mut ctx, &s, Request::TerminateChild(Atom::from("zz"))).await,
            );
            out.push(
                supervisor::request(&mut ctx, &s, Request::StartChild(worker("c", e2.clone())))
                    .await,
            );
            out.push(supervisor::request(&mut ctx, &s, Request::StartChild(worker("d", e2))).await);
            out.push(supervisor::request(&mut ctx, &s, Request::CountChildren).await);
            out
        })
    })
    .await;
    assert_eq!(
        answers[0],
        Response::Counts(ChildCounts {
            specs: 3,
            active: 3,
            supervisors: 0,
            workers: 3
        })
    );
    assert_eq!(answers[1], Response::Ok(None));
    assert_eq!(answers[2], Response::Error(Term::atom("running")));
    assert_eq!(answers[3], Response::Ok(None));
    assert_eq!(answers[4], Response::Error(Term::atom("not_found")));
    assert_eq!(answers[5], Response::Error(Term::atom("already_present")));
    assert!(
        matches!(answers[6], Response::Ok(Some(_))),
        "{:?}",
        answers[6]
    );
    assert_eq!(
        answers[7],
        Response::Counts(ChildCounts {
            specs: 3,
            active: 3,
            supervisors: 0,
            workers: 3
        })
    );
    assert_eq!(next(&mut events).await, "stop b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_fails_to_start_fails_the_supervisor_start() {
    let rt = Runtime::default();
    let (events, mut rx) = mpsc::unbounded_channel();
    let (tx, mut result) = mpsc::unbounded_channel();
    rt.spawn(move |mut ctx| async move {
        ctx.trap_exit(true);
        let bad = ChildSpec::worker("bad", |_ctx: &mut Context, _extra| {
            Box::pin(async { Err(ExitReason::atom("nope")) })
        });
        let specs = vec![worker("a", events.clone()), bad, worker("c", events)];
        let r =
            supervisor::start_link(&mut ctx, Flags::new(Strategy::OneForOne), specs, None).await;
        let _ = tx.send(r.err().map(|e| e.to_term().to_string()));
        ExitReason::Normal
    });
    assert_eq!(
        result.recv().await.unwrap().as_deref(),
        Some("{shutdown,{failed_to_start_child,bad,nope}}")
    );
    assert_eq!(next(&mut rx).await, "start a");
    assert_eq!(next(&mut rx).await, "stop a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_supervisors_heal_inside() {
    let (rt, mut events, mut sups) =
        with_supervisor(Flags::new(Strategy::OneForOne), |e: &Events| {
            let e = e.clone();
            vec![ChildSpec::supervisor(
                "inner",
                move |ctx: &mut Context, _extra| {
                    let e = e.clone();
                    Box::pin(async move {
                        supervisor::start_link(
                            ctx,
                            Flags::new(Strategy::OneForOne),
                            vec![worker("leaf", e)],
                            None,
                        )
                        .await
                    })
                },
            )]
        });
    let outer = sups.recv().await.unwrap();
    assert_eq!(next(&mut events).await, "start leaf");
    let inner = pid_of(&ids(&rt, &outer).await, "inner").clone();
    let leaf = pid_of(&ids(&rt, &inner).await, "leaf").clone();
    rt.send(&leaf, Term::atom("crash"));
    assert_eq!(next(&mut events).await, "start leaf");
    assert_eq!(
        pid_of(&ids(&rt, &outer).await, "inner"),
        &inner,
        "the inner supervisor handled it"
    );
}

mod dynamic {
    use super::*;
    use rotp_otp::dynamic_supervisor::{
        self, Options, Request as DynRequest, Response as DynResponse,
    };

    /// A worker that reports the extra arguments it was started with.
    fn echo(events: Events) -> ChildSpec {
        ChildSpec::worker("echo", move |ctx: &mut Context, extra| {
            let events = events.clone();
            Box::pin(async move {
                let _ = events.send(format!("start {}", Term::List(extra)));
                let pid = ctx.spawn_link(|mut c| async move {
                    let m = c.recv().await;
                    match m.as_term().and_then(Term::as_atom) {
                        Some("crash") => ExitReason::atom("crashed"),
                        _ => ExitReason::Normal,
                    }
                });
                Ok(Some(pid))
            })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn children_start_on_demand_with_extra_arguments_up_to_max_children() {
        let rt = Runtime::default();
        let (events, mut rx) = mpsc::unbounded_channel();
        let (tx, mut answers) = mpsc::unbounded_channel();
        rt.spawn(move |mut ctx| async move {
            let options = Options {
                max_children: Some(2),
                extra_arguments: vec![Term::atom("pool")],
                ..Options::default()
            };
            let sup = dynamic_supervisor::start_link(&mut ctx, options, None)
                .await
                .unwrap()
                .unwrap();
            let a = dynamic_supervisor::request(
                &mut ctx,
                &sup,
                DynRequest::StartChild(echo(events.clone())),
            )
            .await;
            let b = dynamic_supervisor::request(
                &mut ctx,
                &sup,
                DynRequest::StartChild(echo(events.clone())),
            )
            .await;
            let c = dynamic_supervisor::request(
                &mut ctx,
                &sup,
                DynRequest::StartChild(echo(events.clone())),
            )
            .await;
            let DynResponse::Ok(Some(first)) = a else {
                panic!("{a:?}")
            };
            let crashed = first.clone();
            ctx.send(&crashed, Term::atom("crash"));
            let _ = tx.send((b, c));
            ctx.receive_timeout(Duration::from_millis(100), |_| false)
                .await;
            let counts =
                dynamic_supervisor::request(&mut ctx, &sup, DynRequest::CountChildren).await;
            let children =
                dynamic_supervisor::request(&mut ctx, &sup, DynRequest::WhichChildren).await;
            let DynResponse::Children(pids) = children else {
                panic!()
            };
            let gone =
                dynamic_supervisor::request(&mut ctx, &sup, DynRequest::TerminateChild(first))
                    .await;
            let one = dynamic_supervisor::request(
                &mut ctx,
                &sup,
                DynRequest::TerminateChild(pids[0].clone()),
            )
            .await;
            let _ = tx.send((counts, DynResponse::Ok(None)));
            let _ = tx.send((gone, one));
            ExitReason::Normal
        });
        let (b, c) = answers.recv().await.unwrap();
        assert!(matches!(b, DynResponse::Ok(Some(_))));
        assert_eq!(c, DynResponse::Error(Term::atom("max_children")));
        for _ in 0..2 {
            assert_eq!(next(&mut rx).await, "start [pool]");
        }
        // The crashed child was restarted with the same extra arguments.
        assert_eq!(next(&mut rx).await, "start [pool]");
        let (counts, _) = answers.recv().await.unwrap();
        assert_eq!(
            counts,
            DynResponse::Counts(ChildCounts {
                specs: 2,
                active: 2,
                supervisors: 0,
                workers: 2
            })
        );
        let (gone, one) = answers.recv().await.unwrap();
        assert_eq!(
            gone,
            DynResponse::Error(Term::atom("not_found")),
            "the crashed pid is no longer a child"
        );
        assert_eq!(one, DynResponse::Ok(None));
    }
}

mod shutdown {
    use super::*;
    use rotp_otp::supervisor::Shutdown;

    /// A worker that traps exits and ignores them: only `kill` stops it. It says on `ready`
    /// once it traps exits (its start returns before it runs).
    fn stubborn(shutdown: Shutdown, events: Events, ready: Events) -> ChildSpec {
        ChildSpec::worker("stubborn", move |ctx: &mut Context, _extra| {
            let (events, ready) = (events.clone(), ready.clone());
            Box::pin(async move {
                let pid = ctx.spawn_link(move |mut c| async move {
                    c.trap_exit(true);
                    let _ = ready.send("trapping exits".to_owned());
                    loop {
                        let m = c.recv().await;
                        if m.as_exit().is_some() {
                            let _ = events.send("ignored an exit signal".to_owned());
                        }
                    }
                });
                Ok(Some(pid))
            })
        })
        .shutdown(shutdown)
    }

    async fn terminate_and_watch(shutdown: Shutdown) -> (ExitReason, Vec<String>) {
        let rt = Runtime::default();
        let (events, mut rx) = mpsc::unbounded_channel();
        let (tx, mut result) = mpsc::unbounded_channel();
        let (ready_tx, mut ready) = mpsc::unbounded_channel();
        rt.spawn(move |mut ctx| async move {
            let sup = supervisor::start_link(
                &mut ctx,
                Flags::new(Strategy::OneForOne),
                vec![stubborn(shutdown, events, ready_tx)],
                None,
            )
            .await
            .unwrap()
            .unwrap();
            // Only once the child traps exits does the test mean anything.
            ready.recv().await;
            let child = pid_of(&children(&mut ctx, &sup).await, "stubborn").clone();
            let r = ctx.monitor(&child);
            supervisor::request(
                &mut ctx,
                &sup,
                Request::TerminateChild(Atom::from("stubborn")),
            )
            .await;
            let down = ctx
                .receive(|m| m.as_down().is_some_and(|(x, _, _)| x == r))
                .await;
            let _ = tx.send(down.as_down().map(|(_, _, reason)| reason));
            ExitReason::Normal
        });
        let reason = tokio::time::timeout(Duration::from_secs(10), result.recv())
            .await
            .unwrap()
            .flatten()
            .unwrap();
        let mut seen = Vec::new();
        while let Ok(e) = rx.try_recv() {
            seen.push(e);
        }
        (reason, seen)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_child_that_ignores_shutdown_is_killed_after_its_timeout() {
        let (reason, seen) =
            terminate_and_watch(Shutdown::Timeout(Duration::from_millis(100))).await;
        assert_eq!(reason, ExitReason::Killed);
        assert_eq!(
            seen,
            ["ignored an exit signal"],
            "it was asked to shut down first"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn brutal_kill_kills_without_asking() {
        let (reason, seen) = terminate_and_watch(Shutdown::BrutalKill).await;
        assert_eq!(reason, ExitReason::Killed);
        assert!(seen.is_empty(), "{seen:?}");
    }
}
