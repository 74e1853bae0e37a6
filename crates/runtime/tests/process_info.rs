//! Introspection for the window to come: what `process_info/1` says.

use std::time::Duration;

use etf::{Atom, Term};
use rotp_runtime::{ExitReason, Runtime, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_info_reports_name_status_queue_links_and_monitors() {
    let rt = Runtime::default();
    let peer = rt.spawn(|mut ctx| async move {
        ctx.receive(|_| false).await;
        ExitReason::Normal
    });
    let p = peer.clone();
    let pid = rt.spawn(move |mut ctx| async move {
        ctx.register(Atom::from("inspected")).unwrap();
        ctx.set_behaviour("gen_server", "my_app:init/1");
        ctx.link(&p);
        ctx.monitor(&p);
        ctx.receive(|m| m.as_term() == Some(&Term::atom("never")))
            .await;
        ExitReason::Normal
    });
    rt.send(&pid, Term::atom("one"));
    rt.send(&pid, Term::atom("two"));
    let mut info = None;
    for _ in 0..200 {
        info = rt
            .process_info(&pid)
            .filter(|i| i.status == Status::Waiting && i.message_queue_len == 2);
        if info.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let info = info.expect("the process settles waiting with two messages");
    assert_eq!(info.registered_name, Some(Atom::from("inspected")));
    assert_eq!(info.links, vec![peer.clone()]);
    assert_eq!(info.monitors, vec![etf::Term::Pid(peer.clone())]);
    assert_eq!(info.current_behaviour.as_deref(), Some("gen_server"));
    assert_eq!(info.initial_call, "my_app:init/1");
    assert!(!info.trap_exit);
    let peer_info = rt.process_info(&peer).unwrap();
    assert_eq!(peer_info.monitored_by, vec![pid.clone()]);
    assert!(
        peer_info.initial_call.contains("closure"),
        "{}",
        peer_info.initial_call
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_process_costs_under_a_kilobyte() {
    let rt = Runtime::default();
    let pid = rt.spawn(|mut ctx| async move {
        ctx.recv().await;
        ExitReason::Normal
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let memory = rt.process_info(&pid).unwrap().memory;
    assert!(memory < 1024, "an idle process holds about {memory} bytes");
}
