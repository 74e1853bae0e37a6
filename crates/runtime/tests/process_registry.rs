//! Registered names: register, whereis, unregister, send to a name, and names freed on exit.

use std::time::Duration;

use etf::{Atom, Term};
use rotp_runtime::{BadArg, ExitReason, Runtime};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_register_resolve_and_go_away_with_their_process() {
    let rt = Runtime::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pid = rt.spawn(move |mut ctx| async move {
        ctx.register(Atom::from("echo")).unwrap();
        let _ = tx.send(());
        let m = ctx.recv().await;
        assert_eq!(m.as_term(), Some(&Term::atom("stop")));
        ExitReason::Normal
    });
    rx.recv().await.unwrap();
    let name = Atom::from("echo");
    assert_eq!(rt.whereis(&name), Some(pid.clone()));
    assert!(rt.registered().contains(&name));
    assert_eq!(
        rt.register(name.clone(), &pid),
        Err(BadArg::AlreadyRegistered(name.clone()))
    );
    rt.send_named(&name, Term::atom("stop")).unwrap();
    for _ in 0..100 {
        if rt.whereis(&name).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rt.whereis(&name), None);
    assert_eq!(
        rt.send_named(&name, Term::atom("x")),
        Err(BadArg::NotRegistered(name.clone()))
    );
    assert_eq!(rt.unregister(&name), Err(BadArg::NotRegistered(name)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undefined_and_dead_processes_cannot_be_registered() {
    let rt = Runtime::default();
    let pid = rt.spawn(|_| async { ExitReason::Normal });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rt.register(Atom::from("gone"), &pid), Err(BadArg::NotAlive));
    let live = rt.spawn(|mut ctx| async move {
        ctx.receive(|_| false).await;
        ExitReason::Normal
    });
    assert_eq!(
        rt.register(Atom::from("undefined"), &live),
        Err(BadArg::Undefined)
    );
    rt.register(Atom::from("first"), &live).unwrap();
    assert!(
        rt.register(Atom::from("second"), &live).is_err(),
        "one name per process"
    );
    rt.unregister(&Atom::from("first")).unwrap();
    rt.register(Atom::from("second"), &live).unwrap();
}
