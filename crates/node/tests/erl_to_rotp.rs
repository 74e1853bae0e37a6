//! A real `erl` node talking to a rotp node: ping, messages to names and pids, rpc and erpc
//! into Rust functions and the built-ins, a wrong cookie refused.

mod support;

use std::sync::Arc;

use etf::Term;
use rotp_node::Exception;
use runtime::{ExitReason, Message};
use support::*;

/// An `echo` process on the rotp node: `{From, Msg}` gets `{echo, Msg}` back.
fn start_echo(node: &rotp_node::Node) {
    let pid = node.runtime().spawn(|mut ctx| async move {
        loop {
            let m = ctx.recv().await;
            if let Some(Term::Tuple(v)) = m.as_term() {
                if let [Term::Pid(from), msg] = v.as_slice() {
                    let reply = Term::Tuple(vec![Term::atom("echo"), msg.clone()]);
                    ctx.send(from, Message::Term(reply));
                }
            }
        }
        #[allow(unreachable_code)]
        ExitReason::Normal
    });
    node.runtime()
        .register(etf::Atom::from("echo"), &pid)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_pings_sends_and_calls_into_a_rotp_node() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_e2r", "sesame", port).await;
    start_echo(&node);
    node.register_function(
        "rotp_math",
        "add",
        2,
        Arc::new(|_node, args| {
            Box::pin(async move {
                match args.as_slice() {
                    [Term::Integer(a), Term::Integer(b)] => Ok(Term::Integer(a + b)),
                    _ => Err(Exception::Error(Term::atom("badarg"))),
                }
            })
        }),
    );
    let target = node.name().to_string();
    let eval = format!(
        "N = '{target}', \
         io:format(\"~p~n\", [net_adm:ping(N)]), \
         {{echo, N}} ! {{self(), hello}}, \
         io:format(\"~p~n\", [receive R -> R after 5000 -> timeout end]), \
         io:format(\"~p~n\", [rpc:call(N, erlang, node, [])]), \
         io:format(\"~p~n\", [rpc:call(N, rotp_math, add, [2, 40])]), \
         io:format(\"~p~n\", [erpc:call(N, rotp_math, add, [1, 2])]), \
         io:format(\"~p~n\", [rpc:call(N, nosuch, fn, [1])]), \
         io:format(\"~p~n\", [lists:member(N, nodes())]), \
         halt()."
    );
    let out = erl_eval("erl_e2r", "sesame", port, &eval).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "pong",
            "{echo,hello}",
            &target,
            "42",
            "3",
            "{badrpc,{'EXIT',{undef,[{nosuch,fn,[1],[]}]}}}",
            "true",
        ],
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cookie_gets_pang_and_nothing_else_is_disturbed() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_cookie", "right", port).await;
    let target = node.name().to_string();
    let out = erl_eval(
        "erl_cookie",
        "wrong",
        port,
        &format!("io:format(\"~p~n\", [net_adm:ping('{target}')]), halt()."),
    )
    .await;
    assert_eq!(out.trim(), "pang");
    assert!(node.nodes(true).is_empty());
    // The node still works for whoever knows the cookie.
    let out = erl_eval(
        "erl_cookie2",
        "right",
        port,
        &format!("io:format(\"~p~n\", [net_adm:ping('{target}')]), halt()."),
    )
    .await;
    assert_eq!(out.trim(), "pong");
}

/// erl links to and monitors rotp processes (by pid and by registered name): their exits reach
/// erl with their reasons, and an erl process's `exit/2` reaches a rotp one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_links_monitors_and_exits_rotp_processes() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_lm", "sesame", port).await;
    // `doomed`, `doomed2` and `named` end with the reason they are sent; `target` is only
    // killed.
    for name in ["doomed", "doomed2", "named", "target"] {
        let pid = node.runtime().spawn(|mut ctx| async move {
            let m = ctx.recv().await;
            ExitReason::from_term(m.as_term().unwrap_or(&Term::atom("normal")))
        });
        node.runtime()
            .register(etf::Atom::from(name), &pid)
            .unwrap();
    }
    let target = node.name().to_string();
    let eval = format!(
        "N = '{target}', process_flag(trap_exit, true), \
         D = rpc:call(N, erlang, whereis, [doomed]), \
         D2 = rpc:call(N, erlang, whereis, [doomed2]), \
         T = rpc:call(N, erlang, whereis, [target]), \
         link(D), M = monitor(process, D2), Mt = monitor(process, T), \
         Mn = monitor(process, {{named, N}}), Mx = monitor(process, {{nobody, N}}), \
         D ! boom, D2 ! bang, exit(T, kill), {{named, N}} ! byname, \
         io:format(\"~p~n\", [receive {{'EXIT', D, R1}} -> R1 after 5000 -> timeout end]), \
         io:format(\"~p~n\", [receive {{'DOWN', M, process, D2, R2}} -> R2 after 5000 -> timeout end]), \
         io:format(\"~p~n\", [receive {{'DOWN', Mt, process, T, R3}} -> R3 after 5000 -> timeout end]), \
         io:format(\"~p~n\", [receive {{'DOWN', Mn, process, {{named, N}}, R4}} -> R4 after 5000 -> timeout end]), \
         io:format(\"~p~n\", [receive {{'DOWN', Mx, process, {{nobody, N}}, R5}} -> R5 after 5000 -> timeout end]), \
         halt()."
    );
    let out = erl_eval("erl_lm", "sesame", port, &eval).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["boom", "bang", "killed", "byname", "noproc"],
        "{out}"
    );
}

/// erl sends to a rotp pid it learned, large binaries both ways, and a hidden erl node
/// (`erl -hidden`) stays out of the rotp node's `nodes()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erl_sends_to_pids_large_messages_and_connects_hidden() {
    let (_epmd, port) = epmd();
    let node = rotp_node("rotp_big", "sesame", port).await;
    start_echo(&node);
    let target = node.name().to_string();
    let eval = format!(
        "N = '{target}', E = rpc:call(N, erlang, whereis, [echo]), \
         E ! {{self(), to_pid}}, \
         io:format(\"~p~n\", [receive R -> R after 5000 -> timeout end]), \
         [begin B = binary:copy(<<7>>, S), E ! {{self(), B}}, \
                io:format(\"~p~n\", [receive {{echo, B}} -> S after 60000 -> timeout end]) end \
          || S <- [1 bsl 20, 100 bsl 20]], \
         io:format(\"~p~n\", [nodes(hidden)]), \
         halt()."
    );
    let out = erl_eval_args("erl_big", "sesame", port, &eval, &["-hidden"]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "{echo,to_pid}",
            "1048576",
            "104857600",
            &format!("[{target}]")
        ],
        "{out}"
    );
}
