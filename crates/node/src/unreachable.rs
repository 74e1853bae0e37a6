//! Why a node could not be reached, step by step as a connection is set up: the name, the
//! host's address, its EPMD, the name registered there, the node's port, TLS, the cookie.
//! Each is one sentence that names what is wrong, for the tools an operator runs against a
//! node that does not answer (a release's `remote`, `rpc`, `stop`; `rotp remsh`), where erl
//! says only `pang` — the most common complaint on Kubernetes is a release that cannot reach
//! its own node.
//!
//! ```
//! use rotp_node::{name::NameKind, Node, NodeConfig, Unreachable};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..Default::default() })?;
//! # let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! # tokio::spawn(epmd.run());
//! // A client node that only connects out (as `erl_call` and a release's `rpc` are), against
//! // an EPMD where no node is registered.
//! let mut config = NodeConfig::new("probe@127.0.0.1", NameKind::Long, dist::Cookie::new("secret"));
//! config.listen = false;
//! config.epmd_port = epmd_port;
//! let probe = Node::start(config).await?;
//! let why = probe.connect_or_why(&"drip@127.0.0.1".into()).await.unwrap_err();
//! assert!(matches!(&why, Unreachable::NotRegistered { name, .. } if name == "drip"));
//! // erl says `pang`; this says which step failed.
//! assert!(why.to_string().starts_with("EPMD on 127.0.0.1 has no node named drip"));
//! # Ok(()) }
//! ```

use thiserror::Error;

/// Why a connection to a node failed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unreachable {
    /// The name is not `name@host`.
    #[error("{0:?} is not a node name (NAME@HOST)")]
    BadName(String),
    /// The host's name does not resolve.
    #[error("the host {host} does not resolve ({error}): is the host part of the node name right, and does this machine's DNS know it?")]
    Resolve {
        /// The host part of the name.
        host: String,
        /// What the resolver said.
        error: String,
    },
    /// No EPMD answered on the host.
    #[error("no EPMD answers on {host} port {port} ({error}): is the node running on that host, and is the port open to this machine?")]
    Epmd {
        /// The host.
        host: String,
        /// EPMD's port.
        port: u16,
        /// What connecting to it gave.
        error: String,
    },
    /// EPMD answered, without the name.
    #[error("EPMD on {host} has no node named {name} ({}): is the name right?", known(.names))]
    NotRegistered {
        /// The name part.
        name: String,
        /// The host.
        host: String,
        /// The names it has.
        names: Vec<String>,
    },
    /// The node's port did not take the connection.
    #[error("EPMD on {host} gives {name} port {port}, but that port does not take a connection ({error}): a firewall or a network policy between here and there?")]
    Port {
        /// The name part.
        name: String,
        /// The host.
        host: String,
        /// The node's distribution port.
        port: u16,
        /// What connecting gave.
        error: String,
    },
    /// The TLS handshake failed.
    #[error("TLS with {node} failed ({error}): do both sides use TLS distribution, with certificates the other trusts?")]
    Tls {
        /// The node.
        node: String,
        /// What TLS said.
        error: String,
    },
    /// The node closed the connection when it checked our cookie.
    #[error("{node} refused our cookie: it is not the node's (RELEASE_COOKIE, --cookie or ~/.erlang.cookie)")]
    Cookie {
        /// The node.
        node: String,
    },
    /// Another handshake failure.
    #[error("the distribution handshake with {node} failed: {error}")]
    Handshake {
        /// The node.
        node: String,
        /// What failed.
        error: String,
    },
    /// The whole set-up took longer than `net_setuptime`.
    #[error("{node} did not finish connecting within {seconds} s (net_setuptime): is the host slow or the network dropping packets?")]
    Timeout {
        /// The node.
        node: String,
        /// The limit.
        seconds: u64,
    },
    /// The connection came up and went again, or this node is down.
    #[error("{node} could not be connected to")]
    Other {
        /// The node.
        node: String,
    },
}

fn known(names: &[String]) -> String {
    if names.is_empty() {
        "it has none".to_owned()
    } else {
        format!("it has {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_says_what_is_wrong_in_one_sentence() {
        let missing = Unreachable::NotRegistered {
            name: "drip".into(),
            host: "web-1".into(),
            names: vec!["other".into(), "rpc-1-drip".into()],
        };
        assert_eq!(
            missing.to_string(),
            "EPMD on web-1 has no node named drip (it has other, rpc-1-drip): is the name right?"
        );
        let cookie = Unreachable::Cookie {
            node: "drip@web-1".into(),
        };
        assert!(cookie.to_string().contains("refused our cookie"));
        for e in [missing, cookie] {
            assert!(!e.to_string().contains('\n'));
        }
    }
}
