//! What BEAM's tools read from a rotp node, asked from a real erl node: observer's
//! `observer_backend:sys_info/0` and the `erlang:statistics/1` items it is made of.

mod support;

use etf::Term;
use support::global::erl_node;
use support::*;

/// `Key`'s value in a proplist.
fn get<'a>(list: &'a Term, key: &str) -> Option<&'a Term> {
    let Term::List(items) = list else { return None };
    items.iter().find_map(|i| match i {
        Term::Tuple(kv) if kv.len() == 2 && kv[0].as_atom() == Some(key) => Some(&kv[1]),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_backend_sys_info_from_erl_answers_with_the_keys_observer_reads() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_intro1", "intro", port).await;
    let (_guard, a) = erl_node("erl_intro1", "intro", port).await;
    assert!(node.ping(&a).await);
    let me = node.name().to_string();
    let info = erl_run(
        &node,
        &a,
        &format!("rpc:call('{me}', observer_backend, sys_info, [])."),
    )
    .await;
    // The keys observer_sys_wx and observer_perf_wx read.
    for key in [
        "uptime",
        "run_queue",
        "io_input",
        "io_output",
        "logical_processors",
        "schedulers",
        "schedulers_online",
        "otp_release",
        "version",
        "system_architecture",
        "process_count",
        "process_limit",
        "atom_count",
        "atom_limit",
        "total",
        "processes",
    ] {
        assert!(get(&info, key).is_some(), "{key} missing in {info:?}");
    }
    assert!(matches!(get(&info, "process_count"), Some(Term::Integer(n)) if *n > 5));
    assert!(matches!(get(&info, "uptime"), Some(Term::Integer(n)) if *n >= 0));
    // The distribution traffic so far (this very call) is counted.
    assert!(
        matches!(get(&info, "io_input"), Some(Term::Integer(n)) if *n > 0),
        "{info:?}"
    );
    assert!(
        matches!(get(&info, "io_output"), Some(Term::Integer(n)) if *n > 0),
        "{info:?}"
    );
    // `erlang:statistics/1` as erl's callers match it.
    let stats = erl_run(
        &node,
        &a,
        &format!(
            "N = '{me}', {{T, _}} = rpc:call(N, erlang, statistics, [wall_clock]), \
             {{{{input, I}}, {{output, O}}}} = rpc:call(N, erlang, statistics, [io]), \
             {{R, _}} = rpc:call(N, erlang, statistics, [reductions]), \
             Q = rpc:call(N, erlang, statistics, [run_queue]), \
             is_integer(T) andalso I > 0 andalso O > 0 andalso R >= 0 andalso is_integer(Q)."
        ),
    )
    .await;
    assert_eq!(stats.as_atom(), Some("true"), "{stats:?}");
    // stdlib's supervisor:which_children/1 and count_children/1 on a rotp supervisor.
    let children = erl_run(
        &node,
        &a,
        &format!(
            "Cs = supervisor:which_children({{kernel_sup, '{me}'}}), \
             [{{workers, W}}] = [P || {{workers, _}} = P <- supervisor:count_children({{kernel_sup, '{me}'}})], \
             {{lists:keymember(rex, 1, Cs), [T || {{net_sup, _, T, _}} <- Cs], W > 0}}."
        ),
    )
    .await;
    assert_eq!(
        etf::text::write(&children),
        "{true,[supervisor],true}",
        "{children:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_backend_collectors_spawned_from_erl_report_the_nodes_processes() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_intro2", "intro", port).await;
    let (_guard, a) = erl_node("erl_intro2", "intro", port).await;
    assert!(node.ping(&a).await);
    let probe = node.runtime().spawn(|mut ctx| async move {
        loop {
            ctx.recv().await;
        }
    });
    node.runtime()
        .register(etf::Atom::from("intro_probe"), &probe)
        .expect("the name is free");
    let me = node.name().to_string();
    // What etop's and observer's collectors do, in their words.
    let checks = erl_run(
        &node,
        &a,
        &format!(
            "N = '{me}', Me = self(), \
             {{ok, Vsn}} = rpc:call(N, observer_backend, vsn, []), \
             [] = rpc:call(N, observer_backend, get_port_list, []), \
             E = spawn_link(N, observer_backend, etop_collect, [Me]), \
             {{etop_info, {{_, _, _}}, NProcs, _, Runtime, RunQueue, _, Memi, Procs}} = \
               receive {{E, I}} -> I after 10000 -> etop_timeout end, \
             Names = [Name || {{etop_proc_info, P, Mem, Reds, Name, _, _, Q}} <- Procs, \
                              is_pid(P), is_integer(Mem), is_integer(Reds), is_integer(Q)], \
             true = NProcs =:= length(Procs) andalso length(Names) =:= NProcs, \
             {{value, {{total, Total}}}} = lists:keysearch(total, 1, Memi), \
             P = spawn(N, observer_backend, procs_info, [Me]), \
             Chunk = receive {{procs_info, P, L}} -> L after 10000 -> procs_timeout end, \
             S = spawn(N, observer_backend, fetch_stats, [Me, 50]), \
             Ref = monitor(process, S), \
             {{Swt, {{{{input, In}}, {{output, Out}}}}, Mem2}} = \
               receive {{stats, 1, W, IO, M}} -> {{W, IO, M}} after 10000 -> stats_timeout end, \
             S ! stop, \
             Stopped = receive {{'DOWN', Ref, process, S, normal}} -> stopped \
                       after 10000 -> still_running end, \
             {{is_list(Vsn), lists:member(intro_probe, Names), Total > 0, is_integer(RunQueue), \
               is_list(Runtime) andalso Runtime =/= [], length(Chunk) =:= NProcs, \
               [ok || {{Id, A, T}} <- Swt, is_integer(Id), A >= 0, T >= A] =/= [], \
               In > 0 andalso Out > 0, lists:keymember(total, 1, Mem2), Stopped}}."
        ),
    )
    .await;
    let t = Term::atom("true");
    let expected = Term::Tuple(vec![
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t.clone(),
        t,
        Term::atom("stopped"),
    ]);
    assert_eq!(checks, expected, "{}", etf::text::write(&checks));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etop_in_text_mode_against_a_rotp_node_prints_its_processes() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_intro3", "intro", port).await;
    let probe = node.runtime().spawn(|mut ctx| async move {
        loop {
            ctx.recv().await;
        }
    });
    node.runtime()
        .register(etf::Atom::from("etop_probe"), &probe)
        .expect("the name is free");
    let me = node.name().to_string();
    // OTP's own etop, as `erl -s etop -node N -output text -tracing off` runs it, for two
    // refreshes (its default, tracing on, has the target run dbg's trace port: not on rotp).
    let eval = format!(
        "spawn(fun() -> etop:start([{{node, '{me}'}}, {{output, text}}, {{interval, 1}}, \
         {{lines, 100}}, {{sort, memory}}, {{tracing, off}}]) end), timer:sleep(2500), halt()."
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .args([
                "60",
                "erl",
                "-sname",
                "erl_intro3",
                "-setcookie",
                "intro",
                "-noshell",
            ])
            .args(["-eval", &eval])
            .env("ERL_EPMD_PORT", port.to_string())
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .expect("erl's waiter")
    .expect("erl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&me) && text.contains("etop_probe") && text.contains("net_kernel"),
        "etop printed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Its header: the node's process count and memory, as etop_txt writes them.
    assert!(
        text.contains("procs") && text.contains("processes"),
        "{text}"
    );
}
