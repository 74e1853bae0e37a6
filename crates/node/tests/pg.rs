//! `pg` scopes shared with real erl nodes: a rotp process that joins a group shows in erl's
//! `pg:get_members`, an erl process that joins shows in ours, and members leave with their
//! process or their node.

mod support;

use std::time::Duration;

use etf::Term;
use runtime::ExitReason;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_groups_are_shared_with_erl() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_pg", "sesame", port).await;
    assert!(node.pg_start("pg").await);
    let member = node.runtime().spawn(|mut ctx| async move {
        ctx.recv().await;
        ExitReason::Normal
    });
    assert!(
        node.pg_join("pg", Term::atom("workers"), vec![member.clone()])
            .await
    );
    let target = node.name().to_string();
    // erl starts its scope, connects, sees our member, adds its own, and reports when our
    // member has gone.
    let eval = format!(
        "{{ok, _}} = pg:start(pg), pong = net_adm:ping('{target}'), \
         Wait = fun W(G, Want, 0) -> {{timeout, pg:get_members(G)}}; \
                    W(G, Want, N) -> case Want(pg:get_members(G)) of true -> ok; false -> timer:sleep(20), W(G, Want, N - 1) end end, \
         ok = Wait(workers, fun(Ms) -> [node(P) || P <- Ms] =:= ['{target}'] end, 250), \
         io:format(\"seen ~p~n\", [[node(P) || P <- pg:get_members(workers)]]), \
         Mine = spawn(fun() -> receive stop -> ok end end), ok = pg:join(erl_side, Mine), \
         io:format(\"joined~n\"), \
         ok = Wait(workers, fun(Ms) -> Ms =:= [] end, 500), \
         io:format(\"gone~n\"), halt()."
    );
    let erl = tokio::spawn(async move { erl_eval("erl_pg", "sesame", port, &eval).await });
    // The erl member shows up here.
    let erl_node = node_name("erl_pg");
    let mut seen = Vec::new();
    for _ in 0..500 {
        seen = node.pg_members("pg", &Term::atom("erl_side"));
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].node, erl_node);
    // pg:which_groups/1 sees both nodes' groups.
    let mut groups = node.pg_which_groups("pg");
    groups.sort_by_key(|g| format!("{g:?}"));
    assert_eq!(groups, [Term::atom("erl_side"), Term::atom("workers")]);
    // Our member ends: erl sees it leave.
    node.runtime()
        .send(&member, runtime::Message::Term(Term::atom("stop")));
    let out = erl.await.unwrap();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [&format!("seen [{target}]")[..], "joined", "gone"],
        "{out}"
    );
    // erl is gone: its members are dropped from our view.
    for _ in 0..500 {
        if node.pg_members("pg", &Term::atom("erl_side")).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(node.pg_members("pg", &Term::atom("erl_side")).is_empty());
}
