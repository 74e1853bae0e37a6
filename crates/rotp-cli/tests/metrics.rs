//! `/metrics` of `rotp node --dashboard` and of `rotp dashboard` watching a real erl node,
//! fetched over HTTP and read with a Prometheus text parser (the `prometheus-parse` crate):
//! the BEAM exporter's names with the node's own figures.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::http::{request, unchunk};
use support::*;

const COOKIE: &str = "metricscookie";
/// The dashboards' token, as Prometheus sends it.
const TOKEN: &str = "metrics-scrape-token";

/// `GET path` on the dashboard at `port`, with its token as a bearer token.
fn get(port: u16, path: &str) -> (String, String, String) {
    request(
        port,
        "GET",
        path,
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    )
}

/// The samples of a scrape, parsed as Prometheus parses text.
fn scrape(body: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("parses")
}

fn value(s: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// `rotp ARGS` in the background, on the EPMD at `epmd_port`.
fn rotp(epmd_port: u16, args: &[&str]) -> Guard {
    rotp_background(epmd_port, COOKIE, args)
}

#[test]
fn a_rotp_nodes_own_metrics_use_the_beam_exporters_names() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    let _node = rotp(
        port,
        &[
            "node",
            "--sname",
            "metrics_rotp",
            "--dashboard",
            &listen,
            "--dashboard-token",
            TOKEN,
        ],
    );
    // Someone with the wrong cookie knocks: refused, and counted by address.
    let me = format!("metrics_rotp@{}", short_host());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(http, "/metrics").0.contains("200") {
        assert!(Instant::now() < deadline, "the dashboard never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pang = Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(["ping", &me, "--cookie", "not-the-cookie"])
        .env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE")
        .output()
        .expect("rotp ping runs");
    assert_eq!(String::from_utf8_lossy(&pang.stdout).trim(), "pang");
    let (status, headers, body) = get(http, "/metrics");
    assert!(status.contains("200"), "{status}\n{body}");
    assert!(
        headers.contains("application/openmetrics-text"),
        "{headers}"
    );
    let body = unchunk(&headers, &body);
    assert!(!body.contains(COOKIE), "the cookie must never be shown");
    let s = scrape(&body);
    assert!(
        value(&s, "erlang_vm_process_count", None) >= Some(5.0),
        "{body}"
    );
    assert!(
        value(&s, "erlang_vm_process_limit", None) > Some(1000.0),
        "{body}"
    );
    assert!(
        value(
            &s,
            "erlang_vm_memory_bytes_total",
            Some(("kind", "processes"))
        ) > Some(0.0),
        "{body}"
    );
    assert!(
        value(&s, "erlang_vm_statistics_reductions_total", None).is_some(),
        "{body}"
    );
    assert!(
        value(
            &s,
            "erlang_vm_statistics_wallclock_time_milliseconds_total",
            None
        )
        .is_some(),
        "{body}"
    );
    // rotp's own.
    assert!(
        value(&s, "rotp_supervisor_restarts_total", None).is_some(),
        "{body}"
    );
    assert!(
        value(
            &s,
            "rotp_connections_refused_total",
            Some(("peer_address", "127.0.0.1"))
        ) >= Some(1.0),
        "{body}"
    );
    let (status, _, page) = get(http, "/");
    assert!(
        status.contains("200") && page.contains("metrics_rotp@"),
        "{status}\n{page}"
    );
    // A rotp process's detail page: the pid in the path is turned back into the pid by the
    // node (`erlang:list_to_pid/1`).
    let (_, headers, page) = get(http, &format!("/node/{me}/processes?filter=rex"));
    let page = unchunk(&headers, &page);
    let pid = page
        .split("data-pid=\"&lt;")
        .nth(1)
        .and_then(|rest| rest.split("&gt;").next())
        .unwrap_or_else(|| panic!("rex is listed: {page}"))
        .to_owned();
    let (status, headers, page) = get(http, &format!("/node/{me}/processes/{pid}"));
    let page = unchunk(&headers, &page);
    assert!(
        status.contains("200") && page.contains("{rpc,init,1}"),
        "{status}\n{page}"
    );
    let (status, _, _) = get(http, &format!("/node/{me}/processes/0.99999.0"));
    assert!(status.contains("404"), "{status}");
    // The tree page reads a rotp node from its kernel_sup.
    let (status, headers, page) = get(http, &format!("/node/{me}/tree"));
    let page = unchunk(&headers, &page);
    assert!(
        status.contains("200")
            && page.contains("global_name_server")
            && page.contains("net_kernel"),
        "{status}\n{page}"
    );
}

#[test]
fn rotp_dashboard_serves_an_erl_nodes_metrics() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let _erl = start_erl("metrics_erl", COOKIE, port, "timer:sleep(infinity).");
    let target = format!("metrics_erl@{}", short_host());
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    // A second watched node that is not up.
    let nobody = format!("metrics_nobody@{}", short_host());
    let _dashboard = rotp(
        port,
        &[
            "dashboard",
            &target,
            &nobody,
            "--listen",
            &listen,
            "--token",
            TOKEN,
        ],
    );
    // The erl node may still be starting: retried, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, headers, body) = get(http, &format!("/metrics?node={target}"));
        if status.contains("200") {
            break unchunk(&headers, &body);
        }
        assert!(Instant::now() < deadline, "{status}\n{body}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let s = scrape(&body);
    assert!(
        value(&s, "erlang_vm_process_count", None) > Some(20.0),
        "{body}"
    );
    assert!(
        value(&s, "erlang_vm_atom_count", None) > Some(1000.0),
        "{body}"
    );
    assert!(
        value(
            &s,
            "erlang_vm_memory_system_bytes_total",
            Some(("usage", "code"))
        ) > Some(0.0),
        "{body}"
    );
    assert!(
        value(&s, "erlang_vm_statistics_bytes_received_total", None) > Some(0.0),
        "{body}"
    );
    // The dashboard's own hidden node is connected to it.
    assert!(
        s.samples
            .iter()
            .any(|x| x.metric == "erlang_vm_dist_node_state"
                && x.labels.get("peer").is_some_and(|p| p.starts_with("rotp_"))),
        "{body}"
    );
    // Traffic per peer, from `inet:getstat/2` on the connection's port, as prometheus.erl's
    // dist collector reads it: the dashboard's connection has moved bytes both ways.
    let to_us = |name: &str| {
        s.samples
            .iter()
            .find(|x| {
                x.metric == name && x.labels.get("peer").is_some_and(|p| p.starts_with("rotp_"))
            })
            .map(|x| match x.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    for name in [
        "erlang_vm_dist_recv_bytes",
        "erlang_vm_dist_send_bytes",
        "erlang_vm_dist_recv_cnt",
        "erlang_vm_dist_send_cnt",
    ] {
        assert!(to_us(name) > Some(0.0), "{name}\n{body}");
    }
    // A watched node that is not up says so.
    let (status, _, body) = get(http, &format!("/metrics?node={nobody}"));
    assert!(
        status.contains("503") && body.contains("not reachable"),
        "{status}\n{body}"
    );
    // Only a node the dashboard knows: a GET never makes it connect anywhere else.
    let (status, _, body) = get(http, "/metrics?node=nobody@nowhere");
    assert!(
        status.contains("404") && body.contains("not a node this dashboard watches"),
        "{status}\n{body}"
    );
    let (status, _, _) = get(http, "/metrics?node=not%20a%20node");
    assert!(status.contains("404"), "{status}");
}

#[test]
fn a_rotp_node_reports_its_dist_traffic_per_peer_as_an_erl_node_does() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let _node = rotp(port, &["node", "--sname", "metrics_peer"]);
    let target = format!("metrics_peer@{}", short_host());
    let http = free_port();
    let listen = format!("127.0.0.1:{http}");
    let _dashboard = rotp(
        port,
        &["dashboard", &target, "--listen", &listen, "--token", TOKEN],
    );
    // erl reads the same figures the way prometheus.erl does: the port from
    // `system_info(dist_ctrl)`, then `inet:getstat/2` on it, by rpc.
    let eval = format!(
        "Me = '{target}', \
         Wait = fun W(0) -> timeout; W(N) -> case net_adm:ping(Me) of pong -> ok; pang -> timer:sleep(200), W(N - 1) end end, \
         ok = Wait(100), \
         Ctrl = rpc:call(Me, erlang, system_info, [dist_ctrl]), \
         {{_, Port}} = lists:keyfind(node(), 1, Ctrl), \
         {{ok, Stats}} = rpc:call(Me, inet, getstat, [Port, [recv_oct, send_oct, recv_cnt, send_cnt]]), \
         {{ok, Info}} = rpc:call(Me, net_kernel, nodes_info, []), \
         {{_, Mine}} = lists:keyfind(node(), 1, Info), \
         io:format(\"~p~n~p~n\", [Stats, lists:keyfind(type, 1, Mine)]), halt()."
    );
    let out = Command::new(otp_root().join("bin/erl"))
        .args([
            "-sname",
            "metrics_peer_erl",
            "-setcookie",
            COOKIE,
            "-noshell",
            "-eval",
            &eval,
        ])
        .env("ERL_EPMD_PORT", port.to_string())
        .output()
        .expect("erl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let figure = |key: &str| -> i64 {
        text.split(&format!("{{{key},"))
            .nth(1)
            .and_then(|r| r.split('}').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{key} in {text}\n{}", String::from_utf8_lossy(&out.stderr)))
    };
    assert!(figure("recv_oct") > 0 && figure("send_oct") > 0, "{text}");
    assert!(figure("recv_cnt") > 0 && figure("send_cnt") > 0, "{text}");
    assert!(text.contains("{type,normal}"), "{text}");
    // The dashboard's scrape of the rotp node shows its own connection's traffic.
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, headers, body) = get(http, "/metrics");
        if status.contains("200") {
            break unchunk(&headers, &body);
        }
        assert!(Instant::now() < deadline, "{status}\n{body}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let s = scrape(&body);
    let ours = s
        .samples
        .iter()
        .find(|x| {
            x.metric == "erlang_vm_dist_recv_bytes"
                && x.labels.get("peer").is_some_and(|p| p.starts_with("rotp_"))
        })
        .unwrap_or_else(|| panic!("the dashboard's connection is listed: {body}"));
    assert!(
        matches!(ours.value, prometheus_parse::Value::Gauge(v) if v > 0.0),
        "{body}"
    );
}

#[test]
fn rotp_epmd_counts_the_requests_it_handles_by_kind() {
    let port = free_port();
    let http = free_port();
    let _epmd = Guard(
        Command::new(env!("CARGO_BIN_EXE_rotp"))
            .args(["epmd", "--port", &port.to_string()])
            .args(["--metrics", &format!("127.0.0.1:{http}")])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("rotp epmd starts"),
    );
    wait_listening(port);
    // A real erl node registers (ALIVE2_REQ); OTP's own epmd client lists the names
    // (NAMES_REQ); a ping looks the node up (PORT_PLEASE2_REQ).
    let _erl = start_erl("epmd_counted", COOKIE, port, "timer:sleep(infinity).");
    let target = format!("epmd_counted@{}", short_host());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let names = Command::new(otp_epmd())
            .args(["-names"])
            .env("ERL_EPMD_PORT", port.to_string())
            .output()
            .expect("epmd -names runs");
        if String::from_utf8_lossy(&names.stdout).contains("epmd_counted") {
            break;
        }
        assert!(Instant::now() < deadline, "the erl node never registered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pong = Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(["ping", &target, "--cookie", COOKIE])
        .env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE")
        .output()
        .expect("rotp ping runs");
    assert_eq!(String::from_utf8_lossy(&pong.stdout).trim(), "pong");
    let (status, headers, body) = get(http, "/metrics");
    assert!(status.contains("200"), "{status}\n{body}");
    let body = unchunk(&headers, &body);
    let s = scrape(&body);
    let kind = |k: &str| value(&s, "rotp_epmd_requests_total", Some(("kind", k)));
    assert!(kind("alive2_req") >= Some(1.0), "{body}");
    assert!(kind("names_req") >= Some(1.0), "{body}");
    assert!(kind("port_please2_req") >= Some(1.0), "{body}");
    assert_eq!(kind("kill_req"), Some(0.0), "{body}");
    assert_eq!(
        value(&s, "rotp_epmd_registered_nodes", None),
        Some(1.0),
        "{body}"
    );
}
