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
//! - `dns:QUERY[,basename=B][,types=a,aaaa][,interval=MS]` — libcluster's `DNSPoll`: the
//!   addresses QUERY resolves to, each a node `B@ADDRESS` (B defaults to this node's name).
//!
//! - `kubernetes-dns:service=S,basename=B[,namespace=N]` — libcluster's
//!   `Kubernetes.DNS`: a headless Service's A/AAAA records (`S.N.svc.cluster.local` with a
//!   namespace, else `S` through the pod's search domains), each a node `B@ADDRESS`.
//!
//! Every form takes `interval=MS` (default 5000, libcluster's polling interval).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
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
}

/// Why a `--discovery` spec is refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    /// No such strategy.
    #[error("{0:?} is not a discovery strategy (epmd:NODE,…, local-epmd, erlang-hosts[:FILE], dns:QUERY[,basename=B], kubernetes-dns:service=S,basename=B)")]
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

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Spec, SpecError> {
        let spec = spec.trim();
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let mut interval = INTERVAL;
        let mut positional = Vec::new();
        let mut settings = Vec::new();
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("interval", ms)) => {
                    let ms: u64 = ms.parse().ok().filter(|ms| *ms >= 100).ok_or_else(|| {
                        SpecError::Setting {
                            strategy: "discovery",
                            setting: part.to_owned(),
                            expected: "interval=MS, at least 100",
                        }
                    })?;
                    interval = Duration::from_millis(ms);
                }
                Some((key, value)) => settings.push((key, value)),
                None => positional.push(part),
            }
        }
        let strategy = match kind {
            "epmd" => {
                no_settings("epmd", &settings, "NODE,NODE…")?;
                let nodes = positional
                    .iter()
                    .map(|n| match n.split_once('@') {
                        Some((a, h)) if !a.is_empty() && !h.is_empty() && !h.contains('@') => {
                            Ok(Atom::from(*n))
                        }
                        _ => Err(SpecError::Node((*n).to_owned())),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if nodes.is_empty() {
                    return Err(SpecError::Missing {
                        strategy: "epmd",
                        what: "the nodes (epmd:NODE@HOST,…)",
                    });
                }
                Strategy::Epmd(nodes)
            }
            "local-epmd" => {
                no_settings("local-epmd", &settings, "interval=MS only")?;
                Strategy::LocalEpmd
            }
            "erlang-hosts" => {
                no_settings("erlang-hosts", &settings, "a file, interval=MS")?;
                // The file is the whole rest (a path may hold a comma).
                let file = rest.split(",interval=").next().unwrap_or("").trim();
                Strategy::ErlangHosts((!file.is_empty()).then(|| PathBuf::from(file)))
            }
            "dns" => {
                let query = positional.first().copied().ok_or(SpecError::Missing {
                    strategy: "dns",
                    what: "the name to look up (dns:QUERY)",
                })?;
                let mut poll = DnsPoll {
                    query: query.to_owned(),
                    basename: None,
                    a: true,
                    aaaa: true,
                };
                // `types=a,aaaa` spreads over the comma-separated parts: the bare words after
                // it are more types.
                let mut types: Option<Vec<&str>> = None;
                for (key, value) in &settings {
                    match *key {
                        "basename" if !value.is_empty() => poll.basename = Some((*value).into()),
                        "types" => types = Some(vec![value]),
                        _ => return Err(dns_setting(key, value)),
                    }
                }
                if let Some(mut types) = types {
                    types.extend(positional.iter().skip(1));
                    poll.a = false;
                    poll.aaaa = false;
                    for t in types {
                        match t.to_ascii_lowercase().as_str() {
                            "a" => poll.a = true,
                            "aaaa" => poll.aaaa = true,
                            "srv" => return Err(SpecError::NotYet("dns (SRV records)".into())),
                            _ => return Err(dns_setting("types", t)),
                        }
                    }
                } else if positional.len() > 1 {
                    return Err(dns_setting(positional[1], ""));
                }
                Strategy::Dns(poll)
            }
            "kubernetes-dns" => {
                if let Some(extra) = positional.first() {
                    return Err(kubernetes_dns_setting(extra));
                }
                let (mut service, mut basename, mut namespace) = (None, None, None);
                for (key, value) in &settings {
                    match *key {
                        "service" if !value.is_empty() => service = Some(*value),
                        "basename" if !value.is_empty() => basename = Some(*value),
                        "namespace" if !value.is_empty() => namespace = Some(*value),
                        _ => return Err(kubernetes_dns_setting(&format!("{key}={value}"))),
                    }
                }
                let service = service.ok_or(SpecError::Missing {
                    strategy: "kubernetes-dns",
                    what: "service=S",
                })?;
                let basename = basename.ok_or(SpecError::Missing {
                    strategy: "kubernetes-dns",
                    what: "basename=B",
                })?;
                Strategy::KubernetesDns(DnsPoll {
                    query: match namespace {
                        Some(ns) => format!("{service}.{ns}.svc.cluster.local"),
                        None => service.to_owned(),
                    },
                    basename: Some(basename.to_owned()),
                    a: true,
                    aaaa: true,
                })
            }
            "kubernetes" | "kubernetes-dnssrv" | "gossip" => {
                return Err(SpecError::NotYet(kind.to_owned()))
            }
            _ => return Err(SpecError::Unknown(spec.to_owned())),
        };
        Ok(Spec { strategy, interval })
    }
}

fn no_settings(
    strategy: &'static str,
    settings: &[(&str, &str)],
    expected: &'static str,
) -> Result<(), SpecError> {
    match settings.first() {
        Some((k, v)) => Err(SpecError::Setting {
            strategy,
            setting: format!("{k}={v}"),
            expected,
        }),
        None => Ok(()),
    }
}

fn kubernetes_dns_setting(setting: &str) -> SpecError {
    SpecError::Setting {
        strategy: "kubernetes-dns",
        setting: setting.to_owned(),
        expected: "service=S, basename=B, namespace=N, interval=MS",
    }
}

fn dns_setting(key: &str, value: &str) -> SpecError {
    SpecError::Setting {
        strategy: "dns",
        setting: if value.is_empty() {
            key.to_owned()
        } else {
            format!("{key}={value}")
        },
        expected: "basename=B, types=a,aaaa, interval=MS",
    }
}

impl Spec {
    /// Its name in logs, on the dashboard and in the metrics' `strategy` label.
    pub fn label(&self) -> &'static str {
        match self.strategy {
            Strategy::Epmd(_) => "epmd",
            Strategy::LocalEpmd => "local-epmd",
            Strategy::ErlangHosts(_) => "erlang-hosts",
            Strategy::Dns(_) => "dns",
            Strategy::KubernetesDns(_) => "kubernetes-dns",
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
                () = run(&node, &spec) => {}
                () = node.down() => {}
            }
        });
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
            let hosts = read_hosts_file(file.as_deref())?;
            let mut found = Vec::new();
            let mut reached = 0;
            for host in &hosts {
                // As net_adm:world/0: a host that does not answer is passed over.
                let Ok(Some(ip)) = resolve(host).await else {
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
        Strategy::Dns(poll) | Strategy::KubernetesDns(poll) => {
            let basename = match &poll.basename {
                Some(b) => b.clone(),
                None => crate::name::split(node.name().as_str())
                    .map(|(a, _)| a.to_owned())
                    .unwrap_or_default(),
            };
            let lookup = tokio::net::lookup_host((poll.query.as_str(), 0));
            let addresses = tokio::time::timeout(Duration::from_secs(5), lookup)
                .await
                .map_err(|_| format!("{} had no answer within 5 s", poll.query))?
                .map_err(|e| format!("{}: {e}", poll.query))?;
            Ok(addresses
                .map(|a| a.ip())
                .filter(|ip| (ip.is_ipv4() && poll.a) || (ip.is_ipv6() && poll.aaaa))
                .map(|ip| Atom::from(format!("{basename}@{ip}").as_str()))
                .collect())
        }
    }
}

/// A host's first IPv4 address.
async fn resolve(host: &str) -> std::io::Result<Option<std::net::IpAddr>> {
    Ok(tokio::net::lookup_host((host, 0))
        .await?
        .map(|a| a.ip())
        .find(std::net::IpAddr::is_ipv4))
}

/// The hosts of a `.hosts.erlang` file: `file`, else `./.hosts.erlang`, else
/// `~/.hosts.erlang`, as `net_adm:host_file/0` looks.
fn read_hosts_file(file: Option<&std::path::Path>) -> Result<Vec<String>, String> {
    let candidates: Vec<PathBuf> = match file {
        Some(f) => vec![f.to_owned()],
        None => {
            let mut c = vec![PathBuf::from(".hosts.erlang")];
            if let Some(home) = std::env::var_os("HOME") {
                c.push(PathBuf::from(home).join(".hosts.erlang"));
            }
            c
        }
    };
    for path in &candidates {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok(hosts_of(&text)),
            Err(e) if file.is_some() => return Err(format!("{}: {e}", path.display())),
            Err(_) => {}
        }
    }
    Err("no .hosts.erlang here or in the home directory".into())
}

/// The host atoms of a `.hosts.erlang` text: terms ended by `.`, `%` comments.
pub fn hosts_of(text: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    let mut term = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '%' if !quoted => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '.' if !quoted && chars.peek().is_none_or(|n| n.is_whitespace() || *n == '%') => {
                let host = term.trim();
                if !host.is_empty() {
                    hosts.push(host.to_owned());
                }
                term.clear();
            }
            c => term.push(c),
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_written() {
        let spec: Spec = "epmd:a@h1,b@h2".parse().expect("epmd");
        assert_eq!(
            spec.strategy,
            Strategy::Epmd(vec![Atom::from("a@h1"), Atom::from("b@h2")])
        );
        assert_eq!(spec.interval, INTERVAL);
        assert_eq!(
            "local-epmd".parse::<Spec>().map(|s| s.strategy),
            Ok(Strategy::LocalEpmd)
        );
        assert_eq!(
            "erlang-hosts".parse::<Spec>().map(|s| s.strategy),
            Ok(Strategy::ErlangHosts(None))
        );
        assert_eq!(
            "erlang-hosts:/etc/drip/hosts"
                .parse::<Spec>()
                .map(|s| s.strategy),
            Ok(Strategy::ErlangHosts(Some("/etc/drip/hosts".into())))
        );
        let dns: Spec = "dns:drip.internal,basename=drip,types=a,interval=2000"
            .parse()
            .expect("dns");
        assert_eq!(
            dns.strategy,
            Strategy::Dns(DnsPoll {
                query: "drip.internal".into(),
                basename: Some("drip".into()),
                a: true,
                aaaa: false,
            })
        );
        assert_eq!(dns.interval, Duration::from_millis(2000));
        let k8s: Spec = "kubernetes-dns:service=drip-headless,basename=drip,namespace=prod"
            .parse()
            .expect("kubernetes-dns");
        assert_eq!(k8s.label(), "kubernetes-dns");
        assert!(matches!(
            k8s.strategy,
            Strategy::KubernetesDns(DnsPoll { ref query, ref basename, .. })
                if query == "drip-headless.prod.svc.cluster.local"
                    && basename.as_deref() == Some("drip")
        ));
        let both: Spec = "dns:q,types=a,aaaa".parse().expect("both");
        assert!(matches!(
            both.strategy,
            Strategy::Dns(DnsPoll {
                a: true,
                aaaa: true,
                ..
            })
        ));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("zookeeper:x", "is not a discovery strategy"),
            ("epmd:", "the nodes"),
            ("epmd:nohost", "is not a node name"),
            ("dns:", "the name to look up"),
            ("dns:q,colour=blue", "is not a setting it takes"),
            ("dns:q,types=mx", "is not a setting it takes"),
            ("dns:q,interval=5", "at least 100"),
            ("gossip", "not in this version"),
            ("kubernetes-dns:service=s", "basename=B is missing"),
            ("kubernetes-dns:basename=b", "service=S is missing"),
            (
                "kubernetes-dns:service=s,basename=b,mode=ip",
                "is not a setting it takes",
            ),
        ] {
            let e = spec.parse::<Spec>().expect_err(spec).to_string();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }

    #[test]
    fn a_hosts_file_reads_as_net_adm_reads_it() {
        let text = "% the cluster\n'web-1'.\n'db.example.com'. % the database\nbare.\n";
        assert_eq!(hosts_of(text), ["web-1", "db.example.com", "bare"]);
        assert!(hosts_of("").is_empty());
    }
}
