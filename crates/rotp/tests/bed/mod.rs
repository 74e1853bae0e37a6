//! Hosts made of Linux network namespaces for the discovery tests: a hub namespace holds a
//! bridge (`10.25.0.254/24`, `fd25::fe/64`), each host a namespace of its own joined to it by
//! a veth pair (`10.25.0.N/24`, `fd25::N/64`, multicast routed to the bridge), its own EPMD
//! (OTP's, on 4369) and, as `ip netns exec` bind-mounts them, its own `/etc/hosts` and
//! `/etc/resolv.conf` (`/etc/netns/NS/`). Everything is removed when dropped. Needs root.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::Guard;

/// The test bed.
pub struct Bed {
    /// The hub's namespace, where the bridge lives.
    pub hub: String,
    /// The hosts' namespaces, host 1 first.
    pub hosts: Vec<String>,
    // Dropped (killed) before the namespaces go.
    epmds: Vec<Guard>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2) runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Host `n`'s IPv4 address.
pub fn v4(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 25, 0, n as u8)
}

/// Host `n`'s IPv6 address.
pub fn v6(n: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd25, 0, 0, 0, 0, 0, 0, n as u16)
}

/// The hub's address on the bridge, where a DNS server for the hosts listens.
pub const HUB: Ipv4Addr = Ipv4Addr::new(10, 25, 0, 254);

impl Bed {
    /// `count` hosts; each host's `/etc/resolv.conf` names the hub's address, and its
    /// `/etc/hosts` is `hosts`.
    pub fn new(tag: &str, count: usize, hosts: &str) -> Bed {
        let id = format!("r25{tag}{}", std::process::id());
        let hub = format!("{id}hub");
        let mut bed = Bed {
            hub: hub.clone(),
            hosts: Vec::new(),
            epmds: Vec::new(),
        };
        ip(&["netns", "add", &hub]);
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"]);
        // Multicast flooded to every port, as on a switch without IGMP snooping.
        ip(&[
            "-n",
            &hub,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &hub, "link", "set", "br0", "up"]);
        ip(&["-n", &hub, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &hub,
            "addr",
            "add",
            &format!("{HUB}/24"),
            "dev",
            "br0",
        ]);
        ip(&[
            "-n",
            &hub,
            "addr",
            "add",
            "fd25::fe/64",
            "dev",
            "br0",
            "nodad",
        ]);
        for n in 1..=count {
            let ns = format!("{id}h{n}");
            ip(&["netns", "add", &ns]);
            bed.hosts.push(ns.clone());
            let port = format!("v{n}");
            ip(&[
                "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &hub,
            ]);
            ip(&["-n", &hub, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &hub, "link", "set", &port, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", v4(n)),
                "dev",
                "eth0",
            ]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/64", v6(n)),
                "dev",
                "eth0",
                "nodad",
            ]);
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
            let etc = PathBuf::from("/etc/netns").join(&ns);
            std::fs::create_dir_all(&etc).expect("/etc/netns/NS");
            std::fs::write(etc.join("hosts"), hosts).expect("hosts");
            std::fs::write(etc.join("resolv.conf"), format!("nameserver {HUB}\n"))
                .expect("resolv.conf");
            let epmd = bed
                .exec(n, harness::otp_epmd())
                .args(["-port", "4369"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("epmd");
            bed.epmds.push(Guard(epmd));
        }
        for n in 1..=count {
            bed.wait_epmd(n);
        }
        bed
    }

    /// `program` to be run on host `n` (1-based).
    pub fn exec(&self, n: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[n - 1]]).arg(program);
        c
    }

    /// `program` to be run in the hub.
    pub fn exec_hub(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hub]).arg(program);
        c
    }

    fn wait_epmd(&self, n: usize) {
        harness::wait_until(&format!("host {n}'s epmd"), Duration::from_secs(10), || {
            self.exec(n, harness::otp_epmd())
                .args(["-port", "4369", "-names"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
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

    /// The address of host `n` of the given family.
    pub fn address(&self, n: usize, six: bool) -> IpAddr {
        if six {
            v6(n).into()
        } else {
            v4(n).into()
        }
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.epmds.clear();
        for ns in self.hosts.iter().chain(std::iter::once(&self.hub)) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(ns));
        }
    }
}
