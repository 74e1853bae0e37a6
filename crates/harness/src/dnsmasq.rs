//! A real DNS server for tests: Debian's `dnsmasq` in the foreground, answering only the
//! records it is given (no upstream, no `/etc/hosts`, no configuration file), on one address
//! and port, killed when dropped. Run inside a network namespace (`ip netns exec`) it serves
//! that namespace, on port 53 if asked.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Guard;

/// Where `dnsmasq` is installed (`./test --setup` installs Debian's package).
pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// One record it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A name's address: an A record for IPv4, AAAA for IPv6 (`--host-record`). A name may
    /// have several.
    Host {
        /// The name.
        name: String,
        /// The address.
        ip: IpAddr,
    },
    /// An SRV record (`--srv-host`): several for one name are all answered.
    Srv {
        /// The name asked for (`_service._proto.domain`, or any name, as a headless
        /// Service's).
        name: String,
        /// The target host's name.
        target: String,
        /// The port.
        port: u16,
        /// Its priority.
        priority: u16,
        /// Its weight.
        weight: u16,
    },
}

impl Record {
    /// `name` has address `ip`.
    pub fn host(name: &str, ip: impl Into<IpAddr>) -> Record {
        Record::Host {
            name: name.to_owned(),
            ip: ip.into(),
        }
    }

    /// `name` has an SRV record for `target:port` (priority 0, weight 10).
    pub fn srv(name: &str, target: &str, port: u16) -> Record {
        Record::Srv {
            name: name.to_owned(),
            target: target.to_owned(),
            port,
            priority: 0,
            weight: 10,
        }
    }

    /// The `dnsmasq` option that makes it.
    pub fn option(&self) -> String {
        match self {
            Record::Host { name, ip } => format!("--host-record={name},{ip}"),
            Record::Srv {
                name,
                target,
                port,
                priority,
                weight,
            } => format!("--srv-host={name},{target},{port},{priority},{weight}"),
        }
    }
}

/// A running `dnsmasq`.
pub struct Dnsmasq {
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    _process: Guard,
}

impl Dnsmasq {
    /// Starts one answering `records` on `listen:port`, and waits (bounded) until it does.
    pub fn start(listen: IpAddr, port: u16, records: &[Record]) -> Dnsmasq {
        Dnsmasq::start_with(Command::new(DNSMASQ), listen, port, records)
    }

    /// As [`Dnsmasq::start`], the program run by `command` (for example `ip netns exec NS
    /// /usr/sbin/dnsmasq`: then `listen` must be reachable from here for the wait, or use
    /// [`Dnsmasq::start_unchecked`]).
    pub fn start_with(command: Command, listen: IpAddr, port: u16, records: &[Record]) -> Dnsmasq {
        let dnsmasq = Dnsmasq::start_unchecked(command, listen, port, records);
        let addr = dnsmasq.addr;
        crate::wait_until(
            &format!("dnsmasq answering on {addr}"),
            Duration::from_secs(10),
            || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok(),
        );
        dnsmasq
    }

    /// Starts one without waiting for it.
    pub fn start_unchecked(
        mut command: Command,
        listen: IpAddr,
        port: u16,
        records: &[Record],
    ) -> Dnsmasq {
        command
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--conf-file=/dev/null",
                "--bind-interfaces",
                "--pid-file=",
                "--log-facility=-",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--listen-address={listen}"))
            .args(records.iter().map(Record::option))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{DNSMASQ} must be installed (./test --setup): {e}"));
        Dnsmasq {
            addr: SocketAddr::new(listen, port),
            _process: Guard(child),
        }
    }
}
