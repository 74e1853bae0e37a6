//! Our epmd with real OTP peers: `erl` nodes register with it and find each other through it,
//! OTP's `epmd -names` reads it, our client reads OTP's daemon, and the command lines of both
//! binaries print the same and exit the same.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn run(binary: &std::path::Path, port: u16, args: &[&str]) -> Output {
    Command::new(binary)
        .args(["-port", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run epmd")
}

/// stdout, stderr and exit code, with a port number replaced so two daemons compare.
fn shown(out: &Output, port: u16) -> (String, String, Option<i32>) {
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&port.to_string(), "PORT");
    (clean(&out.stdout), clean(&out.stderr), out.status.code())
}

fn wait_registered(port: u16, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = run(&our_epmd(), port, &["-names"]);
        if String::from_utf8_lossy(&out.stdout).contains(&format!("name {name} at port")) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never registered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn erl_nodes_register_list_and_ping_through_our_epmd() {
    let port = free_port();
    let _epmd = start_epmd(&our_epmd(), port, &[]);
    let _a = start_erl("rotp_it_a", "interop", port, "timer:sleep(60000), halt().");
    wait_registered(port, "rotp_it_a");
    let host = short_host();
    let b = Command::new("erl")
        .args(["-sname", "rotp_it_b", "-setcookie", "interop", "-noshell", "-eval"])
        .arg(format!(
            "{{ok, Names}} = net_adm:names(), io:format(\"~p~n~p~n\", [lists:sort([N || {{N, _}} <- Names]), net_adm:ping('rotp_it_a@{host}')]), halt()."
        ))
        .env("ERL_EPMD_PORT", port.to_string())
        .output()
        .expect("erl b");
    let stdout = String::from_utf8_lossy(&b.stdout);
    assert_eq!(
        stdout,
        "[\"rotp_it_a\",\"rotp_it_b\"]\npong\n",
        "stderr: {}",
        String::from_utf8_lossy(&b.stderr)
    );
    // OTP's own epmd -names reads our daemon exactly as ours does.
    let theirs = run(&otp_epmd(), port, &["-names"]);
    let ours = run(&our_epmd(), port, &["-names"]);
    assert_eq!(shown(&ours, port), shown(&theirs, port));
    assert!(String::from_utf8_lossy(&ours.stdout).contains("name rotp_it_a at port"));
}

#[test]
fn our_clients_read_otps_daemon() {
    let port = free_port();
    let _epmd = start_epmd(&otp_epmd(), port, &[]);
    let _a = start_erl("rotp_it_c", "interop", port, "timer:sleep(60000), halt().");
    wait_registered(port, "rotp_it_c");
    let theirs = run(&otp_epmd(), port, &["-names"]);
    let ours = run(&our_epmd(), port, &["-names"]);
    assert_eq!(shown(&ours, port), shown(&theirs, port));
    let rotp = Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(["names", "--port", &port.to_string()])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&rotp.stdout);
    assert!(listed.starts_with("rotp_it_c\t"), "{listed}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let info = rt
        .block_on(net::epmd::Client::localhost(port).port_please("rotp_it_c"))
        .unwrap()
        .expect("registered");
    assert_eq!(
        (info.node_type, info.highest_version, info.lowest_version),
        (77, 6, 5)
    );
    let missing = rt
        .block_on(net::epmd::Client::localhost(port).port_please("nosuch"))
        .unwrap();
    assert_eq!(missing, None);
}

#[test]
fn command_lines_print_and_exit_as_otps() {
    let port = free_port();
    // No daemon running.
    for args in [&["-names"][..], &["-kill"], &["-stop", "x"], &["-dump"]] {
        let (otp, ours) = (run(&otp_epmd(), port, args), run(&our_epmd(), port, args));
        assert_eq!(
            shown(&ours, port),
            shown(&otp, port),
            "{args:?} with no daemon"
        );
    }
    // Usage errors.
    for args in [
        &["-bogus"][..],
        &["-names", "extra"],
        &["-port"],
        &["-stop"],
        &["-packet_timeout", "x"],
    ] {
        let (otp, ours) = (run(&otp_epmd(), port, args), run(&our_epmd(), port, args));
        assert_eq!(shown(&ours, port), shown(&otp, port), "{args:?}");
        assert_eq!(ours.status.code(), Some(1));
    }
    // A strict daemon with a live node, asked by both command lines.
    for daemon in [otp_epmd(), our_epmd()] {
        let port = free_port();
        let _d = start_epmd(&daemon, port, &[]);
        let mut live = TcpStream::connect(("127.0.0.1", port)).unwrap();
        live.write_all(
            &epmd::msg::Request::Alive2(epmd::msg::NodeInfo::new("live", 5000))
                .encode()
                .unwrap(),
        )
        .unwrap();
        read_reply(&mut live, Duration::from_millis(300));
        for args in [&["-kill"][..], &["-stop", "live"], &["-names"]] {
            let (otp, ours) = (run(&otp_epmd(), port, args), run(&our_epmd(), port, args));
            assert_eq!(
                shown(&ours, port),
                shown(&otp, port),
                "{args:?} against {daemon:?}"
            );
        }
    }
}

#[test]
fn listens_on_ipv4_and_ipv6_loopback_and_a_second_instance_exits_0() {
    let port = free_port();
    let _d = start_epmd(&our_epmd(), port, &[]);
    assert!(TcpStream::connect(("::1", port)).is_ok(), "IPv6 loopback");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "IPv4 loopback"
    );
    let second = run(&our_epmd(), port, &[]);
    assert_eq!(second.status.code(), Some(0));
    let addressed = free_port();
    let _e = start_epmd(&our_epmd(), addressed, &["-address", "127.0.0.1"]);
    assert!(
        TcpStream::connect(("::1", addressed)).is_ok(),
        "-address keeps IPv6 loopback"
    );
    let bad = run(&our_epmd(), free_port(), &["-address", "not-an-ip"]);
    let otp_bad = run(&otp_epmd(), free_port(), &["-address", "not-an-ip"]);
    assert_eq!(bad.status.code(), otp_bad.status.code());
}

#[test]
fn daemon_mode_detaches_and_serves() {
    let port = free_port();
    let out = run(&our_epmd(), port, &["-daemon", "-relaxed_command_check"]);
    assert_eq!(out.status.code(), Some(0));
    wait_listening(port);
    let killed = run(&our_epmd(), port, &["-kill"]);
    assert_eq!(String::from_utf8_lossy(&killed.stdout), "Killed\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "daemon still listening after -kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn thousands_of_idle_and_slow_clients_do_not_stall_a_request() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let port = free_port();
    let _d = start_epmd(&our_epmd(), port, &[]);
    let mut idle = Vec::new();
    for n in 0..3000 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        if n % 2 == 0 {
            // Half of them send one byte of a length and stop.
            s.write_all(&[0]).unwrap();
        }
        idle.push(s);
    }
    let started = Instant::now();
    let out = run(&our_epmd(), port, &["-names"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("epmd: up and running on port {port} with data:\n")
    );
    // A liveness bound, not a speed measurement: a stalled daemon would take the 60 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "NAMES took {:?}",
        started.elapsed()
    );
    drop(idle);
}

#[test]
fn systemd_socket_activation_serves_on_the_socket_passed_in() {
    use command_fds::{CommandFdExt, FdMapping};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut command = Command::new(our_epmd());
    command
        .args(["-systemd", "-port", &port.to_string()])
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
        .fd_mappings(vec![FdMapping {
            parent_fd: listener.into(),
            child_fd: 3,
        }])
        .unwrap();
    let _daemon = Guard(command.spawn().unwrap());
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&[0, 1, 110]).unwrap();
    let (reply, closed) = read_reply(&mut s, Duration::from_secs(5));
    assert_eq!(
        (reply, closed),
        (u32::from(port).to_be_bytes().to_vec(), true)
    );
    // Without sockets from systemd both epmds refuse, with the same message and exit code.
    let (otp, ours) = (
        run(&otp_epmd(), port, &["-systemd"]),
        run(&our_epmd(), port, &["-systemd"]),
    );
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(ours.status.code(), otp.status.code());
    let tail = |o: &Output| {
        String::from_utf8_lossy(&o.stderr)
            .rsplit(": ")
            .next()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(tail(&ours), tail(&otp));
}

/// Runs `epmd ARGS` with its standard output on one end of a datagram socket pair, and returns
/// what its first `write(2)` carried: a reader of a pipe that takes only the first chunk it
/// gets sees no more than that.
fn first_write(binary: &std::path::Path, port: u16, args: &[&str]) -> Vec<u8> {
    let (ours, theirs) = std::os::unix::net::UnixDatagram::pair().expect("socket pair");
    let status = Command::new(binary)
        .args(["-port", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::os::fd::OwnedFd::from(theirs))
        .status()
        .expect("run epmd");
    assert!(status.code().is_some(), "{binary:?} {args:?}: {status}");
    ours.set_nonblocking(true).expect("non-blocking");
    let mut datagram = vec![0u8; 1 << 16];
    let n = ours.recv(&mut datagram).unwrap_or(0);
    datagram.truncate(n);
    datagram
}

#[test]
fn every_printing_command_writes_its_whole_output_at_once_as_otp_does() {
    let port = free_port();
    let _epmd = start_epmd(&our_epmd(), port, &[]);
    // Two names held by open ALIVE2 connections.
    let mut held = Vec::new();
    for (name, node_port) in [("one", 5001u16), ("two", 5002)] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut body = vec![120];
        body.extend_from_slice(&node_port.to_be_bytes());
        body.extend_from_slice(&[77, 0, 0, 6, 0, 5]);
        body.extend_from_slice(&(name.len() as u16).to_be_bytes());
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&[0, 0]);
        let mut request = (body.len() as u16).to_be_bytes().to_vec();
        request.extend_from_slice(&body);
        s.write_all(&request).unwrap();
        held.push(s);
        // One at a time: epmd lists the newest first, so "one" must be in before "two" comes.
        wait_registered(port, name);
    }
    for binary in [otp_epmd(), our_epmd()] {
        let names = String::from_utf8_lossy(&first_write(&binary, port, &["-names"]))
            .replace(&port.to_string(), "PORT");
        assert_eq!(
            names,
            "epmd: up and running on port PORT with data:\nname two at port 5002\nname one at port 5001\n",
            "{binary:?}"
        );
        let dump = first_write(&binary, port, &["-dump"]);
        let dump = String::from_utf8_lossy(&dump);
        assert!(
            dump.contains("up and running") && dump.contains("one") && dump.contains("two"),
            "{binary:?}: {dump:?}"
        );
        // Without -relaxed_command_check the daemon refuses both.
        let stop = first_write(&binary, port, &["-stop", "nobody"]);
        assert_eq!(stop, b"epmd: local epmd responded with <>\n", "{binary:?}");
        let kill = first_write(&binary, port, &["-kill"]);
        assert_eq!(
            kill, b"Killing not allowed - living nodes in database.\n",
            "{binary:?}"
        );
    }
}
