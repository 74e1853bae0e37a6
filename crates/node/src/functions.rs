//! Functions other nodes can call with `rpc:call`, `erpc:call` and `erl_call`: Rust functions
//! registered under `Module:Function/Arity`, and the built-ins a BEAM node answers
//! (`erlang:node/0`, `nodes/0,1`, `processes/0`, `process_info/2`, `registered/0`,
//! `memory/0`, `system_info/1`, `halt/0`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use etf::{Atom, Term};
use runtime::Status;

use crate::Node;

/// How a called function failed, as Erlang's exception classes.
#[derive(Clone, Debug, PartialEq)]
pub enum Exception {
    /// `error:Reason` (a stack trace is added for the caller).
    Error(Term),
    /// `exit:Reason`.
    Exit(Term),
    /// `throw:Value`.
    Throw(Term),
}

/// What a function returns.
pub type CallResult = Result<Term, Exception>;

/// A function callable from other nodes: it gets the node and the argument list.
pub type Function =
    Arc<dyn Fn(Node, Vec<Term>) -> Pin<Box<dyn Future<Output = CallResult> + Send>> + Send + Sync>;

/// The registered functions, by module, function and arity.
#[derive(Default, Clone)]
pub(crate) struct Functions {
    table: HashMap<(Atom, Atom, usize), Function>,
}

impl Functions {
    pub(crate) fn insert(&mut self, module: &str, function: &str, arity: usize, f: Function) {
        self.table
            .insert((Atom::from(module), Atom::from(function), arity), f);
    }

    pub(crate) fn get(&self, module: &Atom, function: &Atom, arity: usize) -> Option<Function> {
        self.table
            .get(&(module.clone(), function.clone(), arity))
            .cloned()
    }
}

/// `undef`, as calling a function that does not exist raises it.
pub(crate) fn undef(module: &Atom, function: &Atom, args: &[Term]) -> Exception {
    let _ = (module, function, args);
    Exception::Error(Term::atom("undef"))
}

/// The stack trace reported with `error:Reason` for `M:F(Args)`: `[{M, F, Args, []}]`.
pub(crate) fn stack(module: &Atom, function: &Atom, args: &[Term]) -> Term {
    Term::List(vec![Term::Tuple(vec![
        Term::Atom(module.clone()),
        Term::Atom(function.clone()),
        Term::List(args.to_vec()),
        Term::NIL,
    ])])
}

/// Calls `M:F(Args)` on this node: a registered function or a built-in.
pub(crate) async fn apply(
    node: &Node,
    module: &Atom,
    function: &Atom,
    args: Vec<Term>,
) -> CallResult {
    if let Some(f) = node.function(module, function, args.len()) {
        return f(node.clone(), args).await;
    }
    if module.as_str() == "global" {
        if let Some(result) = crate::global::builtin(node, function.as_str(), &args).await {
            return result;
        }
    }
    builtin(node, module, function, &args).ok_or_else(|| undef(module, function, &args))?
}

fn badarg() -> Exception {
    Exception::Error(Term::atom("badarg"))
}

fn builtin(node: &Node, module: &Atom, function: &Atom, args: &[Term]) -> Option<CallResult> {
    let rt = node.runtime();
    let atoms = |v: Vec<Atom>| Term::List(v.into_iter().map(Term::Atom).collect());
    Some(Ok(match (module.as_str(), function.as_str(), args) {
        ("erlang", "node", []) => Term::Atom(node.name().clone()),
        ("erlang", "nodes", []) => atoms(node.nodes(false)),
        ("erlang", "nodes", [which]) => {
            let which: Vec<&str> = match which {
                Term::Atom(a) => vec![a.as_str()],
                Term::List(v) => v.iter().filter_map(Term::as_atom).collect(),
                _ => return Some(Err(badarg())),
            };
            let mut out = Vec::new();
            if which.contains(&"this") {
                out.push(node.name().clone());
            }
            if which.contains(&"visible") || which.contains(&"connected") {
                out.extend(node.nodes(false));
            }
            if which.contains(&"hidden") || which.contains(&"connected") {
                out.extend(node.hidden_nodes());
            }
            atoms(out)
        }
        ("erlang", "processes", []) => {
            Term::List(rt.processes().into_iter().map(Term::Pid).collect())
        }
        ("erlang", "registered", []) => atoms(rt.registered()),
        ("erlang", "is_alive", []) => Term::atom("true"),
        ("erlang", "whereis", [Term::Atom(name)]) => rt
            .whereis(name)
            .map_or_else(|| Term::atom("undefined"), Term::Pid),
        ("erlang", "process_info", [Term::Pid(pid), item]) => {
            let Some(info) = rt.process_info(pid) else {
                return Some(Ok(Term::atom("undefined")));
            };
            match item {
                Term::Atom(a) => match info_item(&info, a.as_str()) {
                    Some(v) => v,
                    None => return Some(Err(badarg())),
                },
                Term::List(items) => {
                    let mut out = Vec::new();
                    for i in items {
                        match i.as_atom().and_then(|a| info_item(&info, a)) {
                            Some(v) => out.push(v),
                            None => return Some(Err(badarg())),
                        }
                    }
                    Term::List(out)
                }
                _ => return Some(Err(badarg())),
            }
        }
        ("erlang", "memory", []) => {
            let processes: usize = rt
                .processes()
                .iter()
                .filter_map(|p| rt.process_info(p))
                .map(|i| i.memory)
                .sum();
            let total = resident_bytes().max(processes as u64);
            Term::List(vec![
                pair("total", Term::Integer(total as i64)),
                pair("processes", Term::Integer(processes as i64)),
                pair("processes_used", Term::Integer(processes as i64)),
                pair(
                    "system",
                    Term::Integer(total.saturating_sub(processes as u64) as i64),
                ),
                pair("atom", Term::Integer(0)),
                pair("atom_used", Term::Integer(0)),
                pair("binary", Term::Integer(0)),
                pair("code", Term::Integer(0)),
                pair("ets", Term::Integer(0)),
            ])
        }
        ("erlang", "statistics", [Term::Atom(key)]) => match statistics(node, key.as_str()) {
            Some(v) => v,
            None => return Some(Err(badarg())),
        },
        // The data observer's System and Load tabs read (`observer_backend:sys_info/0`).
        ("observer_backend", "sys_info", []) => sys_info(node),
        ("erlang", "system_info", [Term::Atom(key)]) => match system_info(node, key.as_str()) {
            Some(v) => v,
            None => return Some(Err(badarg())),
        },
        ("erlang", "halt", []) | ("init", "stop", []) => {
            // The node stops at once: the caller sees the connection drop, as with erl.
            std::process::exit(0);
        }
        _ => return None,
    }))
}

fn pair(key: &str, value: Term) -> Term {
    Term::Tuple(vec![Term::atom(key), value])
}

fn info_item(info: &runtime::ProcessInfo, item: &str) -> Option<Term> {
    let pids = |v: &[etf::Pid]| Term::List(v.iter().cloned().map(Term::Pid).collect());
    let value = match item {
        "registered_name" => match &info.registered_name {
            Some(n) => Term::Atom(n.clone()),
            // process_info(P, registered_name) is [] for an unnamed process.
            None => return Some(Term::NIL),
        },
        "status" => Term::atom(match info.status {
            Status::Waiting => "waiting",
            Status::Runnable => "runnable",
        }),
        "message_queue_len" => Term::Integer(info.message_queue_len as i64),
        "memory" => Term::Integer(info.memory as i64),
        "reductions" => Term::Integer(info.reductions as i64),
        "links" => pids(&info.links),
        "monitored_by" => pids(&info.monitored_by),
        "monitors" => Term::List(
            info.monitors
                .iter()
                .map(|object| Term::Tuple(vec![Term::atom("process"), object.clone()]))
                .collect(),
        ),
        "trap_exit" => Term::atom(if info.trap_exit { "true" } else { "false" }),
        "initial_call" | "current_function" => Term::Tuple(vec![
            Term::atom("rotp"),
            Term::Atom(Atom::from(info.initial_call.as_str())),
            Term::Integer(0),
        ]),
        _ => return None,
    };
    Some(pair(item, value))
}

fn system_info(node: &Node, key: &str) -> Option<Term> {
    let string = |s: &str| Term::List(s.chars().map(|c| Term::Integer(c as i64)).collect());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    Some(match key {
        "otp_release" => string("25"),
        "version" => string(env!("CARGO_PKG_VERSION")),
        "system_version" => string(&format!(
            "rotp {} (Erlang/OTP 25 compatible) [{cores} schedulers]\n",
            env!("CARGO_PKG_VERSION")
        )),
        "machine" => string("ROTP"),
        "process_count" => Term::Integer(node.runtime().processes().len() as i64),
        "process_limit" => Term::Integer(1 << 28),
        "schedulers" | "schedulers_online" | "logical_processors" | "logical_processors_online" => {
            Term::Integer(cores)
        }
        "wordsize" => Term::Integer(8),
        "atom_count" => Term::Integer(Atom::count() as i64),
        "atom_limit" => Term::Integer(etf::MAX_INTERNED_ATOMS as i64),
        "creation" => Term::Integer(i64::from(node.runtime().creation())),
        "system_architecture" => string(&format!(
            "{}-unknown-{}",
            std::env::consts::ARCH,
            std::env::consts::OS
        )),
        _ => return None,
    })
}

/// `erlang:statistics/1` with the node's own figures.
fn statistics(node: &Node, key: &str) -> Option<Term> {
    let rt = node.runtime();
    let pair2 =
        |a: u64, b: u64| Term::Tuple(vec![Term::Integer(a as i64), Term::Integer(b as i64)]);
    let mut last = node
        .inner()
        .last_stats
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    Some(match key {
        "wall_clock" => {
            let now = node.inner().started.elapsed().as_millis() as u64;
            let since = now.saturating_sub(last.0);
            last.0 = now;
            pair2(now, since)
        }
        "reductions" | "exact_reductions" => {
            let total: u64 = rt
                .processes()
                .iter()
                .filter_map(|p| rt.process_info(p))
                .map(|i| i.reductions)
                .sum();
            let since = total.saturating_sub(last.1);
            last.1 = total;
            pair2(total, since)
        }
        // Processes ready to run and not running: the runtime's runnable ones.
        "run_queue" | "total_run_queue_lengths" => {
            let runnable = rt
                .processes()
                .iter()
                .filter_map(|p| rt.process_info(p))
                .filter(|i| i.status == Status::Runnable)
                .count();
            Term::Integer(runnable as i64)
        }
        "io" => {
            let (input, output) = node.inner().conns.io_bytes();
            let tagged =
                |tag: &str, n: u64| Term::Tuple(vec![Term::atom(tag), Term::Integer(n as i64)]);
            Term::Tuple(vec![tagged("input", input), tagged("output", output)])
        }
        _ => return None,
    })
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
    if let Some(Ok(Term::List(memory))) =
        builtin(node, &Atom::from("erlang"), &Atom::from("memory"), &[])
    {
        items.extend(memory);
    }
    Term::List(items)
}

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}
