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
}
