//! DNS polling (libcluster's `DNSPoll`, `Kubernetes.DNS` and `Kubernetes.DNSSRV`, and Fly's
//! `dns_cluster`): the addresses a name resolves to, each a node `BASENAME@ADDRESS`; or its
//! SRV records, each target a node `BASENAME@ADDRESS` (`dns:…,types=srv`) or
//! `BASENAME@TARGET` (`kubernetes-dnssrv`).
//!
//! A and AAAA records are asked of the system's resolver (`getaddrinfo`, so `/etc/hosts`
//! counts) unless a `nameserver=` is given; SRV records, which `getaddrinfo` cannot ask
//! for, go to hickory's resolver, configured from `/etc/resolv.conf` as the system's is, or
//! to the `nameserver=`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etf::Atom;
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolveHosts, ResolverConfig,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

use super::{DnsPoll, SrvNodes};
use crate::Node;

/// How long one poll may take.
const ANSWER_TIME: Duration = Duration::from_secs(5);

/// The nodes `poll`'s name resolves to now.
pub(super) async fn poll(node: &Node, poll: &DnsPoll) -> Result<Vec<Atom>, String> {
    let basename = match &poll.basename {
        Some(b) => b.clone(),
        None => crate::name::split(node.name().as_str())
            .map(|(a, _)| a.to_owned())
            .unwrap_or_default(),
    };
    let hosts = tokio::time::timeout(ANSWER_TIME, hosts(poll))
        .await
        .map_err(|_| format!("{} had no answer within 5 s", poll.query))??;
    Ok(hosts
        .into_iter()
        .map(|host| Atom::from(format!("{basename}@{host}").as_str()))
        .collect())
}

/// The host part of each node `poll` finds: an address, or an SRV target's name.
async fn hosts(poll: &DnsPoll) -> Result<Vec<String>, String> {
    let family = |ip: &IpAddr| (ip.is_ipv4() && poll.a) || (ip.is_ipv6() && poll.aaaa);
    let Some(srv) = poll.srv else {
        let addresses = match poll.nameserver {
            None => tokio::net::lookup_host((poll.query.as_str(), 0))
                .await
                .map_err(|e| format!("{}: {e}", poll.query))?
                .map(|a| a.ip())
                .collect(),
            Some(_) => addresses_of(&resolver(poll)?, &poll.query).await?,
        };
        return Ok(addresses
            .into_iter()
            .filter(family)
            .map(|ip| ip.to_string())
            .collect());
    };
    let resolver = resolver(poll)?;
    let answer = resolver
        .srv_lookup(poll.query.as_str())
        .await
        .map_err(|e| format!("{} (SRV): {e}", poll.query))?;
    let targets: Vec<String> = answer
        .iter()
        .map(|srv| target_name(&srv.target().to_utf8()))
        .collect();
    match srv {
        SrvNodes::Targets => Ok(targets),
        SrvNodes::Addresses => {
            let mut found = Vec::new();
            let mut failed = None;
            for target in &targets {
                // A target without addresses is passed over; the others still count.
                match addresses_of(&resolver, target).await {
                    Ok(ips) => {
                        found.extend(ips.into_iter().filter(family).map(|ip| ip.to_string()))
                    }
                    Err(why) => failed = Some(why),
                }
            }
            match failed {
                // Not one target resolved: a failed lookup (the last answer is kept).
                Some(why) if found.is_empty() => {
                    Err(format!("{} (SRV): no target resolved: {why}", poll.query))
                }
                _ => Ok(found),
            }
        }
    }
}

/// An SRV target as libcluster names a node after it (`inet_res` gives it without the root's
/// dot).
fn target_name(target: &str) -> String {
    target.strip_suffix('.').unwrap_or(target).to_owned()
}

/// A resolver for one poll: `/etc/resolv.conf` read again, as the system's resolver reads it,
/// or the `nameserver=` alone. Nothing is cached between polls.
fn resolver(poll: &DnsPoll) -> Result<TokioResolver, String> {
    let mut builder = match poll.nameserver {
        Some(at) => {
            // The nameserver alone: not `/etc/hosts` first.
            let servers = NameServerConfigGroup::from_ips_clear(&[at.ip()], at.port(), true);
            let mut builder = TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), servers),
                TokioConnectionProvider::default(),
            );
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            builder
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| format!("the system's resolver configuration: {e}"))?,
    };
    let options = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.cache_size = 0;
    options.timeout = Duration::from_secs(2);
    Ok(builder.build())
}

async fn addresses_of(resolver: &TokioResolver, name: &str) -> Result<Vec<IpAddr>, String> {
    Ok(resolver
        .lookup_ip(name)
        .await
        .map_err(|e| format!("{name}: {e}"))?
        .iter()
        .collect())
}

/// `nameserver=IP[:PORT]` (port 53 unless given; an IPv6 address with a port in brackets).
pub(super) fn nameserver(value: &str) -> Option<SocketAddr> {
    value.parse::<SocketAddr>().ok().or_else(|| {
        value
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_lose_the_roots_dot_and_nameservers_default_to_port_53() {
        assert_eq!(
            target_name("drip-0.drip-headless.prod.svc.cluster.local."),
            "drip-0.drip-headless.prod.svc.cluster.local"
        );
        assert_eq!(target_name("host"), "host");
        assert_eq!(nameserver("10.0.0.2"), Some(([10, 0, 0, 2], 53).into()));
        assert_eq!(
            nameserver("127.0.0.1:8600"),
            Some(([127, 0, 0, 1], 8600).into())
        );
        assert_eq!(nameserver("[fd00::1]:5353"), "[fd00::1]:5353".parse().ok());
        assert_eq!(nameserver("fd00::1"), "[fd00::1]:53".parse().ok());
        assert_eq!(nameserver("consul"), None);
    }
}
