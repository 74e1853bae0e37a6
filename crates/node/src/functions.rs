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
        _ => return None,
    })
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
