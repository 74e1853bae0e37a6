//! DNS polling (libcluster's `DNSPoll` and `Kubernetes.DNS`): the addresses a name resolves
//! to, each a node `BASENAME@ADDRESS`.

use std::time::Duration;

use etf::Atom;

use super::DnsPoll;
use crate::Node;

/// The nodes `poll`'s name resolves to now.
pub(super) async fn poll(node: &Node, poll: &DnsPoll) -> Result<Vec<Atom>, String> {
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
