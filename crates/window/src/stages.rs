//! A node's GenStage stages with their live levels: the events each buffers, the demand its
//! consumers have asked for and not received, the events it still expects from its producers.
//!
//! - A rotp node lists its stages in `rotp:metrics/0` (`otp::gen_stage::figures`).
//! - On a BEAM node, Elixir's stages are found as `proc_lib` records them: their
//!   `$initial_call` is `{'Elixir.GenStage', init, 1}` (`GenStage.start_link/3` starts a
//!   gen_server whose callback module is `GenStage`), read with
//!   `lists:map(fun proc_lib:translate_initial_call/1, Pids)`, a chunk of processes a call.
//!   Each stage's figures come from its state, `sys:get_state/2`: the `%GenStage{}` struct's
//!   `type`, `buffer` (`{Queue, Count, Wheel}`, `GenStage.Buffer`), `consumers`, `producers`
//!   (`Ref => {Pid, Cancel, {Pending, Min, Max}}` under automatic demand) and, for the
//!   default `GenStage.DemandDispatcher`, `dispatcher_state` (`{Demands, Pending, Max,
//!   Shuffle}`, each demand `{Counter, Pid, Ref}`). Nothing is installed on the target.
//!
//! ```
//! use std::time::Duration;
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
//! // A producer of three events on `target`, no consumer yet.
//! let (started, ready) = tokio::sync::oneshot::channel();
//! target.runtime().spawn(|mut ctx| async move {
//!     let producer = otp::gen_stage::from_enumerable(&mut ctx, vec![1, 2, 3], None).await;
//!     let _ = started.send(producer.is_ok());
//!     std::future::pending::<runtime::ExitReason>().await // the stage is linked to this process
//! });
//! assert!(ready.await?);
//! let stages = rotp_window::stages(&me, target.name(), Duration::from_secs(5)).await?;
//! assert_eq!(stages.len(), 1);
//! assert_eq!((stages[0].kind.as_str(), stages[0].consumers), ("producer", 0));
//! # Ok(()) }
//! ```

use std::time::Duration;

use etf::{Atom, Pid, Term};
use futures::future::join_all;
use node::Node;
use serde::Serialize;

use crate::SnapshotError;

/// Processes per `lists:map` call.
const CHUNK: usize = 5000;

/// One stage as the pipelines page and the metrics show it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Stage {
    /// `<0.42.0>`.
    pub pid: String,
    /// Its registered name, if any.
    pub name: Option<String>,
    /// `producer`, `producer_consumer` or `consumer`.
    pub kind: String,
    /// Events it holds (its buffer).
    pub buffered: i64,
    /// Events its consumers have asked for and not received (`None` when the dispatcher's
    /// state is not one this reader knows).
    pub demand: Option<i64>,
    /// Events it has asked its producers for and not received.
    pub expected: i64,
    /// Its consumers' subscriptions.
    pub consumers: i64,
    /// Its subscriptions to producers.
    pub producers: i64,
}

impl Stage {
    /// Its name, or its pid: how a metric labels it.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.pid)
    }
}

fn pid_text(pid: &Pid) -> String {
    format!("<0.{}.{}>", pid.id, pid.serial)
}

/// A rotp node's stages from its `rotp:metrics/0` entry (`{stages, [PropList]}`).
pub(crate) fn from_rotp(items: &[Term]) -> Vec<Stage> {
    items
        .iter()
        .filter_map(|s| {
            let Term::List(props) = s else { return None };
            let get = |k: &str| {
                props.iter().find_map(|p| match p {
                    Term::Tuple(kv) if kv.len() == 2 && kv[0].as_atom() == Some(k) => Some(&kv[1]),
                    _ => None,
                })
            };
            let int = |k: &str| match get(k) {
                Some(Term::Integer(n)) => *n,
                _ => 0,
            };
            let Some(Term::Pid(pid)) = get("pid") else {
                return None;
            };
            Some(Stage {
                pid: pid_text(pid),
                name: get("name")
                    .and_then(Term::as_atom)
                    .filter(|n| *n != "undefined")
                    .map(str::to_owned),
                kind: get("type")
                    .and_then(Term::as_atom)
                    .unwrap_or("consumer")
                    .to_owned(),
                buffered: int("buffered"),
                demand: Some(int("demand")),
                expected: int("expected"),
                consumers: int("consumers"),
                producers: int("producers"),
            })
        })
        .collect()
}

/// The stages on `target`: a rotp node's own list, else the Elixir stages a BEAM node runs.
pub async fn stages(
    node: &Node,
    target: &Atom,
    timeout: Duration,
) -> Result<Vec<Stage>, SnapshotError> {
    if !node.connect(target).await {
        return Err(SnapshotError::NodeDown(target.to_string()));
    }
    if let Term::List(items) = node
        .rpc(target, "rotp", "metrics", Vec::new(), timeout)
        .await
    {
        for item in &items {
            if let Term::Tuple(kv) = item {
                if let [k, Term::List(stages)] = kv.as_slice() {
                    if k.as_atom() == Some("stages") {
                        return Ok(from_rotp(stages));
                    }
                }
            }
        }
        return Ok(Vec::new());
    }
    beam_stages(node, target, timeout).await
}

async fn beam_stages(
    node: &Node,
    target: &Atom,
    timeout: Duration,
) -> Result<Vec<Stage>, SnapshotError> {
    let Term::List(all) = node
        .rpc(target, "erlang", "processes", Vec::new(), timeout)
        .await
    else {
        return Err(SnapshotError::BadRpc {
            node: target.to_string(),
            call: "processes",
            reason: "no list".to_owned(),
        });
    };
    let translate = Term::Export(etf::Export {
        module: Atom::from("proc_lib"),
        function: Atom::from("translate_initial_call"),
        arity: 1,
    });
    let asks = all.chunks(CHUNK).map(|chunk| {
        let args = vec![translate.clone(), Term::List(chunk.to_vec())];
        async move {
            let reply = node.rpc(target, "lists", "map", args, timeout).await;
            (chunk, reply)
        }
    });
    let mut found = Vec::new();
    for (chunk, reply) in join_all(asks).await {
        let Term::List(calls) = reply else { continue };
        for (pid, call) in chunk.iter().zip(calls) {
            let is_stage = matches!(&call, Term::Tuple(mfa)
                if mfa.first().and_then(Term::as_atom) == Some("Elixir.GenStage"));
            if let (true, Term::Pid(pid)) = (is_stage, pid) {
                found.push(pid.clone());
            }
        }
    }
    let reads = found.iter().map(|pid| async move {
        let state = node
            .rpc(
                target,
                "sys",
                "get_state",
                vec![Term::Pid(pid.clone()), Term::Integer(1000)],
                timeout,
            )
            .await;
        let name = node
            .rpc(
                target,
                "erlang",
                "process_info",
                vec![Term::Pid(pid.clone()), Term::atom("registered_name")],
                timeout,
            )
            .await;
        let name = match name {
            Term::Tuple(kv) => kv.get(1).and_then(Term::as_atom).map(str::to_owned),
            _ => None,
        };
        from_gen_stage(pid, name, &state)
    });
    Ok(join_all(reads).await.into_iter().flatten().collect())
}

/// A stage from Elixir's `%GenStage{}` state; `None` if the state is not one.
pub(crate) fn from_gen_stage(pid: &Pid, name: Option<String>, state: &Term) -> Option<Stage> {
    let Term::Map(map) = state else { return None };
    let field = |k: &str| map.get(&Term::atom(k));
    if field("__struct__").and_then(Term::as_atom) != Some("Elixir.GenStage") {
        return None;
    }
    let kind = field("type").and_then(Term::as_atom)?.to_owned();
    let size = |t: Option<&Term>| match t {
        Some(Term::Map(m)) => m.len() as i64,
        _ => 0,
    };
    let buffered = match field("buffer") {
        Some(Term::Tuple(b)) => match b.get(1) {
            Some(Term::Integer(n)) => *n,
            _ => 0,
        },
        _ => 0,
    };
    // Automatic demand: `{Pid, Cancel, {Pending, Min, Max}}`.
    let expected = match field("producers") {
        Some(Term::Map(m)) => m
            .iter()
            .filter_map(|(_, v)| match v {
                Term::Tuple(p) => match p.get(2) {
                    Some(Term::Tuple(d)) => match d.first() {
                        Some(Term::Integer(n)) => Some(*n),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            })
            .sum(),
        _ => 0,
    };
    // GenStage.DemandDispatcher's `{Demands, Pending, Max, Shuffle}`.
    let demand = match (
        field("dispatcher_mod").and_then(Term::as_atom),
        field("dispatcher_state"),
    ) {
        (Some("Elixir.GenStage.DemandDispatcher"), Some(Term::Tuple(d))) => match d.first() {
            Some(Term::List(demands)) => Some(
                demands
                    .iter()
                    .filter_map(|e| match e {
                        Term::Tuple(c) => match c.first() {
                            Some(Term::Integer(n)) => Some(*n),
                            _ => None,
                        },
                        _ => None,
                    })
                    .sum(),
            ),
            _ => None,
        },
        _ if kind == "consumer" => Some(0),
        _ => None,
    };
    Some(Stage {
        pid: pid_text(pid),
        name,
        kind,
        buffered,
        demand,
        expected,
        consumers: size(field("consumers")),
        producers: size(field("producers")),
    })
}
