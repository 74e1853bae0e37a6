//! A [`Snapshot`] in Prometheus's exposition format (OpenMetrics text, through the
//! `prometheus-client` crate), with the names the BEAM's own exporter gives the same figures
//! (`deadtrickster/prometheus.erl`'s `prometheus_vm_system_info_collector`,
//! `prometheus_vm_memory_collector`, `prometheus_vm_statistics_collector` and
//! `prometheus_vm_dist_collector`), so a Grafana dashboard made for BEAM nodes reads rotp nodes
//! too. Counters get OpenMetrics' `_total` suffix.
//!
//! Label values come from the node watched (its peers' names, its stages' names and kinds) and
//! are escaped as the format requires (`label`): prometheus-client 0.24 writes them as they
//! are (its issue #151, still open), so a node or stage named with a `"` or a line feed would
//! break the whole scrape or add series of its own.
//!
//! ```
//! use std::time::Duration;
//! use rotp_window::{collect, metrics};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let epmd = net::epmd::Daemon::bind(net::epmd::DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..Default::default() })?;
//! # let epmd_port = epmd.local_addrs().iter().find(|a| a.is_ipv4()).expect("127.0.0.1").port();
//! # tokio::spawn(epmd.run());
//! # let start = |name: &str| {
//! #     let mut config = node::NodeConfig::new(name, node::name::NameKind::Long, dist::Cookie::new("secret"));
//! #     config.epmd_port = epmd_port;
//! #     node::Node::start(config)
//! # };
//! // `me` reads `target`, a node started as `erl -name target@127.0.0.1` would be (a rotp one here).
//! let (me, target) = (start("me@127.0.0.1").await?, start("target@127.0.0.1").await?);
//! let snapshot = collect(&me, target.name(), Duration::from_secs(5)).await?;
//! // What `/metrics` serves, with `metrics::CONTENT_TYPE`.
//! let text = metrics::exposition(&snapshot);
//! assert!(text.contains(&format!("erlang_vm_process_count {}", snapshot.process_count)));
//! assert!(text.ends_with("# EOF\n"));
//! # Ok(()) }
//! ```

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::Snapshot;

/// The content type of [`exposition`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;

/// A label, its value escaped as Prometheus's text format and OpenMetrics' `escaped-string`
/// require: `\` as `\\`, `"` as `\"`, a line feed as `\n` (nothing else is escaped).
fn label(name: &str, value: &str) -> (String, String) {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    (name.to_owned(), escaped)
}

/// Reads one figure of a stage.
type StageFigure = fn(&crate::Stage) -> Option<i64>;

/// Reads one figure of a peer's traffic.
type PeerFigure = fn(&crate::Peer) -> Option<i64>;

/// The snapshot's figures as OpenMetrics text (ending in `# EOF`).
pub fn exposition(s: &Snapshot) -> String {
    let mut registry = Registry::default();
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: Option<i64>| {
        if let Some(v) = value {
            let g: Gauge = Gauge::default();
            g.set(v);
            registry.register(name, help, g);
        }
    };
    let counter = |registry: &mut Registry, name: &str, help: &str, value: Option<i64>| {
        if let Some(v) = value {
            let c: Counter = Counter::default();
            c.inc_by(u64::try_from(v).unwrap_or(0));
            registry.register(name, help, c);
        }
    };
    gauge(
        &mut registry,
        "erlang_vm_process_count",
        "The number of processes currently existing at the local node",
        Some(s.process_count),
    );
    gauge(
        &mut registry,
        "erlang_vm_process_limit",
        "The maximum number of simultaneously existing processes at the local node",
        Some(s.process_limit),
    );
    gauge(
        &mut registry,
        "erlang_vm_atom_count",
        "The number of atoms currently existing at the local node",
        s.atom_count,
    );
    gauge(
        &mut registry,
        "erlang_vm_atom_limit",
        "The maximum number of simultaneously existing atoms at the local node",
        s.atom_limit,
    );
    gauge(
        &mut registry,
        "erlang_vm_schedulers_online",
        "The number of schedulers online",
        s.summary.schedulers_online,
    );
    gauge(
        &mut registry,
        "erlang_vm_statistics_run_queues_length_total",
        "The total length of the run-queues",
        s.summary.run_queue,
    );
    counter(
        &mut registry,
        "erlang_vm_statistics_reductions",
        "Total reductions",
        s.summary.reductions,
    );
    counter(
        &mut registry,
        "erlang_vm_statistics_context_switches",
        "Total number of context switches since the system started",
        s.summary.context_switches,
    );
    counter(
        &mut registry,
        "erlang_vm_statistics_bytes_received",
        "Total number of bytes received through ports",
        s.summary.io_input,
    );
    counter(
        &mut registry,
        "erlang_vm_statistics_bytes_output",
        "Total number of bytes output to ports",
        s.summary.io_output,
    );
    counter(
        &mut registry,
        "erlang_vm_statistics_wallclock_time_milliseconds",
        "Information about wall clock",
        s.summary.uptime_ms,
    );

    // erlang:memory/0: processes and system, then the system's parts.
    let memory = |k: &str| s.memory.get(k).copied();
    let kinds: Family<Labels, Gauge> = Family::default();
    for kind in ["processes", "system"] {
        if let Some(v) = memory(kind) {
            kinds.get_or_create(&vec![label("kind", kind)]).set(v);
        }
    }
    registry.register(
        "erlang_vm_memory_bytes_total",
        "The total amount of memory currently allocated, by kind",
        kinds,
    );
    let usage: Family<Labels, Gauge> = Family::default();
    let parts = ["atom", "binary", "code", "ets"];
    for part in parts {
        if let Some(v) = memory(part) {
            usage.get_or_create(&vec![label("usage", part)]).set(v);
        }
    }
    if let Some(system) = memory("system") {
        let known: i64 = parts.iter().filter_map(|p| memory(p)).sum();
        usage
            .get_or_create(&vec![label("usage", "other")])
            .set((system - known).max(0));
    }
    registry.register(
        "erlang_vm_memory_system_bytes_total",
        "The total amount of memory currently allocated for the emulator, by usage",
        usage,
    );

    // The distribution: one series a connected node (3 is `up`, as prometheus.erl counts).
    let state: Family<Labels, Gauge> = Family::default();
    for peer in &s.summary.connected_nodes {
        state.get_or_create(&vec![label("peer", peer)]).set(3);
    }
    registry.register(
        "erlang_vm_dist_node_state",
        "The current state of the distribution link: 1 pending, 2 up_pending, 3 up",
        state,
    );

    // Traffic per peer, from the connection's socket statistics (gauges, as prometheus.erl
    // has them).
    let per_peer: [(&str, &str, PeerFigure); 5] = [
        (
            "erlang_vm_dist_recv_bytes",
            "Number of bytes received by the socket",
            |p| p.bytes_in,
        ),
        (
            "erlang_vm_dist_send_bytes",
            "Number of bytes sent from the socket",
            |p| p.bytes_out,
        ),
        (
            "erlang_vm_dist_recv_cnt",
            "Number of packets received by the socket",
            |p| p.packets_in,
        ),
        (
            "erlang_vm_dist_send_cnt",
            "Number of packets sent from the socket",
            |p| p.packets_out,
        ),
        (
            "erlang_vm_dist_send_pend_bytes",
            "Number of bytes waiting to be sent by the socket",
            |p| p.pending,
        ),
    ];
    for (name, help, figure) in per_peer {
        let family: Family<Labels, Gauge> = Family::default();
        for peer in &s.summary.peers {
            if let Some(v) = figure(peer) {
                family
                    .get_or_create(&vec![label("peer", &peer.node)])
                    .set(v);
            }
        }
        registry.register(name, help, family);
    }

    // rotp's own.
    if let Some(r) = &s.summary.rotp {
        counter(
            &mut registry,
            "rotp_supervisor_restarts",
            "Restarts the node's supervisors recorded",
            Some(r.supervisor_restarts),
        );
        if !r.discovery.is_empty() {
            let nodes: Family<Labels, Gauge> = Family::default();
            let errors: Family<Labels, Counter> = Family::default();
            for (strategy, d) in &r.discovery {
                let labels = vec![label("strategy", strategy)];
                nodes.get_or_create(&labels).set(d.count);
                errors
                    .get_or_create(&labels)
                    .inc_by(u64::try_from(d.errors).unwrap_or(0));
            }
            registry.register(
                "rotp_discovery_nodes",
                "Nodes a discovery strategy's last good answer names",
                nodes,
            );
            registry.register(
                "rotp_discovery_errors",
                "Lookups of a discovery strategy that failed",
                errors,
            );
        }
        let refused: Family<Labels, Counter> = Family::default();
        for (address, n) in &r.connections_refused {
            refused
                .get_or_create(&vec![label("peer_address", address)])
                .inc_by(u64::try_from(*n).unwrap_or(0));
        }
        let per_stage: [(&str, &str, StageFigure); 3] = [
            (
                "rotp_gen_stage_buffered_events",
                "Events a GenStage stage holds in its buffer",
                |st| Some(st.buffered),
            ),
            (
                "rotp_gen_stage_demand_events",
                "Events a GenStage stage's consumers have asked for and not received",
                |st| st.demand,
            ),
            (
                "rotp_gen_stage_expected_events",
                "Events a GenStage stage has asked its producers for and not received",
                |st| Some(st.expected),
            ),
        ];
        for (name, help, figure) in per_stage {
            let family: Family<Labels, Gauge> = Family::default();
            for st in &r.stages {
                if let Some(v) = figure(st) {
                    family
                        .get_or_create(&vec![label("stage", st.label()), label("type", &st.kind)])
                        .set(v);
                }
            }
            registry.register(name, help, family);
        }
        registry.register(
            "rotp_connections_refused",
            "Distribution handshakes refused for a bad cookie or missing flags, by peer address",
            refused,
        );
    }

    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

/// An EPMD daemon's figures as OpenMetrics text: `rotp_epmd_requests_total{kind}` (each
/// request it handled, by kind) and `rotp_epmd_registered_nodes`.
pub fn epmd_exposition(requests: &[(&str, u64)], registered: usize) -> String {
    let mut registry = Registry::default();
    let by_kind: Family<Labels, Counter> = Family::default();
    for (kind, n) in requests {
        by_kind.get_or_create(&vec![label("kind", kind)]).inc_by(*n);
    }
    registry.register(
        "rotp_epmd_requests",
        "Requests this EPMD handled, by kind",
        by_kind,
    );
    let nodes: Gauge = Gauge::default();
    nodes.set(i64::try_from(registered).unwrap_or(i64::MAX));
    registry.register(
        "rotp_epmd_registered_nodes",
        "Nodes registered with this EPMD now",
        nodes,
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed_only() {
        assert_eq!(
            label("peer", "a\\b\"c\nd\te"),
            ("peer".to_owned(), "a\\\\b\\\"c\\nd\te".to_owned())
        );
        assert_eq!(label("stage", "plain").1, "plain");
    }
}
