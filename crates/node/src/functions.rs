//! Functions other nodes can call with `rpc:call`, `erpc:call` and `erl_call`: Rust functions
//! registered under `Module:Function/Arity`, and the built-ins a BEAM node answers
//! (`erlang:node/0`, `nodes/0,1`, `processes/0`, `process_info/2`, `registered/0`,
//! `memory/0`, `system_info/1`, `halt/0`).
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use rotp_node::Exception;
//! use etf::Term;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..Default::default() })?;
//! # let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! # tokio::spawn(epmd.run());
//! # let start = |name: &str| {
//! #     let mut config = rotp_node::NodeConfig::new(name, rotp_node::name::NameKind::Long, dist::Cookie::new("secret"));
//! #     config.epmd_port = epmd_port;
//! #     rotp_node::Node::start(config)
//! # };
//! let (a, b) = (start("a@127.0.0.1").await?, start("b@127.0.0.1").await?);
//! // b answers `rpc:call('b@127.0.0.1', drip, double, [21])`.
//! b.register_function("drip", "double", 1, Arc::new(|_node, args| {
//!     Box::pin(async move {
//!         match args.as_slice() {
//!             [Term::Integer(n)] => Ok(Term::Integer(n * 2)),
//!             _ => Err(Exception::Error(Term::atom("badarg"))), // error:badarg
//!         }
//!     })
//! }));
//! let t = Duration::from_secs(5);
//! assert_eq!(a.rpc(b.name(), "drip", "double", vec![Term::Integer(21)], t).await, Term::Integer(42));
//! // The built-ins a BEAM node answers are there too.
//! assert_eq!(a.rpc(b.name(), "erlang", "node", vec![], t).await, Term::Atom(b.name().clone()));
//! # Ok(()) }
//! ```

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
    // `lists:zipwith(fun M:F/2, As, Bs)`: a whole batch in one call, as the window's collectors
    // ask every node for the process_info of thousands of pids (stdlib's lists.erl).
    if (module.as_str(), function.as_str()) == ("lists", "zipwith") {
        let mut args = args;
        if let [Term::Export(fun), Term::List(a), Term::List(b)] = args.as_mut_slice() {
            if fun.arity == 2 && a.len() == b.len() {
                let (m, f) = (fun.module.clone(), fun.function.clone());
                let (a, b) = (std::mem::take(a), std::mem::take(b));
                let mut out = Vec::with_capacity(a.len());
                // A built-in is called straight, without a registered function's lookup.
                let registered = node.function(&m, &f, 2).is_some() || m.as_str() == "global";
                for (x, y) in a.into_iter().zip(b) {
                    let pair = [x, y];
                    let result = match (registered, builtin(node, &m, &f, &pair)) {
                        (false, Some(result)) => result,
                        _ => Box::pin(apply(node, &m, &f, pair.to_vec())).await,
                    };
                    out.push(result?);
                }
                return Ok(Term::List(out));
            }
        }
        return Err(Exception::Error(Term::atom("function_clause")));
    }
    if module.as_str() == "global" {
        if let Some(result) = crate::global::builtin(node, function.as_str(), &args).await {
            return result;
        }
    }
    // The host and OS process (`os_calls`): files are read on a blocking thread.
    if let Some(result) = crate::os_calls::call(module.as_str(), function.as_str(), &args).await {
        return result;
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
        ("erlang", "is_process_alive", [Term::Pid(pid)]) => {
            Term::atom(if rt.is_alive(pid) { "true" } else { "false" })
        }
        // `list_to_pid("<0.N.S>")`: a pid of this node, as the shell writes it.
        ("erlang", "list_to_pid", [text]) => match local_pid(node, text) {
            Some(pid) => Term::Pid(pid),
            None => return Some(Err(badarg())),
        },
        // exit/2 by rpc (top's and the dashboard's kill): the signal comes from the node.
        ("erlang", "exit", [Term::Pid(pid), reason]) => {
            rt.exit(pid, runtime::ExitReason::from_term(reason));
            Term::atom("true")
        }
        ("application", "which_applications", [] | [_]) => {
            crate::applications::which_applications(node)
        }
        ("application_controller", "get_master", [Term::Atom(app)]) => {
            crate::applications::get_master(node, app)
        }
        ("application_master", "get_child", [Term::Pid(master)]) => {
            crate::applications::get_child(node, master)
        }
        ("erlang", "whereis", [Term::Atom(name)]) => rt
            .whereis(name)
            .map_or_else(|| Term::atom("undefined"), Term::Pid),
        // The figures a top asks of every process, from the cheap counts.
        ("erlang", "process_info", [Term::Pid(pid), Term::List(items)])
            if items.iter().all(|i| {
                matches!(
                    i.as_atom(),
                    Some(
                        "registered_name"
                            | "status"
                            | "message_queue_len"
                            | "memory"
                            | "reductions"
                    )
                )
            }) =>
        {
            let Some(counts) = rt.process_counts(pid) else {
                return Some(Ok(Term::atom("undefined")));
            };
            Term::List(items.iter().map(|i| count_item(&counts, i)).collect())
        }
        ("erlang", "process_info", [Term::Pid(pid), item]) => {
            let Some(info) = rt.process_info(pid) else {
                return Some(Ok(Term::atom("undefined")));
            };
            match item {
                Term::Atom(a) => match info_item(&info, a.as_str()) {
                    // process_info(P, registered_name) is [] for an unnamed process.
                    Some(Term::Tuple(v))
                        if a.as_str() == "registered_name" && v.get(1) == Some(&Term::NIL) =>
                    {
                        Term::NIL
                    }
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
        ("erlang", "memory", []) => Term::List(
            memory(node)
                .into_iter()
                .map(|(kind, bytes)| pair(kind, Term::Integer(bytes as i64)))
                .collect(),
        ),
        ("erlang", "statistics", [Term::Atom(key)]) => match statistics(node, key.as_str()) {
            Some(v) => v,
            None => return Some(Err(badarg())),
        },
        // rotp's own figures, for the window's metrics: supervisor restarts in this OS process,
        // refused handshakes by peer address, the node's GenStage stages, and what each
        // discovery strategy sees (`{Strategy, Count, Errors, Nodes, Failing}`: how many
        // nodes its last good answer names, its failed lookups, those nodes, and why its
        // last lookup failed while it still fails, else `undefined`).
        ("rotp", "metrics", []) => Term::List(vec![
            pair("stages", stages(node)),
            pair(
                "discovery",
                Term::List(
                    node.discovered()
                        .into_iter()
                        .map(|(strategy, seen)| {
                            Term::Tuple(vec![
                                Term::Binary(etf::Bytes::from(strategy)),
                                Term::Integer(seen.nodes.len() as i64),
                                Term::Integer(seen.errors as i64),
                                Term::List(seen.nodes.iter().cloned().map(Term::Atom).collect()),
                                match seen.failing {
                                    Some(why) => Term::Binary(etf::Bytes::from(why.into_bytes())),
                                    None => Term::atom("undefined"),
                                },
                            ])
                        })
                        .collect(),
                ),
            ),
            pair(
                "supervisor_restarts",
                Term::Integer(otp::supervisor::restarts_total() as i64),
            ),
            pair(
                "connections_refused",
                Term::List(
                    node.refused_connections()
                        .into_iter()
                        .map(|(address, n)| {
                            Term::Tuple(vec![
                                Term::Binary(etf::Bytes::from(address.to_string())),
                                Term::Integer(n as i64),
                            ])
                        })
                        .collect(),
                ),
            ),
        ]),
        // The distribution, per peer (`dist_stat`).
        ("inet", "getstat", [Term::Port(port), items]) => {
            return crate::dist_stat::getstat(node, port, items)
                .map(Ok)
                .or(Some(Err(badarg())));
        }
        ("net_kernel", "nodes_info", []) => crate::dist_stat::nodes_info(node),
        // Tab completion for `erl -remsh` into this node's shell.
        ("edlin_expand", "expand", [before]) => crate::shell::expand(before),
        ("observer_backend", function, args) => {
            return crate::observer_backend::builtin(node, function, args)
        }
        ("erlang", "system_info", [Term::Atom(key)]) => match system_info(node, key.as_str()) {
            Some(v) => v,
            None => return Some(Err(badarg())),
        },
        ("init", "stop", []) if node.request_stop() => {
            // Whoever runs the node stops it gracefully, as erl's init stops its
            // applications: the caller gets `ok` first.
            Term::atom("ok")
        }
        ("erlang", "halt", []) | ("init", "stop", []) => {
            // The node stops at once: the caller sees the connection drop, as with erl.
            std::process::exit(0);
        }
        _ => return None,
    }))
}

/// `erlang:memory/0`'s kinds and bytes, in its order: the processes' own figures, the rest of
/// the resident set as `system`. rotp has no atom table, code or ETS of its own to count, and
/// binaries are counted with the processes that hold them.
/// This node's running stages (`otp::gen_stage::figures`), each a property list:
/// `pid`, `name` (`undefined` if none), `type`, `buffered`, `demand`, `expected`,
/// `consumers`, `producers`.
fn stages(node: &Node) -> Term {
    let rt = node.runtime();
    Term::List(
        otp::gen_stage::figures::stages()
            .into_iter()
            .filter(|f| &f.pid.node == node.name() && f.pid.creation == rt.creation())
            .map(|f| {
                let name = rt
                    .process_counts(&f.pid)
                    .and_then(|c| c.registered_name)
                    .map_or(Term::atom("undefined"), Term::Atom);
                let n = |v: usize| Term::Integer(v as i64);
                Term::List(vec![
                    pair("pid", Term::Pid(f.pid)),
                    pair("name", name),
                    pair("type", Term::atom(f.kind.word())),
                    pair("buffered", n(f.buffered)),
                    pair("demand", n(f.demand)),
                    pair("expected", n(f.expected)),
                    pair("consumers", n(f.consumers)),
                    pair("producers", n(f.producers)),
                ])
            })
            .collect(),
    )
}

pub(crate) fn memory(node: &Node) -> Vec<(&'static str, u64)> {
    let rt = node.runtime();
    let mut processes = 0u64;
    rt.each_process_counts(|c| processes += c.memory as u64);
    let total = resident_bytes().max(processes);
    vec![
        ("total", total),
        ("processes", processes),
        ("processes_used", processes),
        ("system", total.saturating_sub(processes)),
        ("atom", 0),
        ("atom_used", 0),
        ("binary", 0),
        ("code", 0),
        ("ets", 0),
    ]
}

pub(crate) fn pair(key: &str, value: Term) -> Term {
    Term::Tuple(vec![Term::atom(key), value])
}

/// `{Item, Value}` for one of the items [`runtime::ProcessCounts`] holds (the caller checked
/// that `item` is one); the item's atom is reused.
fn count_item(counts: &runtime::ProcessCounts, item: &Term) -> Term {
    let value = match item.as_atom() {
        Some("registered_name") => counts.registered_name.clone().map_or(Term::NIL, Term::Atom),
        Some("status") => Term::atom(match counts.status {
            Status::Waiting => "waiting",
            Status::Runnable => "runnable",
        }),
        Some("message_queue_len") => Term::Integer(counts.message_queue_len as i64),
        Some("memory") => Term::Integer(counts.memory as i64),
        _ => Term::Integer(counts.reductions as i64),
    };
    Term::Tuple(vec![item.clone(), value])
}

pub(crate) fn info_item(info: &runtime::ProcessInfo, item: &str) -> Option<Term> {
    let pids = |v: &[etf::Pid]| Term::List(v.iter().cloned().map(Term::Pid).collect());
    let value = match item {
        "registered_name" => match &info.registered_name {
            Some(n) => Term::Atom(n.clone()),
            // {registered_name, []} in a list (process_info(P, registered_name) alone is []).
            None => Term::NIL,
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
        "initial_call" | "current_function" => mfa(&info.initial_call),
        _ => return None,
    };
    Some(pair(item, value))
}

/// The pid `"<0.N.S>"` names on this node (a charlist, as `list_to_pid/1` takes it).
fn local_pid(node: &Node, text: &Term) -> Option<etf::Pid> {
    let Term::List(chars) = text else { return None };
    let text: String = chars
        .iter()
        .map(|c| match c {
            Term::Integer(i) => u32::try_from(*i).ok().and_then(char::from_u32),
            _ => None,
        })
        .collect::<Option<String>>()?;
    let inner = text.strip_prefix("<0.")?.strip_suffix('>')?;
    let (id, serial) = inner.split_once('.')?;
    Some(etf::Pid {
        node: node.name().clone(),
        id: id.parse().ok()?,
        serial: serial.parse().ok()?,
        creation: node.runtime().creation(),
    })
}

/// A process's initial call as an `{M, F, A}`: `"global:init/1"` (what an OTP-style process
/// names with `Context::set_behaviour`) as `{global, init, 1}`; a Rust function's type name
/// as `{rotp, 'its::path', 0}`.
pub(crate) fn mfa(initial_call: &str) -> Term {
    let erlang = initial_call.split_once(':').and_then(|(m, fa)| {
        let (f, a) = fa.rsplit_once('/')?;
        let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
        (plain(m) && plain(f)).then_some((m, f, a.parse::<i64>().ok()?))
    });
    let (m, f, a) = erlang.unwrap_or(("rotp", initial_call, 0));
    Term::Tuple(vec![
        Term::Atom(Atom::from(m)),
        Term::Atom(Atom::from(at_most_255_characters(f))),
        Term::Integer(a),
    ])
}

/// An atom has at most 255 characters, and a term with a longer one cannot be sent to a BEAM
/// node: a Rust type's name (`rotp_otp::supervisor::Sup<…>` with its parameters) is cut there.
fn at_most_255_characters(name: &str) -> &str {
    match name.char_indices().nth(255) {
        Some((cut, _)) => &name[..cut],
        None => name,
    }
}

pub(crate) fn system_info(node: &Node, key: &str) -> Option<Term> {
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
        "dist_ctrl" => crate::dist_stat::dist_ctrl(node),
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
pub(crate) fn statistics(node: &Node, key: &str) -> Option<Term> {
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
            let mut total = 0u64;
            rt.each_process_counts(|c| total += c.reductions);
            let since = total.saturating_sub(last.1);
            last.1 = total;
            pair2(total, since)
        }
        // Processes ready to run and not running: the runtime's runnable ones.
        "run_queue" | "total_run_queue_lengths" => {
            let mut runnable = 0usize;
            rt.each_process_counts(|c| runnable += usize::from(c.status == Status::Runnable));
            Term::Integer(runnable as i64)
        }
        // Each worker thread as a scheduler: {Id, Active, Total} in microseconds since the node
        // started (the BEAM's unit is unspecified; observer and etop use only the ratios). The
        // BEAM answers `undefined` until `system_flag(scheduler_wall_time, true)`: rotp always
        // measures, so it always answers.
        "scheduler_wall_time" | "scheduler_wall_time_all" => {
            let total = node.inner().started.elapsed().as_micros() as i64;
            let busy: Vec<i64> = match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let metrics = handle.metrics();
                    (0..metrics.num_workers())
                        .map(|w| metrics.worker_total_busy_duration(w).as_micros() as i64)
                        .collect()
                }
                Err(_) => Vec::new(),
            };
            Term::List(
                busy.into_iter()
                    .enumerate()
                    .map(|(i, active)| {
                        Term::Tuple(vec![
                            Term::Integer(i as i64 + 1),
                            Term::Integer(active.min(total)),
                            Term::Integer(total),
                        ])
                    })
                    .collect(),
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_calls_read_as_erlang_mfas_or_rust_paths() {
        let t = |m: &str, f: &str, a: i64| {
            Term::Tuple(vec![Term::atom(m), Term::atom(f), Term::Integer(a)])
        };
        assert_eq!(mfa("global:init/1"), t("global", "init", 1));
        assert_eq!(
            mfa("application_master:init/4"),
            t("application_master", "init", 4)
        );
        assert_eq!(
            mfa("otp::supervisor::Sup<x>"),
            t("rotp", "otp::supervisor::Sup<x>", 0)
        );
        assert_eq!(mfa("a:b/c"), t("rotp", "a:b/c", 0));
        assert_eq!(mfa(""), t("rotp", "", 0));
        let long = format!("rotp_otp::supervisor::Sup<{}>", "é".repeat(300));
        let Term::Tuple(parts) = mfa(&long) else {
            panic!("a tuple")
        };
        assert_eq!(parts[1].as_atom().map(|a| a.chars().count()), Some(255));
        assert!(long.starts_with(parts[1].as_atom().unwrap_or("")));
    }
}
