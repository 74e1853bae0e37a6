//! The data-only half of runtime_tools' `observer_backend` (OTP 25's
//! `lib/runtime_tools/src/observer_backend.erl`), answered with the node's own figures, so
//! that Erlang's `observer` (System, Load charts and Processes tabs) and `etop` look into a rotp
//! node as into a BEAM one: `vsn/0`, `sys_info/0` and `get_port_list/0` by rpc, and the three
//! that run as processes spawned on the node (`etop_collect/1`, `procs_info/1`,
//! `fetch_stats/2`, reached through `SPAWN_REQUEST`), which send their collector what
//! observer's and etop's records hold.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etf::{Pid, Term};
use runtime::{Context, ExitReason, Message};

use crate::functions::{memory, mfa, pair, statistics, system_info, CallResult};
use crate::Node;

/// The runtime_tools version this answers as (OTP 25.2's).
const RUNTIME_TOOLS_VSN: &str = "1.19";

/// How many processes `procs_info/1` sends in one message, as observer_backend splits them.
const PROCS_CHUNK: usize = 10_000;

/// The rpc-callable functions, `None` for any other.
pub(crate) fn builtin(node: &Node, function: &str, args: &[Term]) -> Option<CallResult> {
    Some(Ok(match (function, args) {
        // application:get_key(runtime_tools, vsn).
        ("vsn", []) => Term::Tuple(vec![Term::atom("ok"), string(RUNTIME_TOOLS_VSN)]),
        ("sys_info", []) => sys_info(node),
        // rotp has no ports: observer's Ports tab is empty.
        ("get_port_list", []) => Term::NIL,
        _ => return None,
    }))
}

/// Runs one of the spawned functions in `ctx`'s process; `None` if `function/args` is none of
/// them (the caller then applies it as an rpc-callable function).
pub(crate) async fn spawned(
    node: &Node,
    ctx: &mut Context,
    function: &str,
    args: &[Term],
) -> Option<ExitReason> {
    match (function, args) {
        ("etop_collect", [Term::Pid(collector)]) => {
            let info = etop_info(node, ctx.pid());
            ctx.send(
                collector,
                Message::Term(Term::Tuple(vec![Term::Pid(ctx.pid().clone()), info])),
            );
        }
        ("procs_info", [Term::Pid(collector)]) => {
            let procs = procs(node, ctx.pid());
            let me = Term::Pid(ctx.pid().clone());
            // At least one message, as observer_backend's split sends its last (maybe empty)
            // part.
            let mut chunks: Vec<&[Term]> = procs.chunks(PROCS_CHUNK).collect();
            if chunks.is_empty() {
                chunks.push(&[]);
            }
            for chunk in chunks {
                let m = Term::Tuple(vec![
                    Term::atom("procs_info"),
                    me.clone(),
                    Term::List(chunk.to_vec()),
                ]);
                ctx.send(collector, Message::Term(m));
            }
        }
        ("fetch_stats", [Term::Pid(parent), Term::Integer(ms)]) if *ms >= 0 => {
            fetch_stats(node, ctx, parent, Duration::from_millis(*ms as u64)).await;
        }
        _ => return None,
    }
    Some(ExitReason::Normal)
}

/// `fetch_stats/2`: every `every`, `{stats, 1, SchedulerWallTime, IO, Memory}` to `parent`,
/// until any message comes (its parent's exit included: it traps exits).
async fn fetch_stats(node: &Node, ctx: &mut Context, parent: &Pid, every: Duration) {
    ctx.trap_exit(true);
    loop {
        if ctx.receive_timeout(every, |_| true).await.is_some() {
            return;
        }
        let stats = Term::Tuple(vec![
            Term::atom("stats"),
            Term::Integer(1),
            statistics(node, "scheduler_wall_time").unwrap_or(Term::atom("undefined")),
            statistics(node, "io").unwrap_or(Term::atom("undefined")),
            memory_list(node),
        ]);
        ctx.send(parent, Message::Term(stats));
    }
}

/// `#etop_info{}` (runtime_tools' `observer_backend.hrl`): `{etop_info, Now, NProcs,
/// WallClock, Runtime, RunQueue, AllocAreas, Memi, ProcInfo}`.
fn etop_info(node: &Node, me: &Pid) -> Term {
    let procs = procs(node, me);
    let kinds = ["total", "processes", "ets", "atom", "code", "binary"];
    let all = memory(node);
    let memi = kinds
        .iter()
        .map(|k| {
            let bytes = all
                .iter()
                .find(|(kind, _)| kind == k)
                .map_or(0, |(_, b)| *b);
            pair(k, Term::Integer(bytes as i64))
        })
        .collect();
    Term::Tuple(vec![
        Term::atom("etop_info"),
        timestamp(),
        Term::Integer(procs.len() as i64),
        Term::atom("undefined"),
        statistics(node, "scheduler_wall_time").unwrap_or(Term::atom("undefined")),
        statistics(node, "run_queue").unwrap_or(Term::Integer(0)),
        Term::NIL,
        Term::List(memi),
        Term::List(procs),
    ])
}

/// `#etop_proc_info{}` for every process but `me`: `{etop_proc_info, Pid, Memory,
/// Reductions, Name, Runtime, CurrentFunction, MessageQueueLen}`, the name being the
/// registered one, else the initial call.
fn procs(node: &Node, me: &Pid) -> Vec<Term> {
    let rt = node.runtime();
    rt.processes()
        .into_iter()
        .filter(|p| p != me)
        .filter_map(|p| {
            let info = rt.process_info(&p)?;
            let call = mfa(&info.initial_call);
            let name = info
                .registered_name
                .clone()
                .map_or_else(|| call.clone(), Term::Atom);
            Some(Term::Tuple(vec![
                Term::atom("etop_proc_info"),
                Term::Pid(p),
                Term::Integer(info.memory as i64),
                Term::Integer(info.reductions as i64),
                name,
                Term::Integer(0),
                call,
                Term::Integer(info.message_queue_len as i64),
            ]))
        })
        .collect()
}

/// `erlang:timestamp/0`: `{MegaSecs, Secs, MicroSecs}`.
fn timestamp() -> Term {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    Term::Tuple(vec![
        Term::Integer(secs / 1_000_000),
        Term::Integer(secs % 1_000_000),
        Term::Integer(i64::from(now.subsec_micros())),
    ])
}

fn memory_list(node: &Node) -> Term {
    Term::List(
        memory(node)
            .into_iter()
            .map(|(kind, bytes)| pair(kind, Term::Integer(bytes as i64)))
            .collect(),
    )
}

fn string(s: &str) -> Term {
    Term::List(s.chars().map(|c| Term::Integer(c as i64)).collect())
}

/// `observer_backend:sys_info/0` (runtime_tools' `observer_backend.erl`): the keys observer's
/// System tab shows, then `erlang:memory/0`.
fn sys_info(node: &Node) -> Term {
    let info = |key: &str| system_info(node, key).unwrap_or(Term::atom("undefined"));
    let uptime = match statistics(node, "wall_clock") {
        Some(Term::Tuple(v)) => v.first().cloned().unwrap_or(Term::Integer(0)),
        _ => Term::Integer(0),
    };
    let (input, output) = node.inner().conns.io_bytes();
    let mut items = vec![
        pair("uptime", uptime),
        pair(
            "run_queue",
            statistics(node, "run_queue").unwrap_or(Term::Integer(0)),
        ),
        pair("io_input", Term::Integer(input as i64)),
        pair("io_output", Term::Integer(output as i64)),
    ];
    for key in [
        "logical_processors",
        "logical_processors_online",
        "schedulers",
        "schedulers_online",
    ] {
        items.push(pair(key, info(key)));
    }
    items.push(pair(
        "logical_processors_available",
        info("logical_processors"),
    ));
    items.push(pair("schedulers_available", info("schedulers_online")));
    for key in ["otp_release", "version"] {
        items.push(pair(key, info(key)));
    }
    items.push(pair("system_architecture", info("system_architecture")));
    items.push(pair("kernel_poll", Term::atom("true")));
    items.push(pair("smp_support", Term::atom("true")));
    items.push(pair("threads", Term::atom("true")));
    items.push(pair("thread_pool_size", Term::Integer(0)));
    items.push(pair("wordsize_internal", Term::Integer(8)));
    items.push(pair("wordsize_external", Term::Integer(8)));
    items.push(pair("alloc_info", Term::NIL));
    for key in ["process_count", "process_limit", "atom_limit", "atom_count"] {
        items.push(pair(key, info(key)));
    }
    items.push(pair("port_limit", Term::Integer(0)));
    items.push(pair("port_count", Term::Integer(0)));
    items.push(pair("ets_limit", Term::Integer(0)));
    items.push(pair("ets_count", Term::Integer(0)));
    items.push(pair("dist_buf_busy_limit", Term::Integer(1 << 20)));
    if let Term::List(memory) = memory_list(node) {
        items.extend(memory);
    }
    Term::List(items)
}
