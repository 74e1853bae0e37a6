//! What the operating system says about a node's host and OS process, read on the target by
//! the calls any BEAM node answers: `os:type/0`, `os:version/0`, `os:getpid/0`,
//! `file:read_file/1` of Linux's `/proc` files (`proc(5)`: `/proc/loadavg`, `/proc/uptime`,
//! `/proc/meminfo`, `/proc/self/status`) and `file:list_dir/1` of `/proc/self/fd`. A rotp node
//! answers the same calls, its `file` functions for exactly these files only. A figure the host does not
//! give (not Linux) is `None`.
//!
//! ```
//! use rotp_window::os::{field, parse_loadavg, parse_uptime};
//!
//! // What the target's `/proc` files say, read with `file:read_file/1` over the distribution.
//! assert_eq!(parse_loadavg("0.52 0.58 0.59 1/467 12345"), Some([0.52, 0.58, 0.59]));
//! assert_eq!(parse_uptime("35613.64 69845.52"), Some(35613.64));
//! let meminfo = "MemTotal:       16310112 kB\nMemAvailable:    9013412 kB\n";
//! assert_eq!(field(meminfo, "MemAvailable"), Some(9_013_412 * 1024));
//! assert_eq!(field("Threads:\t12\n", "Threads"), Some(12));
//! assert_eq!(field(meminfo, "SwapTotal"), None);
//! // `rotp_window::os::collect(&node, &target, timeout)` reads them all into an `OsData`.
//! ```

use std::time::Duration;

use etf::{Atom, Term};
use node::Node;
use serde::Serialize;

use crate::SnapshotError;

/// A node's host and OS process.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct OsData {
    /// `os:type/0`, as `unix/linux`.
    pub os_type: String,
    /// `os:version/0`, as `6.18.44`.
    pub os_version: String,
    /// `os:getpid/0`.
    pub os_pid: String,
    /// The host's load averages over 1, 5 and 15 minutes (`/proc/loadavg`).
    pub load: Option<[f64; 3]>,
    /// Seconds since the host booted (`/proc/uptime`).
    pub host_uptime_s: Option<f64>,
    /// The host's memory in bytes (`/proc/meminfo`).
    pub mem_total: Option<u64>,
    /// Memory available for new work, in bytes (`MemAvailable`).
    pub mem_available: Option<u64>,
    /// Swap in bytes.
    pub swap_total: Option<u64>,
    /// Swap free, in bytes.
    pub swap_free: Option<u64>,
    /// The node's OS process (`/proc/self/status`): resident bytes.
    pub vm_rss: Option<u64>,
    /// Its peak resident bytes (`VmHWM`).
    pub vm_hwm: Option<u64>,
    /// Its virtual size in bytes (`VmSize`).
    pub vm_size: Option<u64>,
    /// Its threads.
    pub threads: Option<u64>,
    /// Its voluntary context switches.
    pub voluntary_ctxt_switches: Option<u64>,
    /// Its involuntary context switches.
    pub nonvoluntary_ctxt_switches: Option<u64>,
    /// Its open file descriptors (entries of `/proc/self/fd`).
    pub open_fds: Option<u64>,
}

/// `/proc/loadavg`: `0.52 0.58 0.59 1/467 12345`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    Some([it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?])
}

/// `/proc/uptime`: seconds up, then seconds idle.
pub fn parse_uptime(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// One `Key:   value [kB]` line of `/proc/meminfo` or `/proc/PID/status`, in bytes when the
/// line says `kB`, else as it is.
pub fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, rest) = line.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        let mut words = rest.split_whitespace();
        let n: u64 = words.next()?.parse().ok()?;
        Some(match words.next() {
            Some("kB") => n.saturating_mul(1024),
            _ => n,
        })
    })
}

/// Reads `target`'s OS data from `node`.
pub async fn collect(
    node: &Node,
    target: &Atom,
    timeout: Duration,
) -> Result<OsData, SnapshotError> {
    if !node.connect(target).await {
        return Err(SnapshotError::NodeDown(target.to_string()));
    }
    let call =
        |m: &'static str, f: &'static str, args: Vec<Term>| node.rpc(target, m, f, args, timeout);
    let read = |path: &'static str| async move {
        match call("file", "read_file", vec![charlist(path)]).await {
            Term::Tuple(v) => match v.as_slice() {
                [ok, Term::Binary(b)] if ok.as_atom() == Some("ok") => {
                    Some(String::from_utf8_lossy(b).into_owned())
                }
                _ => None,
            },
            _ => None,
        }
    };
    let fds = async {
        match call("file", "list_dir", vec![charlist("/proc/self/fd")]).await {
            Term::Tuple(v) => match v.as_slice() {
                [ok, Term::List(entries)] if ok.as_atom() == Some("ok") => {
                    Some(entries.len() as u64)
                }
                _ => None,
            },
            _ => None,
        }
    };
    let (os_type, os_version, os_pid, loadavg, uptime, meminfo, status, open_fds) = futures::join!(
        call("os", "type", Vec::new()),
        call("os", "version", Vec::new()),
        call("os", "getpid", Vec::new()),
        read("/proc/loadavg"),
        read("/proc/uptime"),
        read("/proc/meminfo"),
        read("/proc/self/status"),
        fds
    );
    if let Term::Tuple(v) = &os_type {
        if v.first().and_then(Term::as_atom) == Some("badrpc") {
            return Err(SnapshotError::BadRpc {
                node: target.to_string(),
                call: "os:type/0",
                reason: etf::text::write_limited(&os_type, 200),
            });
        }
    }
    let meminfo = meminfo.unwrap_or_default();
    let status = status.unwrap_or_default();
    Ok(OsData {
        os_type: match &os_type {
            Term::Tuple(v) => v
                .iter()
                .filter_map(Term::as_atom)
                .collect::<Vec<_>>()
                .join("/"),
            other => etf::text::write_limited(other, 100),
        },
        os_version: match &os_version {
            Term::Tuple(v) => v
                .iter()
                .map(|p| etf::text::write_limited(p, 20))
                .collect::<Vec<_>>()
                .join("."),
            other => crate::snapshot::chars(other),
        },
        os_pid: crate::snapshot::chars(&os_pid),
        load: loadavg.as_deref().and_then(parse_loadavg),
        host_uptime_s: uptime.as_deref().and_then(parse_uptime),
        mem_total: field(&meminfo, "MemTotal"),
        mem_available: field(&meminfo, "MemAvailable"),
        swap_total: field(&meminfo, "SwapTotal"),
        swap_free: field(&meminfo, "SwapFree"),
        vm_rss: field(&status, "VmRSS"),
        vm_hwm: field(&status, "VmHWM"),
        vm_size: field(&status, "VmSize"),
        threads: field(&status, "Threads"),
        voluntary_ctxt_switches: field(&status, "voluntary_ctxt_switches"),
        nonvoluntary_ctxt_switches: field(&status, "nonvoluntary_ctxt_switches"),
        open_fds,
    })
}

fn charlist(s: &str) -> Term {
    Term::List(
        s.chars()
            .map(|c| Term::Integer(i64::from(u32::from(c))))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn proc_files_read_as_proc5_describes_them() {
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 1/467 12345\n"),
            Some([0.52, 0.58, 0.59])
        );
        assert_eq!(parse_uptime("350735.47 234388.90\n"), Some(350735.47));
        let meminfo =
            "MemTotal:       24576000 kB\nMemAvailable:   20000000 kB\nHugePages_Total:       0\n";
        assert_eq!(field(meminfo, "MemTotal"), Some(24576000 * 1024));
        assert_eq!(field(meminfo, "HugePages_Total"), Some(0));
        assert_eq!(field(meminfo, "Mem"), None);
        let status = "Name:\trotp\nThreads:\t5\nVmRSS:\t   1234 kB\n";
        assert_eq!(field(status, "Threads"), Some(5));
        assert_eq!(field(status, "VmRSS"), Some(1234 * 1024));
        assert_eq!(field(status, "Name"), None);
        // This very process's files parse.
        let own = std::fs::read_to_string("/proc/self/status").expect("Linux");
        assert!(field(&own, "VmRSS").is_some_and(|b| b > 0));
        let load = std::fs::read_to_string("/proc/loadavg").expect("Linux");
        assert!(parse_loadavg(&load).is_some());
    }

    proptest! {
        #[test]
        fn proc_parsers_never_panic(text in "\\PC*", key in "[A-Za-z_]{1,12}") {
            let _ = parse_loadavg(&text);
            let _ = parse_uptime(&text);
            let _ = field(&text, &key);
        }
    }
}
