//! `global` in mixed clusters of real erl nodes and rotp nodes: names registered on either
//! side are seen on every node, clashes when partitions join are resolved as OTP resolves
//! them, locks exclude each other across nodes, and names go with their process or node.

mod support;

use std::time::Duration;

use etf::{Pid, Term};
use runtime::ExitReason;
use support::*;

/// A process that lives until killed.
fn sleeper(node: &node::Node) -> Pid {
    node.runtime().spawn(|mut ctx| async move {
        loop {
            let _ = ctx.recv().await;
        }
    })
}

fn name(text: &str) -> Term {
    etf::text::parse(text).expect("term")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_registered_on_erl_and_rotp_are_seen_on_both() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_gn", "gsesame", port).await;
    let target = node.name().to_string();
    let eval = format!(
        "N = '{target}', pong = net_adm:ping(N), ok = global:sync(), \
             yes = global:register_name({{cache, 1}}, self()), \
             io:format(\"~p~n\", [rpc:call(N, global, whereis_name, [{{cache, 1}}]) =:= self()]), \
             W = fun W(0) -> undefined; W(K) -> case global:whereis_name(from_rotp) of \
                 undefined -> timer:sleep(100), W(K - 1); P -> P end end, \
             P = W(100), io:format(\"~p~n\", [node(P)]), \
             io:format(\"~p~n\", [global:register_name(from_rotp, self())]), \
             halt()."
    );
    let erl = tokio::spawn(async move { erl_eval("erl_gn", "gsesame", port, &eval).await });
    let global = node.global();
    let cache = name("{cache, 1}");
    assert!(
        eventually(Duration::from_secs(20), || global
            .whereis_name(&cache)
            .is_some())
        .await,
        "erl's name reached rotp"
    );
    let holder = global.whereis_name(&cache).unwrap();
    assert_eq!(holder.node, node_name("erl_gn"));
    let mine = sleeper(&node);
    assert!(global.register_name(Term::atom("from_rotp"), &mine).await);
    let out = erl.await.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["true", target.as_str(), "no"], "{out}");
    // The erl node is gone: so are its names.
    assert!(
        eventually(Duration::from_secs(10), || global
            .whereis_name(&cache)
            .is_none())
        .await,
        "the halted node's name went"
    );
    assert_eq!(
        global.whereis_name(&Term::atom("from_rotp")),
        Some(mine.clone())
    );
    node.runtime().exit(&mine, ExitReason::Kill);
    assert!(
        eventually(Duration::from_secs(5), || global
            .registered_names()
            .is_empty())
        .await
    );
}

/// Starts an erl node that waits to be driven by rpc, and waits until EPMD knows it.
async fn erl_node(name: &str, cookie: &str, port: u16) -> (Guard, etf::Atom) {
    let guard = start_erl(name, cookie, port, "timer:sleep(infinity).");
    wait_registered(port, name).await;
    (guard, node_name(name))
}

/// `global:whereis_name(Name)` as `on` sees it (by rpc from `via`).
async fn whereis_on(via: &node::Node, on: &etf::Atom, name: &Term) -> Term {
    via.rpc(
        on,
        "global",
        "whereis_name",
        vec![name.clone()],
        Duration::from_secs(30),
    )
    .await
}

/// Waits (bounded) until `check` holds for what `on` answers.
async fn until_on(
    via: &node::Node,
    on: &etf::Atom,
    name: &Term,
    check: impl Fn(&Term) -> bool,
) -> Term {
    let mut last = Term::NIL;
    for _ in 0..200 {
        last = whereis_on(via, on, name).await;
        if check(&last) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_three_erl_and_two_rotp_nodes_every_name_is_seen_everywhere_until_its_node_dies() {
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_g5x", "g5", port).await;
    let y = rotp_node("rotp_g5y", "g5", port).await;
    let (mut guard_a, a) = erl_node("erl_g5a", "g5", port).await;
    let (_gb, b) = erl_node("erl_g5b", "g5", port).await;
    let (_gc, c) = erl_node("erl_g5c", "g5", port).await;
    // x meets a and y; b and c meet a: global connects everybody to everybody.
    assert!(x.ping(&a).await && x.ping(y.name()).await);
    for n in [&b, &c] {
        let pong = erl_run(&x, n, &format!("net_adm:ping('{a}').")).await;
        assert_eq!(pong.as_atom(), Some("pong"));
    }
    let all = [
        x.name().clone(),
        y.name().clone(),
        a.clone(),
        b.clone(),
        c.clone(),
    ];
    for n in [&a, &b, &c] {
        assert_eq!(erl_run(&x, n, "global:sync().").await.as_atom(), Some("ok"));
    }
    x.global().sync().await;
    y.global().sync().await;
    assert!(
        eventually(Duration::from_secs(20), || y.nodes(false).len() == 4
            && x.nodes(false).len() == 4)
        .await,
        "a full mesh: x sees {:?}, y sees {:?}",
        x.nodes(false),
        y.nodes(false)
    );
    // One name from each node.
    let mut holders = Vec::new();
    for (i, n) in all.iter().enumerate() {
        let key = name(&format!("{{cache, {i}}}"));
        let (yes, pid) = if *n == *x.name() {
            let pid = sleeper(&x);
            (x.global().register_name(key.clone(), &pid).await, pid)
        } else if *n == *y.name() {
            let pid = sleeper(&y);
            (y.global().register_name(key.clone(), &pid).await, pid)
        } else {
            let code = format!(
                "P = spawn(timer, sleep, [infinity]), {{global:register_name({{cache, {i}}}, P), P}}."
            );
            match erl_run(&x, n, &code).await {
                Term::Tuple(v) => match v.as_slice() {
                    [yes, Term::Pid(p)] => (yes.as_atom() == Some("yes"), p.clone()),
                    _ => panic!("{v:?}"),
                },
                other => panic!("{other:?}"),
            }
        };
        assert!(yes, "{n} registered {key:?}");
        holders.push((key, pid));
    }
    // Every node sees every name, right after the registration returned (it is made on all).
    for n in &all {
        for (key, pid) in &holders {
            let seen = whereis_on(&x, n, key).await;
            assert_eq!(seen, Term::Pid(pid.clone()), "{n} sees {key:?}");
        }
        let names = x
            .rpc(
                n,
                "global",
                "registered_names",
                vec![],
                Duration::from_secs(10),
            )
            .await;
        assert!(
            matches!(&names, Term::List(v) if v.len() == 5),
            "{n}: {names:?}"
        );
    }
    // A name is held by one process at a time: taking a taken name fails everywhere.
    let again = sleeper(&y);
    assert!(!y.global().register_name(holders[2].0.clone(), &again).await);
    let no = erl_run(&x, &b, "global:register_name({cache, 0}, self()).").await;
    assert_eq!(no.as_atom(), Some("no"));
    // a dies: its name goes everywhere, the others stay.
    let _ = guard_a.0.kill();
    let (key_a, _) = &holders[2];
    assert!(
        eventually(Duration::from_secs(20), || x
            .global()
            .whereis_name(key_a)
            .is_none())
        .await
    );
    assert!(
        eventually(Duration::from_secs(20), || y
            .global()
            .whereis_name(key_a)
            .is_none())
        .await
    );
    for n in [&b, &c] {
        let seen = until_on(&x, n, key_a, |t| t.as_atom() == Some("undefined")).await;
        assert_eq!(seen.as_atom(), Some("undefined"), "{n} forgot a's name");
        let other = whereis_on(&x, n, &holders[0].0).await;
        assert_eq!(other, Term::Pid(holders[0].1.clone()));
    }
    // A name goes when its process ends, on every node.
    x.runtime().exit(&holders[0].1, ExitReason::Kill);
    for n in [&b, &c] {
        let seen = until_on(&x, n, &holders[0].0, |t| t.as_atom() == Some("undefined")).await;
        assert_eq!(seen.as_atom(), Some("undefined"), "{n} forgot x's name");
    }
    assert!(
        eventually(Duration::from_secs(5), || y
            .global()
            .whereis_name(&holders[0].0)
            .is_none())
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clash_when_partitions_join_is_resolved_as_otp_resolves_it() {
    let (_epmd, port) = epmd();
    // Two partitions, {erl_ga, rotp_gx} and {rotp_gy, zerl_gb}, each registering both names.
    let x = rotp_node("rotp_gx", "gclash", port).await;
    let y = rotp_node("rotp_gy", "gclash", port).await;
    let (_ga, a) = erl_node("erl_ga", "gclash", port).await;
    let (_gb, b) = erl_node("zerl_gb", "gclash", port).await;
    assert!(x.ping(&a).await && y.ping(&b).await);
    assert_eq!(
        erl_run(&x, &a, "global:sync().").await.as_atom(),
        Some("ok")
    );
    assert_eq!(
        erl_run(&y, &b, "global:sync().").await.as_atom(),
        Some("ok")
    );
    x.global().sync().await;
    y.global().sync().await;
    let (one, two) = (Term::atom("clash_one"), Term::atom("clash_two"));
    // clash_one: erl_ga's process against rotp_gy's; clash_two: rotp_gx's against zerl_gb's.
    let register_on_erl = |via: node::Node, on: etf::Atom, n: &'static str| async move {
        let code =
            format!("P = spawn(timer, sleep, [infinity]), yes = global:register_name({n}, P), P.");
        match erl_run(&via, &on, &code).await {
            Term::Pid(p) => p,
            other => panic!("{other:?}"),
        }
    };
    let one_a = register_on_erl(x.clone(), a.clone(), "clash_one").await;
    let one_y = sleeper(&y);
    assert!(y.global().register_name(one.clone(), &one_y).await);
    let two_x = sleeper(&x);
    assert!(x.global().register_name(two.clone(), &two_x).await);
    let two_b = register_on_erl(y.clone(), b.clone(), "clash_two").await;
    // Watch both losers-to-be.
    let (watch, mut downs) = tokio::sync::mpsc::unbounded_channel();
    for (via, pid) in [(y.clone(), one_y.clone()), (y.clone(), two_b.clone())] {
        let watch = watch.clone();
        via.runtime().spawn(move |mut ctx| async move {
            let reference = ctx.monitor(&pid);
            loop {
                let m = ctx.recv().await;
                if let Some((r, p, reason)) = m.as_down() {
                    if r == reference {
                        let _ = watch.send((p, reason));
                        return ExitReason::Normal;
                    }
                }
            }
        });
    }
    // The partitions join. rotp_gx < rotp_gy, so rotp_gx resolves both clashes, each on the
    // holder's node: clash_one by rpc on erl_ga (OTP's random_exit_name), clash_two on
    // rotp_gx itself. The process on the greater node is killed and the other keeps the name.
    assert!(x.ping(y.name()).await);
    let mut killed = Vec::new();
    for _ in 0..2 {
        let (pid, reason) = tokio::time::timeout(Duration::from_secs(30), downs.recv())
            .await
            .expect("a loser is killed")
            .unwrap();
        assert_eq!(reason, ExitReason::Killed, "{pid:?}");
        killed.push(pid);
    }
    killed.sort_by_key(|p| p.node.to_string());
    assert_eq!(killed, [one_y.clone(), two_b.clone()]);
    for n in [x.name().clone(), y.name().clone(), a.clone(), b.clone()] {
        let seen_one = until_on(&x, &n, &one, |t| *t == Term::Pid(one_a.clone())).await;
        assert_eq!(
            seen_one,
            Term::Pid(one_a.clone()),
            "{n} sees clash_one's winner"
        );
        let seen_two = until_on(&x, &n, &two, |t| *t == Term::Pid(two_x.clone())).await;
        assert_eq!(
            seen_two,
            Term::Pid(two_x.clone()),
            "{n} sees clash_two's winner"
        );
    }
    // And the partitions are one fully connected cluster.
    assert!(
        eventually(Duration::from_secs(20), || x.nodes(false).len() == 3
            && y.nodes(false).len() == 3)
        .await
    );
    let nodes = erl_run(&x, &b, "lists:sort(nodes()).").await;
    assert!(matches!(&nodes, Term::List(v) if v.len() == 3), "{nodes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trans_holding_a_lock_blocks_another_nodes_trans_on_it() {
    use node::global::{LockId, Retries};
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_gl", "glock", port).await;
    let (_ga, a) = erl_node("erl_gl", "glock", port).await;
    assert!(x.ping(&a).await);
    assert_eq!(
        erl_run(&x, &a, "global:sync().").await.as_atom(),
        Some("ok")
    );
    x.global().sync().await;
    // rotp holds {res, Requester} for 1.5 s in a trans; erl, another requester, tries once
    // (aborted), then waits for it (infinite retries) and gets it only after rotp let go.
    let (held, mut held_rx) = tokio::sync::oneshot::channel();
    let (released, released_rx) = tokio::sync::oneshot::channel::<std::time::Instant>();
    let global = x.global();
    x.runtime().spawn(move |mut ctx| async move {
        let id = LockId::new(Term::atom("res"), Term::atom("rotp_side"));
        let got = global
            .trans(
                &mut ctx,
                &id,
                None,
                Retries::Infinity,
                async |_ctx: &mut runtime::Context| {
                    let _ = held.send(());
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                },
            )
            .await;
        let _ = released.send(std::time::Instant::now());
        assert!(got.is_some());
        ExitReason::Normal
    });
    tokio::time::timeout(Duration::from_secs(10), &mut held_rx)
        .await
        .unwrap()
        .unwrap();
    let once = erl_run(
        &x,
        &a,
        "global:trans({res, erl_side}, fun() -> got end, [node() | nodes()], 0).",
    )
    .await;
    assert_eq!(once.as_atom(), Some("aborted"));
    let waited = erl_run(&x, &a, "global:trans({res, erl_side}, fun() -> got end).").await;
    let after = std::time::Instant::now();
    assert_eq!(waited.as_atom(), Some("got"));
    let released_at = released_rx.await.unwrap();
    assert!(
        after >= released_at,
        "erl's trans ran only once rotp's had let go"
    );
    // The other way round: erl holds it (a process that sets it and waits), rotp's trans with
    // no retries is aborted, and with retries it gets it once the holder is gone.
    let holder = erl_run(
        &x,
        &a,
        "Me = self(), P = spawn(fun() -> true = global:set_lock({res, erl_holder}), Me ! set, timer:sleep(1000) end), \
         receive set -> P end.",
    )
    .await;
    assert!(matches!(holder, Term::Pid(_)), "{holder:?}");
    let global = x.global();
    let outcome = x
        .in_process(move |mut ctx| async move {
            let id = LockId::new(Term::atom("res"), Term::atom("rotp_again"));
            let once = global
                .trans(
                    &mut ctx,
                    &id,
                    None,
                    Retries::Times(0),
                    async |_: &mut runtime::Context| (),
                )
                .await;
            let later = global
                .trans(
                    &mut ctx,
                    &id,
                    None,
                    Retries::Infinity,
                    async |_: &mut runtime::Context| 42,
                )
                .await;
            (once, later)
        })
        .await
        .unwrap();
    assert_eq!(outcome, (None, Some(42)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_nodes_stay_out_of_global() {
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_gh", "ghidden", port).await;
    let pid = sleeper(&x);
    assert!(
        x.global()
            .register_name(Term::atom("visible_only"), &pid)
            .await
    );
    let target = x.name().to_string();
    let out = erl_eval_args(
        "erl_gh",
        "ghidden",
        port,
        &format!(
            "pong = net_adm:ping('{target}'), timer:sleep(1500), \
             io:format(\"~p ~p~n\", [global:whereis_name(visible_only), global:registered_names()]), \
             io:format(\"~p~n\", [gen_server:call({{global_name_server, '{target}'}}, get_known)]), halt()."
        ),
        &["-hidden"],
    )
    .await;
    // Neither side counts the other among its known nodes.
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["undefined []", "[]"],
        "{out}"
    );
}

struct Echo;

impl otp::GenServer for Echo {
    type Args = ();
    type State = ();
    type Call = Term;
    type Reply = Term;
    type Cast = ();

    async fn init(&self, _: (), _ctx: &mut runtime::Context) -> otp::Init<()> {
        otp::Init::Ok(())
    }

    async fn handle_call(
        &self,
        t: Term,
        _from: &otp::From,
        _s: &mut (),
        _ctx: &mut runtime::Context,
    ) -> otp::CallReply<Term> {
        otp::CallReply::Reply(t)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_named_via_global_is_found_from_erl_and_is_one_cluster_wide() {
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_gv", "gvia", port).await;
    let (_ga, a) = erl_node("erl_gv", "gvia", port).await;
    assert!(x.ping(&a).await);
    assert_eq!(
        erl_run(&x, &a, "global:sync().").await.as_atom(),
        Some("ok")
    );
    x.global().sync().await;
    let global = x.global();
    let key = name("{cache, 42}");
    let (g, k) = (global.clone(), key.clone());
    let (first, second, answer) = x
        .in_process(move |mut ctx| async move {
            ctx.trap_exit(true);
            let first = otp::gen_server::start_link(&mut ctx, Echo, (), Some(g.via(k.clone())))
                .await
                .expect("started")
                .expect("a pid");
            let second =
                otp::gen_server::start_link(&mut ctx, Echo, (), Some(g.via(k.clone()))).await;
            let answer: Term = otp::gen_server::call(
                &mut ctx,
                otp::ServerRef::via(g.clone(), k.clone()),
                Term::atom("hi"),
                Duration::from_secs(5),
            )
            .await;
            (first, second.err(), answer)
        })
        .await
        .unwrap();
    assert_eq!(answer, Term::atom("hi"));
    let taken = ExitReason::Other(Term::Tuple(vec![
        Term::atom("already_started"),
        Term::Pid(first.clone()),
    ]));
    assert_eq!(second, Some(taken));
    assert_eq!(whereis_on(&x, &a, &key).await, Term::Pid(first.clone()));
    // erl's `{global, Name}` sends reach it.
    let sent = erl_run(&x, &a, "global:send({cache, 42}, hello).").await;
    assert_eq!(sent, Term::Pid(first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_leaves_and_rejoins_gets_the_names_back_in_sync() {
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_gr", "grejoin", port).await;
    let (_ga, a) = erl_node("erl_gr", "grejoin", port).await;
    assert!(x.ping(&a).await);
    assert_eq!(
        erl_run(&x, &a, "global:sync().").await.as_atom(),
        Some("ok")
    );
    x.global().sync().await;
    let ours = sleeper(&x);
    assert!(
        x.global()
            .register_name(Term::atom("rotp_side"), &ours)
            .await
    );
    let theirs = erl_run(
        &x,
        &a,
        "P = spawn(timer, sleep, [infinity]), yes = global:register_name(erl_side, P), P.",
    )
    .await;
    let Term::Pid(theirs) = theirs else {
        panic!("{theirs:?}")
    };
    assert_eq!(
        x.global().whereis_name(&Term::atom("erl_side")),
        Some(theirs.clone())
    );
    // The connection goes: each side forgets the other's names and keeps its own.
    assert!(x.disconnect(&a));
    assert!(
        eventually(Duration::from_secs(10), || x
            .global()
            .whereis_name(&Term::atom("erl_side"))
            .is_none())
        .await
    );
    assert_eq!(
        x.global().whereis_name(&Term::atom("rotp_side")),
        Some(ours.clone())
    );
    // While apart, each side registers one more name.
    let later = sleeper(&x);
    assert!(
        x.global()
            .register_name(Term::atom("rotp_later"), &later)
            .await
    );
    // erl is driven through a hidden helper of its own, so that no visible connection is
    // made behind global's back.
    let script = format!(
        "A = '{a}', true = net_kernel:connect_node(A), \
         erpc:call(A, fun() -> P = spawn(timer, sleep, [infinity]), yes = global:register_name(erl_later, P) end), \
         io:format(\"~p~n\", [erpc:call(A, global, whereis_name, [rotp_side])]), halt()."
    );
    let out = erl_eval_args("erl_gr_helper", "grejoin", port, &script, &["-hidden"]).await;
    assert_eq!(out.trim(), "undefined", "{out}");
    // They meet again: all four names on both sides.
    assert!(x.ping(&a).await);
    x.global().sync().await;
    for key in ["rotp_side", "rotp_later", "erl_side", "erl_later"] {
        let k = Term::atom(key);
        assert!(
            eventually(Duration::from_secs(20), || x
                .global()
                .whereis_name(&k)
                .is_some())
            .await,
            "rotp sees {key}"
        );
        let seen = until_on(&x, &a, &k, |t| matches!(t, Term::Pid(_))).await;
        assert!(matches!(seen, Term::Pid(_)), "erl sees {key}: {seen:?}");
        assert_eq!(seen, Term::Pid(x.global().whereis_name(&k).unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonsense_sent_to_global_name_server_leaves_it_serving() {
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_gz", "gjunk", port).await;
    let server = x
        .runtime()
        .whereis(&etf::Atom::from("global_name_server"))
        .unwrap();
    let target = x.name().to_string();
    // Messages, casts and calls of every shape global's protocol has, with wrong contents.
    let out = erl_eval(
        "erl_gz",
        "gjunk",
        port,
        &format!(
            "N = '{target}', S = {{global_name_server, N}}, pong = net_adm:ping(N), \
             Junk = [{{}}, {{nodeup}}, {{nodedown, 1, 2}}, {{whereis, a, b}}, {{lost_connection, a, b, c, d}}, \
                     {{lost_connection, N, 1, 2, N}}, {{remove_connection, 7}}, {{cancel_connect, N, x}}, \
                     {{init_connect_ack, N, 1, 2}}, {{prepare_shutdown, 1, 2}}, {{'$gen_call', x, y}}, \
                     {{'$gen_call', {{self(), t}}, {{}}}}, {{'$gen_call', {{self(), t}}, {{set_lock, 1}}}}, \
                     {{'$gen_call', {{self(), t}}, {{del_lock, {{}}}}}}, {{'$gen_call', {{self(), t}}, {{sync, x}}}}, \
                     {{'$gen_call', {{self(), t}}, {{register, n, self(), m}}}}, {{'$gen_call', {{self(), t}}, {{register, n, x, m}}}}], \
             Casts = [{{}}, {{init_connect, 1, N, x}}, {{init_connect, {{9, t}}, N, {{locker, a, b, c}}}}, \
                      {{init_connect, {{8, 1}}, 'other@h', {{locker, a, b, self()}}}}, {{exchange, N, x, y, z}}, \
                      {{resolved, N, x, y, z, w, v}}, {{new_nodes, N, [x], y, [{{a, b}}, 1], z}}, \
                      {{new_nodes, N, [{{insert, {{k, self(), m}}}}, {{delete, q}}], [], [], [{{lock, x}}]}}, \
                      {{in_sync, N, x}}, {{lock_set, self(), true, [], 1}}, {{lock_set, self(), true, []}}, \
                      {{async_del_name, a, b}}, {{exchange_ops, a, b, c, d}}], \
             [S ! J || J <- Junk], [gen_server:cast(S, C) || C <- Casts], \
             timer:sleep(500), \
             io:format(\"~p~n\", [rpc:call(N, global, whereis_name, [k])]), \
             io:format(\"~p~n\", [gen_server:call(S, get_protocol_version)]), halt()."
        ),
    )
    .await;
    // (The forged `lost_connection` naming us as both ends makes erl drop its connection to
    // us, as it would for an erl node; its next call connects again.)
    assert_eq!(out.lines().last(), Some("8"), "{out}");
    assert_eq!(
        x.runtime().whereis(&etf::Atom::from("global_name_server")),
        Some(server)
    );
    assert!(!x.is_down());
    // And it still registers names.
    let pid = sleeper(&x);
    assert!(
        x.global()
            .register_name(Term::atom("after_junk"), &pid)
            .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_resolvers_run_on_rotp_as_otp_runs_them() {
    let (_epmd, port) = epmd();
    // rotp_gq < zerl_gq: rotp resolves, running its own holders' resolve functions.
    let x = rotp_node("rotp_gq", "gnotify", port).await;
    let (_ga, a) = erl_node("zerl_gq", "gnotify", port).await;
    // A collector on rotp gets what the erl processes are sent.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let collector = x.runtime().spawn(move |mut ctx| async move {
        loop {
            if let Some(t) = ctx.recv().await.as_term() {
                let _ = tx.send(t.clone());
            }
        }
    });
    x.runtime()
        .register(etf::Atom::from("collector"), &collector)
        .unwrap();
    let (tx2, mut local) = tokio::sync::mpsc::unbounded_channel();
    let mut ours = Vec::new();
    for key in ["notify_all", "notify_one"] {
        let tx2 = tx2.clone();
        let pid = x.runtime().spawn(move |mut ctx| async move {
            loop {
                if let Some(t) = ctx.recv().await.as_term() {
                    let _ = tx2.send((key, t.clone()));
                }
            }
        });
        ours.push(pid);
    }
    use node::global::Resolve;
    assert!(
        x.global()
            .register_name_with(Term::atom("notify_all"), &ours[0], Resolve::NotifyAll)
            .await
    );
    assert!(
        x.global()
            .register_name_with(Term::atom("notify_one"), &ours[1], Resolve::RandomNotify)
            .await
    );
    // erl, not yet connected to rotp, registers the same names: its processes forward what
    // they get to the collector (their messages to rotp connect the partitions only then).
    let me = x.name().to_string();
    let script = format!(
        "F = fun(K) -> spawn(fun() -> receive M -> {{collector, '{me}'}} ! {{K, M}} end end) end, \
         A = F(notify_all), B = F(notify_one), \
         yes = global:register_name(notify_all, A, fun global:notify_all_name/3), \
         yes = global:register_name(notify_one, B, fun global:random_notify_name/3), {{A, B}}."
    );
    // Driven through a hidden helper of its own, so that no visible connection joins the
    // partitions before the names are in.
    let helper = format!(
        "A = '{a}', true = net_kernel:connect_node(A), \
         {{ok, T, _}} = erl_scan:string(\"{}\"), {{ok, E}} = erl_parse:parse_exprs(T), \
         {{value, V, _}} = erpc:call(A, erl_eval, exprs, [E, []]), io:format(\"~p~n\", [V]), halt().",
        script.replace('"', "\\\"")
    );
    let out = erl_eval_args("erl_gq_helper", "gnotify", port, &helper, &["-hidden"]).await;
    assert!(out.trim().starts_with("{<"), "{out}");
    assert!(x.ping(&a).await);
    // notify_all_name: both holders hear of the other, and the name is gone everywhere.
    // random_notify_name: the holder on the greater node (zerl_gq) is told and loses it.
    let mut erl_heard = Vec::new();
    for _ in 0..2 {
        let t = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("erl's holders are told")
            .unwrap();
        erl_heard.push(etf::text::write(&t));
    }
    erl_heard.sort();
    assert!(
        erl_heard[0].starts_with("{notify_all,{global_name_conflict,notify_all,<"),
        "{erl_heard:?}"
    );
    assert_eq!(
        erl_heard[1],
        "{notify_one,{global_name_conflict,notify_one}}"
    );
    let (key, t) = tokio::time::timeout(Duration::from_secs(20), local.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key, "notify_all");
    assert!(
        etf::text::write(&t).starts_with("{global_name_conflict,notify_all,<"),
        "{t:?}"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), local.recv())
            .await
            .is_err(),
        "notify_one's winner is not told"
    );
    let seen = until_on(&x, &a, &Term::atom("notify_one"), |t| {
        *t == Term::Pid(ours[1].clone())
    })
    .await;
    assert_eq!(seen, Term::Pid(ours[1].clone()));
    let gone = until_on(&x, &a, &Term::atom("notify_all"), |t| {
        t.as_atom() == Some("undefined")
    })
    .await;
    assert_eq!(gone.as_atom(), Some("undefined"));
    assert_eq!(x.global().whereis_name(&Term::atom("notify_all")), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_passed_on_to_prevent_overlapping_partitions() {
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_gp", "gpart", port).await;
    let (_ga, a) = erl_node("erl_gpa", "gpart", port).await;
    let (_gb, b) = erl_node("erl_gpb", "gpart", port).await;
    let (_gc, c) = erl_node("erl_gpc", "gpart", port).await;
    assert!(x.ping(&a).await && x.ping(&b).await && x.ping(&c).await);
    for n in [&a, &b, &c] {
        assert_eq!(erl_run(&x, n, "global:sync().").await.as_atom(), Some("ok"));
    }
    x.global().sync().await;
    let sees = |x: node::Node, n: etf::Atom| async move {
        match erl_run(&x, &n, "lists:sort(nodes()).").await {
            Term::List(v) => v
                .iter()
                .filter_map(|t| t.as_atom().map(str::to_owned))
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        }
    };
    // global meshes them: everybody sees everybody.
    let mut meshed = false;
    for _ in 0..100 {
        let mut all = true;
        for n in [&a, &b, &c] {
            all &= sees(x.clone(), n.clone()).await.len() == 3;
        }
        if all {
            meshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(meshed, "a full mesh");
    // rotp drops b: it tells a and c, which drop b too, so that no partition overlaps another.
    assert!(x.disconnect(&b));
    let mut apart = false;
    for _ in 0..100 {
        let (sa, sc) = (
            sees(x.clone(), a.clone()).await,
            sees(x.clone(), c.clone()).await,
        );
        if !sa.contains(&b.to_string()) && !sc.contains(&b.to_string()) {
            apart = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(apart, "a and c dropped b");
    // erl's news reach rotp the same way: a drops c, and rotp drops c.
    assert_eq!(
        erl_run(&x, &a, &format!("erlang:disconnect_node('{c}')."))
            .await
            .as_atom(),
        Some("true")
    );
    assert!(
        eventually(Duration::from_secs(10), || !x.nodes(false).contains(&c)).await,
        "rotp dropped c: {:?}",
        x.nodes(false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_child_named_via_global_keeps_its_name_across_restarts() {
    use otp::supervisor::{self, ChildSpec, Flags, Strategy};
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_gs", "gsup", port).await;
    let (_ga, a) = erl_node("erl_gs", "gsup", port).await;
    assert!(x.ping(&a).await);
    assert_eq!(
        erl_run(&x, &a, "global:sync().").await.as_atom(),
        Some("ok")
    );
    x.global().sync().await;
    let global = x.global();
    let key = name("{cache, media_1}");
    let (g, k) = (global.clone(), key.clone());
    let child = ChildSpec::worker("cache", move |ctx, _| {
        let name = g.via(k.clone());
        Box::pin(async move { otp::gen_server::start_link(ctx, Echo, (), Some(name)).await })
    });
    let flags = Flags {
        strategy: Strategy::OneForOne,
        max_restarts: 3,
        max_seconds: Duration::from_secs(5),
    };
    let sup_name = global.via(Term::atom("cache_sup"));
    x.runtime().spawn(move |mut ctx| async move {
        let _ = supervisor::start_link(&mut ctx, flags, vec![child], Some(sup_name)).await;
        loop {
            let _ = ctx.recv().await;
        }
    });
    assert!(
        eventually(Duration::from_secs(10), || global
            .whereis_name(&key)
            .is_some())
        .await
    );
    let first = global.whereis_name(&key).unwrap();
    assert!(global.whereis_name(&Term::atom("cache_sup")).is_some());
    // erl kills it; the supervisor's restart takes the name again, and erl sees the new pid.
    let killed = erl_run(&x, &a, "exit(global:whereis_name({cache, media_1}), kill).").await;
    assert_eq!(killed.as_atom(), Some("true"));
    assert!(
        eventually(Duration::from_secs(10), || global
            .whereis_name(&key)
            .is_some_and(|p| p != first))
        .await,
        "restarted under the same name"
    );
    let second = global.whereis_name(&key).unwrap();
    let seen = until_on(&x, &a, &key, |t| *t == Term::Pid(second.clone())).await;
    assert_eq!(seen, Term::Pid(second));
    // Registered by rpc, as erl asks another node to (`rpc:call(N, global, register_name, ...)`).
    let by_rpc = erl_run(
        &x,
        &a,
        &format!(
            "rpc:call('{}', global, register_name, [by_rpc, spawn(timer, sleep, [infinity])]).",
            x.name()
        ),
    )
    .await;
    assert_eq!(by_rpc.as_atom(), Some("yes"));
    assert!(global
        .whereis_name(&Term::atom("by_rpc"))
        .is_some_and(|p| p.node == a));
}
