//! `global` when partitions meet and part, with real erl nodes: clashes over a name resolved
//! as OTP resolves them (by OTP's resolvers on erl and rotp's own), a node that leaves and
//! comes back gets the names again, and a lost connection is passed on so that partitions do
//! not overlap ("prevent overlapping partitions", OTP 25's default).

mod support;

use std::time::Duration;

use etf::Term;
use runtime::ExitReason;
use support::global::*;
use support::*;

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
    let register_on_erl = |via: rotp_node::Node, on: etf::Atom, n: &'static str| async move {
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
    // (b meets a through global's sync, a moment after x and y have met everyone.)
    let mut nodes = Term::NIL;
    for _ in 0..100 {
        nodes = erl_run(&x, &b, "lists:sort(nodes()).").await;
        if matches!(&nodes, Term::List(v) if v.len() == 3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(matches!(&nodes, Term::List(v) if v.len() == 3), "{nodes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_leaves_and_rejoins_gets_the_names_back_in_sync() {
    let pair = synced_pair("rotp_gr", "erl_gr", "grejoin").await;
    let (x, a, port) = (pair.x.clone(), pair.a.clone(), pair.port);
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
    use rotp_node::global::Resolve;
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
    sync_all(&x, &[a.clone(), b.clone(), c.clone()]).await;
    let xn = x.name().clone();
    // Waits (bounded) until what every node sees (asked by erpc through a hidden node, which
    // global ignores) makes fully connected partitions with `p` and `q` in different ones, or
    // in the same one when `together`: `ok`, or what the nodes saw last.
    let partitions = |p: &etf::Atom, q: &etf::Atom, together: bool| {
        let script = format!(
            "Ns = ['{a}', '{b}', '{c}', '{x}'], [true = net_kernel:connect_node(N) || N <- Ns], \
             See = fun() -> [{{N, lists:sort(erpc:call(N, erlang, nodes, []))}} || N <- Ns] end, \
             Same = fun(S, N, M) -> {{N, A}} = lists:keyfind(N, 1, S), {{M, B}} = lists:keyfind(M, 1, S), \
                 lists:sort([N | A]) =:= lists:sort([M | B]) end, \
             Cliques = fun(S) -> lists:all(fun({{N, A}}) -> lists:all(fun(M) -> Same(S, N, M) end, A) end, S) end, \
             Ok = fun(S) -> {{_, P}} = lists:keyfind('{p}', 1, S), \
                 Cliques(S) andalso (lists:member('{q}', P) =:= {together}) end, \
             W = fun W(0) -> See(); W(K) -> S = See(), case Ok(S) of true -> ok; \
                 false -> timer:sleep(100), W(K - 1) end end, \
             io:format(\"~p~n\", [W(100)]), halt().",
            x = x.name()
        );
        async move { erl_eval_args("erl_gp_eye", "gpart", port, &script, &["-hidden"]).await }
    };
    assert_eq!(partitions(&xn, &b, true).await.trim(), "ok", "a full mesh");
    // rotp drops b. It tells a and c, which drop b; b tells them it lost rotp, and they drop
    // rotp too (asking it to drop its side): OTP takes down both ends of a lost connection,
    // and which news comes first decides what is left. Whatever it is, no partition overlaps
    // another, and rotp and b are apart.
    assert!(x.disconnect(&b));
    assert_eq!(
        partitions(&xn, &b, false).await.trim(),
        "ok",
        "rotp and b apart, no overlap"
    );
    // The other way round: all four meet again; a drops c, and the news takes rotp away from
    // one of them.
    for n in [&a, &b, &c] {
        assert!(x.ping(n).await);
    }
    sync_all(&x, &[a.clone(), b.clone(), c.clone()]).await;
    assert_eq!(
        partitions(&xn, &b, true).await.trim(),
        "ok",
        "a full mesh again"
    );
    let script = format!("true = erpc:call('{a}', erlang, disconnect_node, ['{c}']), halt().");
    let _ = erl_eval_args("erl_gp_hand", "gpart", port, &script, &["-hidden"]).await;
    assert_eq!(
        partitions(&a, &c, false).await.trim(),
        "ok",
        "a and c apart, no overlap"
    );
    assert!(
        !(x.nodes(false).contains(&a) && x.nodes(false).contains(&c)),
        "rotp is not with both a and c: {:?}",
        x.nodes(false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotp_tells_the_others_when_it_loses_a_node() {
    let (_epmd, port) = epmd();
    let x = rotp_node("rotp_gt", "gtell", port).await;
    let (_ga, a) = erl_node("erl_gta", "gtell", port).await;
    // b does not tell anyone what it loses: only rotp's news can make a drop it.
    let b_guard = Guard(
        std::process::Command::new("erl")
            .args(["-sname", "erl_gtb", "-setcookie", "gtell", "-noshell"])
            .args(["-kernel", "prevent_overlapping_partitions", "false"])
            .args(["-eval", "timer:sleep(infinity)."])
            .env("ERL_EPMD_PORT", port.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("erl"),
    );
    wait_registered(port, "erl_gtb").await;
    let b = node_name("erl_gtb");
    assert!(x.ping(&a).await && x.ping(&b).await);
    sync_all(&x, &[a.clone(), b.clone()]).await;
    let sees = |n: etf::Atom| {
        let script = format!("io:format(\"~p~n\", [erpc:call('{n}', erlang, nodes, [])]), halt().");
        async move { erl_eval_args("erl_gt_eye", "gtell", port, &script, &["-hidden"]).await }
    };
    // A full mesh first (global connects a and b on its own).
    let mut meshed = false;
    for _ in 0..100 {
        let (sa, sb) = (sees(a.clone()).await, sees(b.clone()).await);
        if x.nodes(false).len() == 2 && sa.matches('@').count() == 2 && sb.matches('@').count() == 2
        {
            meshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(meshed, "a full mesh");
    assert!(x.disconnect(&b));
    let mut last = String::new();
    for _ in 0..100 {
        last = sees(a.clone()).await;
        if last.trim() == format!("[{}]", x.name()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        last.trim(),
        format!("[{}]", x.name()),
        "a dropped b on rotp's news, and kept rotp"
    );
    assert_eq!(x.nodes(false), std::slice::from_ref(&a));
    drop(b_guard);
}
