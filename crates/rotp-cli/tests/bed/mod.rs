//! rotp nodes on the multi-host test bed (`harness::bed`): `count` hosts, each with OTP's EPMD
//! on 4369, and a `dns` host whose `dnsmasq` every host's `/etc/resolv.conf` names. Needs
//! root.

#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::bed::Host;
use harness::dnsmasq::{Dnsmasq, Record, DNSMASQ};
use harness::Guard;

/// The hosts and their EPMDs.
pub struct Bed {
    /// Hosts 1, 2, … (index 0 is host 1).
    pub hosts: Vec<Host>,
    /// The host a DNS server runs on.
    pub dns: Host,
    // Dropped (killed) before the namespaces go.
    epmds: Vec<Guard>,
    /// The bed itself.
    pub bed: harness::bed::Bed,
}

impl Bed {
    /// `count` hosts with an EPMD each, and the DNS host.
    pub fn new(count: usize) -> Bed {
        let bed = harness::bed::Bed::new();
        let hosts: Vec<Host> = (1..=count).map(|n| bed.host(&format!("h{n}"))).collect();
        let dns = bed.host("dns");
        bed.use_dns(dns.address);
        let epmds = hosts.iter().map(Host::epmd).collect();
        Bed {
            hosts,
            dns,
            epmds,
            bed,
        }
    }

    /// Host `n`'s IPv4 address (1-based).
    pub fn v4(&self, n: usize) -> Ipv4Addr {
        self.hosts[n - 1].address
    }

    /// Host `n`'s IPv6 address.
    pub fn v6(&self, n: usize) -> Ipv6Addr {
        self.hosts[n - 1].address6
    }

    /// `program` to be run on host `n` (1-based).
    pub fn exec(&self, n: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.hosts[n - 1].command(program)
    }

    /// `dnsmasq` on the DNS host's `port` answering `records`; with port 53 it waits until
    /// host 1 resolves `probe` through its resolv.conf.
    pub fn dnsmasq(&self, port: u16, records: &[Record], probe: &str) -> Dnsmasq {
        let dns = Dnsmasq::start_unchecked(
            self.dns.command(DNSMASQ),
            self.dns.address.into(),
            port,
            records,
        );
        if port == 53 {
            harness::wait_until("dnsmasq to answer", Duration::from_secs(10), || {
                self.exec(1, "getent")
                    .args(["ahosts", probe])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
        }
        dns
    }

    /// `rotp node --name NAME --cookie COOKIE EXTRA…` on host `n`.
    pub fn rotp_node(&self, n: usize, name: &str, cookie: &str, extra: &[&str]) -> Guard {
        let log = std::env::var_os("BED_LOG").is_some();
        Guard(
            self.exec(n, env!("CARGO_BIN_EXE_rotp"))
                .args(["node", "--name", name, "--cookie", cookie])
                .args(extra)
                .env("ERL_EPMD_PORT", "4369")
                .env_remove("RELEASE_COOKIE")
                .stdin(Stdio::null())
                .stdout(if log { Stdio::inherit() } else { Stdio::null() })
                .stderr(if log { Stdio::inherit() } else { Stdio::null() })
                .spawn()
                .expect("rotp node"),
        )
    }

    /// `erlang:nodes()` of `node` (on host `n`), as `rotp rpc` prints it, or `None` if it does
    /// not answer.
    pub fn nodes_of(&self, n: usize, node: &str, cookie: &str) -> Option<String> {
        let out = self
            .exec(n, env!("CARGO_BIN_EXE_rotp"))
            .args(["rpc", node, "erlang", "nodes", "[]", "--cookie", cookie])
            .env("ERL_EPMD_PORT", "4369")
            .env_remove("RELEASE_COOKIE")
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Waits (bounded) until every node of `nodes` (on hosts 1, 2, …) lists all the others.
    pub fn wait_connected(&self, nodes: &[&str], cookie: &str, within: Duration) {
        harness::wait_until(
            &format!("{} connected to each other", nodes.join(", ")),
            within,
            || {
                nodes.iter().enumerate().all(|(i, node)| {
                    self.nodes_of(i + 1, node, cookie).is_some_and(|seen| {
                        nodes
                            .iter()
                            .filter(|other| *other != node)
                            .all(|other| seen.contains(*other))
                    })
                })
            },
        );
    }
}
