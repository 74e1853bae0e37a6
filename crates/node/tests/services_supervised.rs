//! The node's services under kernel_sup's rules, with real erl nodes: a link from a peer
//! that goes away does not kill them (they trap exits, as OTP's do); a service that dies
//! anyway takes the node down, loudly, as an erl node halts when its kernel ends; a pg scope
//! that dies is restarted by kernel_safe_sup.

mod support;

use std::time::Duration;

use etf::Atom;
use runtime::ExitReason;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_links_to_rex_and_net_kernel_and_halts_leaves_them_running() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_links", "sesame", port).await;
    let rt = node.runtime();
    let (rex, kernel) = (
        rt.whereis(&Atom::from("rex")).unwrap(),
        rt.whereis(&Atom::from("net_kernel")).unwrap(),
    );
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_linker",
        "sesame",
        port,
        &format!(
            "N = '{target}', pong = net_adm:ping(N), \
             Rex = rpc:call(N, erlang, whereis, [rex]), \
             Kernel = rpc:call(N, erlang, whereis, [net_kernel]), \
             true = link(Rex), true = link(Kernel), \
             {{links, L}} = rpc:call(N, erlang, process_info, [Rex, links]), \
             io:format(\"~p~n\", [lists:member(self(), L)]), \
             halt()."
        ),
    )
    .await;
    assert_eq!(out.trim(), "true", "{out}");
    // The halted peer's noconnection reached both: they trapped it.
    let erl = node_name("erl_linker");
    assert!(eventually(Duration::from_secs(5), || !node.nodes(true).contains(&erl)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rt.whereis(&Atom::from("rex")), Some(rex.clone()));
    assert_eq!(rt.whereis(&Atom::from("net_kernel")), Some(kernel));
    assert!(rt
        .process_info(&rex)
        .unwrap()
        .links
        .iter()
        .all(|p| p.node != erl));
    assert!(!node.is_down());
    let out = erl_eval(
        "erl_after",
        "sesame",
        port,
        &format!(
            "N = '{target}', io:format(\"~p ~p~n\", [net_adm:ping(N), rpc:call(N, erlang, node, [])]), halt()."
        ),
    )
    .await;
    assert_eq!(out.trim(), format!("pong {target}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_rex_takes_the_node_down_as_erl_halts() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_killed", "sesame", port).await;
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_killer",
        "sesame",
        port,
        &format!(
            "N = '{target}', pong = net_adm:ping(N), \
             exit(rpc:call(N, erlang, whereis, [rex]), kill), \
             timer:sleep(500), \
             io:format(\"~p~n\", [net_adm:ping(N)]), halt()."
        ),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(10), node.down())
        .await
        .expect("the node goes down");
    // It said so to whoever asks: it left EPMD and refuses connections.
    assert_eq!(out.trim(), "pang", "{out}");
    let epmd = net::epmd::Client::localhost(port);
    assert!(epmd.port_please("rotp_killed").await.unwrap().is_none());
    assert!(node.runtime().whereis(&Atom::from("kernel_sup")).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_scope_that_dies_is_restarted_by_kernel_safe_sup() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_pg_restart", "sesame", port).await;
    assert!(node.pg_start("restarting").await);
    let scope = Atom::from("restarting");
    let first = node.runtime().whereis(&scope).unwrap();
    node.runtime().exit(&first, ExitReason::Kill);
    let restarted = eventually(Duration::from_secs(2), || {
        node.runtime().whereis(&scope).is_some_and(|p| p != first)
    })
    .await;
    assert!(restarted, "restarted under a new pid");
    assert!(!node.is_down());
    // And it serves: a member joins and is seen.
    let member = node.runtime().spawn(|mut ctx| async move {
        ctx.recv().await;
        ExitReason::Normal
    });
    let group = etf::Term::atom("g");
    assert!(
        node.pg_join("restarting", group.clone(), vec![member.clone()])
            .await
    );
    assert_eq!(node.pg_members("restarting", &group), [member]);
}
