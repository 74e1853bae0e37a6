//! A multi-host test bed on one machine: each host a Linux network namespace of its own with
//! one address on `10.77.0.0/24` and one on `fd77::/64`, all joined by a bridge that lives in a namespace of its own
//! (the "switch"), so traffic never leaves namespaces the test made and two beds never see
//! each other. Programs run on a host through `ip netns exec` (which also lays the host's own
//! `/etc/hosts` and `/etc/resolv.conf` over the machine's, from `/etc/netns/NAME/`); test
//! code runs on a host in a thread moved into its namespace ([`Host::run`]). A host can be cut
//! off and healed ([`Host::cut`]: its packets dropped by iptables, as a partition does, so
//! connections hang rather than fail). Needs root, `iproute2` and `iptables`; everything made
//! is removed when the bed drops (and a bed left by a killed test is removed by the next).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// The bed's network.
pub const NETWORK: [u8; 3] = [10, 77, 0];

static BEDS: AtomicU32 = AtomicU32::new(0);

/// A bed: a switch and the hosts plugged into it.
pub struct Bed {
    prefix: String,
    switch: String,
    hosts: Mutex<Vec<Host>>,
    dns: Mutex<Option<Ipv4Addr>>,
    aliases: Mutex<Vec<(String, IpAddr)>>,
}

/// One host of a [`Bed`].
#[derive(Clone, Debug)]
pub struct Host {
    /// Its name in the bed (and its host name in every host's `/etc/hosts`).
    pub name: String,
    /// Its network namespace's name.
    pub netns: String,
    /// Its address.
    pub address: Ipv4Addr,
    /// Its IPv6 address.
    pub address6: Ipv6Addr,
}

/// Runs `ip ARGS`, failing the test with what it said if it fails.
fn ip(args: &[&str]) {
    run("ip", args);
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (the bed needs iproute2 and iptables): {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes the namespaces and files of beds whose test process is gone.
fn sweep() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name
            .strip_prefix("bed")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "delete", name]).status();
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{name}"));
        }
    }
}

impl Bed {
    /// A new bed with no hosts yet.
    pub fn new() -> Bed {
        sweep();
        let prefix = format!(
            "bed{}-{}",
            std::process::id(),
            BEDS.fetch_add(1, Ordering::Relaxed)
        );
        let switch = format!("{prefix}-switch");
        ip(&["netns", "add", &switch]);
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        // Multicast flooded to every port, as a switch without IGMP snooping does.
        ip(&[
            "-n",
            &switch,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        Bed {
            prefix,
            switch,
            hosts: Mutex::new(Vec::new()),
            dns: Mutex::new(None),
            aliases: Mutex::new(Vec::new()),
        }
    }

    /// A new host named `name` (unique in the bed), plugged in and up: `10.77.0.N` and
    /// `fd77::N`, with `N` counting from 2 as hosts are made.
    pub fn host(&self, name: &str) -> Host {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let n = u8::try_from(hosts.len() + 2).expect("fewer than 250 hosts");
        let netns = format!("{}-{name}", self.prefix);
        let port = format!("p{n}");
        ip(&["netns", "add", &netns]);
        ip(&[
            "-n",
            &self.switch,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns,
        ]);
        ip(&["-n", &self.switch, "link", "set", &port, "master", "br0"]);
        ip(&["-n", &self.switch, "link", "set", &port, "up"]);
        let address = Ipv4Addr::new(NETWORK[0], NETWORK[1], NETWORK[2], n);
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            "eth0",
        ]);
        let address6 = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, u16::from(n));
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{address6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        ip(&["-n", &netns, "link", "set", "eth0", "up"]);
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        // Multicast (libcluster's Gossip) goes out on the bed's network.
        ip(&["-n", &netns, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
        let host = Host {
            name: name.to_owned(),
            netns,
            address,
            address6,
        };
        hosts.push(host.clone());
        drop(hosts);
        self.write_etc();
        host
    }

    /// Every host's resolver asks `server` from now on (`/etc/resolv.conf` of each host).
    pub fn use_dns(&self, server: Ipv4Addr) {
        *self.dns.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
        self.write_etc();
    }

    /// Every host's `/etc/hosts` names `address` `name` too (a pod's DNS name, say).
    pub fn alias(&self, name: &str, address: IpAddr) {
        self.aliases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_owned(), address));
        self.write_etc();
    }

    /// Each host's `/etc/hosts` (every host of the bed by name, and the aliases) and
    /// `/etc/resolv.conf`.
    fn write_etc(&self) {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let dns = *self.dns.lock().unwrap_or_else(|e| e.into_inner());
        let mut table = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for h in hosts.iter() {
            table.push_str(&format!("{} {}\n", h.address, h.name));
        }
        for (name, address) in self
            .aliases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            table.push_str(&format!("{address} {name}\n"));
        }
        for h in hosts.iter() {
            let dir = h.etc();
            std::fs::create_dir_all(&dir).expect("/etc/netns/HOST");
            std::fs::write(dir.join("hosts"), &table).expect("the host's /etc/hosts");
            let resolv = match dns {
                Some(server) => format!("nameserver {server}\noptions timeout:1 attempts:2\n"),
                // No resolver: names not in /etc/hosts fail at once.
                None => "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n".to_owned(),
            };
            std::fs::write(dir.join("resolv.conf"), resolv).expect("the host's resolv.conf");
        }
    }
}

impl Default for Bed {
    fn default() -> Bed {
        Bed::new()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        for h in hosts.iter() {
            let _ = Command::new("ip")
                .args(["netns", "delete", &h.netns])
                .status();
            let _ = std::fs::remove_dir_all(h.etc());
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.switch])
            .status();
    }
}

impl Host {
    fn etc(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.netns)
    }

    /// `program` to be run on this host (`ip netns exec NETNS program`); add its arguments.
    /// `ip` execs the program, so the child's pid is the program's.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns]).arg(program);
        c
    }

    /// Runs `f` on a thread inside this host's network namespace (the sockets it makes are
    /// the host's), and returns what it returns; a panic in `f` fails the caller.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{}", self.netns);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ns = std::fs::File::open(&path)
                    .unwrap_or_else(|e| panic!("the namespace {path}: {e}"));
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Starts a thread inside this host's network namespace that runs `f` until it returns.
    pub fn spawn<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> std::thread::JoinHandle<R> {
        let path = format!("/run/netns/{}", self.netns);
        std::thread::spawn(move || {
            let ns =
                std::fs::File::open(&path).unwrap_or_else(|e| panic!("the namespace {path}: {e}"));
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
            f()
        })
    }

    /// Cuts this host off: every packet in or out of its one interface is dropped, so its
    /// connections hang until their peers give up on them, as in a partition.
    pub fn cut(&self) {
        self.drop_rules("-I");
    }

    /// Heals a [`Host::cut`].
    pub fn heal(&self) {
        self.drop_rules("-D");
    }

    /// Inserts (`-I`) or deletes (`-D`) the rules that drop what crosses `eth0`.
    fn drop_rules(&self, op: &str) {
        for [chain, side] in [["INPUT", "-i"], ["OUTPUT", "-o"]] {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &self.netns,
                    "iptables",
                    op,
                    chain,
                    side,
                    "eth0",
                    "-j",
                    "DROP",
                ],
            );
        }
    }

    /// Waits (bounded) until something on this host accepts connections on `port`.
    pub fn wait_listening(&self, port: u16, within: std::time::Duration) {
        let address = self.address;
        self.run(|| {
            crate::wait_until(
                &format!("something to listen on {address}:{port}"),
                within,
                || std::net::TcpStream::connect((address, port)).is_ok(),
            )
        });
    }

    /// OTP's `epmd` on this host's port 4369, killed when the guard drops.
    pub fn epmd(&self) -> crate::Guard {
        let guard = crate::Guard(
            self.command(crate::otp_epmd())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("epmd starts"),
        );
        self.wait_listening(4369, std::time::Duration::from_secs(10));
        guard
    }
}
