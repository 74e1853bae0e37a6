//! One snapshot of a node: its versions, limits and counts, its memory by kind, and every
//! process with the figures top sorts by. Each piece is an `rpc:call` a BEAM node answers with
//! its BIFs and a rotp node with its own figures (`node::functions`).
//!
//! ```
//! use std::time::Duration;
//! use rotp_window::snapshot::{collect, detail, select, Order};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..Default::default() })?;
//! # let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! # tokio::spawn(epmd.run());
//! # let start = |name: &str| {
//! #     let mut config = node::NodeConfig::new(name, node::name::NameKind::Long, dist::Cookie::new("secret"));
//! #     config.epmd_port = epmd_port;
//! #     node::Node::start(config)
//! # };
//! // `me` reads `target`, a node started as `erl -name target@127.0.0.1` would be (a rotp one here).
//! let (me, target) = (start("me@127.0.0.1").await?, start("target@127.0.0.1").await?);
//! let snapshot = collect(&me, target.name(), Duration::from_secs(5)).await?;
//! assert!(snapshot.summary.connected_nodes.contains(&"me@127.0.0.1".to_owned()));
//! assert!(snapshot.summary.rotp.is_some()); // a rotp node adds its own figures
//! // The process using most memory, and its `process_info/2`, as top's detail view shows it.
//! let biggest = &select(&snapshot.processes, "", Order::Memory)[0];
//! let info = detail(&me, target.name(), &biggest.handle, Duration::from_secs(5)).await;
//! assert!(!info.is_empty());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use etf::{Atom, Pid, Term};
use futures::future::join_all;
use node::Node;
use serde::Serialize;
use thiserror::Error;

/// Processes per `lists:zipwith` call.
const CHUNK: usize = 5000;
/// Calls in flight at once.
const PARALLEL: usize = 4;

/// What a snapshot could not get.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The node cannot be reached (not up, or a cookie it refuses).
    #[error("node {0} is not reachable (not up, or it refused our cookie)")]
    NodeDown(String),
    /// A call the snapshot needs failed on the node.
    #[error("{call} failed on {node}: {reason}")]
    BadRpc {
        /// The node.
        node: String,
        /// `module:function/arity`.
        call: &'static str,
        /// What `badrpc` said.
        reason: String,
    },
}

/// A node as top shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// The node's name.
    pub node: String,
    /// `erlang:system_info(system_version)`.
    pub system_version: String,
    /// `erlang:system_info(otp_release)`.
    pub otp_release: String,
    /// `erlang:system_info(process_count)` and `process_limit`.
    pub process_count: i64,
    /// `erlang:system_info(process_limit)`.
    pub process_limit: i64,
    /// `erlang:system_info(atom_count)` (OTP 20 and later).
    pub atom_count: Option<i64>,
    /// `erlang:system_info(atom_limit)`.
    pub atom_limit: Option<i64>,
    /// `erlang:memory/0`: bytes by kind (`total`, `processes`, `atom`, `binary`, `ets`, …).
    pub memory: BTreeMap<String, i64>,
    /// `erlang:registered/0`, sorted.
    pub registered: Vec<String>,
    /// Load and traffic, from `erlang:statistics/1` and `erlang:nodes/1`.
    pub summary: Summary,
    /// Every process, largest memory first.
    pub processes: Vec<Process>,
}

/// A node's load and traffic (`erlang:statistics/1`, `erlang:system_info/1`,
/// `erlang:nodes(connected)`); a figure the node does not give is `None`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Milliseconds since the node started (`statistics(wall_clock)`).
    pub uptime_ms: Option<i64>,
    /// Reductions so far (`statistics(reductions)`).
    pub reductions: Option<i64>,
    /// Processes ready to run (`statistics(run_queue)`).
    pub run_queue: Option<i64>,
    /// Context switches so far (`statistics(context_switches)`).
    pub context_switches: Option<i64>,
    /// Bytes in through ports and the distribution (`statistics(io)`).
    pub io_input: Option<i64>,
    /// Bytes out, likewise.
    pub io_output: Option<i64>,
    /// Schedulers online.
    pub schedulers_online: Option<i64>,
    /// The nodes it is connected to, hidden ones included.
    pub connected_nodes: Vec<String>,
    /// Traffic per connected peer (`erlang:system_info(dist_ctrl)` and `inet:getstat/2` on
    /// each connection's port, as `prometheus_vm_dist_collector` reads them).
    pub peers: Vec<Peer>,
    /// A rotp node's own figures (`rotp:metrics/0`); `None` for a BEAM node.
    pub rotp: Option<RotpFigures>,
}

/// One distribution connection's traffic, from `inet:getstat/2` on its port. A connection
/// whose controller is a process (TLS distribution on a BEAM node) has no figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Peer {
    /// The peer's node name.
    pub node: String,
    /// Bytes received (`recv_oct`).
    pub bytes_in: Option<i64>,
    /// Bytes sent (`send_oct`).
    pub bytes_out: Option<i64>,
    /// Packets received (`recv_cnt`).
    pub packets_in: Option<i64>,
    /// Packets sent (`send_cnt`).
    pub packets_out: Option<i64>,
    /// Bytes queued to send (`send_pend`).
    pub pending: Option<i64>,
}

/// What a rotp node counts of itself beyond the BEAM's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RotpFigures {
    /// Restarts its supervisors recorded.
    pub supervisor_restarts: i64,
    /// Handshakes refused for a bad cookie or missing flags, by peer address.
    pub connections_refused: BTreeMap<String, i64>,
    /// Its GenStage stages and their levels.
    pub stages: Vec<crate::Stage>,
    /// What each discovery strategy sees, by its label (`epmd`, `dns`…).
    pub discovery: BTreeMap<String, Discovery>,
}

/// What one discovery strategy of a node sees (`node::discovery::Seen`, as `rotp:metrics()`
/// reports it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// How many nodes its last good answer names (the node itself left out).
    pub count: i64,
    /// Its failed lookups.
    pub errors: i64,
    /// Those nodes (empty from a node that reports the count alone).
    pub nodes: Vec<String>,
    /// Why its last lookup failed, while it still fails.
    pub failing: Option<String>,
}

/// A process as top lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Process {
    /// `<0.42.0>`, as the node prints it.
    pub pid: String,
    /// Its registered name, if it has one.
    pub registered_name: Option<String>,
    /// `process_info(P, memory)`: bytes.
    pub memory: i64,
    /// `process_info(P, message_queue_len)`.
    pub message_queue_len: i64,
    /// `process_info(P, reductions)`.
    pub reductions: i64,
    /// The pid itself, for calls about this process ([`detail`]).
    #[serde(skip)]
    pub handle: Pid,
}

/// Takes a snapshot of `target` from `node`, each call bounded by `timeout`.
pub async fn collect(
    node: &Node,
    target: &Atom,
    timeout: Duration,
) -> Result<Snapshot, SnapshotError> {
    if !node.connect(target).await {
        return Err(SnapshotError::NodeDown(target.to_string()));
    }
    let call = |function: &'static str, args: Vec<Term>| async move {
        let reply = node.rpc(target, "erlang", function, args, timeout).await;
        match &reply {
            // The connection went while we asked: the node is not reachable, whichever call
            // noticed it first.
            Term::Tuple(v)
                if v.first().and_then(Term::as_atom) == Some("badrpc")
                    && v.get(1).and_then(Term::as_atom) == Some("nodedown") =>
            {
                Err(SnapshotError::NodeDown(target.to_string()))
            }
            Term::Tuple(v) if v.first().and_then(Term::as_atom) == Some("badrpc") => {
                Err(SnapshotError::BadRpc {
                    node: target.to_string(),
                    call: function,
                    reason: v
                        .get(1)
                        .map_or_else(String::new, |r| etf::text::write_limited(r, 200)),
                })
            }
            _ => Ok(reply),
        }
    };
    let info = |key: &'static str| {
        let call = &call;
        async move { call("system_info", vec![Term::atom(key)]).await }
    };
    let system_version = chars(&info("system_version").await?).trim_end().to_string();
    let otp_release = chars(&info("otp_release").await?);
    let process_count = integer(&info("process_count").await?).unwrap_or(0);
    let process_limit = integer(&info("process_limit").await?).unwrap_or(0);
    let atom_count = info("atom_count").await.ok().as_ref().and_then(integer);
    let atom_limit = info("atom_limit").await.ok().as_ref().and_then(integer);
    let memory = match call("memory", Vec::new()).await? {
        Term::List(items) => items
            .iter()
            .filter_map(|i| match i {
                Term::Tuple(kv) => match kv.as_slice() {
                    [Term::Atom(k), Term::Integer(v)] => Some((k.to_string(), *v)),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let mut registered: Vec<String> = match call("registered", Vec::new()).await? {
        Term::List(names) => names
            .iter()
            .filter_map(Term::as_atom)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    registered.sort();
    let (mut summary, peers) = futures::join!(summary(&call, &info), peers(node, target, timeout));
    summary.peers = peers;
    // A BEAM node has no `rotp` module: badrpc, and no figures.
    summary.rotp = rotp_figures_of(node, target, timeout).await;
    let pids: Vec<Pid> = match call("processes", Vec::new()).await? {
        Term::List(pids) => pids
            .into_iter()
            .filter_map(|p| match p {
                Term::Pid(p) => Some(p),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let items = Term::List(
        [
            "registered_name",
            "memory",
            "message_queue_len",
            "reductions",
        ]
        .into_iter()
        .map(Term::atom)
        .collect(),
    );
    // `lists:zipwith(fun erlang:process_info/2, Pids, Items)` on the target: a chunk of
    // processes per call, a few calls at a time, instead of a call per process.
    let mut processes = Vec::with_capacity(pids.len());
    let zip = Term::Export(etf::Export {
        module: Atom::from("erlang"),
        function: Atom::from("process_info"),
        arity: 2,
    });
    let chunks: Vec<&[Pid]> = pids.chunks(CHUNK).collect();
    for group in chunks.chunks(PARALLEL) {
        let asks = group.iter().map(|chunk| {
            let args = vec![
                zip.clone(),
                Term::List(chunk.iter().cloned().map(Term::Pid).collect()),
                Term::List(vec![items.clone(); chunk.len()]),
            ];
            async move {
                let reply = node.rpc(target, "lists", "zipwith", args, timeout).await;
                (chunk, reply)
            }
        });
        for (chunk, reply) in join_all(asks).await {
            let Term::List(infos) = reply else {
                return Err(SnapshotError::BadRpc {
                    node: target.to_string(),
                    call: "process_info",
                    reason: etf::text::write_limited(&reply, 200),
                });
            };
            for (pid, info) in chunk.iter().zip(infos) {
                // A process that ended meanwhile answers `undefined`: it is left out.
                if let Term::List(info) = info {
                    processes.push(process(pid, &info));
                }
            }
        }
    }
    processes.sort_by_key(|p| std::cmp::Reverse(p.memory));
    Ok(Snapshot {
        node: target.to_string(),
        system_version,
        otp_release,
        process_count,
        process_limit,
        atom_count,
        atom_limit,
        memory,
        registered,
        summary,
        processes,
    })
}

/// The summary's figures; each call that fails leaves its figure out.
async fn summary<C, CF, I, IF>(call: &C, info: &I) -> Summary
where
    C: Fn(&'static str, Vec<Term>) -> CF,
    CF: std::future::Future<Output = Result<Term, SnapshotError>>,
    I: Fn(&'static str) -> IF,
    IF: std::future::Future<Output = Result<Term, SnapshotError>>,
{
    let stat =
        |key: &'static str| async move { call("statistics", vec![Term::atom(key)]).await.ok() };
    let first = |t: Option<Term>| match t {
        Some(Term::Tuple(v)) => v.first().and_then(integer),
        _ => None,
    };
    let nodes = call("nodes", vec![Term::List(vec![Term::atom("connected")])]);
    // All at once: each is a round trip.
    let (io, wall_clock, reductions, run_queue, context_switches, schedulers, nodes) = futures::join!(
        stat("io"),
        stat("wall_clock"),
        stat("reductions"),
        stat("run_queue"),
        stat("context_switches"),
        info("schedulers_online"),
        nodes
    );
    let io_part = |i: usize| match &io {
        Some(Term::Tuple(v)) => match v.get(i) {
            Some(Term::Tuple(kv)) => kv.get(1).and_then(integer),
            _ => None,
        },
        _ => None,
    };
    let connected_nodes = match nodes {
        Ok(Term::List(nodes)) => nodes
            .iter()
            .filter_map(Term::as_atom)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Summary {
        rotp: None,
        peers: Vec::new(),
        uptime_ms: first(wall_clock),
        reductions: first(reductions),
        run_queue: run_queue.as_ref().and_then(integer),
        context_switches: first(context_switches),
        io_input: io_part(0),
        io_output: io_part(1),
        schedulers_online: schedulers.ok().as_ref().and_then(integer),
        connected_nodes,
    }
}

/// Each connection's traffic: its port from `erlang:system_info(dist_ctrl)`, then
/// `inet:getstat/2` on the ports, all at once.
async fn peers(node: &Node, target: &Atom, timeout: Duration) -> Vec<Peer> {
    let ctrl = node
        .rpc(
            target,
            "erlang",
            "system_info",
            vec![Term::atom("dist_ctrl")],
            timeout,
        )
        .await;
    let Term::List(entries) = ctrl else {
        return Vec::new();
    };
    let items = Term::List(
        ["recv_oct", "send_oct", "recv_cnt", "send_cnt", "send_pend"]
            .into_iter()
            .map(Term::atom)
            .collect(),
    );
    let asks = entries.iter().filter_map(|e| match e {
        Term::Tuple(v) => match v.as_slice() {
            [Term::Atom(peer), controller] => Some((peer.to_string(), controller.clone())),
            _ => None,
        },
        _ => None,
    });
    let asks = asks.map(|(peer, controller)| {
        let items = items.clone();
        async move {
            let mut p = Peer {
                node: peer,
                ..Peer::default()
            };
            if !matches!(controller, Term::Port(_)) {
                return p;
            }
            let reply = node
                .rpc(target, "inet", "getstat", vec![controller, items], timeout)
                .await;
            let Term::Tuple(v) = reply else { return p };
            let [ok, Term::List(stats)] = v.as_slice() else {
                return p;
            };
            if ok.as_atom() != Some("ok") {
                return p;
            }
            for stat in stats {
                let Term::Tuple(kv) = stat else { continue };
                let [Term::Atom(k), Term::Integer(n)] = kv.as_slice() else {
                    continue;
                };
                let slot = match k.as_str() {
                    "recv_oct" => &mut p.bytes_in,
                    "send_oct" => &mut p.bytes_out,
                    "recv_cnt" => &mut p.packets_in,
                    "send_cnt" => &mut p.packets_out,
                    "send_pend" => &mut p.pending,
                    _ => continue,
                };
                *slot = Some(*n);
            }
            p
        }
    });
    join_all(asks).await
}

/// One strategy of `rotp:metrics()`'s `discovery`: `{Strategy, Count, Errors, Nodes,
/// Failing}`, or `{Strategy, Count, Errors}` from a node that reports no more.
fn discovery(entry: &Term) -> Option<(String, Discovery)> {
    let Term::Tuple(fields) = entry else {
        return None;
    };
    let (Term::Binary(strategy), Term::Integer(count), Term::Integer(errors)) =
        (fields.first()?, fields.get(1)?, fields.get(2)?)
    else {
        return None;
    };
    let nodes = match fields.get(3) {
        Some(Term::List(nodes)) => nodes
            .iter()
            .filter_map(Term::as_atom)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let failing = match fields.get(4) {
        Some(Term::Binary(why)) => Some(String::from_utf8_lossy(why).into_owned()),
        _ => None,
    };
    Some((
        String::from_utf8_lossy(strategy).into_owned(),
        Discovery {
            count: *count,
            errors: *errors,
            nodes,
            failing,
        },
    ))
}

/// `target`'s own figures (`rotp:metrics()`), or `None` from a node that has none (a BEAM
/// node has no `rotp` module) or does not answer within `timeout`.
pub async fn rotp_figures_of(node: &Node, target: &Atom, timeout: Duration) -> Option<RotpFigures> {
    match node
        .rpc(target, "rotp", "metrics", Vec::new(), timeout)
        .await
    {
        Term::List(items) => Some(rotp_figures(&items)),
        _ => None,
    }
}

fn rotp_figures(items: &[Term]) -> RotpFigures {
    let mut f = RotpFigures::default();
    for item in items {
        let Term::Tuple(kv) = item else { continue };
        match kv.as_slice() {
            [k, Term::Integer(n)] if k.as_atom() == Some("supervisor_restarts") => {
                f.supervisor_restarts = *n
            }
            [k, Term::List(stages)] if k.as_atom() == Some("stages") => {
                f.stages = crate::stages::from_rotp(stages);
            }
            [k, Term::List(strategies)] if k.as_atom() == Some("discovery") => {
                f.discovery = strategies.iter().filter_map(discovery).collect();
            }
            [k, Term::List(by)] if k.as_atom() == Some("connections_refused") => {
                for entry in by {
                    if let Term::Tuple(an) = entry {
                        if let [Term::Binary(a), Term::Integer(n)] = an.as_slice() {
                            f.connections_refused
                                .insert(String::from_utf8_lossy(a).into_owned(), *n);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    f
}

/// One process in detail, as observer's process window shows it: `process_info/2` items as
/// (key, text). First the items every node answers; then, if the node has them, its
/// dictionary and stack (a BEAM node's).
pub async fn detail(
    node: &Node,
    target: &Atom,
    pid: &Pid,
    timeout: Duration,
) -> Vec<(String, String)> {
    let ask = |items: &[&str]| {
        let items = Term::List(items.iter().map(|i| Term::atom(i)).collect());
        node.rpc(
            target,
            "erlang",
            "process_info",
            vec![Term::Pid(pid.clone()), items],
            timeout,
        )
    };
    let mut out = Vec::new();
    let mut read = |reply: Term| {
        if let Term::List(info) = reply {
            for item in info {
                if let Term::Tuple(kv) = item {
                    if let [Term::Atom(k), v] = kv.as_slice() {
                        out.push((k.to_string(), etf::text::write_limited(v, 400)));
                    }
                }
            }
        }
    };
    read(
        ask(&[
            "registered_name",
            "status",
            "initial_call",
            "current_function",
            "message_queue_len",
            "memory",
            "reductions",
            "links",
            "monitors",
            "monitored_by",
            "trap_exit",
        ])
        .await,
    );
    read(ask(&["dictionary", "current_stacktrace"]).await);
    out
}

fn process(pid: &Pid, info: &[Term]) -> Process {
    let mut p = Process {
        pid: format!("<0.{}.{}>", pid.id, pid.serial),
        registered_name: None,
        memory: 0,
        message_queue_len: 0,
        reductions: 0,
        handle: pid.clone(),
    };
    for item in info {
        let Term::Tuple(kv) = item else { continue };
        match kv.as_slice() {
            [k, Term::Atom(name)] if k.as_atom() == Some("registered_name") => {
                p.registered_name = Some(name.to_string());
            }
            [k, v] => {
                let v = integer(v).unwrap_or(0);
                match k.as_atom() {
                    Some("memory") => p.memory = v,
                    Some("message_queue_len") => p.message_queue_len = v,
                    Some("reductions") => p.reductions = v,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    p
}

fn integer(term: &Term) -> Option<i64> {
    match term {
        Term::Integer(i) => Some(*i),
        _ => None,
    }
}

/// A charlist (or a binary) as text.
pub(crate) fn chars(term: &Term) -> String {
    term.text()
        .unwrap_or_else(|| etf::text::write_limited(term, 200))
}

/// How a process table is ordered (top's keys, the dashboard's columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Largest memory first.
    Memory,
    /// Longest message queue first.
    Mailbox,
    /// Most reductions first.
    Reductions,
    /// Registered names in order, unnamed processes last.
    Name,
}

impl Order {
    /// The order a word names (`memory`, `mailbox`, `reductions`, `name`); memory otherwise.
    pub fn named(word: &str) -> Order {
        match word {
            "mailbox" => Order::Mailbox,
            "reductions" => Order::Reductions,
            "name" => Order::Name,
            _ => Order::Memory,
        }
    }

    /// The word for it.
    pub fn word(self) -> &'static str {
        match self {
            Order::Memory => "memory",
            Order::Mailbox => "mailbox",
            Order::Reductions => "reductions",
            Order::Name => "name",
        }
    }
}

/// The processes whose pid or registered name contains `filter` (any case), in `order`.
pub fn select(processes: &[Process], filter: &str, order: Order) -> Vec<Process> {
    let needle = filter.to_lowercase();
    let mut rows: Vec<Process> = processes
        .iter()
        .filter(|p| {
            needle.is_empty()
                || p.pid.contains(&needle)
                || p.registered_name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&needle))
        })
        .cloned()
        .collect();
    match order {
        Order::Memory => rows.sort_by_key(|p| std::cmp::Reverse(p.memory)),
        Order::Mailbox => rows.sort_by_key(|p| std::cmp::Reverse(p.message_queue_len)),
        Order::Reductions => rows.sort_by_key(|p| std::cmp::Reverse(p.reductions)),
        Order::Name => rows.sort_by(|a, b| {
            (a.registered_name.is_none(), &a.registered_name)
                .cmp(&(b.registered_name.is_none(), &b.registered_name))
        }),
    }
    rows
}

/// Milliseconds of uptime as `Dd HH:MM:SS`.
pub fn uptime_text(ms: i64) -> String {
    let secs = ms / 1000;
    format!(
        "{}d {:02}:{:02}:{:02}",
        secs / 86_400,
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}
