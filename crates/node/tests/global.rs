//! `global` in mixed clusters of real erl nodes and rotp nodes: names registered on either
//! side are seen on every node, locks exclude each other across nodes, names go with their
//! process or node, servers and supervised children are named `{via, global, Name}`, hidden
//! nodes stay out, and nonsense leaves the server serving. Partitions meeting and parting
//! are in `global_partitions.rs`.

mod support;

use std::time::Duration;

use etf::Term;
use runtime::ExitReason;
use support::global::*;
use support::*;

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
    // Every node sees every name (the registration is made on every node the registering one
    // knows; a node global is still meeting gets it when they sync).
    for n in &all {
        for (key, pid) in &holders {
            let want = Term::Pid(pid.clone());
            let seen = until_on(&x, n, key, |t| *t == want).await;
            assert_eq!(seen, want, "{n} sees {key:?}");
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
async fn a_trans_holding_a_lock_blocks_another_nodes_trans_on_it() {
    use rotp_node::global::{LockId, Retries};
    let pair = synced_pair("rotp_gl", "erl_gl", "glock").await;
    let (x, a) = (pair.x.clone(), pair.a.clone());
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
    let pair = synced_pair("rotp_gv", "erl_gv", "gvia").await;
    let (x, a) = (pair.x.clone(), pair.a.clone());
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
    assert_eq!(sent, Term::Pid(first.clone()));
    // re_register_name moves the name to another process, on every node.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let other = x.runtime().spawn(move |mut ctx| async move {
        loop {
            if let Some(t) = ctx.recv().await.as_term() {
                let _ = tx.send(t.clone());
            }
        }
    });
    global.re_register_name(key.clone(), &other).await;
    assert_eq!(whereis_on(&x, &a, &key).await, Term::Pid(other.clone()));
    // Global::send reaches the holder, and says who it was; a name nobody has is an error.
    let g = global.clone();
    let k = key.clone();
    let to = x
        .in_process(move |ctx| async move {
            (
                g.send(&ctx, &k, Term::atom("via_rust")),
                g.send(&ctx, &Term::atom("nobody"), Term::atom("lost")),
            )
        })
        .await
        .unwrap();
    assert_eq!(to.0, Ok(other));
    assert_eq!(
        to.1,
        Err(rotp_node::global::NotRegistered(Term::atom("nobody")))
    );
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Term::atom("via_rust"));
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
async fn a_supervised_child_named_via_global_keeps_its_name_across_restarts() {
    use otp::supervisor::{self, ChildSpec, Flags, Strategy};
    let pair = synced_pair("rotp_gs", "erl_gs", "gsup").await;
    let (x, a) = (pair.x.clone(), pair.a.clone());
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
