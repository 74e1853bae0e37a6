//! Cluster discovery, as libcluster's strategies find an Elixir cluster's nodes: each
//! [`Spec`] is looked up every interval, and the node connects to what appears and again to
//! what dropped, never to itself. A lookup that fails keeps the last good answer (said once,
//! and again once it answers). What each strategy sees is kept for the dashboard and the
//! metrics ([`Node::discovered`]).
//!
//! The forms, as `--discovery` takes them:
//! - `epmd:NODE,NODE…` — a fixed list (libcluster's `Epmd`);
//! - `local-epmd` — every node the local EPMD lists (libcluster's `LocalEpmd`);
//! - `erlang-hosts[:FILE]` — every node on each host of a `.hosts.erlang` file, as
//!   `net_adm:world/0` (the file: FILE, else `./.hosts.erlang`, else `~/.hosts.erlang`);
//! - `dns:QUERY[,basename=B][,types=a,aaaa,srv][,nameserver=IP[:PORT]][,interval=MS]` —
//!   libcluster's `DNSPoll` and Fly's `dns_cluster`: the addresses QUERY resolves to, each a
//!   node `B@ADDRESS` (B defaults to this node's name; IPv6 ones as `B@fd00::5`). With `srv`
//!   among the types, QUERY's SRV records instead, each target's addresses a node `B@ADDRESS`
//!   (`a`/`aaaa` then choose the targets' families, both by default). `nameserver=` is
//!   rotp's own (not libcluster's): ask that server alone, as for Consul's on port 8600;
//!   else `/etc/resolv.conf`'s.
//! - `kubernetes-dns:service=S,basename=B[,namespace=N]` — libcluster's
//!   `Kubernetes.DNS`: a headless Service's A/AAAA records (`S.N.svc.cluster.local` with a
//!   namespace, else `S` through the pod's search domains), each a node `B@ADDRESS`;
//! - `kubernetes:selector=LABELS,basename=B[,namespace=N][,mode=ip|dns|hostname][,service=S][,api=endpointslices|endpoints|pods][,sa_dir=PATH]`
//!   — libcluster's `Kubernetes`: the Kubernetes API's EndpointSlices (or Endpoints, or
//!   Pods) that the label selector picks, each ready pod a node `B@10.0.0.5` (`mode=ip`, the
//!   default), `B@10-0-0-5.N.pod.cluster.local` (`dns`) or
//!   `B@HOSTNAME.S.N.svc.cluster.local` (`hostname`, with `service=S`), asked in-cluster as
//!   client-go does (see [`Kubernetes`]). LABELS may hold commas (`app=drip,tier=web`): every
//!   part after `selector=` up to the next setting this form takes (`basename=`, `namespace=`,
//!   `mode=`, `service=`, `api=`, `sa_dir=`, `interval=`) is the selector's, so a label of one
//!   of those names cannot be selected on.
//! - `kubernetes-dnssrv:service=S,namespace=N,basename=B` — libcluster's
//!   `Kubernetes.DNSSRV`: the SRV records of `S.N.svc.cluster.local` (`$CLUSTER_DOMAIN` in
//!   place of `cluster.local` when set, as libcluster), each target a node `B@TARGET`, such
//!   as `drip@drip-0.drip-headless.prod.svc.cluster.local` (a StatefulSet's pods).
//! - `gossip[:port=P][,multicast=ADDR][,ttl=N][,secret=S][,multicast_if=IP][,if_addr=IP][,broadcast_only=true]`
//!   — libcluster's `Gossip`, on its datagrams: a heartbeat to a multicast group every few
//!   seconds, and a connection to each node whose heartbeat arrives (see [`Gossip`]).
//!
//! Every polling form takes `interval=MS` (default 5000, libcluster's polling interval).
//!
//! ```
//! use std::time::Duration;
//! use rotp_node::discovery::{Spec, Strategy, INTERVAL};
//!
//! // libcluster's `Epmd` strategy: a fixed list of nodes.
//! let spec: Spec = "epmd:drip@web1,drip@web2".parse()?;
//! assert_eq!(spec.strategy, Strategy::Epmd(vec!["drip@web1".into(), "drip@web2".into()]));
//! assert_eq!(spec.interval, INTERVAL);
//!
//! // libcluster's `DNSPoll`, every second.
//! let spec: Spec = "dns:drip.internal,basename=drip,interval=1000".parse()?;
//! let Strategy::Dns(poll) = &spec.strategy else { panic!("a DNS poll") };
//! assert_eq!((poll.query.as_str(), poll.basename.as_deref()), ("drip.internal", Some("drip")));
//! assert_eq!(spec.interval, Duration::from_secs(1));
//!
//! assert!("consul:drip".parse::<Spec>().is_err()); // not a strategy
//! // Then, with a running node: `rotp_node::discovery::start(&node, vec![spec])`.
//! # Ok::<(), rotp_node::discovery::SpecError>(())
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etf::Atom;
use thiserror::Error;

use crate::Node;

/// libcluster's default polling interval.
pub const INTERVAL: Duration = Duration::from_millis(5000);

/// One strategy and how often it looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// What it asks.
    pub strategy: Strategy,
    /// How often.
    pub interval: Duration,
}

/// Where a strategy looks for nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// These nodes.
    Epmd(Vec<Atom>),
    /// Every node this host's EPMD lists.
    LocalEpmd,
    /// Every node on each host of a `.hosts.erlang` file.
    ErlangHosts(Option<PathBuf>),
    /// What a DNS name resolves to.
    Dns(DnsPoll),
    /// What a headless Service's name resolves to.
    KubernetesDns(DnsPoll),
    /// What the Kubernetes API lists.
    Kubernetes(Kubernetes),
    /// A headless Service's SRV records.
    KubernetesDnsSrv(DnsPoll),
    /// Heartbeats on a multicast group.
    Gossip(Gossip),
}

/// `dns:`'s settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsPoll {
    /// The name looked up.
    pub query: String,
    /// Each node's name before `@` (default: this node's).
    pub basename: Option<String>,
    /// IPv4 addresses.
    pub a: bool,
    /// IPv6 addresses.
    pub aaaa: bool,
    /// SRV records instead of A/AAAA, and how their targets are named.
    pub srv: Option<SrvNodes>,
    /// The one DNS server to ask (rotp's own setting), instead of `/etc/resolv.conf`'s.
    pub nameserver: Option<std::net::SocketAddr>,
}

/// How the targets of SRV records become nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrvNodes {
    /// Each target's addresses, `B@ADDRESS` (`dns:…,types=srv`).
    Addresses,
    /// The target's own name, `B@TARGET` (libcluster's `Kubernetes.DNSSRV`).
    Targets,
}

pub use gossip::Gossip;

/// Why a `--discovery` spec is refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    /// No such strategy.
    #[error("{0:?} is not a discovery strategy (epmd:NODE,…, local-epmd, erlang-hosts[:FILE], dns:QUERY[,basename=B][,types=a,aaaa,srv], kubernetes-dns:service=S,basename=B, kubernetes-dnssrv:service=S,namespace=N,basename=B, kubernetes:selector=LABELS,basename=B, gossip[:port=P,multicast=ADDR,ttl=N,secret=S])")]
    Unknown(String),
    /// A strategy libcluster has that rotp does not have yet.
    #[error("the {0} discovery strategy is not in this version of rotp")]
    NotYet(String),
    /// A setting it needs is missing.
    #[error("{strategy}: {what} is missing")]
    Missing {
        /// The strategy.
        strategy: &'static str,
        /// What.
        what: &'static str,
    },
    /// A setting is not one it knows or has a bad value.
    #[error("{strategy}: {setting:?} is not a setting it takes ({expected})")]
    Setting {
        /// The strategy.
        strategy: &'static str,
        /// The setting as given.
        setting: String,
        /// What it takes.
        expected: &'static str,
    },
    /// A node in an `epmd:` list is not `name@host`.
    #[error("epmd: {0:?} is not a node name (NAME@HOST)")]
    Node(String),
}

mod dns;
mod erlang_hosts;
pub mod gossip;
mod kubernetes;
mod spec;

pub use erlang_hosts::hosts_of;
pub use kubernetes::{Kubernetes, Lookup, Mode, SERVICE_ACCOUNT_DIR};

impl Spec {
    /// Its name in logs, on the dashboard and in the metrics' `strategy` label.
    pub fn label(&self) -> &'static str {
        match self.strategy {
            Strategy::Epmd(_) => "epmd",
            Strategy::LocalEpmd => "local-epmd",
            Strategy::ErlangHosts(_) => "erlang-hosts",
            Strategy::Dns(_) => "dns",
            Strategy::KubernetesDns(_) => "kubernetes-dns",
            Strategy::Kubernetes(_) => "kubernetes",
            Strategy::KubernetesDnsSrv(_) => "kubernetes-dnssrv",
            Strategy::Gossip(_) => "gossip",
        }
    }
}

/// What a strategy sees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The nodes of its last good answer (this node left out).
    pub nodes: Vec<Atom>,
    /// Lookups that failed.
    pub errors: u64,
    /// Why the last one failed, while it still fails.
    pub failing: Option<String>,
}

/// What every strategy of a node sees, by label.
pub(crate) type Discovered = Arc<Mutex<BTreeMap<&'static str, Seen>>>;

/// Runs `specs` for `node` until the node goes down.
pub fn start(node: &Node, specs: Vec<Spec>) {
    for spec in specs {
        let node = node.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = run_spec(&node, &spec) => {}
                () = node.down() => {}
            }
        });
    }
}

async fn run_spec(node: &Node, spec: &Spec) {
    match &spec.strategy {
        Strategy::Gossip(gossip) => gossip::run(node, gossip).await,
        _ => run(node, spec).await,
    }
}

async fn run(node: &Node, spec: &Spec) {
    let label = spec.label();
    let mut good: Vec<Atom> = Vec::new();
    let mut failing = false;
    loop {
        match lookup(node, &spec.strategy).await {
            Ok(mut found) => {
                found.retain(|n| n != node.name());
                found.sort();
                found.dedup();
                if failing {
                    tracing::info!("discovery {label} answers again: {} nodes", found.len());
                    failing = false;
                }
                good = found;
                node.record_discovery(label, |seen| {
                    seen.nodes.clone_from(&good);
                    seen.failing = None;
                });
            }
            Err(why) => {
                if !failing {
                    tracing::warn!(
                        "discovery {label} failed ({why}): keeping its last answer ({} nodes) until it answers again",
                        good.len()
                    );
                    failing = true;
                }
                node.record_discovery(label, |seen| {
                    seen.errors += 1;
                    seen.failing = Some(why.clone());
                });
            }
        }
        let connected = node.nodes(true);
        let missing: Vec<&Atom> = good.iter().filter(|n| !connected.contains(n)).collect();
        let tries = missing.iter().map(|n| async move {
            if node.connect(n).await {
                tracing::info!("discovery {label}: connected to {n}");
            }
        });
        futures::future::join_all(tries).await;
        tokio::time::sleep(spec.interval).await;
    }
}

/// The nodes `strategy` finds now.
async fn lookup(node: &Node, strategy: &Strategy) -> Result<Vec<Atom>, String> {
    let own_host = crate::name::split(node.name().as_str())
        .map(|(_, h)| h.to_owned())
        .unwrap_or_default();
    match strategy {
        Strategy::Epmd(nodes) => Ok(nodes.clone()),
        Strategy::LocalEpmd => {
            let epmd = net::epmd::Client::new(([127, 0, 0, 1], node.epmd_port()).into());
            let (_, names) = epmd.names().await.map_err(|e| e.to_string())?;
            Ok(names
                .into_iter()
                .map(|(name, _)| Atom::from(format!("{name}@{own_host}").as_str()))
                .collect())
        }
        Strategy::ErlangHosts(file) => {
            let hosts = erlang_hosts::read_hosts_file(file.as_deref())?;
            let mut found = Vec::new();
            let mut reached = 0;
            for host in &hosts {
                // As net_adm:world/0: a host that does not answer is passed over.
                let Ok(Some(ip)) = erlang_hosts::resolve(host).await else {
                    continue;
                };
                let epmd = net::epmd::Client::new((ip, node.epmd_port()).into());
                if let Ok((_, names)) = epmd.names().await {
                    reached += 1;
                    found.extend(
                        names
                            .into_iter()
                            .map(|(name, _)| Atom::from(format!("{name}@{host}").as_str())),
                    );
                }
            }
            if reached == 0 && !hosts.is_empty() {
                return Err(format!("no EPMD answered on any of {}", hosts.join(", ")));
            }
            Ok(found)
        }
        Strategy::Dns(poll) | Strategy::KubernetesDns(poll) => dns::poll(node, poll).await,
        Strategy::Kubernetes(k) => Ok(kubernetes::poll(k)
            .await?
            .iter()
            .map(|n| Atom::from(n.as_str()))
            .collect()),
        Strategy::KubernetesDnsSrv(poll) => dns::poll(node, poll).await,
        // Pushed, not polled: `gossip::run` instead.
        Strategy::Gossip(_) => Ok(Vec::new()),
    }
}
