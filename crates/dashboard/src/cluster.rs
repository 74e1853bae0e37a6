//! The cluster page's data: the nodes each known host's EPMD lists (`NAMES_REQ`, as
//! `epmd -names` and `net_adm:names/1` ask), the nodes the dashboard watches, and, for each
//! node it is connected to, that node's own connections (`erlang:nodes(connected)`) and
//! what each of its discovery strategies sees (`rotp:metrics()`, through the window).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use etf::{Atom, Term};
use futures::future::join_all;
use node::Node;

/// How long a host's EPMD, or a node's answer, may take.
const ASK: Duration = Duration::from_secs(3);

/// One host's EPMD answer.
pub(crate) struct Host {
    /// The host name, as node names spell it.
    pub(crate) name: String,
    /// The nodes registered there and their distribution ports, or why EPMD did not say.
    pub(crate) names: Result<Vec<(String, u16)>, String>,
}

/// One node on the cluster page.
pub(crate) struct Row {
    pub(crate) name: String,
    /// The distribution port EPMD gave, if its host's EPMD lists it.
    pub(crate) port: Option<u16>,
    /// Connected to the dashboard (or the dashboard's own node).
    pub(crate) connected: bool,
    /// Watched from the start, or picked since.
    pub(crate) watched: bool,
    /// The nodes it is connected to, if it answered.
    pub(crate) connections: Option<Vec<String>>,
    /// What each of its discovery strategies sees, if it is a rotp node and answered.
    pub(crate) discovery: Option<BTreeMap<String, window::Discovery>>,
}

/// The host part of `name@host`.
pub(crate) fn host_of(name: &str) -> Option<&str> {
    name.split_once('@')
        .map(|(_, h)| h)
        .filter(|h| !h.is_empty())
}

/// The nodes `host`'s EPMD (on `epmd_port`) lists.
async fn names(host: &str, epmd_port: u16) -> Result<Vec<(String, u16)>, String> {
    let lookup = tokio::time::timeout(ASK, tokio::net::lookup_host((host, epmd_port)));
    let addr: SocketAddr = match lookup.await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .ok_or_else(|| format!("{host} has no address"))?,
        Ok(Err(e)) => return Err(format!("{host} does not resolve: {e}")),
        Err(_) => return Err(format!("resolving {host} took over {ASK:?}")),
    };
    let client = net::epmd::Client::new(addr);
    match tokio::time::timeout(ASK, client.names()).await {
        Ok(Ok((_, names))) => Ok(names),
        Ok(Err(e)) => Err(format!("EPMD at {addr}: {e}")),
        Err(_) => Err(format!("EPMD at {addr} did not answer within {ASK:?}")),
    }
}

/// What the cluster page shows: each host's EPMD, and every node seen there or watched.
pub(crate) async fn survey(node: &Node, watched: &[Atom]) -> (Vec<Host>, Vec<Row>) {
    let mut hosts: BTreeSet<String> = watched
        .iter()
        .chain(std::iter::once(node.name()))
        .filter_map(|n| host_of(n.as_str()).map(str::to_owned))
        .collect();
    // A node name's host may be an address; keep each once.
    hosts.retain(|h| !h.is_empty());
    let epmd_port = node.epmd_port();
    let hosts: Vec<Host> = join_all(hosts.into_iter().map(|h| async move {
        let names = names(&h, epmd_port).await;
        Host { name: h, names }
    }))
    .await;
    let connected: BTreeSet<Atom> = node.nodes(true).into_iter().collect();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for host in &hosts {
        for (alive, port) in host.names.as_ref().map_or(&[][..], Vec::as_slice) {
            let name = format!("{alive}@{}", host.name);
            rows.insert(
                name.clone(),
                Row {
                    connected: connected.iter().any(|c| c.as_str() == name)
                        || node.name().as_str() == name,
                    name,
                    port: Some(*port),
                    watched: false,
                    connections: None,
                    discovery: None,
                },
            );
        }
    }
    for w in watched {
        let row = rows.entry(w.to_string()).or_insert_with(|| Row {
            name: w.to_string(),
            port: None,
            connected: connected.contains(w) || w == node.name(),
            watched: true,
            connections: None,
            discovery: None,
        });
        row.watched = true;
    }
    // Each connected node's own connections, all asked at once.
    let asks = rows.values().filter(|r| r.connected).map(|r| {
        let target = Atom::from(r.name.as_str());
        async move {
            let (reply, figures) = futures::join!(
                node.rpc(
                    &target,
                    "erlang",
                    "nodes",
                    vec![Term::List(vec![Term::atom("connected")])],
                    ASK,
                ),
                window::rotp_figures_of(node, &target, ASK)
            );
            let nodes = match reply {
                Term::List(v) => Some(
                    v.iter()
                        .filter_map(Term::as_atom)
                        .map(str::to_owned)
                        .collect(),
                ),
                _ => None,
            };
            (target.to_string(), nodes, figures.map(|f| f.discovery))
        }
    });
    for (name, nodes, discovery) in join_all(asks).await {
        if let Some(row) = rows.get_mut(&name) {
            row.connections = nodes;
            row.discovery = discovery;
        }
    }
    (hosts, rows.into_values().collect())
}
