//! `rotp node`, `rotp ping`, `rotp rpc`, `rotp send` against real `erl`, `erl_call` and `iex`
//! nodes, on a real EPMD on a free port.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn rotp(port: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(args)
        .env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE")
        .stdin(Stdio::null())
        .output()
        .expect("rotp runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An erl node whose `box` process prints what it gets, then halts.
fn erl_box(name: &str, port: u16) -> Guard {
    start_erl(
        name,
        "clicookie",
        port,
        "register(box, self()), receive M -> io:format(\"got ~p~n\", [M]) end, halt().",
    )
}

/// `rotp node --sname NAME` on the EPMD at `port`, once it says it is up: the process and the
/// node's full name.
fn rotp_node(port: u16, name: &str) -> (Guard, String) {
    rotp_node_with(port, name, &[])
}

/// [`rotp_node`] with `extra` arguments.
fn rotp_node_with(port: u16, name: &str, extra: &[&str]) -> (Guard, String) {
    let node = Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(["node", "--sname", name, "--cookie", "clicookie"])
        .args(extra)
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rotp node");
    let mut node = Guard(node);
    let mut banner = String::new();
    BufReader::new(node.0.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let target = format!("{name}@{}", short_host());
    assert!(
        banner.starts_with(&format!("rotp node {target} is up")),
        "{banner}"
    );
    (node, target)
}

#[test]
fn ping_rpc_and_send_talk_to_an_erl_node() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let mut erl = erl_box("cli_target", port);
    let target = format!("cli_target@{}", short_host());
    harness::wait_until("erl answering ping", Duration::from_secs(20), || {
        rotp(port, &["ping", &target, "--cookie", "clicookie"])
            .status
            .success()
    });
    let pang = rotp(port, &["ping", &target, "--cookie", "wrong"]);
    assert_eq!(
        (stdout(&pang).as_str(), pang.status.code()),
        ("pang\n", Some(1))
    );
    let out = rotp(
        port,
        &[
            "rpc",
            &target,
            "lists",
            "reverse",
            "[\"olleh\"]",
            "--cookie",
            "clicookie",
        ],
    );
    assert_eq!(stdout(&out), "\"hello\"\n");
    // A result too long for a line breaks as erl's `io:format("~p~n", [R])` breaks it.
    let out = rotp(
        port,
        &[
            "rpc",
            &target,
            "erlang",
            "list_to_tuple",
            "[[state, [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,\
             27,28,29,30], #{name => <<\"a long binary value here\">>, list => \"defghijklmnop\"}]]",
            "--cookie",
            "clicookie",
        ],
    );
    assert_eq!(
        stdout(&out),
        "{state,[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,\n\
         \x20       27,28,29,30],\n\
         \x20      #{list => \"defghijklmnop\",name => <<\"a long binary value here\">>}}\n"
    );
    let out = rotp(
        port,
        &["rpc", &target, "nosuch", "f", "[]", "--cookie", "clicookie"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("{badrpc,{'EXIT',{undef,"),
        "{}",
        stdout(&out)
    );
    let out = rotp(
        port,
        &[
            "send",
            &target,
            "box",
            "{hi, [1, 2], <<\"x\">>}",
            "--cookie",
            "clicookie",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // erl also reports the wrong-cookie attempt on its output: look for the message line.
    let lines = BufReader::new(erl.0.stdout.take().unwrap()).lines();
    let got = lines.map_while(Result::ok).find(|l| l.starts_with("got "));
    assert_eq!(got.as_deref(), Some("got {hi,[1,2],<<\"x\">>}"));
}

/// `rotp node` as the peer of erl, `erl_call` and `iex`.
#[test]
fn erl_erl_call_and_iex_reach_a_rotp_node() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let (_node, target) = rotp_node(port, "cli_rotp");

    let erl = Command::new("erl")
        .args(["-sname", "cli_erl", "-setcookie", "clicookie", "-noshell", "-eval"])
        .arg(format!("io:format(\"~p ~p~n\", [net_adm:ping('{target}'), rpc:call('{target}', erlang, node, [])]), halt()."))
        .env("ERL_EPMD_PORT", port.to_string())
        .output()
        .unwrap();
    assert_eq!(stdout(&erl), format!("pong {target}\n"));

    let erl_call = std::fs::read_dir(otp_root().join("lib"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/erl_call"))
        .find(|p| p.exists())
        .expect("erl_call");
    let out = Command::new(erl_call)
        .args(["-sname", "cli_rotp", "-c", "clicookie", "-a", "erlang node"])
        .env("ERL_EPMD_PORT", port.to_string())
        .output()
        .unwrap();
    assert_eq!(stdout(&out), target);

    // iex sends to a rotp process (rex, as C nodes call it) and gets the reply; and calls
    // net_kernel as a GenServer.
    let script = format!(
        "IO.inspect(Node.ping(:\"{target}\")); \
         send({{:rex, :\"{target}\"}}, {{self(), {{:call, :erlang, :node, [], :user}}}}); \
         receive do m -> IO.inspect(m) after 5000 -> IO.puts(\"timeout\") end; \
         IO.inspect(GenServer.call({{:net_kernel, :\"{target}\"}}, {{:is_auth, node()}})); \
         System.halt()"
    );
    let out = Command::new("iex")
        .args(["--sname", "cli_iex", "--cookie", "clicookie", "-e", &script])
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        format!(":pong\n{{:rex, :{target}}}\n:yes\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With no EPMD on the port, `rotp node` starts ours (`epmd -daemon`), as `erl` does; and when
/// the node is killed with SIGKILL, a monitoring erl process sees `noconnection`.
#[test]
fn rotp_node_starts_epmd_and_its_death_is_noconnection_to_erl() {
    let port = free_port();
    let (mut node, target) = rotp_node(port, "cli_lonely");
    // Our daemon answers on the port and knows the node.
    let names = Command::new(our_epmd())
        .args(["-port", &port.to_string(), "-names"])
        .output()
        .unwrap();
    assert!(
        stdout(&names).contains("name cli_lonely at port"),
        "{}",
        stdout(&names)
    );
    let erl = Command::new("erl")
        .args(["-sname", "cli_watch", "-setcookie", "clicookie", "-noshell", "-eval"])
        .arg(format!(
            "pong = net_adm:ping('{target}'), M = monitor(process, {{net_kernel, '{target}'}}), \
             io:format(\"ready~n\"), \
             io:format(\"~p~n\", [receive {{'DOWN', M, process, _, R}} -> R after 20000 -> timeout end]), halt()."
        ))
        .env("ERL_EPMD_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut erl = Guard(erl);
    let mut lines = BufReader::new(erl.0.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    assert_eq!(lines.find(|l| l == "ready").as_deref(), Some("ready"));
    node.0.kill().unwrap();
    assert_eq!(lines.next().as_deref(), Some("noconnection"));
    // Stop the daemon the node started.
    let _ = Command::new(our_epmd())
        .args(["-port", &port.to_string(), "-kill"])
        .output();
}

/// `rotp node --sname NAME` with both its outputs read line by line into channels.
fn rotp_node_lines(
    port: u16,
    name: &str,
) -> (
    Guard,
    std::sync::mpsc::Receiver<String>,
    std::sync::mpsc::Receiver<String>,
) {
    let mut node = Guard(
        Command::new(env!("CARGO_BIN_EXE_rotp"))
            .args(["node", "--sname", name, "--cookie", "clicookie"])
            .env("ERL_EPMD_PORT", port.to_string())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rotp node"),
    );
    let lines = |r: Box<dyn std::io::Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    };
    let out = lines(Box::new(node.0.stdout.take().unwrap()));
    let err = lines(Box::new(node.0.stderr.take().unwrap()));
    let banner = out.recv_timeout(Duration::from_secs(20)).expect("banner");
    assert!(banner.contains("is up"), "{banner}");
    (node, out, err)
}

#[test]
fn the_node_console_says_each_nodeup_and_nodedown_once() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let (_node, out, err) = rotp_node_lines(port, "cli_console");
    let target = format!("cli_console@{}", short_host());
    let peer = format!("erl_visitor@{}", short_host());
    let erl = Command::new("erl")
        .args([
            "-sname",
            "erl_visitor",
            "-setcookie",
            "clicookie",
            "-noshell",
            "-eval",
        ])
        .arg(format!("pong = net_adm:ping('{target}'), halt()."))
        .env("ERL_EPMD_PORT", port.to_string())
        .output()
        .expect("erl");
    assert!(erl.status.success());
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.iter().any(|l: &String| l.starts_with("nodedown")) {
        assert!(Instant::now() < deadline, "no nodedown line: {seen:?}");
        if let Ok(line) = out.recv_timeout(Duration::from_millis(100)) {
            seen.push(line);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    seen.extend(out.try_iter());
    let errors: Vec<String> = err.try_iter().collect();
    let about_peer: Vec<&String> = seen
        .iter()
        .chain(errors.iter())
        .filter(|l| l.contains(&peer))
        .collect();
    assert_eq!(about_peer.len(), 2, "{about_peer:?}");
    assert_eq!(about_peer[0], &format!("nodeup {peer}"));
    assert!(
        about_peer[1].starts_with(&format!("nodedown {peer} (")),
        "{about_peer:?}"
    );
}

#[test]
fn a_node_whose_rex_is_killed_goes_down_loudly_as_erl_does() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let (mut node, _out, err) = rotp_node_lines(port, "cli_doomed");
    let target = format!("cli_doomed@{}", short_host());
    let _ = Command::new("erl")
        .args([
            "-sname",
            "erl_doom",
            "-setcookie",
            "clicookie",
            "-noshell",
            "-eval",
        ])
        .arg(format!(
            "exit(rpc:call('{target}', erlang, whereis, [rex]), kill), timer:sleep(200), halt()."
        ))
        .env("ERL_EPMD_PORT", port.to_string())
        .output()
        .expect("erl");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the node is still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    // Everything it wrote before it exited (the reader ends at the pipe's end).
    let mut errors = Vec::new();
    while let Ok(line) = err.recv_timeout(Duration::from_secs(5)) {
        errors.push(line);
    }
    assert!(
        errors.iter().any(|l| l.contains(
            "Kernel pid terminated (application_controller) ({application_terminated,kernel,shutdown})"
        )),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("errorContext: child_terminated")),
        "{errors:?}"
    );
}

#[test]
fn init_stop_stops_a_rotp_node_gracefully_and_a_wrong_cookie_is_named() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let (mut node, target) = rotp_node(port, "cli_stopped");
    // A wrong cookie is told as such, not as "is it up?".
    let out = Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(["remsh", &target, "--cookie", "wrong"])
        .env("ERL_EPMD_PORT", port.to_string())
        .env_remove("RELEASE_COOKIE")
        .stdin(Stdio::null())
        .output()
        .expect("rotp remsh runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused our cookie"), "{stderr}");
    // init:stop() answers ok, then the node leaves and exits 0, as erl's init stops.
    let out = rotp(
        port,
        &[
            "rpc",
            &target,
            "init",
            "stop",
            "[]",
            "--cookie",
            "clicookie",
        ],
    );
    assert_eq!(stdout(&out).trim(), "ok", "{out:?}");
    let status = harness::wait_until("the node to stop", Duration::from_secs(20), || {
        node.0.try_wait().expect("waits")
    });
    assert!(status.success(), "{status}");
}

#[test]
fn discovery_finds_erl_nodes_by_local_epmd_a_hosts_file_and_a_list_and_reconnects() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let _erl = start_erl("disc_erl", "clicookie", port, "timer:sleep(infinity).");
    let host = short_host();
    let erl = format!("disc_erl@{host}");
    harness::wait_until("erl answering ping", Duration::from_secs(20), || {
        rotp(port, &["ping", &erl, "--cookie", "clicookie"])
            .status
            .success()
    });
    // What erl's nodes() lists.
    let erl_sees = |node: &str| {
        stdout(&rotp(
            port,
            &[
                "rpc",
                &erl,
                "erlang",
                "nodes",
                "[]",
                "--cookie",
                "clicookie",
            ],
        ))
        .contains(node)
    };
    let hosts = std::env::temp_dir().join(format!("hosts-erlang-{}", std::process::id()));
    std::fs::write(&hosts, format!("% the test's one host\n'{host}'.\n")).expect("written");
    let from_hosts = format!("erlang-hosts:{}", hosts.display());
    let list = format!("epmd:{erl},interval=500");
    let (_a, a) = rotp_node_with(port, "disc_a", &["--discovery", "local-epmd:interval=500"]);
    let (_b, b) = rotp_node_with(port, "disc_b", &["--discovery", &from_hosts]);
    let (_c, c) = rotp_node_with(port, "disc_c", &["--discovery", &list]);
    for node in [&a, &b, &c] {
        harness::wait_until(
            &format!("erl connected to {node}"),
            Duration::from_secs(20),
            || erl_sees(node),
        );
    }
    // A connection that drops is made again at the next look.
    let out = rotp(
        port,
        &[
            "rpc",
            &erl,
            "erlang",
            "disconnect_node",
            &format!("['{a}']"),
            "--cookie",
            "clicookie",
        ],
    );
    assert_eq!(stdout(&out).trim(), "true", "{out:?}");
    harness::wait_until(
        &format!("{a} connected again"),
        Duration::from_secs(20),
        || erl_sees(&a),
    );
    let _ = std::fs::remove_file(hosts);
}

#[test]
fn dns_discovery_names_each_address_with_the_basename() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let long_node = |name: &str, extra: &[&str]| {
        Guard(
            Command::new(env!("CARGO_BIN_EXE_rotp"))
                .args(["node", "--name", name, "--cookie", "clicookie"])
                .args(extra)
                .env("ERL_EPMD_PORT", port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("rotp node"),
        )
    };
    let _a = long_node("dnsa@127.0.0.1", &[]);
    // localhost resolves (through /etc/hosts) to 127.0.0.1: the node dnsa@127.0.0.1.
    let _b = long_node(
        "dnsb@127.0.0.1",
        &[
            "--discovery",
            "dns:localhost,basename=dnsa,types=a,interval=300",
        ],
    );
    harness::wait_until(
        "dnsb found dnsa through DNS",
        Duration::from_secs(20),
        || {
            stdout(&rotp(
                port,
                &[
                    "rpc",
                    "dnsa@127.0.0.1",
                    "erlang",
                    "nodes",
                    "[]",
                    "--cookie",
                    "clicookie",
                ],
            ))
            .contains("dnsb@127.0.0.1")
        },
    );
}
